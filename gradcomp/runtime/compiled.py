"""``gc.compile`` and the function it returns.

``CompiledGradient`` validates every call's inputs (see ``signature.py``), runs the fused
Numba kernel, and hands back ``(value, grads)``. It also offers the forward-only kernel
(``value``), the generated ``source``, the same computation through the NumPy interpreter
(``interpret``) and a finite-difference check (``check``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..autodiff.reverse import check_loss, gradients, resolve_wrt, unused_inputs
from ..cache import write_source
from ..codegen import emit_kernel
from ..codegen.plan import scatter_terms
from ..errors import InputError, NotDifferentiableError
from ..from_sympy import from_sympy
from ..ir import Node, Op
from ..ops import concrete_shape
from .background import NotReady
from .finite_diff import finite_difference_errors, to_float64
from .interp import Interpreted, as_result, evaluate
from .kernel import Kernel, picker
from .rows import coalesce_rows
from .signature import Bound, Signature


@dataclass(slots=True)
class RowGradient:
    """The gradient of an embedding table as rows: only the rows a call looked up.

    Coalesced (``gc.compile(..., rows=True)``): ``indices`` are distinct (in order of first
    lookup) and ``values[k]`` is the summed gradient of row ``indices[k]``. Not coalesced
    (``rows="lookups"``): one entry per lookup, in lookup order, so a row looked up twice comes
    twice (PyTorch's ``sparse=True`` embedding gradient); the table's gradient is their sum.
    ``to_dense()`` gives the full table gradient, ``coalesce()`` the distinct rows.
    """

    indices: np.ndarray
    values: np.ndarray
    num_rows: int
    coalesced: bool = True

    def to_dense(self) -> np.ndarray:
        dense = np.zeros((self.num_rows,) + self.values.shape[1:], dtype=self.values.dtype)
        if self.coalesced:
            dense[self.indices] = self.values
        else:
            np.add.at(dense, self.indices, self.values)
        return dense

    def coalesce(self) -> "RowGradient":
        """The same gradient with one entry per distinct row (itself if it has that)."""
        if self.coalesced:
            return self
        width = self.values.size // max(len(self.indices), 1)
        indices, values = coalesce_rows(np.ascontiguousarray(self.indices, dtype=np.int64),
                                        np.ascontiguousarray(self.values).reshape(-1, width))
        return RowGradient(indices, values.reshape((-1,) + self.values.shape[1:]),
                           self.num_rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.num_rows,) + self.values.shape[1:]


class CompiledForward:
    """Any expression (scalar or array) compiled to a forward-only kernel, e.g. the scores
    a trained model predicts from."""

    def __init__(self, expr: Node, function: str = "forward", fuse: bool = True,
                 jit: bool = True, unused: list[Node] = (), block: bool | None = None):
        if not isinstance(expr, Node):
            raise NotDifferentiableError(f"compile_forward takes a gradcomp expression, got {expr!r}")
        self.expr = expr
        self.signature = Signature(list(unused) + [expr])
        self._kernel = Kernel(emit_kernel(expr, [], [], function=function, fuse=fuse,
                                           unused=unused), self.signature, jit, block)

    def __call__(self, **inputs):
        try:
            return as_result(self._kernel(inputs)[0][0], self.expr)
        except NotReady as waiting:  # still compiling: the interpreter answers
            try:
                return as_result(evaluate([self.expr], self.signature.bind(inputs))[0],
                                 self.expr)
            finally:
                waiting.start()

    @property
    def ready(self) -> bool:
        """Whether calls go to the compiled kernel (see ``CompiledGradient.ready``)."""
        return self._kernel.ready

    def wait(self) -> "CompiledForward":
        self._kernel.background.wait()
        return self

    @property
    def source(self) -> str:
        return self._kernel.spec.source

    @property
    def kernel(self):
        return self._kernel.dispatcher


class CompiledGradient:
    """A loss and its gradients compiled to one Numba kernel. Call it with arrays by keyword."""

    def __init__(
        self, loss: Node, wrt=None, rows: bool | str = True, fuse: bool = True, jit: bool = True,
        block: bool | None = None,
    ):
        if rows not in (True, False, "lookups"):
            raise InputError(f"rows must be True (a row per distinct row), 'lookups' (a row per "
                             f"lookup) or False (dense), got {rows!r}")
        self.loss = check_loss(loss)
        self.wrt = resolve_wrt(loss, wrt)
        adjoints = gradients(loss, self.wrt)
        self.grads = adjoints.grads
        self._row_terms = {w.name: scatter_terms(adjoints.terms[id(w)]) for w in self.wrt}
        self.rows = {name for name, terms in self._row_terms.items() if rows and terms}
        unused = unused_inputs(loss, self.wrt)
        self.signature = Signature(unused + [loss] + self.grads)
        self.coalesced = rows is True  # row gradients: one per distinct row, or per lookup
        lookups = set() if self.coalesced else self.rows

        def source(staged=False):
            return emit_kernel(loss, self.wrt, self.grads, self.rows, fuse=fuse, unused=unused,
                               adjoints=adjoints, lookups=lookups, staged=staged)

        self._kernel = Kernel(source(), self.signature, jit, block,
                              staged=lambda: source(staged=True))
        # the loss alone (``value``, ``check``): its own kernel, made at its first use
        self._forward_options = {"fuse": fuse, "jit": jit, "unused": unused, "block": block}
        by_name = {w.name: w for w in self.wrt}
        self._results = [(r, by_name[r.input].ndim != 2) for r in self._kernel.spec.results
                         if r.kind != "value"]
        self._buffer_names = [w.name for w in self._kernel.spec.buffers]
        self._pick_buffers = picker(self._buffer_names)
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
        try:
            results, buffers = self._kernel(inputs, buffers)
        except NotReady as waiting:  # the kernel is compiling: the interpreter answers
            try:
                return self._interpreted_call(inputs, grads)
            finally:
                waiting.start()  # (whatever the answer: a failed one must not stop it)
        if not reused:
            grads = {}
        for result, reshape in self._results:
            name = result.input
            if result.kind == "buffer":
                if not reused:
                    grads[name] = buffers[result.positions[0]]
            elif result.kind == "rows":
                index, values = (results[k] for k in result.positions)
                table = inputs[name]  # validated: its shape is the table's
                table_shape = table.shape if type(table) is np.ndarray else np.shape(table)
                if reshape:
                    values = values.reshape((-1,) + table_shape[1:])
                grads[name] = RowGradient(index, values, table_shape[0], self.coalesced)
            elif result.kind == "scalar":
                grads[name] = float(results[result.positions[0]])
        return float(results[0]), grads

    def _interpreted_call(self, inputs: dict, grads: dict | None) -> tuple[float, dict]:
        value, interpreted = self.interpret(**inputs)
        if grads is None:
            return value, interpreted
        for name, g in interpreted.items():  # into: the caller's arrays, filled in place
            if isinstance(grads.get(name), np.ndarray) and isinstance(g, np.ndarray):
                np.copyto(grads[name], g)
            else:
                grads[name] = g
        return value, grads

    @property
    def ready(self) -> bool:
        """Whether calls go to the compiled kernel. Until then (the first call with new
        dtypes starts Numba in the background) the NumPy interpreter answers them."""
        return self._kernel.ready

    def wait(self) -> "CompiledGradient":
        """Block until the kernels compiling in the background are ready; returns ``self``."""
        self._kernel.wait()
        if "_forward" in vars(self):  # (made only once used)
            self._forward.wait()
        return self

    @cached_property
    def _forward(self) -> CompiledForward:
        return CompiledForward(self.loss, function="loss_value", **self._forward_options)

    def value(self, **inputs) -> float:
        """The loss alone, through its own forward-only kernel."""
        return float(self._forward(**inputs))

    def interpret(self, **inputs) -> tuple[float, dict]:
        """The same results through the NumPy interpreter (row gradients as rows too)."""
        if self._interpreted is None:
            self._interpreted = Interpreted(self.loss, self.wrt, self.grads)
        value, dense = self._interpreted(**inputs)
        bound = self.signature.bind(inputs)
        for name in self.rows:
            node = next(w for w in self.wrt if w.name == name)
            rows = concrete_shape(node.shape, bound.dims)[0]
            if self.coalesced:
                looked_up = np.unique(self._lookups(node, bound))
                dense[name] = RowGradient(looked_up, dense[name][looked_up], rows)
            else:  # each lookup's own adjoint, by the interpreter
                values = evaluate([t.args[0] for t in self._row_terms[name]], bound)
                width = node.shape[1:]
                dense[name] = RowGradient(self._lookups(node, bound), np.concatenate(
                    [np.reshape(v, (-1,) + concrete_shape(width, bound.dims)) for v in values]),
                    rows, coalesced=False)
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
        """Every lookup of ``table`` in the call, in lookup order (repeats kept)."""
        indices = [_int_value(t.args[1], bound) for t in self._row_terms[table.name]]
        return np.concatenate([np.ravel(i) for i in indices]).astype(np.int64)



def _int_value(node: Node, bound: Bound) -> np.ndarray:
    if node.op is Op.INPUT:
        return bound.arrays[node.name]
    return np.asarray(evaluate([node], bound)[0])


def compile(  # noqa: A001 - gc.compile, like jax.jit
    loss, wrt=None, rows: bool | str = True, fuse: bool = True, jit: bool = True,
    block: bool | None = None,
) -> CompiledGradient:
    """Compile a scalar loss (gradcomp or SymPy expression) and its gradients to one kernel.

    ``wrt`` lists inputs or their names (default: every float input). With ``rows=True`` the
    gradient of a table used only through ``take`` comes back as a ``RowGradient`` of its
    distinct looked-up rows; ``rows="lookups"`` gives one row per lookup, unsummed (cheaper,
    and all an SGD step needs); ``rows=False`` a dense array.
    ``fuse=False`` gives every node its own named line (for reading and debugging);
    ``jit=False`` runs the generated source as plain Python (no Numba compile). The first
    call with new dtypes starts Numba in the background and is answered by the NumPy
    interpreter, as are calls until the kernel is ready (``fn.ready``, ``fn.wait()``);
    ``block=True`` (or ``GRADCOMP_COMPILE=block``) compiles in the first call instead.
    """
    if not isinstance(loss, Node):
        import sympy

        if not isinstance(loss, sympy.Basic):
            raise NotDifferentiableError(
                f"gc.compile takes a gradcomp or SymPy expression, got {type(loss).__name__}"
            )
        loss = from_sympy(loss)
    return CompiledGradient(loss, wrt, rows=rows, fuse=fuse, jit=jit, block=block)


def compile_forward(expr: Node, fuse: bool = True, jit: bool = True,
                    block: bool | None = None) -> CompiledForward:
    """Compile the forward computation of any expression (no gradients) to one kernel."""
    return CompiledForward(expr, fuse=fuse, jit=jit, block=block)
