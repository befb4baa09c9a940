"""A large batch on both cores: the rows of a tiled kernel split in two halves.

A tiled kernel can also be written as functions of its stages (``codegen/stages.py``):
``prepare`` (checks, what depends on no row, zeroed sums), ``rows(first, last)`` (the tiles,
adding into the sums), ``finish``, and ``split``, which runs a whole call: ``prepare``, then
the two halves of the rows at once, the second on a thread of NumPy's own OpenBLAS pool with
array sums of its own (``halves.py``), their sums added, then ``finish``. During the halves
OpenBLAS runs each product on the thread that calls it, so there is one thread per core;
BLAS's own threading is restored afterwards.

For a batch of at least ``SPLIT_ROWS`` rows, ``SplitCall`` calls ``split``. That module is
generated and compiled when the first such batch comes (in the background, the one-function
kernel answering until it is ready; in the call with ``block``). Measured on the window
classifier (2 cores, one process, 12 alternating rounds each, median of the per-round
ratios split / one-thread): 0.82-0.90 from 128 rows to 4,096 (float32) and 0.78-0.88
(float64); at 64 rows 1.03 and 0.93, at 32 rows 1.19 and 1.10. The results are the
one-thread results up to the order of the additions in the sums (float rounding).
``GRADCOMP_THREADS=1`` keeps every call on one thread.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba.np.numpy_support import as_dtype

from .background import Background, NotReady
from .blas import single_threaded_blas
from .compile import compile_types, load_module
from .halves import control_for, make_entry, servable
from .pool import LOCK, STATE, ready

SPLIT_ROWS = 128  # measured: below this the hand-off costs as much as it gains
PAIR_ROWS = 32  # from here to SPLIT_ROWS, the one-function kernel's products on both cores


class SplitCall:
    """The staged module of one tiled kernel, made on first use, and its two-thread call."""

    def __init__(self, make_source, rows_at: tuple[int, int], block: bool):
        self._make = make_source  # () -> the staged KernelSource
        self.rows_at = rows_at  # (argument, axis) holding the rows
        self.block = block
        self.background = Background()
        self._lock = threading.Lock()
        self._stages = None  # prepare, rows, finish, serve, split dispatchers
        # argument dtypes compiled for -> the jobs' control and the C function it names (kept
        # alive here: control holds only its address)
        self._controls: dict[tuple, tuple] = {}
        self._failed = False

    @staticmethod
    def available() -> bool:
        return single_threaded_blas.available and int(os.environ.get("GRADCOMP_THREADS", 2)) > 1

    def wants(self, args: tuple) -> bool:
        """Whether this call is split: enough rows, and the stages compiled for its types
        (the first such call starts compiling them and is not split)."""
        position, axis = self.rows_at
        if self._failed or args[position].shape[axis] < SPLIT_ROWS or (
                single_threaded_blas.threads() < 2):  # (OpenBLAS with no thread to spare)
            return False
        if tuple(a.dtype for a in args if isinstance(a, np.ndarray)) in self._controls:
            return True
        types = tuple(numba.typeof(a) for a in args)
        try:
            if self.block:
                self.compile(types)
            else:
                self.background.ensure(types, self.compile)
        except NotReady as waiting:
            waiting.start()
            return False
        except Exception:  # noqa: BLE001 - the one-thread kernel serves instead
            self._failed = True
            return False
        return True

    def compile(self, types: tuple) -> None:
        """Compile the stages for the kernel's argument ``types``: the later ones take what
        the one before returns, so their types follow from its compiled signature; then the
        other core's ``serve`` (for C-order arrays of those dtypes) and ``split``."""
        with self._lock:
            if self._stages is None:
                spec = self._make()
                module = load_module(spec.source)
                self._stages = [getattr(module, getattr(spec.stages, stage)) for stage in
                                ("prepare", "rows", "finish", "serve", "split")]
            prepare, rows, finish, serve, split = self._stages
            compile_types(prepare, types)
            carried = tuple(prepare.overloads[types].signature.return_type)
            row_types = types + carried + (numba.types.int64, numba.types.int64)
            compile_types(rows, row_types)
            sums = tuple(rows.overloads[row_types].signature.return_type)
            compile_types(finish, types + carried + sums)
            witnesses = tuple(_witness(t) for t in row_types)
            control = numba.typeof(np.zeros((1, 1), np.int64))
            compile_types(serve, (control, numba.types.int64,
                                  *(numba.typeof(w) for w in witnesses)))
            entry = make_entry(serve, witnesses, 1 + 2 * len(row_types) + 2 * len(sums))
            compile_types(split, (control, *types))
            self._controls[_dtypes(types)] = (
                control_for(entry, len(row_types), len(sums), _mode()), entry)

    def __call__(self, args: tuple, alone) -> tuple:
        """The call on both cores (``wants`` said so); by ``alone`` (the one-thread kernel) if
        another thread's split call has the jobs' control or an array is not in C order."""
        control, _ = self._controls[tuple(a.dtype for a in args if isinstance(a, np.ndarray))]
        if not (servable(args) and LOCK.acquire(blocking=False)):
            return alone(*args)
        try:
            with single_threaded_blas:
                return self._stages[4](control, *args)
        finally:
            LOCK.release()

    def pairs(self, args: tuple) -> bool:
        """Whether a call that is not split runs its larger products on both cores
        (``pool.owning``): enough rows, and the parts' C functions ready."""
        position, axis = self.rows_at
        return STATE[3] != 0 and args[position].shape[axis] >= PAIR_ROWS


def _mode() -> int:
    """OpenBLAS's mode number for the halves (``pool.level1_mode``), probed once."""
    if not ready():
        raise RuntimeError("NumPy's OpenBLAS splits no range of doubles over its threads")
    return int(STATE[3])


def _dtypes(types: tuple) -> tuple:
    """The NumPy dtypes of the arrays among ``types`` (the key of a call's compiled forms)."""
    return tuple(as_dtype(t.dtype) for t in types if isinstance(t, numba.types.Array))


def _witness(kind):
    """A value of type ``kind`` standing for the job's: an array of no elements (C order),
    or a number."""
    if isinstance(kind, numba.types.Array):
        array = np.empty((0,) * kind.ndim, as_dtype(kind.dtype))
        array.setflags(write=False)
        return array
    return as_dtype(kind).type(0)
