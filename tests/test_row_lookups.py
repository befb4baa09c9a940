"""Row gradients one per lookup (``rows="lookups"``), against PyTorch's sparse embedding
gradient, and the optimizers' updates from them."""

import numpy as np
import pytest
import torch

import gradcomp as gc
from gradcomp.models import window_classifier_loss
from gradcomp.optim import SGD, Adam

V, DIM, HIDDEN, CLASSES = 40, 4, 6, 3
WINDOW = 5  # 2 * 2 + 1 words


def _inputs(batch, seed=0):
    rng = np.random.default_rng(seed)
    return {"L": rng.standard_normal((V, DIM)), "W": 0.3 * rng.standard_normal((HIDDEN, WINDOW * DIM)),
            "b": 0.1 * rng.standard_normal(HIDDEN), "U": 0.3 * rng.standard_normal((CLASSES, HIDDEN)),
            "c": 0.1 * rng.standard_normal(CLASSES),
            "windows": rng.integers(0, V, (batch, WINDOW)), "labels": rng.integers(0, CLASSES, batch)}


def _torch_softmax(inputs):
    """PyTorch's loss and its sparse (uncoalesced) embedding gradient."""
    t = {k: torch.tensor(v, requires_grad=inputs[k].dtype.kind == "f") for k, v in inputs.items()}
    x = torch.nn.functional.embedding(t["windows"], t["L"], sparse=True).reshape(len(inputs["labels"]), -1)
    scores = torch.tanh(x @ t["W"].T + t["b"]) @ t["U"].T + t["c"]
    loss = torch.nn.functional.cross_entropy(scores, t["labels"])
    loss.backward()
    return loss.item(), t


def _lookups(compiled, loss="softmax"):
    return compiled(("window-lookups", loss), lambda: window_classifier_loss(
        2, DIM, HIDDEN, CLASSES, "tanh", loss), rows="lookups")


@pytest.mark.parametrize("batch", [1, 7, 600])  # 600: more than one tile of rows
def test_lookup_rows_are_pytorchs_sparse_gradient(compiled, batch):
    inputs = _inputs(batch)
    value, grads = _lookups(compiled)(**inputs)
    want, t = _torch_softmax(inputs)
    sparse = t["L"].grad
    assert sparse.is_sparse and not sparse.is_coalesced()
    rows = grads["L"]
    assert not rows.coalesced and rows.values.shape == (batch * WINDOW, DIM)
    np.testing.assert_array_equal(rows.indices, sparse._indices()[0].numpy())
    np.testing.assert_allclose(rows.values, sparse._values().numpy(), rtol=1e-10, atol=1e-14)
    assert value == pytest.approx(want, rel=1e-12)
    for name in ("W", "b", "U", "c"):
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=1e-10, atol=1e-14)
    # the interpreter gives the same rows, and coalescing them gives the default form
    np.testing.assert_allclose(gc.compile(window_classifier_loss(2, DIM, HIDDEN, CLASSES),
                                          rows="lookups", jit=False).interpret(**inputs)[1]["L"].values,
                               rows.values, rtol=1e-12, atol=1e-15)
    distinct = compiled(("window", "softmax", "tanh"), lambda: window_classifier_loss(
        2, DIM, HIDDEN, CLASSES, "tanh", "softmax"))(**inputs)[1]["L"]
    merged = rows.coalesce()
    np.testing.assert_array_equal(merged.indices, distinct.indices)
    np.testing.assert_allclose(merged.values, distinct.values, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rows.to_dense(), sparse.to_dense().numpy(), rtol=1e-10, atol=1e-14)


def test_two_lookups_of_one_table(compiled):
    """Max-margin looks the table up twice (true and corrupt windows): both in the rows."""
    inputs = _inputs(600, seed=1)
    inputs["corrupt"] = np.random.default_rng(2).integers(0, V, (600, WINDOW))
    for name in ("labels", "U", "c"):
        del inputs[name]
    inputs["u"] = 0.3 * np.random.default_rng(4).standard_normal(HIDDEN)
    rows = _lookups(compiled, "max_margin")(**inputs)[1]["L"]
    lookups = [inputs["windows"].ravel(), inputs["corrupt"].ravel()]
    assert any(np.array_equal(rows.indices, np.concatenate(order))
               for order in (lookups, lookups[::-1]))
    dense = gc.compile(window_classifier_loss(2, DIM, HIDDEN, CLASSES, "tanh", "max_margin"),
                       rows=False, jit=False)(**inputs)[1]["L"]
    np.testing.assert_allclose(rows.to_dense(), dense, rtol=1e-10, atol=1e-14)


def test_sgd_and_adam_from_lookup_rows_match_the_dense_update(compiled):
    inputs = _inputs(300, seed=3)
    inputs["windows"][:, 0] = 7  # every window repeats row 7
    grads = _lookups(compiled)(**inputs)[1]
    dense = grads["L"].to_dense()
    for optimizer in (lambda: SGD(lr=0.5), lambda: Adam(lr=0.1)):
        by_rows, by_distinct = inputs["L"].copy(), inputs["L"].copy()
        optimizer().step({"L": by_rows}, {"L": grads["L"]})
        optimizer().step({"L": by_distinct}, {"L": grads["L"].coalesce()})
        np.testing.assert_allclose(by_rows, by_distinct, rtol=1e-13, atol=1e-15)
    stepped = inputs["L"].copy()
    SGD(lr=0.5).step({"L": stepped}, {"L": grads["L"]})
    np.testing.assert_allclose(stepped, inputs["L"] - 0.5 * dense, rtol=1e-13, atol=1e-15)


def test_rows_option_is_checked():
    with pytest.raises(gc.GradcompError, match="rows must be True"):
        gc.compile(window_classifier_loss(2, DIM, HIDDEN, CLASSES), rows="distinct")
