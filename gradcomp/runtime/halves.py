"""The two halves of a split call, at once, on the threads of NumPy's own OpenBLAS.

A split call (``split.py``) runs the rows of a large batch in two halves, one per core. The
second core's thread is OpenBLAS's: its pool already keeps a thread per core, which spins for
a while after each product. A thread of gradcomp's own beside it fought that spinning pool
on 2 cores: measured on the window classifier at B = 256, calls within about 0.1 s after a
NumPy product took 4 ms (a scheduler tick) instead of 0.4-0.5, whether gradcomp's thread
slept between calls or spun. So the halves are handed to OpenBLAS's own thread dispatch,
``blas_level1_thread``, which splits a range over its threads and calls a C function on each
part (the caller's thread runs the first part): here the range has two parts, one per half,
and the C function (``entry``, made for each compiled form of a kernel) runs the staged
module's ``serve`` on the half its part names. Meanwhile each half's products run on its
own thread (``single_threaded_blas``), so there is one pool in the process, busy on both cores.

A job is written into ``control``, a small int64 array, by the compiled ``split`` function
(``post``): per argument of ``rows`` its array's address and shape, or a number's bits;
``serve`` makes arrays of them (``like``), runs ``rows`` and writes its scalar sums back
(``hand_back``), which ``split`` reads (``taken``). ``control``'s first row holds the address
of ``entry``, the number of arguments of a job and OpenBLAS's mode number for doubles
(``pool.level1_mode``); then the arguments of job 0, of job 1, and the sums of job 0, of job 1.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable
from numba.np.unsafe.ndarray import to_fixed_tuple

from .helpers import empty, ravel
from .pool import ENTRY, as_integer, pointer_to, run_parts

WIDTH = 8  # control's columns: an address and up to 7 dims
_JIT = {"nogil": True, "cache": True}


def like(template, control, slot):
    """In compiled ``serve``: the job's argument in row ``slot`` of ``control``, of the type
    of ``template`` (an array of its element type and dims, C order, or a number)."""
    raise NotImplementedError("compiled code only")


@overload(like, jit_options=_JIT)
def _like_overload(template, control, slot):
    if isinstance(template, types.Array):
        ndim = template.ndim

        def array(template, control, slot):
            shape = to_fixed_tuple(control[slot, 1:1 + ndim], ndim)
            return numba.carray(pointer_to(control[slot, 0], template), shape)

        return array
    if isinstance(template, types.Boolean):
        return lambda template, control, slot: control[slot, 0] != 0
    if isinstance(template, (types.Integer, types.Float)):
        cast = numba.np.numpy_support.as_dtype(template).type
        kind = np.float64 if isinstance(template, types.Float) else np.int64
        return lambda template, control, slot: cast(control.view(kind)[slot, 0])
    return None


def _put(control, slot, value):
    raise NotImplementedError("compiled code only")


@overload(_put, jit_options=_JIT)
def _put_overload(control, slot, value):
    if isinstance(value, types.Array):
        def array(control, slot, value):
            control[slot, 0] = value.ctypes.data
            for k in range(value.ndim):
                control[slot, 1 + k] = value.shape[k]

        return array
    if isinstance(value, types.Float):
        def real(control, slot, value):
            floats = control.view(np.float64)
            floats[slot, 0] = value

        return real
    if isinstance(value, (types.Integer, types.Boolean)):
        def whole(control, slot, value):
            control[slot, 0] = value

        return whole
    return None


def post(control, job, arguments):
    """In compiled ``split``: the tuple ``arguments`` (``rows``' arguments) as job ``job``."""
    raise NotImplementedError("compiled code only")


@overload(post, jit_options={"nogil": True})  # (made by exec: no file to cache in)
def _post_overload(control, job, arguments):
    # one _put per element, written out: typing a literal_unroll loop over the 16 mixed
    # arguments took most of the split function's compile
    lines = ["def impl(control, job, arguments):", "    slot = 1 + job * control[0, 1]"]
    lines += [f"    _put(control, slot + {k}, arguments[{k}])" for k in range(len(arguments))]
    namespace = {"_put": _put}
    exec("\n".join(lines), namespace)  # noqa: S102 - text made here of numbers only
    return namespace["impl"]


@register_jitable
def _sums_row(control, job, count):
    """The first row of job ``job``'s ``count`` scalar sums in ``control`` (after the
    header row and both jobs' arguments)."""
    return 1 + 2 * control[0, 1] + job * count


def hand_back(control, job, sums):
    """In compiled ``serve``: job ``job``'s scalar ``sums`` into their rows of ``control``."""
    raise NotImplementedError("compiled code only")


@overload(hand_back, jit_options=_JIT)
def _hand_back_overload(control, job, sums):
    if isinstance(sums, types.Tuple) and not sums.types:
        return lambda control, job, sums: None
    if isinstance(sums, types.UniTuple) and isinstance(sums.dtype, (types.Float, types.Integer)):
        def numbers(control, job, sums):
            floats = control.view(np.float64)
            first = _sums_row(control, job, len(sums))
            for k in range(len(sums)):
                floats[first + k, 0] = sums[k]

        return numbers
    return None


def taken(control, job, sums):
    """In compiled ``split``: job ``job``'s scalar sums (as many as ``sums`` has)."""
    raise NotImplementedError("compiled code only")


@overload(taken, jit_options=_JIT)
def _taken_overload(control, job, sums):
    count = len(sums)

    def impl(control, job, sums):
        first = _sums_row(control, job, count)
        return to_fixed_tuple(control.view(np.float64)[first:first + count, 0].copy(), count)

    return impl


@register_jitable
def run_halves(control):
    """In compiled ``split``: jobs 0 and 1 at once, job 1 on a thread of OpenBLAS's pool
    (``entry``, whose address is ``control[0, 0]``, runs each; ``pool.run_parts``)."""
    run_parts(control, control[0, 0], control[0, 2])


@register_jitable
def zeroed(a):
    """In compiled ``split``: a zeroed array like the C-order array ``a``."""
    out = empty(a.shape, a.dtype)
    flat = ravel(out)
    for k in range(flat.size):
        flat[k] = 0
    return out


@register_jitable
def add_into(a, b):
    """In compiled ``split``: ``a += b`` for C-order arrays of one shape."""
    flat, more = ravel(a), ravel(b)
    for k in range(flat.size):
        flat[k] += more[k]


def make_entry(serve, witnesses: tuple, rows: int):
    """The C function ``blas_level1_thread`` calls on each part: ``serve`` on the job its part
    names, in the ``rows`` x ``WIDTH`` array at ``a``. ``witnesses`` stand for the job's
    arguments' types (arrays of no elements, C order, read-only as the C function's constants
    are, and numbers); ``serve`` is compiled for them already, so the C function's own compile
    calls its code instead of compiling it again."""
    whole = np.empty((0, 0), np.int64)  # (a's element type)

    @numba.cfunc(ENTRY, nogil=True, error_model="numpy")
    def entry(m, n, k, alpha, a, lda, b, ldb, c, ldc, buffer):
        control = numba.carray(pointer_to(a, whole), (rows, WIDTH))
        serve(control, np.int64(as_integer(b) != as_integer(c)), *witnesses)

    return entry


def control_for(entry, arguments: int, sums: int, mode: int) -> np.ndarray:
    """The ``control`` array of one call's two jobs."""
    control = np.zeros((1 + 2 * arguments + 2 * sums, WIDTH), np.int64)
    control[0, :3] = entry.address, arguments, mode
    return control


def servable(args) -> bool:
    """Whether a call's arguments can be posted: C-order arrays of at most 7 dims."""
    return all(a.flags.c_contiguous and a.ndim < WIDTH for a in args
               if isinstance(a, np.ndarray))
