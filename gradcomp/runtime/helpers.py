"""Small Numba helpers that generated kernels call for indexed ops.

They work on flattened views (rows of a 2-D table, a 1-D index), so one helper serves every
rank. Every generated kernel checks its inputs' dims and index ranges on entry, before it reads
anything (``CallRejected``, ``in_range``), so these helpers never see an index out of range.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.registry import CPUDispatcher
from numba.extending import intrinsic, overload

from .blas import JIT
from .pool import gemm

# tanh is the largest elementwise cost of the window classifier, and libm's scalar tanh
# (about 15 ns an element) keeps LLVM from vectorising the loop that calls it. Both versions
# below are plain arithmetic and selects, so the loops vectorise.
#
# float32: the rational approximation on [-7.9, 7.9] that Eigen uses; a few ulp.
_TANH32_CLAMP = 7.90531110763549805
_TANH32_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
             5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04,
             4.89352455891786e-03)
_TANH32_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
             4.89352518554385e-03)

# float64, on a = |x| clamped to 22 (tanh(22) rounds to 1), both ranges computed and one
# picked, so the loop has no branch and one division (Cephes' tanh and exp coefficients):
# - a < 0.625: tanh(a) = a + a z P(z) / Q(z), z = a^2;
# - else: e = exp(2a) = 2^k (Q + rP) / (Q - rP) with 2a = k ln 2 + r (Cody-Waite, ln 2 split
#   in two) and 2^k built from its bits, and tanh(a) = (e - 1) / (e + 1), written over the
#   common denominator. Within 2 ulp of NumPy's tanh (checked in tests/test_helpers.py).
_TANH64_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH64_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
_EXP64_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_EXP64_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
            2.00000000000000000009e0)
_LN2_HI, _LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6
_INV_LN2 = 1.4426950408889634073599


def tanh(x):
    """tanh for generated kernels (vectorisable inside Numba; math.tanh in plain Python)."""
    return math.tanh(x)


def _tanh_float32_impl():
    clamp = np.float32(_TANH32_CLAMP)
    p6, p5, p4, p3, p2, p1, p0 = (np.float32(c) for c in _TANH32_P)
    q3, q2, q1, q0 = (np.float32(c) for c in _TANH32_Q)

    def tanh_float32(x):
        x = min(max(x, -clamp), clamp)
        x2 = x * x
        p = ((((((p6 * x2 + p5) * x2 + p4) * x2 + p3) * x2 + p2) * x2 + p1) * x2 + p0) * x
        q = ((q3 * x2 + q2) * x2 + q1) * x2 + q0
        return p / q

    return tanh_float32


@intrinsic
def _power_of_two(typingctx, k):
    """2.0 ** k for an int64 k in [-1022, 1023], made from its bits (vectorises, unlike ldexp)."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        bits = builder.shl(builder.add(args[0], ir.Constant(i64, 1023)), ir.Constant(i64, 52))
        return builder.bitcast(bits, ir.DoubleType())

    return types.float64(types.int64), codegen


def _tanh_float64_impl():
    tp2, tp1, tp0 = _TANH64_P
    tq2, tq1, tq0 = _TANH64_Q
    ep2, ep1, ep0 = _EXP64_P
    eq3, eq2, eq1, eq0 = _EXP64_Q

    def tanh_float64(x):
        a = abs(x)
        a = a if a < 22.0 else 22.0
        a = a if a == a else 0.0  # NaN: computed on 0, returned as NaN below
        z = a * a  # near 0
        p_small = (tp2 * z + tp1) * z + tp0
        q_small = ((z + tq2) * z + tq1) * z + tq0
        y = a + a  # away from 0: exp(y) = 2^k exp(r)
        k = math.floor(y * _INV_LN2 + 0.5)
        r = (y - k * _LN2_HI) - k * _LN2_LO
        rr = r * r
        rp = r * ((ep2 * rr + ep1) * rr + ep0)
        q = ((eq3 * rr + eq2) * rr + eq1) * rr + eq0
        e_up, e_down = _power_of_two(np.int64(k)) * (q + rp), q - rp  # e = e_up / e_down
        small = a < 0.625
        top = a * q_small + a * z * p_small if small else e_up - e_down
        bottom = q_small if small else e_up + e_down
        t = math.copysign(top / bottom, x)
        return t if x == x else x

    return tanh_float64


