"""``gc.compile`` and the function it returns.

``CompiledGradient`` validates every call's inputs (see ``signature.py``), runs the fused
Numba kernel, and hands back ``(value, grads)``. It also offers the forward-only kernel
(``value``), the generated ``source``, the same computation through the NumPy interpreter
(``interpret``) and a finite-difference check (``check``).
"""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass

import numba
import numpy as np

from ..autodiff.reverse import check_loss, gradients, resolve_wrt, unused_inputs
from ..codegen import KernelSource, emit_kernel
from ..codegen.emit import scatter_terms
from ..from_sympy import from_sympy
from ..errors import CompileError, InputError, NotDifferentiableError, describe_array
from ..ir import Node, Op
from ..ops import concrete_shape
from ..cache import write_source
from .compile import compile_types, load_module
from .finite_diff import finite_difference_errors, to_float64
from .interp import Interpreted, as_result, evaluate
from .kernels import CallRejected
from .signature import Bound, Signature


@dataclass(slots=True)
class RowGradient:
    """The gradient of an embedding table as rows: only the rows a call looked up.

    ``indices`` are distinct (in order of first lookup); ``values[k]`` is the summed gradient of row
    ``indices[k]`` (repeated lookups add up). ``to_dense()`` gives the full table gradient.
    """

    indices: np.ndarray
    values: np.ndarray
    num_rows: int

    def to_dense(self) -> np.ndarray:
        dense = np.zeros((self.num_rows,) + self.values.shape[1:], dtype=self.values.dtype)
        dense[self.indices] = self.values
        return dense

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.num_rows,) + self.values.shape[1:]


class _Kernel:
    """One generated function: its source, loaded and jitted on first use.

    A call first goes straight to the Numba dispatcher, with compiling switched off (Numba
    allows that once one type is compiled): its C-level type match accepts only C-contiguous
    arrays of the dtypes compiled so far, and the kernel's own entry check rejects wrong dims
    and out-of-range indices before reading anything. Anything else (a missing name, a list,
    an int32 index, a strided view, a bad shape) falls back to ``Signature.bind``, which names
    the offending input or converts the arrays, and compiles a new dtype when needed.
    """

    def __init__(self, kernel: KernelSource, signature: Signature, jit: bool = True):
        self.spec = kernel
        self.signature = signature
        self.jit = jit
        self._dispatcher = None
        self._compiling = threading.Lock()
        self._names = [p.name for p in kernel.params]
        self._pick = _picker(self._names)
        self._buffers = [w.name for w in kernel.buffers]
        # Python scalars would reach the kernel through Numba's own conversions: bind them.
        self._direct = jit and not any(p.ndim == 0 for p in kernel.params)
        self._sealed = False  # compiling is off and the direct path open (after a compile)

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            self._dispatcher = getattr(load_module(self.spec.source), self.spec.function)
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
                return self._dispatcher(*args, *out), out
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
            return self.dispatcher.py_func(*args)
        dispatcher = self.dispatcher
        try:
            types = tuple(numba.typeof(a) for a in args)
            if types not in dispatcher.overloads:  # a dtype not compiled (or cached) yet
                with self._compiling:
                    dispatcher.disable_compile(False)
                    compile_types(dispatcher, types)
                    dispatcher.disable_compile(True)  # from now on only here
            # The dispatcher now holds these types, whoever compiled or loaded them (another
            # instance of the same loss shares the module): calls may go to it directly.
            self._sealed = self._direct
            return dispatcher(*args)
        except CallRejected:
            raise CompileError(
                f"{self.spec.function} rejected inputs that passed validation: "
                f"{self.signature.describe()}"
            ) from None
        except Exception as error:
            if type(error).__module__.startswith("numba"):
                raise CompileError(
                    f"Numba could not compile {self.spec.function} in "
                    f"{dispatcher.py_func.__code__.co_filename}: {error}"
                ) from error
            raise


def _picker(names: list[str]):
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


