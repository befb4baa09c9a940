"""Repeated loops outlined: a loop printed at several steps becomes one function, called."""

import ast

import numpy as np
import torch

import gradcomp as gc
from gradcomp.codegen.entry import wrapped
from gradcomp.codegen.outline import outline_loops

LAYERS = 3


def _mlp():
    rng = np.random.default_rng(3)
    h = gc.tensor("x", ("B", 8))
    inputs = {"x": rng.standard_normal((5, 8))}
    for k in range(LAYERS):
        h = gc.tanh(h @ gc.tensor(f"W{k}", (8, 8)))
        inputs[f"W{k}"] = rng.standard_normal((8, 8)) / 2
    return gc.mean(h * h), inputs


def test_a_deep_mlp_calls_one_loop_function_per_repeated_loop_and_matches_pytorch(compiled):
    loss, inputs = _mlp()
    fn = compiled("outline-mlp", lambda: loss)
    tree = ast.parse(fn.source)
    loops = [f.name for f in tree.body if isinstance(f, ast.FunctionDef) and "_loop_" in f.name]
    assert loops, fn.source
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id in loops]
    assert len(calls) >= 2 * len(loops)  # each function stands for two steps or more
    value, grads = fn(**inputs)

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    h = leaves["x"]
    for k in range(LAYERS):
        h = torch.tanh(h @ leaves[f"W{k}"])
    want = (h * h).mean()
    want.backward()
    assert abs(value - want.item()) < 1e-12
    for k, leaf in leaves.items():
        np.testing.assert_allclose(grads[k], leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


BODY = """\
# a = tanh(x)  (n)
a = empty((n,), dt)
for i0 in range(n):
    a[i0] = np.tanh(x[i0])
# b = tanh(a)  (n)
b = empty((n,), dt)
for i0 in range(n):
    b[i0] = np.tanh(a[i0])
# c = exp(b)  (n)
c = empty((n,), dt)
for i0 in range(n):
    c[i0] = np.exp(b[i0])
z = empty((n,), dt)
for i0 in range(n):
    z[i0] = 0.0
w = empty((n,), dt)
for i0 in range(n):
    w[i0] = 0.0""".splitlines()


def _run(body, functions, **values):
    scope = {"np": np, "empty": np.empty, "dt": np.float64, **values}
    for lines in functions:
        exec("\n".join(lines[1:]), scope)  # (without the @njit line)
    exec("\n".join(body), scope)
    return scope


def test_a_loop_printed_twice_becomes_one_function_and_a_loop_printed_once_stays():
    body, functions = outline_loops(BODY, ["x", "n"], "k", "@njit", wrapped)
    assert len(functions) == 1
    text = "\n".join(body)
    assert text.count("k_loop_1(") == 2 and "np.exp(b[i0])" in text
    assert "z[i0] = 0.0" in text and "w[i0] = 0.0" in text  # fills from scalars stay inline
    assert '"""a = tanh(x)  (n)' in "\n".join(functions[0])
    x = np.linspace(-1, 1, 7)
    got, want = _run(body, functions, x=x, n=7), _run(BODY, [], x=x, n=7)
    for name in "abc":
        np.testing.assert_array_equal(got[name], want[name])


def test_a_loop_that_sets_a_name_read_later_is_not_outlined():
    body = [line.replace("a[i0] = np.tanh(x[i0])", "a[i0] = np.tanh(x[i0])\n    s = i0")
            for line in BODY]
    body = "\n".join(body).splitlines()
    _, functions = outline_loops(body, ["x", "n"], "k", "@njit", wrapped)
    assert functions == []


def test_the_loop_function_does_not_take_a_name_the_kernel_uses():
    body, functions = outline_loops(BODY, ["x", "n", "k_loop_1"], "k", "@njit", wrapped)
    assert "def k_loop_1_(" in "\n".join(functions[0])
    assert "k_loop_1_(" in "\n".join(body)
