"""Long runs of elementwise steps written as one loop of scalars (codegen/regions.py),
against PyTorch autograd."""

import numpy as np
import pytest
import torch

import gradcomp as gc
from gradcomp.codegen.regions import MIN_REGION

OPS = [(gc.sin, torch.sin), (gc.tanh, torch.tanh), (lambda v, x: v * x, lambda v, x: v * x),
       (lambda v, x: v + x, lambda v, x: v + x)]


def _chain(v, x, steps, ops):
    for k in range(steps):
        op = ops[k % 4]
        v = op(v) if k % 4 < 2 else op(v, x)
    return v


def _gc_ops():
    return [op for op, _ in OPS]


def _torch_ops():
    return [op for _, op in OPS]


def _torch_grads(loss_fn, arrays):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    loss = loss_fn(tensors)
    loss.backward()
    return loss.item(), {k: t.grad.numpy() for k, t in tensors.items()}


def test_a_chain_is_one_loop_and_matches_pytorch():
    steps = 48
    x = gc.tensor("x", (64,))
    fn = gc.compile(gc.sum(_chain(x, x, steps, _gc_ops())), block=True)
    source = fn.source
    assert source.count("for i0 in range(") == 1
    assert "one loop over (64,) for the" in source
    xv = np.random.default_rng(0).standard_normal(64) * 0.3
    value, grads = fn(x=xv)
    want, expected = _torch_grads(lambda t: _chain(t["x"], t["x"], steps, _torch_ops()).sum(),
                                  {"x": xv})
    assert value == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(grads["x"], expected["x"], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("steps", [MIN_REGION - 6, 2 * MIN_REGION])  # step by step, then loops
def test_regions_around_a_product_and_a_bias(steps):
    x = gc.tensor("x", ("B", 8))
    w = gc.tensor("w", (8, 8))
    b = gc.tensor("b", (8,))
    h = _chain(x + b, x, steps, _gc_ops())
    loss = gc.mean(gc.tanh(_chain(h @ w, h, steps, _gc_ops())))
    fn = gc.compile(loss, jit=False)
    assert ("one loop over" in fn.source) == (steps >= MIN_REGION)
    rng = np.random.default_rng(1)
    arrays = {"x": 0.3 * rng.standard_normal((5, 8)), "w": 0.3 * rng.standard_normal((8, 8)),
              "b": 0.1 * rng.standard_normal(8)}
    value, grads = fn(**arrays)

    def reference(t):
        h = _chain(t["x"] + t["b"], t["x"], steps, _torch_ops())
        return torch.tanh(_chain(h @ t["w"], h, steps, _torch_ops())).mean()

    want, expected = _torch_grads(reference, arrays)
    assert value == pytest.approx(want, rel=1e-12)
    for name in arrays:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-14)