class CompiledForward:
    """Any expression (scalar or array) compiled to a forward-only kernel, e.g. the scores
    a trained model predicts from."""

    def __init__(self, expr: Node, function: str = "forward", fuse: bool = True,
                 jit: bool = True, unused: list[Node] = ()):
        if not isinstance(expr, Node):
            raise NotDifferentiableError(f"compile_forward takes a gradcomp expression, got {expr!r}")
        self.expr = expr
        self.signature = Signature(list(unused) + [expr])
        self._kernel = _Kernel(emit_kernel(expr, [], [], function=function, fuse=fuse,
                                           unused=unused), self.signature, jit)

    def __call__(self, **inputs):
        return as_result(self._kernel(inputs)[0][0], self.expr)

    @property
    def source(self) -> str:
        return self._kernel.spec.source

    @property
    def kernel(self):
        return self._kernel.dispatcher


class CompiledGradient:
    """A loss and its gradients compiled to one Numba kernel. Call it with arrays by keyword."""

    def __init__(
        self, loss: Node, wrt=None, rows: bool = True, fuse: bool = True, jit: bool = True
    ):
        self.loss = check_loss(loss)
        self.wrt = resolve_wrt(loss, wrt)
        adjoints = gradients(loss, self.wrt)
        self.grads = adjoints.grads
        self.rows = {
            w.name for w, g in zip(self.wrt, self.grads) if rows and scatter_terms(g)
        }
        unused = unused_inputs(loss, self.wrt)
        self.signature = Signature(unused + [loss] + self.grads)
        self._kernel = _Kernel(emit_kernel(loss, self.wrt, self.grads, self.rows, fuse=fuse,
                                           unused=unused, adjoints=adjoints),
                               self.signature, jit)
        self._forward = CompiledForward(loss, function="loss_value", fuse=fuse, jit=jit,
                                        unused=unused)
        by_name = {w.name: w for w in self.wrt}
        self._results = [(kind, name, by_name[name].ndim != 2)
                         for kind, name in self._kernel.spec.results[1:]]
        self._buffer_names = [w.name for w in self._kernel.spec.buffers]
        self._pick_buffers = _picker(self._buffer_names)
        self._interpreted: Interpreted | None = None

    # ------------------------------------------------------------ calls

    def __call__(self, **inputs) -> tuple[float, dict]:
        """``(value, grads)``: grads maps input names to arrays (RowGradient for tables)."""
        return self._run(inputs, None)

    def into(self, grads: dict, /, **inputs) -> float:
        """The loss, with the gradients written into ``grads`` (the dict an earlier call
        returned): its arrays are overwritten in place, no new ones are made; row and scalar
        gradients are replaced. For training loops that keep one set of gradient arrays."""
        if not isinstance(grads, dict):
            raise InputError(f"into takes the grads dict of an earlier call first, got "
                             f"{type(grads).__name__}")
        try:
            buffers = self._pick_buffers(grads)
        except KeyError as missing:
            raise InputError(f"grads has no array for {missing.args[0]!r}; pass the grads "
                             f"dict of an earlier call") from None
        return self._run(inputs, buffers, grads)[0]

    def _run(self, inputs: dict, buffers: list | None,
             grads: dict | None = None) -> tuple[float, dict]:
        """Call the kernel; put the gradients in ``grads`` (a new dict if None). Buffers
        already in ``grads`` (``into``) are not put again."""
        reused = grads is not None
        results, buffers = self._kernel(inputs, buffers)
        if not reused:
            grads = {}
        k, j = 1, 0
        for kind, name, reshape in self._results:
            if kind == "buffer":
                if not reused:
                    grads[name] = buffers[j]
                j += 1
            elif kind == "rows":
                values = results[k + 1]
                table = inputs[name]  # validated: its shape is the table's
                table_shape = table.shape if type(table) is np.ndarray else np.shape(table)
                if reshape:
                    values = values.reshape((-1,) + table_shape[1:])
                grads[name] = RowGradient(results[k], values, table_shape[0])
                k += 2
            elif kind == "scalar":
                grads[name] = float(results[k])
                k += 1
        return float(results[0]), grads

    def value(self, **inputs) -> float:
        """The loss alone, through its own forward-only kernel."""
        return float(self._forward(**inputs))

    def interpret(self, **inputs) -> tuple[float, dict]:
        """The same results through the NumPy interpreter (row gradients as rows too)."""
        if self._interpreted is None:
            self._interpreted = Interpreted(self.loss, self.wrt)
        value, dense = self._interpreted(**inputs)
        bound = self.signature.bind(inputs)
        for name in self.rows:
            node = next(w for w in self.wrt if w.name == name)
            looked_up = self._lookups(node, bound)
            rows = concrete_shape(node.shape, bound.dims)[0]
            dense[name] = RowGradient(looked_up, dense[name][looked_up], rows)
        return value, dense

    def check(self, eps: float = 1e-6, **inputs) -> float:
        """Largest relative error of the compiled gradients against central differences.

        Runs in float64 whatever the inputs' dtype; small inputs are checked element by
        element, large ones along random directions.
        """
        self.signature.bind(inputs)  # a bad input is named before anything is converted
        as64 = to_float64(inputs)
        _, grads = self(**as64)
        errors = finite_difference_errors(self.value, grads, as64, self.wrt, eps)
        return max(errors.values(), default=0.0)

    # ------------------------------------------------------------ descriptions

    @property
    def source(self) -> str:
        """The exact text Numba compiles for the fused forward+backward kernel."""
        return self._kernel.spec.source

    @property
    def source_path(self) -> str:
        """Where the generated source lives in the kernel cache."""
        return str(write_source(self.source))

    @property
    def value_source(self) -> str:
        return self._forward.source

    @property
    def kernel(self):
        """The Numba dispatcher (``.signatures``, ``.stats``, ``.py_func``)."""
        return self._kernel.dispatcher

    @property
    def inputs(self) -> list[str]:
        return self.signature.describe()

    def __repr__(self) -> str:
        wrt = ", ".join(w.name for w in self.wrt)
        return f"<CompiledGradient of {self.loss!r} wrt [{wrt}]; inputs {self.inputs}>"

    # ------------------------------------------------------------ row helpers

    def _lookups(self, table: Node, bound: Bound) -> np.ndarray:
        terms = scatter_terms(self.grads[self.wrt.index(table)])
        indices = [_int_value(t.args[1], bound) for t in terms]
        return np.unique(np.concatenate([i.ravel() for i in indices]))



