"""Products in kernels: NumPy's BLAS called by symbol, and the np.dot stand-in behind the same
symbols, against NumPy's ``@`` for every layout a kernel can hand them."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from gradcomp.runtime import blas
from gradcomp.runtime.helpers import dot, dot_add, dot_into, matmul, matmul_add, matmul_into

pytestmark = pytest.mark.jit


@numba.njit
def _gemm(a, b, out, beta):
    blas.gemm(a, b, out, beta)


@numba.njit
def _dot(a, b):
    return dot(a, b)


@numba.njit
def _dot_into(a, b, out):
    dot_into(a, b, out)


@numba.njit
def _dot_add(a, b, out):
    dot_add(a, b, out)


def _layouts(matrix):
    """The same values stored row-major with a wider row, column-major with a taller column,
    with both strides above one, and upside down (copied before the call); all typed as Numba's
    any-layout arrays (one compile)."""
    rows, cols = matrix.shape
    wide = np.zeros((rows, cols + 3), matrix.dtype)
    wide[:, :cols] = matrix
    tall = np.zeros((cols, rows + 2), matrix.dtype)
    tall[:, :rows] = matrix.T
    spread = np.zeros((2 * rows + 1, 2 * cols + 1), matrix.dtype)
    spread[::2, ::2][:rows, :cols] = matrix
    return [wide[:, :cols], tall[:, :rows].T, spread[::2, ::2][:rows, :cols],
            matrix[::-1].copy()[::-1]]


SHAPES = [(3, 4, 5), (1, 250, 100), (7, 2, 1), (0, 3, 2), (4, 0, 3), (2, 3, 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_matches_numpy_for_every_layout(dtype, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    before = rng.standard_normal((m, n)).astype(dtype)
    for left in _layouts(a):
        for right in _layouts(b):
            for out in _layouts(before):
                out[...] = before
                _gemm(left, right, out, 1.0)
                np.testing.assert_allclose(out, a @ b + before, rtol=tol, atol=tol)
                _gemm(left, right, out, 0.0)
                np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol)
    out = before.copy()  # and all C-contiguous, as most kernel operands are
    _gemm(a, b, out, 0.0)
    np.testing.assert_allclose(out, a @ b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_with_vectors(dtype):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 6)).astype(dtype)
    x, y = rng.standard_normal(6).astype(dtype), rng.standard_normal(4).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_dot(a, x), a @ x, rtol=tol)
    np.testing.assert_allclose(_dot(y, a), y @ a, rtol=tol)
    np.testing.assert_allclose(_dot(x, x[::-1].copy()[::-1]), x @ x, rtol=tol)
    np.testing.assert_allclose(_dot(a[:, ::2], x[::2]), a[:, ::2] @ x[::2], rtol=tol)
    out = np.empty(4, dtype)
    _dot_into(a, x, out)
    np.testing.assert_allclose(out, a @ x, rtol=tol)
    out = np.empty(6, dtype)
    _dot_into(y, a, out)
    np.testing.assert_allclose(out, y @ a, rtol=tol)
    np.testing.assert_allclose(matmul(a, a.T), a @ a.T, rtol=tol)
    into = np.empty((6, 6), dtype)
    matmul_into(a.T, a, into)
    np.testing.assert_allclose(into, a.T @ a, rtol=tol)
    matmul_add(a.T, a, into)
    np.testing.assert_allclose(into, 2 * (a.T @ a), rtol=tol)
    out = np.ones(4, dtype)
    _dot_add(a, x, out)
    np.testing.assert_allclose(out, a @ x + 1, rtol=tol)
    out = np.ones(6, dtype)
    _dot_add(y, a, out)
    np.testing.assert_allclose(out, y @ a + 1, rtol=tol)


def test_numpy_blas_is_used_where_numpy_has_its_openblas():
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    if config.get("name") != "scipy-openblas":
        pytest.skip(f"NumPy is built with {config.get('name')}, not scipy-openblas")
    assert blas.BACKEND.startswith("NumPy's OpenBLAS")


def test_the_np_dot_stand_in_behind_the_same_symbols(tmp_path):
    """With NumPy's library switched off, the symbols are Numba callbacks; results agree."""
    script = textwrap.dedent("""
        import numba, numpy as np
        from gradcomp.runtime import blas
        assert blas.BACKEND.startswith("Numba's np.dot"), blas.BACKEND

        @numba.njit
        def run(a, b, out, beta):
            blas.gemm(a, b, out, beta)

        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            a = rng.standard_normal((5, 3)).astype(dtype)
            b = rng.standard_normal((3, 4)).astype(dtype)
            for left in (a, np.asfortranarray(a)):
                for right in (b, np.asfortranarray(b)):
                    out = np.ones((5, 4), dtype)
                    run(left, right, out, 1.0)
                    np.testing.assert_allclose(out, a @ b + 1, rtol=1e-5)
                    run(left, right, out, 0.0)
                    np.testing.assert_allclose(out, a @ b, rtol=1e-5)
        print("stand-in ok")
    """)
    env = dict(os.environ, GRADCOMP_NUMPY_BLAS="0", NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stand-in ok" in done.stdout
