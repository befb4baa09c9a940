"""The kernel compiles in the background while the interpreter answers calls (the default
outside this test suite, whose conftest sets GRADCOMP_COMPILE=block)."""

import threading

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.runtime.kernel import Kernel

pytestmark = pytest.mark.jit


def _loss(weight=0.37):
    """A loss of its own per test (its own source): no kernel compiled by another test."""
    x, W = gc.tensor("x", ("B", 3)), gc.tensor("W", (3, 2))
    return gc.mean(gc.tanh(x @ W) ** 2) + weight * gc.sum(W * W)


INPUTS = {"x": np.random.default_rng(0).standard_normal((4, 3)),
          "W": np.random.default_rng(1).standard_normal((3, 2))}


@pytest.fixture
def held(monkeypatch):
    """Kernel compiles wait for ``held.set()``: the test decides when the kernel is ready."""
    release = threading.Event()
    original = Kernel.compile

    def compile_when_released(self, types):
        assert release.wait(timeout=120)
        original(self, types)

    monkeypatch.setattr(Kernel, "compile", compile_when_released)
    return release


def test_calls_are_interpreted_until_the_kernel_is_ready(held):
    fn = gc.compile(_loss(), block=False)
    expected = fn.interpret(**INPUTS)
    assert not fn.ready
    for _ in range(3):  # all answered while Numba is held back
        value, grads = fn(**INPUTS)
        assert value == expected[0] and not fn.ready
        np.testing.assert_array_equal(grads["W"], expected[1]["W"])
    kept = {k: np.zeros_like(v) for k, v in grads.items()}
    assert fn.into(kept, **INPUTS) == expected[0]
    np.testing.assert_array_equal(kept["x"], expected[1]["x"])
    assert fn.value(**INPUTS) == pytest.approx(expected[0], rel=1e-15)
    held.set()
    assert fn.wait() is fn and fn.ready
    value, grads = fn(**INPUTS)  # the kernel now: the same within rounding
    assert value == pytest.approx(expected[0], rel=1e-13)
    for name in grads:
        np.testing.assert_allclose(grads[name], expected[1][name], rtol=1e-12)
    assert fn.kernel.signatures  # compiled, and called through it


def test_a_failed_background_compile_is_raised(monkeypatch):
    def fail(self, types):
        raise gc.CompileError("Numba could not compile loss_and_grads (a test)")

    monkeypatch.setattr(Kernel, "compile", fail)
    fn = gc.compile(_loss(0.41), block=False)
    fn(**INPUTS)  # interpreted while the compile fails in the background
    with pytest.raises(gc.CompileError, match="a test"):
        fn.wait()
    with pytest.raises(gc.CompileError, match="a test"):
        fn(**INPUTS)


def test_block_compiles_in_the_first_call(monkeypatch):
    monkeypatch.setenv("GRADCOMP_COMPILE", "background")
    fn = gc.compile(_loss(0.43), block=True)
    fn(**INPUTS)
    assert fn.ready and fn.kernel.signatures
