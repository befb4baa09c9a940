"""Large batches on both cores: a tiled kernel's rows in two halves (runtime/split.py)."""

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.models import window_classifier_loss
from gradcomp.runtime import split
from gradcomp.runtime.blas import single_threaded_blas

pytestmark = pytest.mark.skipif(not split.SplitCall.available(),
                                reason="needs NumPy's OpenBLAS (its thread count is switched)")

V, DIM, HIDDEN, CLASSES, WINDOW = 60, 4, 6, 3, 5
BATCH = 1300  # three tiles, and more than split.SPLIT_ROWS


def _inputs(loss, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {"L": rng.standard_normal((V, DIM)), "W": 0.3 * rng.standard_normal((HIDDEN, WINDOW * DIM)),
              "b": 0.1 * rng.standard_normal(HIDDEN), "windows": rng.integers(0, V, (BATCH, WINDOW))}
    if loss == "max_margin":
        inputs.update(u=0.3 * rng.standard_normal(HIDDEN), corrupt=rng.integers(0, V, (BATCH, WINDOW)))
    else:
        inputs.update(U=0.3 * rng.standard_normal((CLASSES, HIDDEN)),
                      c=0.1 * rng.standard_normal(CLASSES), labels=rng.integers(0, CLASSES, BATCH))
    return inputs


@pytest.fixture
def counted(monkeypatch):
    calls = []
    original = split.SplitCall.__call__

    def spy(self, args):
        calls.append(args[self.rows_at[0]].shape[self.rows_at[1]])
        return original(self, args)

    monkeypatch.setattr(split.SplitCall, "__call__", spy)
    return calls


@pytest.mark.parametrize("loss, rows", [("softmax", "lookups"), ("max_margin", True)])
def test_split_batch_matches_the_interpreter(compiled, counted, loss, rows):
    fn = compiled(("window-split", loss, rows), lambda: window_classifier_loss(
        2, DIM, HIDDEN, CLASSES, "tanh", loss), rows=rows, block=True)
    inputs = _inputs(loss)
    value, grads = fn(**inputs)
    assert counted == [BATCH]  # the call was split
    want, expected = fn.interpret(**inputs)
    assert value == pytest.approx(want, rel=1e-12)
    for name, g in expected.items():
        np.testing.assert_allclose(grads[name].to_dense() if name == "L"
                                   else grads[name],
                                   g.to_dense() if name == "L" else g, rtol=1e-10, atol=1e-13)
    # a small batch of the same kernel runs in one thread
    small = {k: (v[:7] if k in ("windows", "labels", "corrupt") else v) for k, v in inputs.items()}
    fn(**small)
    assert counted == [BATCH]


def test_blas_threads_are_restored_after_a_split_call(compiled, counted):
    fn = compiled(("window-split", "softmax", "lookups"), lambda: window_classifier_loss(
        2, DIM, HIDDEN, CLASSES, "tanh", "softmax"), rows="lookups", block=True)
    before = single_threaded_blas._get()
    fn(**_inputs("softmax", seed=1))
    assert counted and single_threaded_blas._get() == before
    with single_threaded_blas:
        with single_threaded_blas:  # nested (two calls at once): restored by the last only
            assert single_threaded_blas._get() == 1
        assert single_threaded_blas._get() == 1
    assert single_threaded_blas._get() == before


def test_one_thread_when_asked(monkeypatch):
    monkeypatch.setenv("GRADCOMP_THREADS", "1")
    assert not split.SplitCall.available()
