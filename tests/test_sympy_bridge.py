"""SymPy expressions in, gradients equal to sympy.diff out."""

import numpy as np
import pytest
import sympy

import gradcomp as gc

x, y, z = sympy.symbols("x y z", real=True)
POINT = {x: 0.7, y: 1.3, z: -0.4}

EXPRESSIONS = [
    x**2 * y + sympy.sin(x) * sympy.exp(y),
    sympy.log(x**2 + 1) * sympy.tanh(y) - z / y,
    sympy.Max(x, y) * z + sympy.Min(x, z),
    sympy.sqrt(y) / (1 + x**2) + sympy.Abs(x - y) * x,
    sympy.tan(x) + sympy.cos(y) * z**3,
    (x + y) * sympy.Max(y, z),
    sympy.pi * x + sympy.E ** y + sympy.Rational(3, 7) * z,
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_gradient_equals_sympy_diff(expr):
    values = {str(s): POINT[s] for s in expr.free_symbols}
    value, grads = gc.interpret(gc.from_sympy(expr), **values)
    assert value == pytest.approx(float(expr.subs(POINT)), rel=1e-12)
    for symbol in expr.free_symbols:
        expected = float(sympy.diff(expr, symbol).subs(POINT))
        assert grads[str(symbol)] == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_quadratic_form_with_matrix_symbols():
    A = sympy.MatrixSymbol("A", 3, 3)
    v = sympy.MatrixSymbol("v", 3, 1)
    loss = gc.from_sympy(v.T * A * v)
    assert loss.shape == ()
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((3, 3)), rng.standard_normal((3, 1))
    value, grads = gc.interpret(loss, A=a, v=w)
    assert value == pytest.approx((w.T @ a @ w).item())
    np.testing.assert_allclose(grads["v"], (a + a.T) @ w, rtol=1e-12)
    np.testing.assert_allclose(grads["A"], w @ w.T, rtol=1e-12)


def test_matrix_expression_with_named_dims():
    n = sympy.Symbol("N")
    X = sympy.MatrixSymbol("X", n, 2)
    w = sympy.MatrixSymbol("w", 2, 1)
    ones = sympy.MatrixSymbol("ones", 1, n)
    loss = gc.from_sympy(ones * sympy.HadamardProduct(X * w, X * w))
    rng = np.random.default_rng(1)
    data, weights = rng.standard_normal((5, 2)), rng.standard_normal((2, 1))
    _, grads = gc.interpret(loss, X=data, w=weights, ones=np.ones((1, 5)))
    np.testing.assert_allclose(grads["w"], 2 * data.T @ (data @ weights), rtol=1e-12)


def test_compile_accepts_sympy_directly():
    expr = (x + y) * sympy.Max(y, z)
    fn = gc.compile(expr, jit=False)
    value, grads = fn(x=1.0, y=2.0, z=0.0)
    assert value == 6.0 and grads == {"x": 2.0, "y": 5.0, "z": 0.0}
