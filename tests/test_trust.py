"""Regression tests for the holes a new user found: unused ``wrt`` inputs, a second compile of
the same loss, a damaged cache, uint64 indices, and SymPy 1x1 matrix losses."""

import shutil
import sys

import numpy as np
import pytest
import sympy

import gradcomp as gc
from gradcomp.autodiff import rules
from gradcomp.runtime.compile import MODULE_PREFIX
from gradcomp.runtime.signature import Signature
from gradcomp import sympy_bridge

RNG = np.random.default_rng(11)


# ---------------------------------------------------------------- 1. unused wrt inputs


def _unused_loss():
    a, w = gc.tensor("a", (3,)), gc.tensor("w", ("N", 2))
    return gc.sum(gc.tanh(a) * a), [a, w]


UNUSED_INPUTS = {"a": RNG.standard_normal(3), "w": RNG.standard_normal((4, 2))}


@pytest.fixture(scope="module", params=[False, pytest.param(True, marks=pytest.mark.jit)],
                ids=["python", "jit"])
def unused_fn(request):
    loss, wrt = _unused_loss()
    return gc.compile(loss, wrt=wrt, jit=request.param)


def test_unused_wrt_input_is_accepted_and_gets_zeros(unused_fn):
    a = UNUSED_INPUTS["a"]
    value, grads = unused_fn(**UNUSED_INPUTS)
    assert value == pytest.approx(float(np.sum(np.tanh(a) * a)), rel=1e-12)
    np.testing.assert_allclose(grads["a"], np.tanh(a) + a * (1 - np.tanh(a) ** 2), rtol=1e-12)
    assert grads["w"].shape == (4, 2) and not grads["w"].any()
    assert unused_fn.value(**UNUSED_INPUTS) == pytest.approx(value, rel=1e-12)
    interpreted, expected = unused_fn.interpret(**UNUSED_INPUTS)
    assert interpreted == pytest.approx(value, rel=1e-12)
    assert expected["w"].shape == (4, 2) and not expected["w"].any()
    assert unused_fn.check(**UNUSED_INPUTS) < 1e-7
    grads["w"][:] = 5.0
    assert unused_fn.into(grads, **UNUSED_INPUTS) == pytest.approx(value, rel=1e-12)
    assert not grads["w"].any()


def test_unused_wrt_input_left_out_is_named(unused_fn):
    with pytest.raises(gc.InputError, match=r"missing input\(s\) \['w'\]"):
        unused_fn(a=UNUSED_INPUTS["a"])
    with pytest.raises(gc.ShapeError, match="'w'"):
        unused_fn(a=UNUSED_INPUTS["a"], w=np.ones((4, 3)))


# ---------------------------------------------------------------- 2. a second compile


@pytest.mark.jit
def test_second_compile_of_the_same_loss_takes_the_direct_path(monkeypatch):
    def build():
        x, W = gc.tensor("x", ("B", 4)), gc.tensor("W", (4, 3))
        return gc.mean(gc.tanh(x @ W))

    inputs = {"x": RNG.standard_normal((5, 4)).astype(np.float32),
              "W": RNG.standard_normal((4, 3)).astype(np.float32)}
    first = gc.compile(build())
    first(**inputs)  # compiles the float32 kernel; the second instance shares its module
    binds = []
    original = Signature.bind
    monkeypatch.setattr(Signature, "bind", lambda self, given: binds.append(1) or
                        original(self, given))
    second = gc.compile(build())
    for _ in range(3):
        value, grads = second(**inputs)
    assert len(binds) <= 1, "every call of the second instance went through the validator"
    np.testing.assert_allclose(value, first(**inputs)[0], rtol=1e-6)


# ---------------------------------------------------------------- 3. a damaged cache


def _cache_loss():
    x, y = gc.scalars("x y")
    # sinh is a user's function: its partial is derived and cached (the ops' ones ship)
    return gc.tanh(x * y) + gc.exp(gc.sin(y)) * x + gc.elementwise(sympy.sinh, y)


CACHE_INPUTS = {"x": 0.3, "y": -1.2}


