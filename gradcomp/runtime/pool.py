"""Products split over both cores on the threads of NumPy's own OpenBLAS, and what a part needs.

Below the rows a split call takes (``split.py``), a tiled kernel runs as one function on one
thread, and most of its time is its larger products: at 32 rows of the window classifier,
84-90% (``benchmarks/kernel_steps.py``). There OpenBLAS's own threads gain little (a
32 x 250 x 100 product: 16.6 us on one thread, 16.6 on two), so while a call *owns the pool*
(``owning``), every product of at least ``PAIR_FLOPS`` is cut in two along the larger side of
its result and both halves run at once: the calling thread runs one, a thread of OpenBLAS's
pool the other, through ``blas_level1_thread`` (which splits a range over OpenBLAS's threads
and calls a C function on each part, the caller's thread running the first), each half by
``cblas_?gemm`` on its own thread (``single_threaded_blas`` holds OpenBLAS at one thread for
the call, so no half asks the pool again). Measured in one process, a pair of the window
classifier's backward products at 32 rows: 16.4 us against 30.7 one after the other
(float32), 31.0 against 60.0 (float64).

A call owns the pool when it holds ``LOCK`` (split calls hold it too), and ``STATE`` names
its thread: only that thread's products are split, so OpenBLAS's pool is never asked twice
at once by gradcomp, and another thread's kernel meanwhile runs its products whole.
``STATE`` is a small int64 block registered with LLVM by name (as the BLAS functions are,
``blas.py``), so cached kernels find it in every process: the owning thread's id, the C
function's address for float32 and for float64, and OpenBLAS's mode number for doubles.
"""

from __future__ import annotations

import ctypes
import threading

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .blas import JIT, LEVEL1_THREAD, _cblas_gemm, _layout, _readable, single_threaded_blas
from .blas import gemm as gemm_whole

PAIR_FLOPS = 1 << 20  # measured: below about 1 MFLOP the hand-off costs what the half saves
# blas_level1_thread(mode, m, n, k, alpha, a, lda, b, ldb, c, ldc, function, threads)
level1_thread = types.ExternalFunction(LEVEL1_THREAD, types.int32(
    types.int32, types.int64, types.int64, types.int64, types.voidptr, types.voidptr,
    types.int64, types.voidptr, types.int64, types.voidptr, types.int64, types.voidptr,
    types.int32))
# what it calls on each part: (m, n, k, alpha, a, lda, b, ldb, c, ldc, buffer)
ENTRY = types.void(types.int64, types.int64, types.int64, types.float64, types.voidptr,
                   types.int64, types.voidptr, types.int64, types.voidptr, types.int64,
                   types.voidptr)

_STATE_SYMBOL, _SELF_SYMBOL = "gradcomp_pool_state", "gradcomp_thread_self"
STATE = (ctypes.c_int64 * 4)()  # owner thread, float32 part, float64 part, mode
llvm.add_symbol(_STATE_SYMBOL, ctypes.addressof(STATE))
llvm.add_symbol(_SELF_SYMBOL, ctypes.cast(ctypes.CDLL(None).pthread_self, ctypes.c_void_p).value)
_thread_self = types.ExternalFunction(_SELF_SYMBOL, types.int64())
LOCK = threading.Lock()  # held by the call that has OpenBLAS's pool (owning, or a split call)


@intrinsic
def pointer_to(typingctx, address, template):
    """The address (an integer or a void pointer) as a pointer to ``template``'s elements."""
    def codegen(context, builder, signature, args):
        element = context.get_data_type(signature.args[1].dtype).as_pointer()
        if isinstance(signature.args[0], types.Integer):
            return builder.inttoptr(args[0], element)
        return builder.bitcast(args[0], element)

    return types.CPointer(template.dtype)(address, template), codegen


@intrinsic
def as_function(typingctx, address):
    """The integer ``address`` as a void pointer (to a C function)."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return types.voidptr(address), codegen


@intrinsic
def as_integer(typingctx, pointer):
    """A void pointer as an integer."""
    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], context.get_value_type(types.int64))

    return types.int64(pointer), codegen


@intrinsic
def data_address(typingctx, array):
    """The address of ``array``'s data as a void pointer."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.bitcast(data, context.get_value_type(types.voidptr))

    return types.voidptr(array), codegen


