"""Compiled Numba kernels against the interpreter, finite differences and each other."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradcomp as gc
from corpus import CASES
from gradcomp.models import WindowConfig, init_params, window_classifier_loss

pytestmark = pytest.mark.jit


def _dense(g):
    return g.to_dense() if isinstance(g, gc.RowGradient) else np.asarray(g)


def _as(dtype, inputs):
    return {k: (np.asarray(v, dtype) if np.asarray(v).dtype.kind == "f" else v)
            for k, v in inputs.items()}


def assert_same(got, expected, rtol):
    value, grads = got
    expected_value, expected_grads = expected
    assert value == pytest.approx(expected_value, rel=rtol, abs=rtol)
    assert set(grads) == set(expected_grads)
    for key in expected_grads:
        want = _dense(expected_grads[key])
        np.testing.assert_allclose(_dense(grads[key]), want, rtol=rtol,
                                   atol=rtol * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_compiled_equals_interpreter(name, compiled):
    loss, inputs = CASES[name]()
    fn = compiled(name, lambda: loss)
    assert_same(fn(**inputs), fn.interpret(**inputs), rtol=1e-12)
    got32 = fn(**_as(np.float32, inputs))
    assert_same(got32, fn.interpret(**_as(np.float32, inputs)), rtol=1e-5)
    for g in got32[1].values():
        if isinstance(g, np.ndarray):
            assert g.dtype == np.float32


def test_lecture_through_the_public_api(compiled):
    x, y, z = gc.scalars("x y z")
    fn = compiled("lecture-api", lambda: (x + y) * gc.maximum(y, z))
    value, grads = fn(x=1.0, y=2.0, z=0.0)
    assert value == 6.0 and grads == {"x": 2.0, "y": 5.0, "z": 0.0}
    assert fn.value(x=1.0, y=2.0, z=0.0) == 6.0
    assert fn.check(x=1.0, y=2.0, z=0.0) < 1e-8


VARIANTS = [(loss, act) for loss in ("softmax", "logistic", "max_margin")
            for act in ("tanh", "relu", "sigmoid")]


def _window_inputs(cfg, batch, vocab, seed):
    rng = np.random.default_rng(seed)
    inputs = init_params(cfg, vocab, seed=seed)
    inputs["b"] = 0.5 * rng.standard_normal(cfg.hidden)
    inputs["windows"] = rng.integers(0, vocab, (batch, cfg.width))
    if cfg.loss == "max_margin":
        inputs["corrupt"] = rng.integers(0, vocab, (batch, cfg.width))
    else:
        inputs["labels"] = rng.integers(0, cfg.classes if cfg.loss == "softmax" else 2, batch)
    return inputs


@pytest.mark.parametrize("loss,activation", VARIANTS)
def test_window_classifier_variants(loss, activation, compiled):
    cfg = WindowConfig(window=2, dim=4, hidden=6, classes=3, activation=activation, loss=loss)
    fn = compiled(("window", loss, activation),
                  lambda: window_classifier_loss(2, 4, 6, 3, activation, loss))
    inputs = _window_inputs(cfg, batch=9, vocab=30, seed=3)
    assert_same(fn(**inputs), fn.interpret(**inputs), rtol=1e-12)
    assert gc.check_grad(fn.loss, **inputs) < 1e-6
    expected_wrt = {"L", "W", "b"} | ({"U", "c"} if loss == "softmax" else {"u"})
    assert {w.name for w in fn.wrt} == expected_wrt
    assert isinstance(fn(**inputs)[1]["L"], gc.RowGradient)


def test_window_classifier_check_uses_the_value_kernel(compiled):
    cfg = WindowConfig(window=2, dim=4, hidden=6, classes=3)
    fn = compiled(("window", "softmax", "tanh"), lambda: window_classifier_loss(2, 4, 6, 3))
    inputs = _window_inputs(cfg, batch=5, vocab=12, seed=4)
    assert fn.value(**inputs) == pytest.approx(fn(**inputs)[0], rel=1e-12)
    assert fn.check(**inputs) < 1e-6


def test_one_kernel_serves_every_batch_size(compiled):
    cfg = WindowConfig(window=2, dim=4, hidden=6, classes=3)
    fn = compiled(("window", "softmax", "tanh"), lambda: window_classifier_loss(2, 4, 6, 3))
    signatures = None  # (the shared kernel may have met other dtypes in other tests)
    for batch, vocab in [(1, 10), (7, 50), (4096, 300)]:
        inputs = _window_inputs(cfg, batch, vocab, seed=batch)
        value, grads = fn(**inputs)
        assert np.isfinite(value) and grads["W"].shape == (6, 20)
        signatures = signatures or list(fn.kernel.signatures)
        assert list(fn.kernel.signatures) == signatures  # no new specialisation per size


def test_row_gradients_sum_repeated_lookups(compiled):
    fn = compiled("take_rows", lambda: CASES["take_rows"]()[0])
    _, inputs = CASES["take_rows"]()
    _, grads = fn(**inputs)
    rows = grads["table"]
    assert sorted(rows.indices) == [0, 1, 2, 5]  # distinct, in order of first lookup
    assert rows.values.shape == (4, 3) and rows.shape == (6, 3)
    index, table, w = inputs["index"], inputs["table"], inputs["w"]
    dense = np.zeros_like(table)
    np.add.at(dense, index, 2 * table[index] * w)
    np.testing.assert_allclose(rows.to_dense(), dense, rtol=1e-12)
    dense_fn = compiled("take_rows_dense", lambda: CASES["take_rows"]()[0], rows=False)
    np.testing.assert_allclose(dense_fn(**inputs)[1]["table"], dense, rtol=1e-12)


def test_out_of_range_index_is_refused_before_the_kernel(compiled):
    fn = compiled("take_rows", lambda: CASES["take_rows"]()[0])
    _, inputs = CASES["take_rows"]()
    fn(**inputs)  # compiled: later calls go straight to the kernel and its entry check
    table_before = inputs["table"].copy()
    for index, position in [([[0, 1], [1, 6], [5, 5], [2, 0]], r"\(1, 1\)"),
                            ([[0, 1], [1, 2], [-1, 5], [2, 0]], r"\(2, 0\)")]:
        bad = dict(inputs, index=np.array(index))
        with pytest.raises(IndexError, match=rf"'index' holds index -?[16] at position {position}"):
            fn(**bad)
    np.testing.assert_array_equal(inputs["table"], table_before)


def _window_call(compiled):
    cfg = WindowConfig(window=2, dim=4, hidden=6, classes=3)
    fn = compiled(("window", "softmax", "tanh"), lambda: window_classifier_loss(2, 4, 6, 3))
    inputs = _window_inputs(cfg, batch=5, vocab=12, seed=4)
    return fn, inputs, fn(**inputs)


@pytest.mark.parametrize("name,bad,message", [
    ("W", np.zeros((6, 21)), r"input 'W': axis 1 must be 20, got shape \(6, 21\)"),
    ("labels", np.zeros(4, np.int64), r"input 'labels': dim 'B' \(axis 0\) is 4, but another"),
    ("windows", np.zeros((0, 5), np.int64), r"input 'windows': dim 'B' \(axis 0\) is empty"),
    ("labels", np.array([0, 1, 2, 3, 0]), r"'labels' holds index 3 at position \(3,\)"),
])
def test_compiled_kernel_refuses_bad_dims_with_the_validators_message(compiled, name, bad,
                                                                       message):
    fn, inputs, _ = _window_call(compiled)
    with pytest.raises((ValueError, IndexError), match=message):
        fn(**dict(inputs, **{name: bad}))


def test_inputs_the_kernel_does_not_take_directly_are_converted(compiled):
    fn, inputs, expected = _window_call(compiled)
    converted = dict(inputs, windows=inputs["windows"].astype(np.int32),
                     labels=inputs["labels"].tolist(), W=np.asfortranarray(inputs["W"]),
                     b=inputs["b"].astype(">f8"))  # byte-swapped arrays are converted too
    assert_same(fn(**converted), expected, rtol=1e-12)
    mixed = dict(inputs, W=inputs["W"].astype(np.float32))  # one float32 array: all float64
    assert_same(fn(**mixed), expected, rtol=1e-6)
    assert {sig[0].dtype.name for sig in fn.kernel.signatures} <= {"float32", "float64"}
    with pytest.raises(TypeError, match=r"missing input\(s\) \['labels'\]"):
        fn(**{k: v for k, v in inputs.items() if k != "labels"})


def test_non_contiguous_inputs(compiled):
    fn = compiled("matmul_2d", lambda: CASES["matmul_2d"]()[0])
    _, inputs = CASES["matmul_2d"]()
    wide = np.random.default_rng(0).standard_normal((3, 8))
    strided = dict(inputs, A=wide[:, ::2], B=np.asfortranarray(inputs["B"]))
    assert not strided["A"].flags.c_contiguous
    assert_same(fn(**strided), fn.interpret(**strided), rtol=1e-12)


def test_second_process_loads_the_cached_kernel(tmp_path):
    # A warm load skips Numba's refresh of its target context (compile.load_cached): counted
    # here. A compile after it in the same process (a loss only the second run has) works.
    script = textwrap.dedent("""
        import json, sys, numpy as np, gradcomp as gc
        from numba.core.base import BaseContext
        refreshed, refresh = [], BaseContext.refresh
        BaseContext.refresh = lambda self: (refreshed.append(1), refresh(self))[1]
        X, w = gc.tensor("X", ("B", 3)), gc.tensor("w", (3,))
        inputs = {"X": np.linspace(-1, 1, 12).reshape(4, 3), "w": np.array([0.5, -1.0, 2.0])}
        losses = [gc.mean(gc.tanh(X @ w))] + [gc.sum(gc.sin(X @ w))] * (sys.argv[1] == "2")
        out = {"hits": 0, "misses": 0, "agree": []}
        for k, loss in enumerate(losses):
            fn = gc.compile(loss, block=True)
            (value, grads), (want, want_grads) = fn(**inputs), fn.interpret(**inputs)
            out.setdefault("refreshed", len(refreshed))  # after the first loss's call
            out["agree"].append(bool(np.allclose(value, want, rtol=1e-12) and all(
                np.allclose(grads[n], want_grads[n], rtol=1e-12) for n in inputs)))
            stats = fn.kernel.stats
            out["hits"] += sum(stats.cache_hits.values())
            out["misses"] += sum(stats.cache_misses.values())
        print(json.dumps(out))
    """)
    env = dict(os.environ, GRADCOMP_CACHE_DIR=str(tmp_path / "cache"))
    runs = [json.loads(subprocess.run([sys.executable, "-c", script, str(run)], env=env,
                                      check=True, capture_output=True, text=True).stdout)
            for run in (1, 2)]
    assert runs[0]["misses"] == 1 and runs[0]["hits"] == 0 and runs[0]["refreshed"] > 0
    assert runs[1]["hits"] == 1 and runs[1]["misses"] == 1  # the second loss compiled
    assert runs[1]["refreshed"] == 0
    assert runs[0]["agree"] == [True] and runs[1]["agree"] == [True, True]
    assert len(list((tmp_path / "cache").glob("k_*.py"))) == 2


def test_corrupt_cache_file_is_rewritten(tmp_path, monkeypatch):
    from gradcomp.cache import write_source

    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(tmp_path))
    source = "VALUE = 1\n"
    path = write_source(source)
    path.write_text("garbage(")
    with pytest.warns(gc.CacheWarning, match=path.name):
        assert write_source(source) == path and path.read_text() == source


def test_unwritable_cache_dir_falls_back(tmp_path, monkeypatch):
    from gradcomp.cache import cache_dir

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(blocker / "cache"))
    fallback = cache_dir()
    assert fallback != blocker / "cache" and fallback.is_dir()


def test_well_formed_calls_skip_python_validation(compiled, monkeypatch):
    fn, inputs, expected = _window_call(compiled)
    validated = []
    bind = fn.signature.bind
    monkeypatch.setattr(fn.signature, "bind", lambda given: validated.append(1) or bind(given))
    assert_same(fn(**inputs), expected, rtol=0)
    assert validated == []  # the kernel's own entry check was enough
    with pytest.raises(IndexError, match="'windows' holds index 12"):
        fn(**dict(inputs, windows=np.full((5, 5), 12)))
    assert validated == [1]  # the rejected call was re-validated to name the offender


def test_into_reuses_the_gradient_arrays(compiled):
    fn, inputs, (value, expected) = _window_call(compiled)
    grads = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in expected.items()}
    arrays = {k: v for k, v in grads.items() if isinstance(v, np.ndarray)}
    assert set(arrays) == {"W", "b", "U", "c"}
    for a in arrays.values():
        a.fill(np.nan)
    other = dict(inputs, labels=(inputs["labels"] + 1) % 3)
    assert fn.into(grads, **other) == pytest.approx(fn(**other)[0], rel=1e-12)
    assert all(grads[k] is a for k, a in arrays.items())  # written in place
    assert_same((0.0, grads), (0.0, fn(**other)[1]), rtol=1e-12)
    assert_same((0.0, grads), (0.0, fn.interpret(**other)[1]), rtol=1e-12)
    converted = dict(other, windows=other["windows"].astype(np.int32))  # through bind
    assert fn.into(grads, **converted) == pytest.approx(fn(**other)[0], rel=1e-12)
    assert all(grads[k] is a for k, a in arrays.items())


@pytest.mark.parametrize("name,bad,message", [
    ("W", lambda g, i: np.zeros((6, 19)), r"buffer for 'W' must be a writable C-contiguous "
                                          r"float64 array of shape \(6, 20\), got float64 "
                                          r"array of shape \(6, 19\)"),
    ("b", lambda g, i: g["b"].astype(np.float32), r"buffer for 'b' .* got float32"),
    ("W", lambda g, i: np.asfortranarray(g["W"]), r"not C-contiguous"),
    ("W", lambda g, i: i["W"], r"buffer for 'W' shares memory with input 'W'"),
    ("c", lambda g, i: g["U"][0, :3], r"buffer for 'U' shares memory with the gradient "
                                      r"buffer for 'c'"),
])
def test_into_refuses_bad_buffers_and_loses_nothing(compiled, name, bad, message):
    fn, inputs, (_, grads) = _window_call(compiled)
    grads = dict(grads, **{k: v.copy() for k, v in grads.items() if isinstance(v, np.ndarray)})
    grads[name] = bad(grads, inputs)
    before = {k: v.copy() for k, v in inputs.items()}
    with pytest.raises(TypeError, match=message):
        fn.into(grads, **inputs)
    for k in inputs:
        np.testing.assert_array_equal(inputs[k], before[k])
    with pytest.raises(TypeError, match="grads has no array for 'W'"):
        fn.into({}, **inputs)


def test_a_gradient_shared_by_two_inputs_fills_both_buffers(compiled):
    a, b, e = gc.tensor("a", (2, 3)), gc.tensor("b", (2, 3)), gc.tensor("e", (2, 3))
    c = gc.tensor("c", (3, 2))
    # d_a and d_b are one node (the broadcast 1); d_c comes from a transpose (copied in)
    fn = compiled("shared-gradient", lambda: gc.sum(a) + gc.sum(b) + gc.sum(gc.transpose(c) * e))
    assert "# d_b is d_a itself" in fn.source and "into the caller's buffer" in fn.source
    rng = np.random.default_rng(5)
    inputs = {"a": rng.standard_normal((2, 3)), "b": rng.standard_normal((2, 3)),
              "e": rng.standard_normal((2, 3)), "c": rng.standard_normal((3, 2))}
    got = fn(**inputs)
    assert_same(got, fn.interpret(**inputs), rtol=1e-12)
    np.testing.assert_array_equal(got[1]["b"], np.ones((2, 3)))
    np.testing.assert_allclose(got[1]["c"], inputs["e"].T, rtol=1e-15)
    grads = {k: np.full_like(v, np.nan) for k, v in got[1].items()}
    assert fn.into(grads, **inputs) == pytest.approx(got[0], rel=1e-12)
    assert_same((0.0, grads), (0.0, got[1]), rtol=0)
