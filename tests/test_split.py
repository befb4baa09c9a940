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
def spied(monkeypatch):
    """(rows of each call split, rows of each call that fell back to the one-thread kernel)"""
    calls, alone = [], []
    original = split.SplitCall.__call__

    def spy(self, args, one_thread):
        rows = args[self.rows_at[0]].shape[self.rows_at[1]]
        calls.append(rows)

        def fell_back(*arguments):
            alone.append(rows)
            return one_thread(*arguments)

        return original(self, args, fell_back)

    monkeypatch.setattr(split.SplitCall, "__call__", spy)
    return calls, alone


@pytest.fixture
def counted(spied):
    """The rows of each call run on both cores."""
    calls, alone = spied
    yield calls
    assert not alone  # none of them fell back


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


def _softmax(compiled):
    return compiled(("window-split", "softmax", "lookups"), lambda: window_classifier_loss(
        2, DIM, HIDDEN, CLASSES, "tanh", "softmax"), rows="lookups", block=True)


def _assert_same(got, want):
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    for name, g in want[1].items():
        np.testing.assert_allclose(got[1][name].to_dense() if name == "L" else got[1][name],
                                   g.to_dense() if name == "L" else g, rtol=1e-10, atol=1e-13)


def test_openblas_runs_the_second_half_on_another_thread():
    import ctypes
    import threading

    from gradcomp.runtime.pool import level1_mode

    mode = level1_mode(single_threaded_blas.library)
    assert mode is not None
    threads = set()
    part = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 3, ctypes.c_double,
                            *[ctypes.c_void_p, ctypes.c_int64] * 3, ctypes.c_void_p)(
        lambda *args: threads.add(threading.get_ident()))
    start = np.zeros(2).ctypes.data
    single_threaded_blas.library.blas_level1_thread(
        mode, 2, 0, 0, start, start, 0, start, 1, start, 0, ctypes.cast(part, ctypes.c_void_p), 2)
    assert len(threads) == 2 and threading.get_ident() in threads


def test_calls_from_two_threads_at_once_are_both_right(compiled, spied):
    from concurrent.futures import ThreadPoolExecutor

    fn = _softmax(compiled)
    inputs = [_inputs("softmax", seed=s) for s in range(4)]
    wants = [fn.interpret(**i) for i in inputs]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(lambda i: fn(**i), inputs), wants):
                _assert_same(got, want)
    assert spied[0]  # some were split (one at a time: the others ran on one thread each)


@pytest.mark.parametrize("why", ["an input not in C order", "BLAS on one thread"])
def test_the_one_thread_kernel_serves_what_cannot_be_split(compiled, spied, why):
    fn = _softmax(compiled)
    inputs = _inputs("softmax", seed=2)
    want = fn.interpret(**inputs)
    fn(**inputs)  # (compiles the split call)
    split_calls = len(spied[0])
    if why == "BLAS on one thread":  # (another thread's split call, say): not split
        with single_threaded_blas:
            got = fn(**inputs)
        assert len(spied[0]) == split_calls
    else:
        inputs["W"] = np.asfortranarray(inputs["W"])
        got = fn(**inputs)
        assert spied[1] == [BATCH]
    _assert_same(got, want)


def test_no_split_while_openblas_has_one_thread(spied):
    """(OpenBLAS with one thread has no second thread to give a half to.)"""
    fn = gc.compile(window_classifier_loss(2, DIM, HIDDEN, CLASSES, "tanh", "softmax"),
                    rows="lookups", block=True)
    inputs = _inputs("softmax", seed=3)
    with single_threaded_blas:
        got = fn(**inputs)
    _assert_same(got, fn.interpret(**inputs))
    assert spied[0] == []
