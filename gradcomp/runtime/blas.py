"""Matrix products for generated kernels, by the BLAS that NumPy itself uses.

Numba's ``np.dot`` calls SciPy's copy of OpenBLAS, which keeps a thread pool of its own beside
NumPy's. An idle OpenBLAS pool spins for a while after each call, so a program that mixes NumPy
products with gradcomp kernels had two pools fighting for the cores: on 2 cores, a 256 x 250 x 100
product in a kernel took a median of 330 to 7,700 us in the 0.3 s after NumPy products, against
about 100 us after products of its own pool. Calling NumPy's own library leaves one pool, and gives the same bits as NumPy.

The kernels call ``cblas_sgemm`` / ``cblas_dgemm`` by the symbol names below, registered with
LLVM when this module is imported, so cached kernels link by name in every process. When
NumPy's library cannot be found (a NumPy not built with scipy-openblas, or
``GRADCOMP_NUMPY_BLAS=0``), the same symbols are Numba C callbacks that compute the product
with ``np.dot``: the kernels stay the same, only the library behind them changes.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading

import numba
import numpy as np
from llvmlite import binding as llvm
from numba import types

# How every Numba helper of gradcomp is compiled (helpers.py and optim.py use these too).
# error_model="numpy": division by zero gives inf/nan as in NumPy instead of a Python
# exception; the check it removes is what keeps LLVM from vectorising loops that divide.
JIT = dict(cache=True, nogil=True, error_model="numpy")

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enum values
SYMBOLS = {np.float32: "gradcomp_cblas_sgemm", np.float64: "gradcomp_cblas_dgemm"}
# OpenBLAS's own split of a range over its threads (runtime/halves.py), when NumPy's is found
LEVEL1_THREAD = "gradcomp_blas_level1_thread"


def _signature(real, address=types.uintp):
    """cblas_?gemm(layout, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc),
    with 64-bit ints (the ILP64 interface NumPy's OpenBLAS has); pointers as ``address``
    (plain addresses for the kernels' calls, typed pointers for the np.dot callbacks)."""
    i32, i64 = types.int32, types.int64
    return types.void(i32, i32, i32, i64, i64, i64, real, address, i64, address, i64, real,
                      address, i64)


_sgemm = types.ExternalFunction(SYMBOLS[np.float32], _signature(types.float32))
_dgemm = types.ExternalFunction(SYMBOLS[np.float64], _signature(types.float64))


def _numpy_library() -> tuple[str, ctypes.CDLL, dict] | None:
    """NumPy's OpenBLAS (a scipy-openblas ILP64 build, as in NumPy's wheels): its path, the
    library and the addresses of its cblas_sgemm and cblas_dgemm; None when it is not that."""
    if os.environ.get("GRADCOMP_NUMPY_BLAS", "1") == "0":
        return None
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (KeyError, TypeError):
        return None
    if blas.get("name") != "scipy-openblas" or "USE64BITINT" not in blas.get(
            "openblas configuration", ""):
        return None
    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in sorted(glob.glob(os.path.join(root, "numpy.libs", "*scipy_openblas64*"))
                       + glob.glob(os.path.join(root, "numpy", ".dylibs", "*scipy_openblas64*"))):
        try:
            library = ctypes.CDLL(path)  # the copy NumPy loaded: same handle, no new pool
            return path, library, {real: ctypes.cast(getattr(library, f"scipy_cblas_{c}gemm64_"),
                                            ctypes.c_void_p).value
                          for real, c in ((np.float32, "s"), (np.float64, "d"))}
        except (OSError, AttributeError):
            continue
    return None


class _SingleThreaded:
    """``with single_threaded_blas:`` NumPy's OpenBLAS runs each product on the calling
    thread (its own pool idle), restored when the last such block in the process ends."""

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = 1
        self.available = False
        self._get = self._set = self.library = None

    def bind(self, library) -> None:
        try:
            self._get = library.scipy_openblas_get_num_threads64_
            self._set = library.scipy_openblas_set_num_threads64_
            library.blas_level1_thread  # noqa: B018 - what split calls need (halves.py)
        except AttributeError:
            return
        self._get.restype = ctypes.c_int
        self._set.argtypes = [ctypes.c_int]
        self.library = library
        self.available = True

    def threads(self) -> int:
        """How many threads NumPy's OpenBLAS runs a product on now."""
        return self._get()

    def __enter__(self):
        with self._lock:
            if self._depth == 0:
                self._saved = self._get()
                self._set(1)
            self._depth += 1

    def __exit__(self, *exc):
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._set(self._saved)


single_threaded_blas = _SingleThreaded()


def _np_dot_callbacks() -> dict:
    """C callbacks with cblas_?gemm's signature (row-major only, as the kernels call it) that
    compute the product with Numba's np.dot."""
    addresses = {}
    for real, numba_real in ((np.float32, types.float32), (np.float64, types.float64)):
        @numba.cfunc(_signature(numba_real, types.CPointer(numba_real)), cache=True)
        def gemm(layout, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
            a_rows, a_cols = (m, k) if trans_a == NO_TRANS else (k, m)
            b_rows, b_cols = (k, n) if trans_b == NO_TRANS else (n, k)
            a_view = numba.carray(a, (max(a_rows, 1), lda))[:a_rows, :a_cols]
            b_view = numba.carray(b, (max(b_rows, 1), ldb))[:b_rows, :b_cols]
            c_view = numba.carray(c, (max(m, 1), ldc))[:m, :n]
            product = np.dot(np.ascontiguousarray(a_view if trans_a == NO_TRANS else a_view.T),
                             np.ascontiguousarray(b_view if trans_b == NO_TRANS else b_view.T))
            for i in range(m):
                for j in range(n):
                    kept = beta * c_view[i, j] if beta != 0 else 0
                    c_view[i, j] = alpha * product[i, j] + kept

        addresses[real] = gemm.address
    return addresses


def _register() -> str:
    found = _numpy_library()
    if found is not None:
        path, library, addresses = found
        single_threaded_blas.bind(library)
        if single_threaded_blas.available:
            llvm.add_symbol(LEVEL1_THREAD, ctypes.cast(library.blas_level1_thread,
                                                       ctypes.c_void_p).value)
        where = f"NumPy's OpenBLAS ({os.path.basename(path)})"
    else:
        addresses = _np_dot_callbacks()
        where = "Numba's np.dot (NumPy's OpenBLAS not found)"
    for real, address in addresses.items():
        llvm.add_symbol(SYMBOLS[real], address)
    return where


BACKEND = _register()  # what computes the kernels' products (the benchmark reports it)


def _cblas_gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """Row-major ``c = op(a) @ op(b) + beta * c`` by address (typed inside kernels only)."""
    raise NotImplementedError("called from Numba kernels only")


@numba.extending.overload(_cblas_gemm, jit_options=JIT)
def _cblas_gemm_overload(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
    function = _sgemm if beta == types.float32 else _dgemm

    def call(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
        one = beta * 0 + 1  # 1 in beta's float type
        function(ROW_MAJOR, trans_a, trans_b, m, n, k, one, a, lda, b, ldb, beta, c, ldc)

    return call


@numba.njit(**JIT)
def _layout(x):
    """How BLAS reads the 2-D array ``x``: (transposed?, leading dimension), or (-1, 0) when
    its strides fit neither row- nor column-major storage."""
    rows, cols = x.shape
    step_row, step_col = x.strides[0] // x.itemsize, x.strides[1] // x.itemsize
    if (cols <= 1 or step_col == 1) and (rows <= 1 or step_row >= cols):
        return NO_TRANS, max(step_row if rows > 1 else cols, cols, 1)
    if (rows <= 1 or step_row == 1) and (cols <= 1 or step_col >= rows):
        return TRANS, max(step_col if cols > 1 else rows, rows, 1)
    return -1, 0


def _readable(x):
    """``x`` if BLAS can read it as it is (row- or column-major), else a C-contiguous copy."""
    raise NotImplementedError("called from Numba kernels only")


@numba.extending.overload(_readable, jit_options=JIT)
def _readable_overload(x):
    if x.layout in "CF":  # known at compile time: no copy to compile (most kernel operands)
        return lambda x: x
    return lambda x: x if _layout(x)[0] != -1 else np.ascontiguousarray(x)


def gemm(a, b, out, beta):
    """``out[:] = a @ b + beta * out`` for 2-D float arrays of one dtype, shapes checked by
    the caller; operands that are neither row- nor column-major are copied first."""
    out[...] = a @ b if beta == 0 else a @ b + beta * out  # the same, in plain Python


@numba.extending.overload(gemm, jit_options=JIT)
def _gemm_overload(a, b, out, beta):
    if out.layout == "C":
        return lambda a, b, out, beta: _gemm_rows(_readable(a), _readable(b), out, beta)

    def through_temporary(a, b, out, beta):  # BLAS writes row-major only
        target = np.ascontiguousarray(out)
        _gemm_rows(_readable(a), _readable(b), target, beta)
        out[:] = target

    return through_temporary


@numba.njit(**JIT)
def _gemm_rows(a, b, out, beta):
    trans_a, lda = _layout(a)
    trans_b, ldb = _layout(b)
    _cblas_gemm(trans_a, trans_b, a.shape[0], b.shape[1], a.shape[1], a.ctypes.data, lda,
                b.ctypes.data, ldb, out.dtype.type(beta), out.ctypes.data,
                max(out.shape[1], 1))
