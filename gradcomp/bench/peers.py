"""The implementations the benchmark times side by side, each returning ``(loss, grads)``.

The NumPy peer is the strongest NumPy a competent user writes: the lookup as ``L.take``,
in-place updates, one ``exp``, and the table's gradient as ``(flat, dX)``, one row per lookup,
unsummed (PyTorch's ``sparse=True`` embedding gradient, and all an SGD step needs). Its SGD
step adds the rows with ``np.subtract.at`` on the flattened table, NumPy's fast path for
repeated indices. The weaker variant that first merges repeated rows (``np.unique`` and
``np.add.at`` on rows) is kept and labelled for what it does; PyTorch runs with a sparse
embedding gradient too.
"""

from __future__ import annotations

import numpy as np

from ..optim import SGD
from ..runtime.compiled import RowGradient
from .measure import PARAMS


def numpy_value_and_grads(L, W, b, U, c, windows, labels):
    """Hand-written forward and backward pass, as fast as NumPy goes; the table's gradient
    one row per lookup (``RowGradient`` with ``coalesced=False``)."""
    batch, dim = windows.shape[0], L.shape[1]
    flat = windows.ravel()
    x = L.take(flat, axis=0).reshape(batch, -1)
    h = x @ W.T
    h += b
    np.tanh(h, out=h)
    scores = h @ U.T
    scores += c
    scores -= scores.max(axis=1, keepdims=True)  # shifted: the loss is unchanged
    e = np.exp(scores)
    total = e.sum(axis=1)
    rows = np.arange(batch)
    loss = float(np.mean(np.log(total) - scores[rows, labels]))
    e /= total[:, None]  # now d_scores, in place
    e[rows, labels] -= 1
    e /= batch
    d_z = e @ U
    h2 = h * h
    np.subtract(1, h2, out=h2)
    d_z *= h2
    d_x = (d_z @ W).reshape(-1, dim)
    grads = {"L": RowGradient(flat, d_x, L.shape[0], coalesced=False), "W": d_z.T @ x,
             "b": d_z.sum(0), "U": e.T @ h, "c": e.sum(0)}
    return loss, grads


def numpy_sgd_step(params: dict, grads: dict, lr: float) -> None:
    """The NumPy peer's own SGD update: dense parameters in place, the table's rows by
    ``np.subtract.at`` on its flat view (repeated rows add up)."""
    for name, g in grads.items():
        param = params[name]
        if isinstance(g, RowGradient):
            width = param.shape[1]
            flat_index = (g.indices[:, None] * width + np.arange(width)).ravel()
            np.subtract.at(param.reshape(-1), flat_index, (lr * g.values).ravel())
        else:
            param -= lr * g


def numpy_unique_add_at(L, W, b, U, c, windows, labels):
    """The same pass written plainly, with the table's gradient merged to distinct rows by
    ``np.unique`` and ``np.add.at`` (what most of its time goes to)."""
    batch, dim = windows.shape[0], L.shape[1]
    x = L[windows].reshape(batch, -1)
    h = np.tanh(x @ W.T + b)
    scores = h @ U.T + c
    shift = scores.max(axis=1, keepdims=True)
    e = np.exp(scores - shift)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = float(np.mean(np.log(total[:, 0]) + shift[:, 0] - scores[rows, labels]))
    d_scores = e / total
    d_scores[rows, labels] -= 1
    d_scores /= batch
    d_z = (d_scores @ U) * (1 - h * h)
    d_x = (d_z @ W).reshape(-1, dim)
    index, slot = np.unique(windows.ravel(), return_inverse=True)
    d_rows = np.zeros((len(index), dim), L.dtype)
    np.add.at(d_rows, slot, d_x)
    grads = {"L": RowGradient(index, d_rows, L.shape[0]), "W": d_z.T @ x, "b": d_z.sum(0),
             "U": d_scores.T @ h, "c": d_scores.sum(0)}
    return loss, grads


def _jax_impl():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(L, W, b, U, c, windows, labels):
        x = L[windows].reshape(windows.shape[0], -1)
        scores = jnp.tanh(x @ W.T + b) @ U.T + c
        return jnp.mean(jax.nn.logsumexp(scores, axis=1)
                        - jnp.take_along_axis(scores, labels[:, None], 1)[:, 0])

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))

    def call(L, W, b, U, c, windows, labels):
        value, grads = step(L, W, b, U, c, windows, labels)
        grads = [np.asarray(g) for g in jax.block_until_ready(grads)]
        return float(value), dict(zip(PARAMS, grads))

    return call


def _torch_impl():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)

    def call(L, W, b, U, c, windows, labels):
        tensors = [torch.from_numpy(a).requires_grad_() for a in (L, W, b, U, c)]
        tL, tW, tb, tU, tc = tensors
        x = torch.nn.functional.embedding(torch.from_numpy(windows), tL, sparse=True)
        scores = torch.tanh(x.reshape(windows.shape[0], -1) @ tW.T + tb) @ tU.T + tc
        loss = torch.nn.functional.cross_entropy(scores, torch.from_numpy(labels))
        loss.backward()
        grads = {k: t.grad.numpy() for k, t in zip(PARAMS[1:], tensors[1:])}
        rows = tL.grad  # sparse, one row per lookup
        grads["L"] = RowGradient(rows._indices()[0].numpy(), rows._values().numpy(),
                                 L.shape[0], coalesced=False)
        return loss.item(), grads

    return call


def _into_impl(fn):
    """gradcomp writing into the gradient arrays of its previous call (``fn.into``)."""
    kept: dict = {}

    def call(**inputs):
        dtype = inputs["L"].dtype
        if dtype not in kept:
            kept[dtype] = fn(**inputs)[1]
        return fn.into(kept[dtype], **inputs), kept[dtype]

    return call


def implementations(fn, lookups) -> dict:
    """Name -> call(**inputs): ``fn`` compiled with distinct rows, ``lookups`` with a row
    per lookup (``rows="lookups"``, the form the NumPy and PyTorch peers return)."""
    impls = {
        "gradcomp": lambda **a: fn(**a),
        "gradcomp_lookups": lambda **a: lookups(**a),
        "gradcomp_into": _into_impl(fn),
        "interpreted": lambda **a: fn.interpret(**a),
        "numpy": lambda **a: numpy_value_and_grads(**a),
        "numpy_unique_add_at": lambda **a: numpy_unique_add_at(**a),
    }
    for name, factory in (("jax", _jax_impl), ("torch", _torch_impl)):
        call = factory()
        if call is not None:
            impls[name] = lambda _call=call, **a: _call(**a)
    return impls


def training_steps(lookups, lr: float = 1e-3) -> dict:
    """Name -> step(params, data): a gradient and an SGD update of ``params`` in place, by
    gradcomp (row per lookup, ``gc.optim.SGD``) and by the NumPy peer with its own update."""
    sgd = SGD(lr=lr)

    def gradcomp_step(params, data):
        sgd.step(params, lookups(**params, **data)[1])

    def numpy_step(params, data):
        numpy_sgd_step(params, numpy_value_and_grads(**params, **data)[1], lr)

    return {"gradcomp_lookups + SGD": gradcomp_step, "numpy + its SGD": numpy_step}
