"""Products in two halves on both cores while a call owns OpenBLAS's pool (runtime/pool.py),
against NumPy's products and the NumPy interpreter."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest

import gradcomp as gc
from gradcomp.models import window_classifier_loss
from gradcomp.runtime import kernel, pool, split

pytestmark = pytest.mark.skipif(not (split.SplitCall.available() and pool.ready()),
                                reason="needs NumPy's OpenBLAS on two threads or more")


@numba.njit
def _halves(a, b, out, beta):
    pool.in_halves(a, b, out, beta)


@numba.njit
def _owned():
    return pool.owned()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, k", [(120, 30, 40), (30, 120, 40), (7, 9, 5)])
@pytest.mark.parametrize("turned", ["none", "a", "b"])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_a_product_in_two_halves_is_numpys(dtype, m, n, k, turned, beta):
    # rows cut (m >= n) or columns; operands in C order or transposed views; into or added
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((k, m)).T if turned == "a" else rng.standard_normal((m, k))
    b = rng.standard_normal((n, k)).T if turned == "b" else rng.standard_normal((k, n))
    a, b = a.astype(dtype), b.astype(dtype)
    out = rng.standard_normal((m, n)).astype(dtype)
    want = a.astype(np.float64) @ b + beta * out
    _halves(a, b, out, dtype(beta))
    np.testing.assert_allclose(out, want, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)


def test_only_the_owning_thread_splits_its_products():
    seen = {}

    def call():
        seen["owner"] = _owned()
        other = threading.Thread(target=lambda: seen.update(other=_owned()))
        other.start()
        other.join()
        return "done"

    assert pool.owning(call, ()) == "done"
    assert seen == {"owner": True, "other": False}
    assert not _owned() and pool.STATE[0] == 0  # (given back)


@pytest.fixture(scope="module")
def window():
    return gc.compile(window_classifier_loss(), rows="lookups", block=True)


def _inputs(batch, seed):
    rng = np.random.default_rng(seed)
    return {"L": rng.standard_normal((300, 50)), "W": rng.standard_normal((100, 250)) / 16,
            "b": rng.standard_normal(100) / 10, "U": rng.standard_normal((5, 100)) / 10,
            "c": rng.standard_normal(5), "windows": rng.integers(0, 300, (batch, 5)),
            "labels": rng.integers(0, 5, batch)}


def _assert_same(got, want):
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    for name, g in want[1].items():
        np.testing.assert_allclose(got[1][name].to_dense() if name == "L" else got[1][name],
                                   g.to_dense() if name == "L" else g, rtol=1e-10, atol=1e-13)


def test_a_batch_below_the_split_owns_the_pool_and_is_right(window, monkeypatch):
    owned = []
    original = kernel.owning
    monkeypatch.setattr(kernel, "owning", lambda call, args: owned.append(1) or original(call, args))
    for batch in (split.PAIR_ROWS, 100):  # products of 1.6 and 5 MFLOP: cut in two
        inputs = _inputs(batch, batch)
        _assert_same(window(**inputs), window.interpret(**inputs))
    assert len(owned) == 2
    window(**_inputs(split.PAIR_ROWS - 1, 0))  # fewer rows: products whole
    assert len(owned) == 2


def test_calls_from_two_threads_at_once_below_the_split_are_right(window):
    inputs = [_inputs(48, seed) for seed in range(4)]
    wants = [window.interpret(**i) for i in inputs]
    with ThreadPoolExecutor(2) as threads:
        for _ in range(5):
            for got, want in zip(threads.map(lambda i: window(**i), inputs), wants):
                _assert_same(got, want)
