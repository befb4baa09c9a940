"""A Dask client: a ``LocalCluster`` of worker processes, or an existing scheduler."""

from __future__ import annotations

from ..errors import GradcompError


def connect(workers: int | None = None, scheduler: str | None = None):
    """A ``distributed.Client``: to ``scheduler`` (an address such as ``tcp://host:8786``)
    if given, else to a new ``LocalCluster`` of ``workers`` single-threaded processes (the
    kernels use BLAS and one core each; processes, not threads, so no GIL is shared)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise GradcompError("distributed training needs Dask: "
                            "pip install 'gradcomp[distributed]'") from None
    if scheduler:
        return Client(scheduler)
    if not workers or workers < 1:
        raise GradcompError(f"workers must be a positive number, got {workers!r}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    return Client(cluster)
