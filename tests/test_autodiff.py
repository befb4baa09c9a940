"""Gradients through the interpreter, against finite differences, SymPy and the lecture."""

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import sympy

import gradcomp as gc
from corpus import CASES
from gradcomp.autodiff.rules import NOT_DIFFERENTIABLE, RULES
from gradcomp.ir import Op
from gradcomp.ops import OPS
from gradcomp.sympy_bridge import arg_symbols, partial


def test_every_op_has_a_reference_and_a_rule():
    for op in Op:
        assert op in OPS, op
        assert op in RULES or op in NOT_DIFFERENTIABLE, op


# ---------------------------------------------------------------- the lecture


def test_lecture_example_values_and_gradients():
    x, y, z = gc.scalars("x y z")
    f = (x + y) * gc.maximum(y, z)
    value, grads = gc.interpret(f, x=1.0, y=2.0, z=0.0)
    assert value == 6.0
    assert grads == {"x": 2.0, "y": 5.0, "z": 0.0}


def test_lecture_wiggle_check():
    """Moving x by 0.1 changes f by about 0.2; y by 0.1, by about 0.5 (0.51 exactly)."""
    x, y, z = gc.scalars("x y z")
    f = (x + y) * gc.maximum(y, z)
    base, grads = gc.interpret(f, x=1.0, y=2.0, z=0.0)
    moved_x, _ = gc.interpret(f, x=1.1, y=2.0, z=0.0)
    moved_y, _ = gc.interpret(f, x=1.0, y=2.1, z=0.0)
    assert moved_x - base == pytest.approx(grads["x"] * 0.1)
    assert moved_y - base == pytest.approx(0.51)
    assert grads["y"] * 0.1 == pytest.approx(0.5)


# ---------------------------------------------------------------- one op at a time


@dataclass(frozen=True)
class GradSpec:
    name: str
    build: Callable
    nargs: int
    sampler: Callable  # rng, shape -> values inside the op's domain, away from kinks


def _normal(rng, shape):
    return rng.standard_normal(shape)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 1.5, shape)


