"""An Elman RNN unrolled over T = 6 steps, classifying each sequence from its last state.

``h_t = tanh(x_t Wx + h_{t-1} Wh + b)`` from ``h_0 = 0``; logits ``h_T U + c``; softmax
cross-entropy. The inputs ``X`` are (B, T, D); step t reads ``X[:, t, :]``.
"""

import numpy as np

import gradcomp as gc

T, D, H, C = 6, 16, 32, 5


def loss():
    X, labels = gc.tensor("X", ("B", T, D)), gc.tensor("labels", ("B",), "int64")
    Wx, Wh, b = gc.tensor("Wx", (D, H)), gc.tensor("Wh", (H, H)), gc.tensor("b", (H,))
    U, c = gc.tensor("U", (H, C)), gc.tensor("c", (C,))
    h = None
    for t in range(T):
        x_t = gc.reshape(gc.slice_axis(X, 1, t, t + 1), ("B", D))
        pre = x_t @ Wx + b if h is None else x_t @ Wx + h @ Wh + b
        h = gc.tanh(pre)
    return gc.cross_entropy(h @ U + c, labels)


def data(batch=64, seed=0):
    r = np.random.default_rng(seed)
    return {"X": r.standard_normal((batch, T, D)), "labels": r.integers(0, C, batch),
            "Wx": r.standard_normal((D, H)) / np.sqrt(D), "Wh": r.standard_normal((H, H)) / np.sqrt(H),
            "b": np.zeros(H), "U": r.standard_normal((H, C)) / np.sqrt(H), "c": np.zeros(C)}


def torch_loss(t):
    import torch

    h = None
    for step in range(T):
        pre = t["X"][:, step] @ t["Wx"] + t["b"]
        h = torch.tanh(pre if h is None else pre + h @ t["Wh"])
    return torch.nn.functional.cross_entropy(h @ t["U"] + t["c"], t["labels"])


def jax_loss(p):
    import jax
    import jax.numpy as jnp

    h = None
    for step in range(T):
        pre = p["X"][:, step] @ p["Wx"] + p["b"]
        h = jnp.tanh(pre if h is None else pre + h @ p["Wh"])
    logp = jax.nn.log_softmax(h @ p["U"] + p["c"])
    return -jnp.mean(jnp.take_along_axis(logp, p["labels"][:, None], 1))


if __name__ == "__main__":
    import sys

    from ._run import main

    main(sys.modules[__name__])
