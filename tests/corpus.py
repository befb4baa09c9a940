"""Test expressions shared by the interpreter, rule and compiled-kernel tests.

Each case builds a scalar loss and a dict of inputs (fixed seed). Inputs sit away from kinks
(relu, abs, max) and inside domains (log, sqrt), so finite differences are meaningful.
"""

from __future__ import annotations

import numpy as np

import gradcomp as gc


def _rng(seed: int = 0):
    return np.random.default_rng(seed)


def lecture():
    x, y, z = gc.scalars("x y z")
    return (x + y) * gc.maximum(y, z), {"x": 1.0, "y": 2.0, "z": 0.0}


def broadcast_mix():
    A, v, s = gc.tensor("A", (3, 4)), gc.tensor("v", (4,)), gc.scalar("s")
    r = _rng(1)
    loss = gc.sum(gc.tanh(A * v + s) ** 2) + gc.mean(A - s)
    return loss, {"A": r.standard_normal((3, 4)), "v": r.standard_normal(4), "s": 0.3}


def outer_broadcast():
    a, b = gc.tensor("a", (3, 1)), gc.tensor("b", (1, 4))
    r = _rng(2)
    loss = gc.sum(gc.sin(a * b) + a / (2.0 + b * b))
    return loss, {"a": r.standard_normal((3, 1)), "b": r.standard_normal((1, 4))}


def repeated_input():
    x = gc.tensor("x", (5,))
    loss = gc.sum(x * x * x + gc.exp(x) * x - 3.0 * x)
    return loss, {"x": _rng(3).standard_normal(5)}


def matmul_2d():
    A, B = gc.tensor("A", (3, 4)), gc.tensor("B", (4, 2))
    r = _rng(4)
    loss = gc.sum(gc.sigmoid(A @ B)) + gc.sum((A @ B) ** 2)
    return loss, {"A": r.standard_normal((3, 4)), "B": r.standard_normal((4, 2))}


def matvec_vecmat_dot():
    A, v, w = gc.tensor("A", (3, 4)), gc.tensor("v", (4,)), gc.tensor("w", (3,))
    r = _rng(5)
    loss = gc.log(1.0 + (w @ (A @ v)) ** 2) + gc.sum(gc.tanh(w @ A))
    return loss, {"A": r.standard_normal((3, 4)), "v": r.standard_normal(4),
                  "w": r.standard_normal(3)}


def reductions():
    X = gc.tensor("X", (3, 4))
    loss = gc.sum(gc.mean(X, 0) ** 2) + gc.sum(gc.max(X, 1)) + gc.max(X) * gc.sum(X, (0, 1))
    return loss, {"X": _rng(6).standard_normal((3, 4))}


def softmax_family():
    z, w = gc.tensor("z", (5, 3)), gc.tensor("w", (5, 3))
    labels = gc.tensor("labels", (5,), "int64")
    r = _rng(7)
    loss = (gc.cross_entropy(z, labels) + gc.sum(gc.softmax(z) * w)
            + gc.sum(gc.log_softmax(z, 0) * w) + gc.sum(gc.logsumexp(z, 1)))
    return loss, {"z": 3 * r.standard_normal((5, 3)), "w": r.standard_normal((5, 3)),
                  "labels": r.integers(0, 3, 5)}


def take_rows():
    table, w = gc.tensor("table", (6, 3)), gc.tensor("w", (4, 2, 3))
    index = gc.tensor("index", (4, 2), "int64")
    r = _rng(8)
    loss = gc.sum(gc.take(table, index) ** 2 * w)
    return loss, {"table": r.standard_normal((6, 3)), "w": r.standard_normal((4, 2, 3)),
                  "index": np.array([[0, 1], [1, 5], [5, 5], [2, 0]])}


def scalar_index():
    table, y = gc.tensor("table", (4, 3)), gc.tensor("y", (3,))
    i = gc.scalar("i", "int64")
    r = _rng(14)
    loss = gc.sum(gc.take(table, i) * y) + gc.sum(y * y) * gc.sum(table * table)
    return loss, {"table": r.standard_normal((4, 3)), "y": r.standard_normal(3), "i": 2}


def reshape_transpose():
    X, Y = gc.tensor("X", (2, 3, 4)), gc.tensor("Y", (6, 4))
    r = _rng(9)
    moved = gc.reshape(gc.transpose(X, (2, 0, 1)), (4, 6))
    loss = gc.sum(gc.tanh(moved @ Y)) + gc.sum(gc.transpose(Y) * moved)
    return loss, {"X": r.standard_normal((2, 3, 4)), "Y": r.standard_normal((6, 4))}


def concat_slice():
    a, b = gc.tensor("a", (2, 3)), gc.tensor("b", (2, 2))
    r = _rng(10)
    joined = gc.concat([a, gc.exp(b)], axis=1)
    loss = gc.sum(joined * joined) + gc.sum(gc.slice_axis(joined, 1, 2, 4) ** 3)
    return loss, {"a": r.standard_normal((2, 3)), "b": r.standard_normal((2, 2))}


def kinks_and_roots():
    x, y = gc.tensor("x", (6,)), gc.tensor("y", (6,))
    values = np.array([-1.5, -0.7, -0.2, 0.3, 0.9, 1.8])
    loss = gc.sum(gc.sqrt(x * x + 1.0) + gc.abs(x) + gc.relu(x) + gc.minimum(x, y) * y)
    return loss, {"x": values, "y": values[::-1] + 0.05}


def named_dims():
    X, w = gc.tensor("X", ("B", 3)), gc.tensor("w", (3,))
    r = _rng(11)
    loss = gc.mean(gc.tanh(X @ w)) + gc.mean(X * X)
    return loss, {"X": r.standard_normal((7, 3)), "w": r.standard_normal(3)}


def powers_and_trig():
    x, y = gc.tensor("x", (4,)), gc.tensor("y", (4,))
    r = _rng(12)
    loss = gc.sum(x / (1.0 + y**2) + x**y + gc.cos(y) * gc.tan(0.3 * x))
    return loss, {"x": r.uniform(0.5, 2.0, 4), "y": r.uniform(-1.0, 1.0, 4)}


def window_classifier():
    from gradcomp.models import WindowConfig, init_params, window_classifier_loss

    cfg = WindowConfig(window=1, dim=3, hidden=4, classes=3)
    inputs = init_params(cfg, 9, seed=1)
    r = _rng(13)
    inputs["b"] = r.standard_normal(4)
    inputs.update(windows=r.integers(0, 9, (5, 3)), labels=r.integers(0, 3, 5))
    return window_classifier_loss(window=1, dim=3, hidden=4, classes=3), inputs


CASES = {f.__name__: f for f in [
    lecture, broadcast_mix, outer_broadcast, repeated_input, matmul_2d, matvec_vecmat_dot,
    reductions, softmax_family, take_rows, scalar_index, reshape_transpose, concat_slice, kinks_and_roots,
    named_dims, powers_and_trig, window_classifier,
]}
