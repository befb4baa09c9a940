"""GloVe's weighted least-squares objective (Pennington et al. 2014).

Over the N non-zero co-occurrence counts X_ij (given as row ``i``, column ``j``, ``logx`` and
the weight ``f = min(1, (X_ij / x_max) ** 0.75)``, all precomputed from the counts):
``sum f (w_i . w~_j + b_i + b~_j - log X_ij)^2``. Word and context vectors and biases are
tables read by ``take``.
"""

import numpy as np

import gradcomp as gc

V, DIM = 1000, 50


def loss():
    W, Wt = gc.tensor("W", ("V", DIM)), gc.tensor("Wt", ("V", DIM))
    b, bt = gc.tensor("b", ("V",)), gc.tensor("bt", ("V",))
    i, j = gc.tensor("i", ("N",), "int64"), gc.tensor("j", ("N",), "int64")
    logx, f = gc.tensor("logx", ("N",)), gc.tensor("f", ("N",))
    dot = gc.sum(gc.take(W, i) * gc.take(Wt, j), 1)
    error = dot + gc.take(b, i) + gc.take(bt, j) - logx
    return gc.sum(f * error * error)


def data(batch=64, seed=0):
    r = np.random.default_rng(seed)
    counts = r.integers(1, 200, batch).astype(float)
    return {"W": 0.1 * r.standard_normal((V, DIM)), "Wt": 0.1 * r.standard_normal((V, DIM)),
            "b": np.zeros(V), "bt": np.zeros(V), "i": r.integers(0, V, batch),
            "j": r.integers(0, V, batch), "logx": np.log(counts),
            "f": np.minimum(1.0, (counts / 100.0) ** 0.75)}


def torch_loss(t):
    dot = (t["W"][t["i"]] * t["Wt"][t["j"]]).sum(1)
    error = dot + t["b"][t["i"]] + t["bt"][t["j"]] - t["logx"]
    return (t["f"] * error * error).sum()


def jax_loss(p):
    dot = (p["W"][p["i"]] * p["Wt"][p["j"]]).sum(1)
    error = dot + p["b"][p["i"]] + p["bt"][p["j"]] - p["logx"]
    return (p["f"] * error * error).sum()


if __name__ == "__main__":
    import sys

    from ._run import main

    main(sys.modules[__name__])
