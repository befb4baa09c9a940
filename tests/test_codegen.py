"""The generated source: readable, traceable to the DAG, safe, and right when run as Python."""

import ast

import numpy as np
import pytest

import gradcomp as gc
from corpus import CASES


def _dense(g):
    return g.to_dense() if isinstance(g, gc.RowGradient) else np.asarray(g)


def lecture_fn():
    x, y, z = gc.scalars("x y z")
    return gc.compile((x + y) * gc.maximum(y, z), jit=False)


def test_lecture_source_reads_top_to_bottom():
    source = lecture_fn().source
    ast.parse(source)  # valid Python
    compile(source, "<generated>", "exec")
    lines = [line.strip() for line in source.splitlines()]
    assert "@numba.njit(cache=True, nogil=True, error_model=\"numpy\")" in lines
    assert "def loss_and_grads(x, y, z):" in lines
    assert "# --- forward: the loss, one step per node ---" in lines
    assert any(line.startswith("# --- backward") for line in lines)
    assert "# add_x = x + y  ()" in lines  # the kernel's own names, not node numbers
    assert "add_x = x + y" in lines
    assert "return loss, d_x, d_y, d_z" in lines
    # every assignment in the body is preceded by a comment naming its node
    body = lines[lines.index("def loss_and_grads(x, y, z):") + 1:]
    for previous, line in zip(body, body[1:]):
        if " = " in line and not line.startswith("#") and not line.startswith("for"):
            assert previous.startswith("#") or " = " in previous or previous.startswith("for"), line


def test_backward_lines_say_upstream_times_local():
    source = lecture_fn().source
    backward = source.split("# --- backward")[1]
    assert "[maximum: upstream x local, into y]" in backward
    assert "Heaviside" not in source  # printed as plain Python


def test_source_is_deterministic():
    assert lecture_fn().source == lecture_fn().source


def test_unfused_source_names_every_node():
    X = gc.tensor("X", (2, 3))
    loss = gc.sum(gc.tanh(X * 2.0))
    fused = gc.compile(loss, jit=False).source
    unfused = gc.compile(loss, fuse=False, jit=False).source
    assert "fused:" in fused and "fused:" not in unfused
    assert unfused.count(" = empty(") > fused.count(" = empty(")


def test_hostile_input_name_cannot_reach_the_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "x'); import os; os.system('touch PWNED') #"
    x = gc.tensor(name, (3,))
    fn = gc.compile(gc.sum(x * x), jit=False)
    assert "os.system" not in fn.source and "PWNED" not in fn.source
    value, grads = fn(**{name: np.array([1.0, 2.0, 3.0])})
    assert value == 14.0
    np.testing.assert_array_equal(grads[name], [2.0, 4.0, 6.0])
    assert not list(tmp_path.rglob("PWNED"))


def test_names_avoid_keywords_and_builtins():
    a, b = gc.scalar("lambda"), gc.scalar("sum")
    fn = gc.compile(a * b + gc.scalar("np"), jit=False)
    tree = ast.parse(fn.source)
    args = [arg.arg for arg in tree.body[-1].args.args]
    assert args == ["lambda_", "sum_", "np_"]
    assert fn(**{"lambda": 2.0, "sum": 3.0, "np": 1.0})[0] == 7.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_python_matches_interpreter(name):
    """The generated source run as plain Python (no Numba) equals the interpreter."""
    loss, inputs = CASES[name]()
    fn = gc.compile(loss, jit=False)
    before = {k: np.array(v, copy=True) for k, v in inputs.items()}
    value, grads = fn(**inputs)
    expected_value, expected = fn.interpret(**inputs)
    assert value == pytest.approx(expected_value, rel=1e-12)
    for key in expected:
        want = _dense(expected[key])
        np.testing.assert_allclose(_dense(grads[key]), want, rtol=1e-12,
                                   atol=1e-12 * max(1.0, np.abs(want).max()))
    for key, original in before.items():  # inputs are never modified
        np.testing.assert_array_equal(np.asarray(inputs[key]), original)


def test_window_kernel_inlines_its_tanh(tmp_path, monkeypatch):
    # The kernel's body must not look like a rarely taken path to LLVM: the entry check is one
    # branch (parts joined by |), so the tanh helper of the hidden layer is inlined into its
    # loop (vectorisable) instead of called per element. With `or`, each part was a 50/50
    # branch, and LLVM took the body after twenty of them for cold code.
    from gradcomp.models import window_classifier_loss

    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(tmp_path))  # compiled here: LLVM readable
    fn = gc.compile(window_classifier_loss(), block=True)
    rng = np.random.default_rng(0)
    inputs = {"L": rng.standard_normal((30, 50)), "W": rng.standard_normal((100, 250)) / 16,
              "b": rng.standard_normal(100), "U": rng.standard_normal((5, 100)) / 10,
              "c": rng.standard_normal(5), "windows": rng.integers(0, 30, (6, 5)),
              "labels": rng.integers(0, 5, 6)}
    loss, grads = fn(**inputs)
    want_loss, want = fn.interpret(**inputs)
    assert abs(loss - want_loss) < 1e-12
    np.testing.assert_allclose(grads["W"], want["W"], rtol=1e-10, atol=1e-12)
    # the hidden layer is in the tile's forward, compiled by a second process: its IR is the
    # module its cached code keeps for linking
    forward = fn.kernel.py_func.__globals__["loss_and_grads_tile_forward"]
    (result,) = forward.overloads.values()
    llvm = str(result.library._get_module_for_linking())
    assert "define" in llvm and "tanh_float64" in llvm  # the helper is linked in ...
    calls = [line for line in llvm.splitlines() if " call " in line and "tanh_float64" in line]
    assert calls == []  # ... and called nowhere: inlined
