"""The Numba helpers generated kernels call: vectorisable tanh, row slots, index ranges."""

import numba
import numpy as np
import pytest

from gradcomp.runtime.helpers import empty, ravel, reshape, row_slots, tanh

pytestmark = pytest.mark.jit


@numba.njit
def _tanh_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])
    return out


def _grid():
    rng = np.random.default_rng(0)
    tiny = np.geomspace(1e-300, 1.0, 20001)
    return np.concatenate([np.linspace(-30, 30, 600001), tiny, -tiny,
                           rng.standard_normal(200000)])


def test_float64_tanh_within_2_ulp_of_numpy():
    x = _grid()
    got, want = _tanh_all(x), np.tanh(x)
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    assert rel.max() < 2 * np.finfo(np.float64).eps
    special = _tanh_all(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 40.0]))
    assert np.isnan(special[0]) and list(special[1:]) == [1.0, -1.0, 0.0, -0.0, 1.0]
    assert np.signbit(special[4]) and not np.signbit(special[3])


def test_float32_tanh_within_a_few_ulp():
    x = _grid().astype(np.float32)
    got, want = _tanh_all(x), np.tanh(x.astype(np.float64))
    rel = np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), 1e-30)
    assert got.dtype == np.float32 and rel.max() < 8 * np.finfo(np.float32).eps


def test_row_slots_map_each_lookup_to_its_distinct_row():
    rng = np.random.default_rng(1)
    for n, rows in [(1, 5), (7, 3), (5000, 400_000), (20_000, 50)]:
        index = rng.integers(0, rows, n)
        slot, distinct = row_slots(index)
        np.testing.assert_array_equal(distinct[slot], index)
        assert len(distinct) == len(np.unique(index)) == len(set(distinct.tolist()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(100, 1, 250), (1, 1, 1), (3, 1, 0), (5, 2, 7), (1, 250, 100)])
def test_matmul_helpers_match_numpy(dtype, m, k, n):
    from gradcomp.runtime.helpers import matmul, matmul_into

    rng = np.random.default_rng(m * 100 + k)
    a = rng.standard_normal((k, m)).astype(dtype).T  # a transposed view, as kernels pass it
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    matmul_into(a, b, out)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol)
    np.testing.assert_allclose(matmul(np.ascontiguousarray(a), b), a @ b, rtol=tol, atol=tol)
    if k == 1:  # an outer product: each entry is one product, bit for bit
        np.testing.assert_array_equal(out, a @ b)


def test_in_range_and_overlaps():
    from gradcomp.runtime.helpers import in_range, overlaps

    assert in_range(np.array([0, 4, 2]), 5) and not in_range(np.array([0, 5]), 5)
    assert not in_range(np.array([3, -1]), 5) and in_range(np.zeros(0, np.int64), 1)
    # ranges [100, 140), [140, 180), [150, 160): the last (the buffer) overlaps the second
    starts = np.array([100, 140, 150], np.uint64)
    assert overlaps(tuple(starts), (40, 40, 10), 1)
    assert not overlaps(tuple(starts), (40, 10, 10), 1)  # [140, 150) ends where it starts
    assert not overlaps(tuple(starts), (40, 40, 0), 1)  # an empty buffer overlaps nothing


@pytest.mark.parametrize("vocab,width,lookups", [(7, 3, 40), (400, 50, 1000), (5, 1, 3)])
def test_gather_rows_matches_fancy_indexing(vocab, width, lookups):
    from gradcomp.runtime.helpers import gather_rows

    rng = np.random.default_rng(vocab)
    table = rng.standard_normal((vocab, width)).astype(np.float32)
    index = rng.integers(0, vocab, lookups)
    np.testing.assert_array_equal(gather_rows(table, index), table[index])


@numba.njit
def _shapes(n, dt):
    a, b = empty((n, 100), dt), empty((n, 7), dt)
    c = reshape(ravel(a), (n * 50, 2))  # a view of a: written through it
    c[0, 1] = 3.0
    return a, b, reshape(b, (7, n)).shape


def test_shape_helpers_serve_every_width_with_one_specialisation():
    a, b, shape = _shapes(3, np.dtype(np.float64))
    assert a.shape == (3, 100) and b.shape == (3, 7) and shape == (7, 3)
    assert a[0, 1] == 3.0
    # the literal widths 100 and 7 were compiled as plain ints: one signature serves both
    assert all(isinstance(sig[0], numba.types.UniTuple) for sig in empty.signatures)
    assert all(not isinstance(t, numba.types.Literal) for sig in reshape.signatures
               for t in sig[1])
