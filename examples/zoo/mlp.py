"""A two-hidden-layer perceptron with tanh and relu, softmax cross-entropy over C classes."""

import numpy as np

import gradcomp as gc

D, H1, H2, C = 32, 64, 32, 10


def loss():
    X, labels = gc.tensor("X", ("B", D)), gc.tensor("labels", ("B",), "int64")
    W1, b1 = gc.tensor("W1", (D, H1)), gc.tensor("b1", (H1,))
    W2, b2 = gc.tensor("W2", (H1, H2)), gc.tensor("b2", (H2,))
    W3, b3 = gc.tensor("W3", (H2, C)), gc.tensor("b3", (C,))
    h1 = gc.tanh(X @ W1 + b1)
    h2 = gc.relu(h1 @ W2 + b2)
    return gc.cross_entropy(h2 @ W3 + b3, labels)


def data(batch=64, seed=0):
    r = np.random.default_rng(seed)
    shapes = {"W1": (D, H1), "b1": (H1,), "W2": (H1, H2), "b2": (H2,), "W3": (H2, C),
              "b3": (C,)}
    params = {k: r.standard_normal(s) / np.sqrt(s[0]) for k, s in shapes.items()}
    return {"X": r.standard_normal((batch, D)), "labels": r.integers(0, C, batch), **params}


def torch_loss(t):
    import torch

    h1 = torch.tanh(t["X"] @ t["W1"] + t["b1"])
    h2 = torch.relu(h1 @ t["W2"] + t["b2"])
    return torch.nn.functional.cross_entropy(h2 @ t["W3"] + t["b3"], t["labels"])


def jax_loss(p):
    import jax
    import jax.numpy as jnp

    h1 = jnp.tanh(p["X"] @ p["W1"] + p["b1"])
    h2 = jax.nn.relu(h1 @ p["W2"] + p["b2"])
    logp = jax.nn.log_softmax(h2 @ p["W3"] + p["b3"])
    return -jnp.mean(jnp.take_along_axis(logp, p["labels"][:, None], 1))


if __name__ == "__main__":
    import sys

    from ._run import main

    main(sys.modules[__name__])