@intrinsic
def _state(typingctx, index):
    """Word ``index`` of ``STATE`` (declared in the module, found by name when linked)."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        block = builder.module.globals.get(_STATE_SYMBOL)
        if block is None:
            block = ir.GlobalVariable(builder.module, ir.ArrayType(i64, len(STATE)),
                                      _STATE_SYMBOL)
        return builder.load(builder.gep(block, [ir.Constant(ir.IntType(32), 0), args[0]]))

    return types.int64(index), codegen


def gemm(a, b, out, beta):
    """``out[:] = a @ b + beta * out`` (``blas.gemm``), in two halves at once on both cores
    when this thread owns the pool and the product is large enough."""
    gemm_whole(a, b, out, beta)


@overload(gemm, jit_options=JIT)
def _gemm_overload(a, b, out, beta):
    if out.layout != "C":
        return lambda a, b, out, beta: gemm_whole(a, b, out, beta)

    def impl(a, b, out, beta):
        m, n = out.shape
        if 2.0 * m * n * a.shape[1] >= PAIR_FLOPS and _state(0) != 0 and (
                _state(0) == _thread_self()):
            _gemm_halves(_readable(a), _readable(b), out, beta)
        else:
            gemm_whole(a, b, out, beta)

    return impl


@numba.njit(**JIT)
def _gemm_halves(a, b, out, beta):
    """``out = a @ b + beta * out`` as two products run at once: the halves of the result's
    rows (or of its columns, if it has more of them)."""
    control = np.empty((3, 16), np.int64)  # a header row, then a row per half
    control[0, 0] = _state(_part_word(out))
    m, n = out.shape
    if m >= n:
        half = m // 2
        _post_gemm(control, 1, a[:half], b, out[:half], beta)
        _post_gemm(control, 2, a[half:], b, out[half:], beta)
    else:
        half = n // 2
        _post_gemm(control, 1, a, b[:, :half], out[:, :half], beta)
        _post_gemm(control, 2, a, b[:, half:], out[:, half:], beta)
    parts = np.zeros(2, np.float64)  # (what each part reads as alpha)
    level1_thread(np.int32(_state(3)), 2, 0, 0, data_address(parts), data_address(control), 0,
                   data_address(parts), 1, data_address(parts), 0, as_function(control[0, 0]), 2)


@numba.njit(**JIT)
def _post_gemm(control, row, a, b, out, beta):
    """Row ``row`` of ``control``: one half's ``cblas_?gemm`` arguments (row-major)."""
    trans_a, lda = _layout(a)
    trans_b, ldb = _layout(b)
    control[row, 0] = trans_a
    control[row, 1] = trans_b
    control[row, 2] = out.shape[0]
    control[row, 3] = out.shape[1]
    control[row, 4] = a.shape[1]
    control[row, 5] = a.ctypes.data
    control[row, 6] = lda
    control[row, 7] = b.ctypes.data
    control[row, 8] = ldb
    control.view(np.float64)[row, 9] = beta
    control[row, 10] = out.ctypes.data
    control[row, 11] = _layout(out)[1]


def _part_word(out):
    """The word of ``STATE`` holding the C function for ``out``'s dtype."""
    raise NotImplementedError("compiled code only")


@overload(_part_word, jit_options=JIT)
def _part_word_overload(out):
    word = 1 if out.dtype == types.float32 else 2
    return lambda out: word


def _make_part(dtype):
    """The C function each part runs: the product in its row of the ``control`` at ``a``."""
    whole = np.empty((0, 0), np.int64)
    real = dtype.type

    @numba.cfunc(ENTRY, nogil=True, error_model="numpy", cache=True)
    def part(m, n, k, alpha, a, lda, b, ldb, c, ldc, buffer):
        control = numba.carray(pointer_to(a, whole), (3, 16))
        row = 1 + np.int64(as_integer(b) != as_integer(c))
        _cblas_gemm(np.int32(control[row, 0]), np.int32(control[row, 1]), control[row, 2],
                    control[row, 3], control[row, 4], control[row, 5], control[row, 6],
                    control[row, 7], control[row, 8], real(control.view(np.float64)[row, 9]),
                    control[row, 10], control[row, 11])

    return part


_PARTS: list = []  # the C functions, kept alive while STATE holds their addresses


def ready() -> bool:
    """Compile (or load) the parts' C functions and probe OpenBLAS's mode, once; whether
    products can be split (NumPy's OpenBLAS found, on two threads or more)."""
    if STATE[3]:
        return True
    if not single_threaded_blas.available or single_threaded_blas.threads() < 2:
        return False
    with LOCK:
        if not STATE[3]:
            mode = level1_mode(single_threaded_blas.library)
            if mode is None:
                return False
            _PARTS[:] = [_make_part(np.dtype(np.float32)), _make_part(np.dtype(np.float64))]
            STATE[1], STATE[2] = (p.address for p in _PARTS)
            STATE[3] = mode
    return True


def owning(call, args: tuple):
    """``call(*args)`` owning the pool (its larger products on both cores), or as it is if
    another call has the pool or OpenBLAS has no thread to spare."""
    if single_threaded_blas.threads() < 2 or not LOCK.acquire(blocking=False):
        return call(*args)
    try:
        with single_threaded_blas:
            STATE[0] = threading.get_ident()
            try:
                return call(*args)
            finally:
                STATE[0] = 0
    finally:
        LOCK.release()


_PROBE = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_double,
                          *[ctypes.c_void_p, ctypes.c_int64] * 3, ctypes.c_void_p)


def level1_mode(library) -> int | None:
    """The ``mode`` with which OpenBLAS's ``blas_level1_thread`` calls a function of real
    doubles on each of two parts (its numbering of precisions changed between versions:
    double is 3 in 0.3.31, 1 before bfloat16 came); None if no candidate does. Only with
    OpenBLAS on two threads or more (on one, it waits for ever for a second)."""
    split = library.blas_level1_thread
    split.restype = ctypes.c_int
    split.argtypes = [ctypes.c_int, *[ctypes.c_int64] * 3, ctypes.c_void_p,
                      *[ctypes.c_void_p, ctypes.c_int64] * 3, ctypes.c_void_p, ctypes.c_int]
    parts = np.zeros(2)
    for mode in (3, 1):
        called = []
        part = _PROBE(lambda m, n, k, alpha, a, lda, b, ldb, c, ldc, buffer, called=called:
                      called.append((m, b - c)))
        start = parts.ctypes.data
        split(mode, 2, 0, 0, start, start, 0, start, 1, start, 0,
              ctypes.cast(part, ctypes.c_void_p), 2)
        if sorted(called) == [(1, 0), (1, 8)]:
            return mode
    return None
