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


def test_simplified_partials_are_kept_on_disk_and_read_back(tmp_path, monkeypatch):
    from gradcomp import sympy_bridge

    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(tmp_path))
    a, b = gc.scalars("a b")
    # functions of a user's own (the front end's ship with their partials: known_partials.py)
    nodes = [gc.elementwise(f, a, b) for f in (
        lambda u, v: sympy.sinh(u) * v, lambda u, v: sympy.atan(u / v),
        lambda u, v: sympy.cosh(u) + sympy.exp(-v), lambda u, v: sympy.erf(u) * sympy.log(v))]
    wanted = [(n.attr("fn"), i) for n in nodes for i in range(len(n.args))]
    sympy_bridge.partial.cache_clear()
    derived = [sympy_bridge.partial(fn, i) for fn, i in wanted]
    files = sorted(tmp_path.glob("d_*.txt"))
    assert len(files) == len(set(wanted))

    def refuse(fn, index):
        raise AssertionError("derived again instead of read from the cache")

    sympy_bridge.partial.cache_clear()
    monkeypatch.setattr(sympy_bridge, "_derive_partial", refuse)
    assert [sympy_bridge.partial(fn, i) for fn, i in wanted] == derived
    monkeypatch.undo()
    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(tmp_path))
    files[0].write_text("Add(Integer(")  # a corrupt entry is derived again and rewritten
    sympy_bridge.partial.cache_clear()
    with pytest.warns(gc.CacheWarning, match=files[0].name):
        assert [sympy_bridge.partial(fn, i) for fn, i in wanted] == derived
    assert sympy.sympify(files[0].read_text().split("\n", 1)[1]) in derived
    sympy_bridge.partial.cache_clear()
