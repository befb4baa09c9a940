"""Synchronous data-parallel training steps on Dask workers.

``DaskGradients`` plugs into ``gradcomp.train.train``: the training windows and labels go to
every worker once; each step sends the current parameters (one broadcast), splits the global
batch into one share per worker, computes each share's gradient where the data is, reduces them
in a fixed tree and hands the mean to the optimizer, which updates the parameters in the
driver. Every task is a pure function of its inputs, so Dask can rerun any of them on another
worker when one is lost. (Why broadcast rather than keeping parameters on the workers:
``benchmarks/distributed.py`` measures both costs.)
"""

from __future__ import annotations

import numpy as np

from ..train import train as train_locally
from .gradients import KernelSpec, finish
from .worker import shard_gradient


class DaskGradients:
    """``train(..., gradients=DaskGradients(client))``: each step's gradient from the workers."""

    def __init__(self, client):
        self.client = client
        self.workers = max(1, len(client.scheduler_info()["workers"]))

    def __call__(self, tagger, windows: np.ndarray, labels: np.ndarray):
        spec = KernelSpec.of(tagger.loss_fn)
        data = self.client.scatter([{"windows": windows, "labels": labels}], broadcast=True,
                                   hash=False)[0]

        def step(batch: np.ndarray):
            params = self.client.scatter([tagger.params], broadcast=True, hash=False)[0]
            parts = [self.client.submit(shard_gradient, spec, params, data, share, pure=False)
                     for share in np.array_split(batch, self.workers) if len(share)]
            return finish(self.client, spec, parts)

        return step


def train(client, tagger, train_sents, dev_sents=None, **options):
    """``gradcomp.train.train`` with every step's gradient computed on ``client``'s workers."""
    return train_locally(tagger, train_sents, dev_sents, gradients=DaskGradients(client),
                         **options)