def _int_value(node: Node, bound: Bound) -> np.ndarray:
    if node.op is Op.INPUT:
        return bound.arrays[node.name]
    return np.asarray(evaluate([node], bound)[0])


def compile(  # noqa: A001 - gc.compile, like jax.jit
    loss, wrt=None, rows: bool = True, fuse: bool = True, jit: bool = True
) -> CompiledGradient:
    """Compile a scalar loss (gradcomp or SymPy expression) and its gradients to one kernel.

    ``wrt`` lists inputs or their names (default: every float input). With ``rows=True`` the
    gradient of a table used only through ``take`` comes back as a ``RowGradient``.
    ``fuse=False`` gives every node its own named line (for reading and debugging);
    ``jit=False`` runs the generated source as plain Python (no Numba compile).
    """
    if not isinstance(loss, Node):
        import sympy

        if not isinstance(loss, sympy.Basic):
            raise NotDifferentiableError(
                f"gc.compile takes a gradcomp or SymPy expression, got {type(loss).__name__}"
            )
        loss = from_sympy(loss)
    return CompiledGradient(loss, wrt, rows=rows, fuse=fuse, jit=jit)


def compile_forward(expr: Node, fuse: bool = True, jit: bool = True) -> CompiledForward:
    """Compile the forward computation of any expression (no gradients) to one kernel."""
    return CompiledForward(expr, fuse=fuse, jit=jit)
