"""Random expressions from the op set: gradients against finite differences, and the
generated source (run as plain Python) against the interpreter."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradcomp as gc

UNARY = [gc.tanh, gc.sigmoid, gc.sin, lambda x: 0.5 * x * x, lambda x: gc.exp(gc.tanh(x)),
         lambda x: gc.mean(x, 0) if x.ndim else x, lambda x: gc.logsumexp(x, 0) if x.ndim else x,
         lambda x: gc.sqrt(x * x + 1.0)]
BINARY = [gc.add, gc.sub, gc.mul, gc.maximum, lambda a, b: a / (1.5 + gc.tanh(b))]

steps = st.lists(
    st.tuples(st.booleans(), st.integers(0, 7), st.integers(0, 50), st.integers(0, 50)),
    min_size=1, max_size=10,
)

INPUTS = {"A": np.random.default_rng(0).standard_normal((2, 3)),
          "v": np.random.default_rng(1).standard_normal(3), "s": 0.7}


def build(program):
    pool = [gc.tensor("A", (2, 3)), gc.tensor("v", (3,)), gc.scalar("s")]
    for binary, op, i, j in program:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        pool.append(BINARY[op % len(BINARY)](a, b) if binary else UNARY[op](a))
    loss = gc.sum(pool[-1]) + 0.1 * gc.sum(pool[-2] * pool[-2])
    present = {n.name for n in gc.ir.inputs_of([loss])}
    return loss, {k: v for k, v in INPUTS.items() if k in present}


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_expressions_gradients(program):
    loss, inputs = build(program)
    assert gc.check_grad(loss, **inputs) < 1e-6


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_random_expressions_generated_source(program):
    loss, inputs = build(program)
    fn = gc.compile(loss, jit=False)
    value, grads = fn(**inputs)
    expected_value, expected = fn.interpret(**inputs)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    for name in expected:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-12, atol=1e-14)