SPECS = [
    GradSpec("add", gc.add, 2, _normal),
    GradSpec("sub", gc.sub, 2, _normal),
    GradSpec("mul", gc.mul, 2, _normal),
    GradSpec("div", gc.div, 2, _away_from_zero),
    GradSpec("pow", gc.power, 2, _positive),
    GradSpec("neg", gc.neg, 1, _normal),
    GradSpec("exp", gc.exp, 1, _normal),
    GradSpec("log", gc.log, 1, _positive),
    GradSpec("sqrt", gc.sqrt, 1, _positive),
    GradSpec("tanh", gc.tanh, 1, _normal),
    GradSpec("sigmoid", gc.sigmoid, 1, _normal),
    GradSpec("relu", gc.relu, 1, _away_from_zero),
    GradSpec("abs", gc.abs, 1, _away_from_zero),
    GradSpec("sin", gc.sin, 1, _normal),
    GradSpec("cos", gc.cos, 1, _normal),
    GradSpec("tan", gc.tan, 1, lambda rng, s: rng.uniform(-1.0, 1.0, s)),
    GradSpec("maximum", gc.maximum, 2, _normal),
    GradSpec("minimum", gc.minimum, 2, _normal),
]
SHAPES = {1: [(), (3,), (2, 3)], 2: [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_elementwise_gradient_matches_finite_differences(spec):
    rng = np.random.default_rng(0)
    for shapes in SHAPES[spec.nargs]:
        shapes = [shapes] if spec.nargs == 1 else list(shapes)
        args = [gc.tensor(f"x{i}", s) for i, s in enumerate(shapes)]
        out = spec.build(*args)
        weights = gc.tensor("w", out.shape)
        loss = gc.sum(out * weights)
        inputs = {f"x{i}": spec.sampler(rng, s) for i, s in enumerate(shapes)}
        inputs["w"] = rng.standard_normal(out.shape)
        assert gc.check_grad(loss, **inputs) < 1e-6, shapes


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_repeated_argument(spec):
    """f(x, x): both contributions reach x and add up."""
    x = gc.tensor("x", (4,))
    loss = gc.sum(spec.build(*([x] * spec.nargs)) * gc.tanh(x))
    inputs = {"x": spec.sampler(np.random.default_rng(1), (4,))}
    assert gc.check_grad(loss, **inputs) < 1e-6


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_gradients_match_finite_differences(name):
    loss, inputs = CASES[name]()
    assert gc.check_grad(loss, **inputs) < 1e-6


def test_input_behind_stop_gradient_gets_zeros():
    x, y = gc.tensor("x", (2,)), gc.tensor("y", (2,))
    loss = gc.sum(x * x) + gc.sum(gc.stop_gradient(y) * x)
    value, grads = gc.interpret(loss, x=np.ones(2), y=np.array([3.0, 4.0]))
    assert value == 2.0 + 7.0
    np.testing.assert_array_equal(grads["y"], np.zeros(2))
    np.testing.assert_array_equal(grads["x"], [5.0, 6.0])


def test_max_ties_share_the_gradient():
    x = gc.tensor("x", (4,))
    _, grads = gc.interpret(gc.max(x), x=np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_array_equal(grads["x"], [0.0, 0.5, 0.5, 0.0])


def test_cross_entropy_is_stable_for_huge_logits():
    z = gc.tensor("z", (2, 2))
    labels = gc.tensor("labels", (2,), "int64")
    value, grads = gc.interpret(
        gc.cross_entropy(z, labels), z=np.array([[1000.0, -1000.0], [1000.0, -1000.0]]),
        labels=np.array([0, 1]),
    )
    assert value == pytest.approx(1000.0)  # mean of 0 and 2000
    np.testing.assert_allclose(grads["z"], [[0.0, 0.0], [0.5, -0.5]], atol=1e-12)


# ---------------------------------------------------------------- against sympy.diff


@pytest.mark.parametrize("build", [
    lambda a: sympy.tanh(a) * a, lambda a: sympy.exp(sympy.sin(a)), lambda a: sympy.log(1 + a**2),
    lambda a: 1 / (1 + sympy.exp(-a)), lambda a: sympy.sqrt(a**2 + 1) * sympy.cos(a),
])
def test_local_gradient_equals_sympy_diff(build):
    (a,) = arg_symbols(1)
    fn = sympy.Lambda((a,), build(a))
    local = partial(fn, 0)
    out = sympy.Symbol("out", real=True)
    restored = local.subs(out, fn.expr)
    assert sympy.simplify(restored - sympy.diff(fn.expr, a)) == 0


def test_hessian_vector_product():
    """Two reverse passes: grad(<grad f, v>) equals finite differences of grad f along v."""
    A, x, v = gc.tensor("A", (3, 3)), gc.tensor("x", (3,)), gc.tensor("v", (3,))
    f = gc.sum(gc.tanh(A @ x) * x) + gc.sum(gc.exp(0.5 * x))
    (g,) = gc.grad(f, [x])
    (hvp,) = gc.grad(gc.sum(g * v), [x])
    rng = np.random.default_rng(3)
    inputs = {"A": rng.standard_normal((3, 3)), "x": rng.standard_normal(3),
              "v": rng.standard_normal(3)}
    value_of = gc.runtime.interp.evaluate
    sig = gc.runtime.signature.Signature([hvp, g])
    got = value_of([hvp], sig.bind(inputs))[0]
    eps = 1e-5
    plus = value_of([g], sig.bind({**inputs, "x": inputs["x"] + eps * inputs["v"]}))[0]
    minus = value_of([g], sig.bind({**inputs, "x": inputs["x"] - eps * inputs["v"]}))[0]
    np.testing.assert_allclose(got, (plus - minus) / (2 * eps), rtol=1e-7, atol=1e-9)


def test_an_input_may_be_named_loss():
    loss = gc.scalar("loss")
    f = loss * loss
    value, grads = gc.interpret(f, loss=3.0)
    assert value == 9.0 and grads == {"loss": 6.0}
    assert gc.check_grad(f, loss=3.0) < 1e-8
