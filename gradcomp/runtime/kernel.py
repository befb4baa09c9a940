"""One generated kernel at run time: loaded, compiled per dtype (in the call or in the
background), and called on validated or directly passed arrays."""

from __future__ import annotations

import operator
import threading

import numba
import numpy as np

from ..codegen import KernelSource
from ..errors import CompileError, InputError, describe_array
from .background import Background, block_by_default
from .compile import compile_types, load_cached, load_module, plain
from .helpers import CallRejected
from .pieces import PieceChain, compile_parts
from .pool import owning, ready
from .signature import Bound, Signature
from .split import SplitCall


class Kernel:
    """One generated function: its source, loaded and jitted on first use.

    A call first goes straight to the Numba dispatcher, with compiling switched off (Numba
    allows that once one type is compiled): its C-level type match accepts only C-contiguous
    arrays of the dtypes compiled so far, and the kernel's own entry check rejects wrong dims
    and out-of-range indices before reading anything. Anything else (a missing name, a list,
    an int32 index, a strided view, a bad shape) falls back to ``Signature.bind``, which names
    the offending input or converts the arrays, and compiles a new dtype when needed.
    """

    def __init__(self, kernel: KernelSource, signature: Signature, jit: bool = True,
                 block: bool | None = None, staged=None):
        self.spec = kernel
        self.signature = signature
        self.jit = jit
        self.block = block_by_default() if block is None else block
        self.background = Background()
        self._dispatcher = None
        # A tiled kernel's large batches run on both cores (split.py); ``staged`` makes the
        # source of its staged form when the first such batch comes.
        self._split = SplitCall(staged, kernel.tiled, self.block) if (
            jit and staged is not None and kernel.tiled and SplitCall.available()) else None
        self._compiling = threading.Lock()
        self._names = [p.name for p in kernel.params]
        self._pick = picker(self._names)
        self._buffers = [w.name for w in kernel.buffers]
        # Python scalars would reach the kernel through Numba's own conversions: bind them.
        self._direct = jit and not any(p.ndim == 0 for p in kernel.params)
        self._sealed = False  # compiling is off and the direct path open (after a compile)

    @property
    def ready(self) -> bool:
        """Compiled for every dtype it was called with, and called at least once (or
        compiling in the call: ``block``)."""
        if not self.jit or self.block:
            return True
        return self.background.started and not self.background.pending

    @property
    def dispatcher(self):
        """The Numba dispatcher, or a long kernel's chain of them (``pieces.py``)."""
        if self._dispatcher is None:
            module = load_module(self.spec.source)
            self._dispatcher = PieceChain(module, self.spec.function, self.spec.pieces) \
                if self.spec.pieces else getattr(module, self.spec.function)
        return self._dispatcher

    def __call__(self, inputs: dict, buffers=None) -> tuple[tuple, list]:
        """Run the kernel on one call's keyword inputs: ``(results, buffers)``.

        ``buffers`` receive the array gradients (one per ``spec.buffers`` input, in order);
        without them, new arrays are made.
        """
        if self._sealed and len(inputs) == len(self._names):
            try:
                args = self._pick(inputs)
                if buffers is None:  # like the arrays they are the gradients of
                    out = [np.empty(inputs[n].shape, inputs[n].dtype) for n in self._buffers]
                else:
                    out = buffers
                return self._invoke((*args, *out)), out
            except (KeyError, AttributeError, TypeError, CallRejected):
                pass  # not a call the kernel takes as it is: validate and convert
        bound = self.signature.bind(inputs)
        if buffers is None:
            buffers = [np.empty(bound.arrays[n].shape, bound.dtype) for n in self._buffers]
        else:
            _check_buffers(buffers, self._buffers, bound)
        return self.call_bound(bound, buffers), buffers

    def call_bound(self, bound: Bound, buffers) -> tuple:
        arrays = bound.arrays
        args = [_argument(arrays[name], bound.dtype) for name in self._names] + list(buffers)
        if not self.jit:  # the same source run by the Python interpreter (debugging, tests)
            return plain(self.dispatcher)(*args)
        dispatcher = self.dispatcher
        types = tuple(numba.typeof(a) for a in args)
        if types not in dispatcher.overloads:  # a dtype not compiled (or cached) yet
            if self.block:
                self.compile(types)
            else:
                self.background.ensure(types, self.compile)  # NotReady while it runs
        # The dispatcher now holds these types, whoever compiled or loaded them (another
        # instance of the same loss shares the module): calls may go to it directly.
        self._sealed = self._direct
        try:
            return self._invoke(args)
        except CallRejected:
            raise CompileError(
                f"{self.spec.function} rejected inputs that passed validation: "
                f"{self.signature.describe()}"
            ) from None

    def wait(self) -> None:
        """Until the compiles running in the background are done (the staged form too)."""
        self.background.wait()
        if self._split is not None:
            self._split.background.wait()

    def _invoke(self, args: tuple) -> tuple:
        """The compiled kernel on checked arguments; a large batch on both cores."""
        split = self._split
        if split is not None:
            if split.wants(args):
                return split(args, self._dispatcher)
            if split.pairs(args):
                return owning(self._dispatcher, args)
        return self._dispatcher(*args)

    def compile(self, types: tuple) -> None:
        """Compile (or load from the cache) the kernel for ``types``; Numba's errors become
        a ``CompileError`` naming the generated file."""
        dispatcher = self.dispatcher
        with self._compiling:
            if types in dispatcher.overloads:
                return
            dispatcher.disable_compile(False)
            try:
                if self.spec.tile_parts and not load_cached(dispatcher, types):
                    compile_parts(dispatcher, self.spec.tile_parts, types)
                compile_types(dispatcher, types)
            except Exception as error:
                if type(error).__module__.startswith("numba"):
                    raise CompileError(
                        f"Numba could not compile {self.spec.function} in "
                        f"{dispatcher.py_func.__code__.co_filename}: {error}"
                    ) from error
                raise
            finally:
                dispatcher.disable_compile(True)  # from now on only here
        if self._split is not None:
            ready()  # the C functions of products on both cores (pool.py)


def picker(names: list[str]):
    """``mapping -> tuple of mapping[name] for name in names``, by one itemgetter (in C)."""
    if len(names) == 1:
        get = operator.itemgetter(names[0])
        return lambda mapping: (get(mapping),)
    return operator.itemgetter(*names) if names else (lambda mapping: ())


def _check_buffers(buffers: list, names: list[str], bound: Bound) -> None:
    """Gradient buffers given by the caller: writable C-contiguous arrays of the call's dtype
    and of their inputs' shapes, overlapping no input and no other buffer."""
    for name, buffer in zip(names, buffers):
        want = bound.arrays[name].shape
        where = f"the gradient buffer for {name!r}"
        if not isinstance(buffer, np.ndarray) or buffer.dtype != bound.dtype \
                or buffer.shape != want or not buffer.flags.c_contiguous \
                or not buffer.flags.writeable:
            raise InputError(f"{where} must be a writable C-contiguous "
                             f"{np.dtype(bound.dtype).name} array of shape {want}, "
                             f"got {describe_array(buffer)}")
        others = [(f"input {n!r}", a) for n, a in bound.arrays.items()] + [
            (f"the gradient buffer for {n!r}", b) for n, b in zip(names, buffers) if b is not buffer]
        for what, other in others:
            if np.may_share_memory(buffer, other):
                raise InputError(f"{where} shares memory with {what}; it would be overwritten")


def _argument(array: np.ndarray, dtype):
    if array.ndim:
        return array
    return array.dtype.type(array) if array.dtype.kind in "iu" else dtype(array)