@overload(tanh, jit_options=JIT)
def _tanh_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _tanh_float32_impl()
    if isinstance(x, types.Float) and x.bitwidth == 64:
        return _tanh_float64_impl()
    return lambda x: math.tanh(x)


class CallRejected(Exception):
    """Raised by a generated kernel whose entry check fails (a dim or an index out of range).

    The kernel has read nothing at that point; the caller re-validates the inputs in Python
    to name the offending input and position.
    """


@numba.njit(**JIT)
def in_range(index, bound):
    """Whether every entry of a 1-D int array lies in [0, bound) (a kernel's entry check)."""
    low, high = 0, 0
    for k in range(index.shape[0]):
        low = min(low, index[k])
        high = max(high, index[k])
    return low >= 0 and high < bound


@numba.njit(**JIT)
def overlaps(starts, sizes, buffers):
    """Whether any of the last ``buffers`` memory ranges [start, start + size) overlaps another
    range (a kernel's check that the caller's gradient buffers alias nothing it reads).
    ``starts`` are addresses (uint64), ``sizes`` byte counts (int64), both tuples."""
    n = len(starts)
    for k in range(n - buffers, n):
        end_k = starts[k] + np.uint64(sizes[k])
        for j in range(n):
            if j != k and sizes[j] > 0 and sizes[k] > 0 and starts[j] < end_k \
                    and starts[k] < starts[j] + np.uint64(sizes[j]):
                return True
    return False


class _PlainTypes(CPUDispatcher):
    """A dispatcher that compiles for the plain types of its arguments: the 100 of a shape
    ``(B_tile, 100)`` is typed as the literal 100, which would make one specialisation (and
    one compile) per width; as an int64 one serves them all."""

    def get_call_template(self, args, kws):
        return super().get_call_template(tuple(types.unliteral(a) for a in args), kws)


def _shape_helper(function):
    dispatcher = numba.njit(**JIT)(function)
    dispatcher.__class__ = _PlainTypes  # (as njit made it, typed as above)
    return dispatcher


# A kernel makes and reshapes its arrays through these rather than with NumPy's own: those are
# Numba overloads typed and compiled anew in every process that compiles a kernel (about 0.2 s
# each), where these come from Numba's cache like every helper.
@_shape_helper
def empty(shape, dtype):
    """``np.empty(shape, dtype)``."""
    return np.empty(shape, dtype)


@_shape_helper
def reshape(a, shape):
    """``a.reshape(shape)``: a view of a C-contiguous array."""
    return a.reshape(shape)


@_shape_helper
def ravel(a):
    """``a.ravel()``: a 1-D view of a C-contiguous array."""
    return a.ravel()


@numba.njit(**JIT)
def matmul(a, b):
    """``a @ b`` for 2-D arrays, by BLAS."""
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    matmul_into(a, b, out)
    return out


@numba.njit(**JIT)
def matmul_into(a, b, out):
    """``out[:] = a @ b`` for 2-D arrays, by BLAS, without a new array."""
    if a.shape[1] == 1:
        _outer(a, b, out)
    else:
        gemm(a, b, out, 0.0)


@numba.njit(**JIT)
def matmul_add(a, b, out):
    """``out += a @ b`` for 2-D arrays, by BLAS (a tile's part of a sum over the rows)."""
    gemm(a, b, out, 1.0)


def dot(a, b):
    """``np.dot(a, b)`` when an operand is 1-D (matrix-vector, vector-matrix, inner)."""
    return np.dot(a, b)


def dot_into(a, b, out):
    """``out[:] = np.dot(a, b)`` when an operand is 1-D."""
    out[...] = np.dot(a, b)


def dot_add(a, b, out):
    """``out += np.dot(a, b)`` when an operand is 1-D."""
    out += np.dot(a, b)


# In kernels, 1-D operands become 2-D views (a row or a column) for the same BLAS call.
@overload(dot, jit_options=JIT)
def _dot_overload(a, b):
    if a.ndim == 1 and b.ndim == 1:
        def inner(a, b):
            out = np.empty((1, 1), a.dtype)
            gemm(_as_row(a), _as_column(b), out, 0.0)
            return out[0, 0]
        return inner

    def matrix_vector(a, b):
        out = np.empty(a.shape[0], a.dtype)
        _vector_gemm(a, b, out, 0.0)
        return out

    def vector_matrix(a, b):
        out = np.empty(b.shape[1], a.dtype)
        _vector_gemm(a, b, out, 0.0)
        return out

    return matrix_vector if a.ndim == 2 else vector_matrix


