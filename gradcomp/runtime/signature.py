"""Input validation shared by the interpreter and compiled kernels.

A ``Signature`` is built once per graph: each input's name, rank, dims and dtype, and for each
int input the tables it indexes. ``bind`` checks one call's keyword arrays against it (present,
numeric, right rank, dims consistent, indices in range), converts them to C-contiguous arrays of
one float dtype, and returns them with the named dims bound. The interpreter binds every call;
a compiled kernel checks dims and index ranges itself on entry and sends the calls it rejects
(or cannot take as they are) here, for the conversion or for an error naming the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import IndexRangeError, InputError, ShapeError
from ..indexing import IndexCheck, index_checks
from ..ir import (
    FLOAT,
    INT,
    Node,
    Op,
    check_unique_names,
    dim_value,
    dims_product,
    format_shape,
    is_product,
    toposort,
)


@dataclass(frozen=True)
class Bound:
    arrays: dict[str, np.ndarray]
    dims: dict[str, int]
    dtype: type


class Signature:
    def __init__(self, outputs: list[Node]):
        order = toposort(outputs)
        self.inputs = [n for n in order if n.op is Op.INPUT]
        check_unique_names(self.inputs)
        self.index_checks = index_checks(order)
        self.names = [n.name for n in self.inputs]
        _check_dims_bound(order, self.inputs)
        # Per input, what bind() checks: precomputed so a call does no graph lookups.
        # Products of dims ("B*T") are checked once the single names are bound.
        self._plans = [(n.name, n.dtype == INT, n.ndim,
                        tuple(0 if is_product(d) else d for d in n.shape), n)
                       for n in self.inputs]
        self._products = [(n, axis, d) for n in self.inputs for axis, d in enumerate(n.shape)
                          if is_product(d)]
        self._float_names = [n.name for n in self.inputs if n.dtype == FLOAT]

    def describe(self) -> list[str]:
        return [f"{n.name}: {format_shape(n.shape)} {n.dtype}" for n in self.inputs]

    def bind(self, given: dict) -> Bound:
        if len(given) != len(self.names) or not all(name in given for name in self.names):
            unknown = sorted(set(given) - set(self.names))
            if unknown:
                raise InputError(f"unknown input(s) {unknown}; expected {self.describe()}")
            missing = [name for name in self.names if name not in given]
            raise InputError(f"missing input(s) {missing}; expected {self.describe()}")
        dtype = _call_dtype(given, self._float_names)
        arrays: dict[str, np.ndarray] = {}
        dims: dict[str, int] = {}
        for name, is_int, ndim, want_shape, node in self._plans:
            value = given[name]
            target = np.int64 if is_int else dtype
            # Fast path: already the right kind of array, nothing to convert or copy.
            if not (type(value) is np.ndarray and value.dtype.type is target
                    and value.ndim == ndim and value.flags.c_contiguous
                    and value.dtype.isnative):
                value = _convert(node, value, dtype)
            shape = value.shape
            for axis in range(ndim):
                want = want_shape[axis]
                if want.__class__ is int:
                    if want != shape[axis] and want:  # (0: a product, checked below)
                        _bind_dims(node, shape, dims)  # raises with the full message
                elif dims.setdefault(want, shape[axis]) != shape[axis] or shape[axis] == 0:
                    _bind_dims(node, shape, dims)
            arrays[name] = value
        for node, axis, product in self._products:
            got = arrays[node.name].shape[axis]
            if dim_value(product, dims) != got:
                factors = ", ".join(f"{f} = {dims[f]}" for f in dims_product((product,))[1])
                raise ShapeError(f"input {node.name!r}: dim {product!r} (axis {axis}) is {got}, "
                                 f"but the other inputs bound {factors}")
        ranges: dict[str, tuple[int, int]] = {}
        for check in self.index_checks:
            index = arrays[check.input_name]
            if index.size:
                if check.input_name not in ranges:
                    ranges[check.input_name] = (index.min(), index.max())
                _check_range(index, ranges[check.input_name], check, dims)
        return Bound(arrays, dims, dtype)


def _call_dtype(given: dict, float_names: list[str]) -> type:
    """float32 when the float arrays passed are float32 (Python numbers adapt), else float64."""
    seen32 = False
    for name in float_names:
        value = given[name]
        if isinstance(value, (np.ndarray, np.generic)):
            if value.dtype.type in (np.float32, np.float16):
                seen32 = True
            else:
                return np.float64
    return np.float32 if seen32 else np.float64


def _convert(node: Node, value, dtype) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 - any failure to convert is the caller's input
        raise InputError(f"input {node.name!r} could not be read as an array: {error}") from None
    kind = array.dtype.kind
    if node.dtype == INT:
        if kind not in "iu":
            raise InputError(
                f"input {node.name!r} must be an integer array (int64), got dtype {array.dtype}"
            )
        target = np.int64
        if kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
            bad = array.max()  # would wrap to a negative int64: report what was passed
            where = tuple(int(i) for i in np.argwhere(array == bad)[0])
            raise IndexRangeError(f"input {node.name!r} holds index {int(bad)} at position "
                                  f"{where}, larger than any array axis (an int64 index)")
    else:
        if kind not in "fiu":
            raise InputError(f"input {node.name!r} must be a real float array, got dtype {array.dtype}")
        target = dtype
    if array.ndim != node.ndim:
        raise ShapeError(
            f"input {node.name!r} must have rank {node.ndim} {format_shape(node.shape)}, "
            f"got shape {array.shape}"
        )
    return np.asarray(array, dtype=target, order="C")  # (ascontiguousarray makes 0-d 1-d)


def _check_dims_bound(order: list[Node], inputs: list[Node]) -> None:
    """Every named dim of the graph is one an input's axis binds (a product's factors too)."""
    plain = {d for n in inputs for d in n.shape if isinstance(d, str) and not is_product(d)}
    for node in order:
        for d in node.shape:
            missing = sorted(set(dims_product((d,))[1]) - plain)
            if missing:
                where = f"input {node.name!r}" if node.op is Op.INPUT else repr(node)
                raise ShapeError(f"dim {missing[0]!r} (in {d!r} of {where}) is bound by no "
                                 f"input's axis; give an input a dim {missing[0]!r} of its own")


def _bind_dims(node: Node, shape: tuple[int, ...], dims: dict[str, int]) -> None:
    for axis, want in enumerate(node.shape):
        got = shape[axis]
        if is_product(want):
            continue  # checked once the single names are bound
        if want.__class__ is int:
            if want != got:
                raise ShapeError(
                    f"input {node.name!r}: axis {axis} must be {want}, got shape {shape}"
                )
            continue
        bound = dims.setdefault(want, got)
        if bound != got:
            raise ShapeError(
                f"input {node.name!r}: dim {want!r} (axis {axis}) is {got}, but another input "
                f"already bound {want!r} = {bound}"
            )
        if got == 0:
            raise ShapeError(f"input {node.name!r}: dim {want!r} (axis {axis}) is empty")


def _check_range(index: np.ndarray, low_high: tuple[int, int], check: IndexCheck,
                 dims: dict[str, int]) -> None:
    bound = dim_value(check.bound, dims)
    low, high = low_high
    if low < 0 or high >= bound:
        bad = low if low < 0 else high
        where = tuple(int(i) for i in np.argwhere(index == bad)[0])
        raise IndexRangeError(
            f"input {check.input_name!r} holds index {bad} at position {where}, outside "
            f"[0, {bound}) for {check.what}"
        )
