"""Logistic regression with an L2 penalty: mean(log(1 + exp(-y (X w + b)))) + lam |w|^2.

Labels ``y`` are -1 or +1 (as floats); ``X`` is a batch of B feature vectors of size D.
"""

import numpy as np

import gradcomp as gc

D, LAM = 20, 1e-2


def loss():
    X, y = gc.tensor("X", ("B", D)), gc.tensor("y", ("B",))
    w, b = gc.tensor("w", (D,)), gc.scalar("b")
    margin = y * (X @ w + b)
    return gc.mean(gc.log(1.0 + gc.exp(-margin))) + LAM * gc.sum(w * w)


def data(batch=64, seed=0):
    r = np.random.default_rng(seed)
    return {"X": r.standard_normal((batch, D)), "y": np.sign(r.standard_normal(batch)),
            "w": 0.1 * r.standard_normal(D), "b": np.array(0.1)}


def torch_loss(t):
    import torch

    margin = t["y"] * (t["X"] @ t["w"] + t["b"])
    return torch.log(1.0 + torch.exp(-margin)).mean() + LAM * (t["w"] * t["w"]).sum()


def jax_loss(p):
    import jax.numpy as jnp

    margin = p["y"] * (p["X"] @ p["w"] + p["b"])
    return jnp.mean(jnp.log(1.0 + jnp.exp(-margin))) + LAM * jnp.sum(p["w"] * p["w"])


if __name__ == "__main__":
    import sys

    from ._run import main

    main(sys.modules[__name__])