@overload(dot_into, jit_options=JIT)
def _dot_into_overload(a, b, out):
    return lambda a, b, out: _vector_gemm(a, b, out, 0.0)


@overload(dot_add, jit_options=JIT)
def _dot_add_overload(a, b, out):
    return lambda a, b, out: _vector_gemm(a, b, out, 1.0)


@numba.njit(**JIT)
def _vector_gemm(a, b, out, beta):
    """``out = a @ b + beta * out`` for a matrix and a vector (either way round)."""
    if a.ndim == 2:
        gemm(a, _as_column(b), out.reshape((out.shape[0], 1)), beta)
    else:
        gemm(_as_row(a), b, out.reshape((1, out.shape[0])), beta)


@numba.njit(**JIT)
def _as_row(vector):
    return np.ascontiguousarray(vector).reshape((1, vector.shape[0]))


@numba.njit(**JIT)
def _as_column(vector):
    return np.ascontiguousarray(vector).reshape((vector.shape[0], 1))


@numba.njit(**JIT)
def _outer(a, b, out):
    for i in range(a.shape[0]):
        scale = a[i, 0]
        for j in range(b.shape[1]):
            out[i, j] = scale * b[0, j]


@intrinsic
def _prefetch(typingctx, table, row, column):
    """Ask the CPU to start loading ``table[row, column]``'s cache line (no fault, no wait)."""

    def codegen(context, builder, signature, args):
        table_type = signature.args[0]
        array = context.make_array(table_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, table_type, array,
                                           [args[1], args[2]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        # read, keep in all cache levels, data cache
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), ir.Constant(i32, 0),
                                ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(table, row, column), codegen


_PREFETCH_ROWS_AHEAD = 16  # measured best of 4..32 for 50-wide rows of a 400,000-row table


@numba.njit(**JIT)
def gather_rows(table, index):
    """``table[index]`` for a 2-D table and a 1-D index (the embedding lookup).

    Rows are read in random order from a table that may be far larger than the caches, so
    each row's cache lines are prefetched a few rows ahead: the reads then overlap instead
    of each waiting on memory (about 1.5x faster for 20,480 rows of a 400,000 x 50 table).
    """
    n, width = index.shape[0], table.shape[1]
    line = max(64 // table.itemsize, 1)
    out = np.empty((n, width), table.dtype)
    for k in range(n):
        if k + _PREFETCH_ROWS_AHEAD < n:
            ahead = index[k + _PREFETCH_ROWS_AHEAD]
            for j in range(0, width, line):
                _prefetch(table, ahead, j)
        row = index[k]
        for j in range(width):
            out[k, j] = table[row, j]
    return out


@numba.njit(**JIT)
def scatter_rows(out, slot, values):
    """``out[slot[k]] += values[k]`` for every k: rows added into a table."""
    for k in range(slot.shape[0]):
        row = slot[k]
        for j in range(values.shape[1]):
            out[row, j] += values[k, j]


@numba.njit(**JIT)
def row_slots(index):
    """The distinct rows of ``index`` (in order of first lookup) and each lookup's slot.

    An open-addressing hash table of about twice the number of lookups maps rows to slots,
    so the cost is O(len(index)) whatever the vocabulary size: nothing of size V is allocated.
    """
    n = index.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    mask = size - 1
    keys = np.full(size, -1, np.int64)
    values = np.empty(size, np.int64)
    slot = np.empty(n, np.int64)
    distinct = np.empty(n, np.int64)
    count = 0
    for k in range(n):
        row = index[k]
        h = (row * 2654435761) & mask  # Knuth's multiplicative hash
        while keys[h] != row and keys[h] != -1:
            h = (h + 1) & mask
        if keys[h] == -1:
            keys[h] = row
            values[h] = count
            distinct[count] = row
            count += 1
        slot[k] = values[h]
    return slot, distinct[:count]


@numba.njit(**JIT)
def pick_columns(x, labels):
    """``x[i, labels[i]]`` for each row i."""
    out = np.empty(x.shape[0], x.dtype)
    for i in range(x.shape[0]):
        out[i] = x[i, labels[i]]
    return out


@numba.njit(**JIT)
def unpick_columns(g, labels, columns):
    """Zeros of shape (len(g), columns) holding ``g[i]`` at ``[i, labels[i]]``."""
    out = np.zeros((g.shape[0], columns), g.dtype)
    for i in range(g.shape[0]):
        out[i, labels[i]] = g[i]
    return out
