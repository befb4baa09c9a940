"""word2vec skip-gram with negative sampling (Mikolov et al. 2013; CS224N assignment 2).

For each (centre, context) pair and K sampled negatives:
``-log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_k . v_c)``, averaged over the batch.
``Vc`` holds the centre vectors, ``Uo`` the outside vectors; both are V x d tables read by
``take``, so their gradients come back as rows.
"""

import numpy as np

import gradcomp as gc

V, DIM, K = 1000, 50, 5


def loss():
    Vc, Uo = gc.tensor("Vc", ("V", DIM)), gc.tensor("Uo", ("V", DIM))
    centre = gc.tensor("centre", ("B",), "int64")
    context = gc.tensor("context", ("B",), "int64")
    negatives = gc.tensor("negatives", ("B", K), "int64")
    v = gc.take(Vc, centre)  # (B, d)
    u_o = gc.take(Uo, context)  # (B, d)
    u_k = gc.take(Uo, negatives)  # (B, K, d)
    positive = gc.sum(u_o * v, 1)
    negative = gc.sum(u_k * gc.reshape(v, ("B", 1, DIM)), 2)  # (B, K)
    per_pair = -gc.log(gc.sigmoid(positive)) - gc.sum(gc.log(gc.sigmoid(-negative)), 1)
    return gc.mean(per_pair)


def data(batch=64, seed=0):
    r = np.random.default_rng(seed)
    return {"Vc": 0.1 * r.standard_normal((V, DIM)), "Uo": 0.1 * r.standard_normal((V, DIM)),
            "centre": r.integers(0, V, batch), "context": r.integers(0, V, batch),
            "negatives": r.integers(0, V, (batch, K))}


def torch_loss(t):
    import torch

    v = t["Vc"][t["centre"]]
    positive = (t["Uo"][t["context"]] * v).sum(1)
    negative = (t["Uo"][t["negatives"]] * v[:, None, :]).sum(2)
    per_pair = -torch.log(torch.sigmoid(positive)) - torch.log(torch.sigmoid(-negative)).sum(1)
    return per_pair.mean()


def jax_loss(p):
    import jax
    import jax.numpy as jnp

    v = p["Vc"][p["centre"]]
    positive = (p["Uo"][p["context"]] * v).sum(1)
    negative = (p["Uo"][p["negatives"]] * v[:, None, :]).sum(2)
    per_pair = -jax.nn.log_sigmoid(positive) - jax.nn.log_sigmoid(-negative).sum(1)
    return jnp.mean(per_pair)


if __name__ == "__main__":
    import sys

    from ._run import main

    main(sys.modules[__name__])
