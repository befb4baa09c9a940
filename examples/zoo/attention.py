"""Attention pooling over a sequence, then a softmax classifier (a sentence classifier).

Token vectors ``X = E[tokens]`` (B, T, d); scores ``s = tanh(X Wa) va`` (B, T), computed as
one product over all B*T rows (a product dim); weights ``a = softmax(s)`` over T; the pooled
vector ``a X`` per sentence (a batched product, (B, 1, T) @ (B, T, d)); logits ``pooled U + c``.
"""

import numpy as np

import gradcomp as gc

V, DIM, A, C = 500, 32, 16, 4


def loss():
    E = gc.tensor("E", ("V", DIM))
    tokens, labels = gc.tensor("tokens", ("B", "T"), "int64"), gc.tensor("labels", ("B",), "int64")
    Wa, va = gc.tensor("Wa", (DIM, A)), gc.tensor("va", (A,))
    U, c = gc.tensor("U", (DIM, C)), gc.tensor("c", (C,))
    X = gc.take(E, tokens)  # (B, T, d)
    hidden = gc.tanh(gc.reshape(X, ("B*T", DIM)) @ Wa)  # every token at once
    weights = gc.softmax(gc.reshape(hidden @ va, ("B", "T")), -1)
    pooled = gc.reshape(gc.reshape(weights, ("B", 1, "T")) @ X, ("B", DIM))
    return gc.cross_entropy(pooled @ U + c, labels)


def data(batch=64, seed=0, length=12):
    r = np.random.default_rng(seed)
    return {"E": 0.3 * r.standard_normal((V, DIM)), "tokens": r.integers(0, V, (batch, length)),
            "labels": r.integers(0, C, batch), "Wa": r.standard_normal((DIM, A)) / np.sqrt(DIM),
            "va": r.standard_normal(A), "U": r.standard_normal((DIM, C)) / np.sqrt(DIM),
            "c": np.zeros(C)}


def torch_loss(t):
    import torch

    X = t["E"][t["tokens"]]
    weights = torch.softmax(torch.tanh(X @ t["Wa"]) @ t["va"], -1)
    pooled = (weights[:, None, :] @ X)[:, 0, :]
    return torch.nn.functional.cross_entropy(pooled @ t["U"] + t["c"], t["labels"])


def jax_loss(p):
    import jax
    import jax.numpy as jnp

    X = p["E"][p["tokens"]]
    weights = jax.nn.softmax(jnp.tanh(X @ p["Wa"]) @ p["va"], -1)
    pooled = (weights[:, None, :] @ X)[:, 0, :]
    logp = jax.nn.log_softmax(pooled @ p["U"] + p["c"])
    return -jnp.mean(jnp.take_along_axis(logp, p["labels"][:, None], 1))


if __name__ == "__main__":
    import sys

    from ._run import main

    main(sys.modules[__name__])
