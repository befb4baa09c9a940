"""gradcomp on Dask (``dask.distributed``): gradients over sharded data, data-parallel
training and tagging, with gradcomp's kernels built and run on the workers.

Dask schedules, moves data and retries lost tasks; gradcomp supplies the kernels (built on each
worker from the graph, never a pickled dispatcher, and loaded from the worker's own kernel
cache) and the reductions (a fixed tree, row gradients merged and never densified). Nothing of
Dask is imported until this package is. Install with ``pip install 'gradcomp[distributed]'``.
"""

from .cluster import connect
from .gradients import KernelSpec, sharded_value_and_grad
from .tagging import predict
from .training import train
from .worker import kernel_stats

__all__ = ["KernelSpec", "connect", "kernel_stats", "predict", "sharded_value_and_grad",
           "train"]