def _fresh_process_state():
    """What a new process would not have: loaded kernel modules and derived partials."""
    for name in [n for n in sys.modules if n.startswith(MODULE_PREFIX)]:
        del sys.modules[name]
    sympy_bridge.partial.cache_clear()
    rules._local_body.cache_clear()


@pytest.fixture(scope="module")
def pristine_cache(tmp_path_factory):
    """A kernel cache holding every kind of file: source, partials, Numba index and data."""
    directory = tmp_path_factory.mktemp("pristine")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADCOMP_CACHE_DIR", str(directory))
        _fresh_process_state()
        expected = gc.compile(_cache_loss())(**CACHE_INPUTS)
    _fresh_process_state()
    return directory, expected


KINDS = {"source": "k_*.py", "partial": "d_*.txt", "index": "__pycache__/*.nbi",
         "data": "__pycache__/*.nbc", "helpers record": "__pycache__/*.helpers"}


@pytest.mark.jit
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_damaged_cache_file_is_rebuilt(pristine_cache, tmp_path, monkeypatch, kind, damage):
    source, expected = pristine_cache
    directory = tmp_path / "cache"
    shutil.copytree(source, directory)
    files = sorted(directory.glob(KINDS[kind]))
    assert files, f"the cache holds no {kind} file"
    victim = files[0]
    data = victim.read_bytes()
    garbage = np.random.default_rng(len(data)).integers(0, 256, len(data), dtype=np.uint8)
    victim.write_bytes(data[: len(data) // 2] if damage == "truncated" else garbage.tobytes())
    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(directory))
    _fresh_process_state()
    with pytest.warns(gc.CacheWarning, match=victim.name):
        value, grads = gc.compile(_cache_loss())(**CACHE_INPUTS)
    _fresh_process_state()
    assert value == pytest.approx(expected[0], rel=1e-15)
    assert grads == pytest.approx(expected[1], rel=1e-15)


# ---------------------------------------------------------------- 4. uint64 indices


def test_uint64_index_above_int64_is_reported_as_passed():
    table, index = gc.tensor("L", (5, 2)), gc.tensor("i", (3,), "int64")
    fn = gc.compile(gc.sum(gc.take(table, index)), jit=False)
    big = 2**63 + 5
    with pytest.raises(gc.IndexRangeError, match=f"index {big} at position \\(1,\\)"):
        fn(L=np.ones((5, 2)), i=np.array([1, big, 2], dtype=np.uint64))
    value, _ = fn(L=np.ones((5, 2)), i=np.array([1, 4, 2], dtype=np.uint64))
    assert value == 6.0


# ---------------------------------------------------------------- 5. SymPy 1x1 matrices


@pytest.mark.parametrize("form", ["element", "matmul"])
def test_sympy_quadratic_form_as_loss(form):
    w, A = sympy.MatrixSymbol("w", 3, 1), sympy.MatrixSymbol("A", 3, 3)
    expr = (w.T * A * w)[0, 0] if form == "element" else w.T * A * w
    Wv, Av = RNG.standard_normal((3, 1)), RNG.standard_normal((3, 3))
    value, grads = gc.compile(expr, jit=False)(w=Wv, A=Av)
    assert value == pytest.approx((Wv.T @ Av @ Wv).item(), rel=1e-12)
    np.testing.assert_allclose(grads["w"], (Av + Av.T) @ Wv, rtol=1e-12)
    np.testing.assert_allclose(grads["A"], Wv @ Wv.T, rtol=1e-12)


def test_sympy_symbolic_matrix_element_is_refused_by_name():
    i = sympy.Symbol("i", integer=True)
    A = sympy.MatrixSymbol("A", 3, 3)
    with pytest.raises(gc.UnsupportedError, match="int positions"):
        gc.compile(A[i, 0], jit=False)


# ---------------------------------------------------------------- every bad input is named


def _bad_inputs():
    good = {"L": np.ones((5, 3)), "i": np.array([0, 1]), "W": np.ones((3, 2)), "s": 2.0}
    return good, {
        "L": ["abc", None, {}, np.ones((5, 3), complex), np.ones((5, 3), bool),
              [[1, 2, 3], [1, 2]], np.array([[object()] * 3] * 5)],
        "i": [np.array([0.0, 1.0]), np.array([True, False]), np.array([-1, 0]),
              np.array([5, 0]), np.zeros(0, np.int64), np.zeros((2, 1), np.int64),
              np.array([1, None]), np.array([1, 2**64 - 1], np.uint64)],
        "W": [np.ones(3), np.ones((3, 3))],
        "s": [np.ones(2), "x", None],
    }


@pytest.fixture(scope="module", params=[False, pytest.param(True, marks=pytest.mark.jit)],
                ids=["python", "jit"])
def lookup_fn(request):
    L, i = gc.tensor("L", ("V", 3)), gc.tensor("i", ("B",), "int64")
    W, s = gc.tensor("W", (3, 2)), gc.scalar("s")
    return gc.compile(gc.mean(gc.tanh(gc.take(L, i) @ W)) * s, jit=request.param)


@pytest.mark.parametrize("how", ["call", "value", "interpret", "into", "check"])
def test_every_bad_input_gets_a_named_gradcomp_error(lookup_fn, how):
    good, bad = _bad_inputs()
    grads = lookup_fn(**good)[1]
    run = {"call": lambda **a: lookup_fn(**a), "value": lookup_fn.value,
           "interpret": lookup_fn.interpret, "into": lambda **a: lookup_fn.into(grads, **a),
           "check": lookup_fn.check}[how]
    for name, values in bad.items():
        for value in values:
            with pytest.raises(gc.GradcompError, match=f"'{name}'"):
                run(**{**good, name: value})
    with pytest.raises(gc.InputError, match="'q'"):
        run(**good, q=1.0)
    with pytest.raises(gc.InputError, match="'W'"):
        run(**{k: v for k, v in good.items() if k != "W"})


@pytest.mark.parametrize("grads", ["x", None, {}, {"W": 3}])
def test_into_with_a_wrong_grads_argument_is_named(lookup_fn, grads):
    good = _bad_inputs()[0]
    with pytest.raises(gc.InputError, match="grads|gradient buffer"):
        lookup_fn.into(grads, **good)


# ---------------------------------------------------------------- 6, 7. sequences


def test_product_dims_are_bound_from_their_factors():
    x = gc.tensor("x", ("B", "T", 2))
    flat = gc.reshape(x, ("T*B", 2))  # spelled either way: one dim
    assert flat.shape == ("B*T", 2)
    fn = gc.compile(gc.sum(gc.reshape(flat, ("B", "T", 2)) * x), jit=False)
    xs = RNG.standard_normal((2, 3, 2))
    value, grads = fn(x=xs)
    assert value == pytest.approx(float(np.sum(xs * xs)), rel=1e-12)
    q = gc.tensor("q", ("B*T",))
    with pytest.raises(gc.ShapeError, match="'B'.*bound by no input"):
        gc.compile(gc.sum(q), jit=False)
    fn = gc.compile(gc.sum(q) + gc.sum(x), jit=False)
    with pytest.raises(gc.ShapeError, match=r"input 'q': dim 'B\*T' \(axis 0\) is 5.*B = 2, T = 3"):
        fn(q=np.ones(5), x=xs)
    with pytest.raises(gc.ShapeError, match="identifier"):
        gc.tensor("bad", ("B**T",))


def test_batched_matmul_shapes():
    a, w = gc.tensor("a", ("B", "T", 4)), gc.tensor("w", (4, 3))
    assert (a @ w).shape == ("B", "T", 3)
    assert (a @ gc.tensor("v", (4,))).shape == ("B", "T")
    assert (a @ gc.tensor("Wb", ("B", 4, 5))).shape == ("B", "T", 5)
    with pytest.raises(gc.ShapeError, match="same batch dims"):
        a @ gc.tensor("Wc", ("C", 4, 5))
    with pytest.raises(gc.ShapeError, match="inner dims"):
        a @ gc.tensor("w5", (5, 3))
