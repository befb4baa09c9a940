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
from numba.extending import intrinsic, overload, register_jitable

from .blas import (
    JIT,
    LEVEL1_THREAD,
    NO_TRANS,
    ROW_MAJOR,
    SYMBOLS,
    _layout,
    _readable,
    single_threaded_blas,
)
from .blas import gemm as gemm_whole

_CONTROL_WIDTH = 16  # words per row of a product's control: a header row, a row per half
# products cut in two from this size: the window classifier's three large ones at 32 rows
# (1.6 MFLOP each) gained; smaller products were not measured, so they stay whole
PAIR_FLOPS = 1 << 20
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


@register_jitable
def owned():
    """In compiled code: whether this thread owns the pool (``owning``; a thread's id is
    never 0, the word's value when no call owns it)."""
    return _state(0) == _thread_self()


@register_jitable
def run_parts(control, function, mode):
    """In compiled code: the C function at address ``function`` run on parts 0 and 1 at
    once, part 1 on a thread of OpenBLAS's pool, each given ``control``'s address as "a".
    The range is two doubles long, one per part; a part's "b" is its start, "c" the range's
    start for both (so a part knows which it is: ``b != c``)."""
    parts = np.zeros(2, np.float64)  # (what each part reads as alpha)
    level1_thread(np.int32(mode), 2, 0, 0, data_address(parts), data_address(control), 0,
                  data_address(parts), 1, data_address(parts), 0, as_function(function), 2)


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
        if 2.0 * m * n * a.shape[1] >= PAIR_FLOPS and owned():
            in_halves(_readable(a), _readable(b), out, beta)
        else:
            gemm_whole(a, b, out, beta)

    return impl


@numba.njit(**JIT)
def in_halves(a, b, out, beta):
    """``out = a @ b + beta * out`` (``out`` in C order, ``a`` and ``b`` row- or
    column-major) in two halves at once (``_gemm_halves``)."""
    trans_a, lda = _layout(a)
    trans_b, ldb = _layout(b)
    _gemm_halves(_part_word(out), out.itemsize, trans_a, lda, a.ctypes.data, trans_b, ldb,
                 b.ctypes.data, out.shape[0], out.shape[1], a.shape[1], np.float64(beta),
                 out.ctypes.data)


@numba.njit(**JIT)
def _gemm_halves(word, itemsize, trans_a, lda, a, trans_b, ldb, b, m, n, k, beta, c):
    """``c = op(a) @ op(b) + beta * c`` (row-major, by address) as two products run at once:
    the halves of the result's rows, or of its columns if it has more of them. One compiled
    function for every kernel and operand layout: only numbers come in."""
    control = np.empty((3, _CONTROL_WIDTH), np.int64)  # a header row, then a row per half
    control[0, 0] = _state(word)
    ldc = n
    if m >= n:  # rows: a's first rows (or first columns, transposed), c's first rows
        half = m // 2
        step_a = (lda if trans_a == NO_TRANS else 1) * half * itemsize
        _post_gemm(control, 1, trans_a, trans_b, half, n, k, a, lda, b, ldb, beta, c, ldc)
        _post_gemm(control, 2, trans_a, trans_b, m - half, n, k, a + step_a, lda, b, ldb, beta,
                   c + half * ldc * itemsize, ldc)
    else:  # columns: b's first columns (or first rows, transposed), c's first columns
        half = n // 2
        step_b = (1 if trans_b == NO_TRANS else ldb) * half * itemsize
        _post_gemm(control, 1, trans_a, trans_b, m, half, k, a, lda, b, ldb, beta, c, ldc)
        _post_gemm(control, 2, trans_a, trans_b, m, n - half, k, a, lda, b + step_b, ldb, beta,
                   c + half * itemsize, ldc)
    run_parts(control, control[0, 0], _state(3))


@numba.njit(**JIT)
def _post_gemm(control, row, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """Row ``row`` of ``control``: one half's ``cblas_?gemm`` arguments (row-major)."""
    control[row, 0] = trans_a
    control[row, 1] = trans_b
    control[row, 2] = m
    control[row, 3] = n
    control[row, 4] = k
    control[row, 5] = a
    control[row, 6] = lda
    control[row, 7] = b
    control[row, 8] = ldb
    control.view(np.float64)[row, 9] = beta
    control[row, 10] = c
    control[row, 11] = ldc


def _part_word(out):
    """The word of ``STATE`` holding the C function for ``out``'s dtype."""
    raise NotImplementedError("compiled code only")


@overload(_part_word, jit_options=JIT)
def _part_word_overload(out):
    word = 1 if out.dtype == types.float32 else 2
    return lambda out: word


def _word_reader(builder, control, base):
    """``word(j)``: IR loading word ``base + j`` of ``control``."""
    def word(j):
        offset = builder.add(base, ir.Constant(base.type, j))
        return builder.load(builder.gep(control, [offset]))

    return word


def _part_functions():
    """The C functions each part runs, one per dtype: the product in its row of the
    ``control`` at ``a`` (``_post_gemm``'s words), by ``cblas_?gemm``. Written in LLVM IR and
    compiled here (a few ms): as Numba C functions, even loaded from Numba's cache, they cost
    a fresh process about 0.3 s of Numba's setup. Returns the compiled library (kept alive)
    and the functions' addresses (float32, float64)."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import cpu_target

    i32, i64, byte = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
    module = ir.Module("gradcomp_pool_parts")
    part_type = ir.FunctionType(ir.VoidType(), [i64, i64, i64, ir.DoubleType(), byte, i64,
                                                byte, i64, byte, i64, byte])
    names = []
    for dtype, real in ((np.float32, ir.FloatType()), (np.float64, ir.DoubleType())):
        gemm_type = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, i64,
                                                    i64, i64, i64, real, i64, i64])
        cblas = ir.Function(module, gemm_type, SYMBOLS[dtype])
        part = ir.Function(module, part_type, f"{SYMBOLS[dtype]}_part")
        _, _, _, _, a, _, b, _, c, _, _ = part.args
        builder = ir.IRBuilder(part.append_basic_block())
        control = builder.bitcast(a, i64.as_pointer())
        row = builder.add(builder.zext(builder.icmp_unsigned("!=", b, c), i64), ir.Constant(i64, 1))
        base = builder.mul(row, ir.Constant(i64, _CONTROL_WIDTH))

        word = _word_reader(builder, control, base)
        beta = builder.bitcast(word(9), ir.DoubleType())
        if dtype == np.float32:
            beta = builder.fptrunc(beta, real)
        builder.call(cblas, [ir.Constant(i32, ROW_MAJOR), builder.trunc(word(0), i32),
                             builder.trunc(word(1), i32), word(2), word(3), word(4),
                             ir.Constant(real, 1.0), word(5), word(6), word(7), word(8), beta,
                             word(10), word(11)])
        builder.ret_void()
        names.append(part.name)
    with global_compiler_lock:
        library = cpu_target.target_context.codegen().create_library("gradcomp_pool_parts")
        library.add_ir_module(module)
        library.finalize()
    return library, [library.get_pointer_to_function(name) for name in names]


_PARTS: list = []  # the compiled library of the parts, kept alive while STATE holds them


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
            library, (STATE[1], STATE[2]) = _part_functions()
            _PARTS[:] = [library]
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
