"""Bad input raises a gradcomp error that names the offender; nothing crashes bare."""

import numpy as np
import pytest
import sympy

import gradcomp as gc


def test_non_scalar_loss_suggests_a_reduction():
    x = gc.tensor("x", (3,))
    with pytest.raises(gc.NotDifferentiableError, match=r"gc.sum\(loss\)"):
        gc.grad(gc.tanh(x), [x])


def test_unknown_wrt_name_lists_the_inputs():
    x, y = gc.scalars("x y")
    with pytest.raises(gc.NotDifferentiableError, match=r"'nope'.*\['x', 'y'\]"):
        gc.grad(x * y, ["nope"])


def test_int_input_in_wrt():
    table = gc.tensor("table", (4, 2))
    idx = gc.tensor("idx", (3,), "int64")
    loss = gc.sum(gc.take(table, idx))
    with pytest.raises(gc.NotDifferentiableError, match="'idx' is an int64"):
        gc.grad(loss, ["idx"])


def test_int_arrays_refuse_arithmetic():
    idx = gc.tensor("idx", (3,), "int64")
    with pytest.raises(gc.IRError, match="int array"):
        idx * 2.0


def test_matmul_inner_dims():
    with pytest.raises(gc.ShapeError, match=r"inner dims differ: \(2, 3\) @ \(4, 5\)"):
        gc.tensor("A", (2, 3)) @ gc.tensor("B", (4, 5))


def test_bad_declarations():
    with pytest.raises(gc.ShapeError, match="'x'"):
        gc.tensor("x", (0, 2))
    with pytest.raises(gc.IRError, match="dtype"):
        gc.tensor("x", (2,), "complex64")
    with pytest.raises(gc.IRError, match="non-empty string"):
        gc.tensor("", (2,))
    with pytest.raises(gc.ShapeError, match="axis 3"):
        gc.sum(gc.tensor("x", (2, 2)), 3)


def test_same_name_two_shapes():
    a, b = gc.tensor("x", (2,)), gc.tensor("x", (3,))
    with pytest.raises(gc.IRError, match="'x' is declared twice"):
        gc.interpret(gc.sum(a) + gc.sum(b), x=np.ones(2))


def test_call_errors_name_the_input():
    X = gc.tensor("X", ("B", 3))
    idx = gc.tensor("idx", ("B",), "int64")
    loss = gc.sum(gc.take(X, idx))
    good = {"X": np.ones((4, 3)), "idx": np.array([0, 1, 3, 2])}
    with pytest.raises(gc.InputError, match=r"missing input\(s\) \['idx'\]"):
        gc.interpret(loss, X=good["X"])
    with pytest.raises(gc.InputError, match=r"unknown input\(s\) \['Z'\]"):
        gc.interpret(loss, **good, Z=1.0)
    with pytest.raises(gc.ShapeError, match="'X' must have rank 2"):
        gc.interpret(loss, X=np.ones(3), idx=good["idx"])
    with pytest.raises(gc.ShapeError, match="'X': axis 1 must be 3"):
        gc.interpret(loss, X=np.ones((4, 2)), idx=good["idx"])
    with pytest.raises(gc.ShapeError, match="dim 'B'"):
        gc.interpret(loss, X=np.ones((5, 3)), idx=good["idx"])
    with pytest.raises(gc.InputError, match="'idx' must be an integer array"):
        gc.interpret(loss, X=good["X"], idx=good["idx"] * 1.0)
    with pytest.raises(gc.InputError, match="'X' must be a real float array"):
        gc.interpret(loss, X=np.ones((4, 3), complex), idx=good["idx"])
    with pytest.raises(gc.IndexRangeError, match=r"'idx' holds index 4 at position \(2,\)"):
        gc.interpret(loss, X=good["X"], idx=np.array([0, 1, 4, 2]))
    with pytest.raises(IndexError, match="index -1"):
        gc.interpret(loss, X=good["X"], idx=np.array([0, -1, 1, 2]))


def test_unsupported_sympy_names_the_part():
    x = sympy.Symbol("x")
    with pytest.raises(gc.UnsupportedError, match="floor"):
        gc.from_sympy(sympy.floor(x) + x)
    with pytest.raises(gc.UnsupportedError, match="Piecewise"):
        gc.from_sympy(sympy.Piecewise((x, x > 0), (0, True)))


def test_every_error_is_a_gradcomp_error():
    for error in (gc.ShapeError, gc.IRError, gc.InputError, gc.IndexRangeError,
                  gc.NotDifferentiableError, gc.UnsupportedError, gc.CompileError):
        assert issubclass(error, gc.GradcompError)


def test_builders_refuse_non_nodes_by_name():
    table = gc.tensor("table", (4, 2))
    with pytest.raises(gc.IRError, match="take: expected a gradcomp node, got str"):
        gc.take(table, "rows")
    with pytest.raises(gc.IRError, match="take: the index must be an int64 array"):
        gc.take(table, 3)
    with pytest.raises(gc.IRError, match="cross_entropy: expected a gradcomp node"):
        gc.cross_entropy(table, None)
    with pytest.raises(gc.NotDifferentiableError, match="got NoneType"):
        gc.compile(None)
