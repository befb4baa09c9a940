"""The fused optimizers against the textbook Adam formula, run in float64 NumPy."""

import numpy as np
import pytest

from gradcomp.errors import IndexRangeError, InputError
from gradcomp.optim import SGD, Adam
from gradcomp.runtime.compiled import RowGradient

pytestmark = pytest.mark.jit


def reference_adam(param, grads, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba, Algorithm 1, one step per gradient in ``grads``; epsilon is added to the
    uncorrected sqrt(v), as in the paper's faster form (section 2) that gradcomp runs."""
    theta = param.astype(np.float64)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - beta2**t))
    return theta


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_dense_adam_matches_the_formula(dtype, tol):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((7, 3))
    steps = [rng.standard_normal((7, 3)) for _ in range(4)]
    params = {"W": start.astype(dtype)}
    opt = Adam(lr=0.01)
    for g in steps:
        opt.step(params, {"W": g.astype(dtype)})
    assert params["W"].dtype == dtype
    want = reference_adam(start, [g.astype(dtype).astype(np.float64) for g in steps])
    np.testing.assert_allclose(params["W"], want, rtol=tol, atol=tol)


def test_row_adam_moves_only_the_rows_and_matches_the_formula():
    rng = np.random.default_rng(1)
    table = rng.standard_normal((10, 4))
    params = {"L": table.copy()}
    opt = Adam(lr=0.01)
    rows = np.array([7, 2, 5])
    steps = [rng.standard_normal((3, 4)) for _ in range(3)]
    for values in steps:
        opt.step(params, {"L": RowGradient(rows, values, 10)})
    untouched = np.setdiff1d(np.arange(10), rows)
    np.testing.assert_array_equal(params["L"][untouched], table[untouched])
    assert not opt.m["L"][untouched].any() and not opt.v["L"][untouched].any()
    for k, row in enumerate(rows):
        want = reference_adam(table[row], [values[k] for values in steps])
        np.testing.assert_allclose(params["L"][row], want, rtol=1e-12, atol=1e-12)


def test_row_gradient_of_a_vector_parameter():
    params = {"b": np.zeros(5)}
    Adam(lr=0.1).step(params, {"b": RowGradient(np.array([3]), np.array([2.0]), 5)})
    assert params["b"][3] == pytest.approx(-0.1) and not params["b"][[0, 1, 2, 4]].any()


@pytest.mark.parametrize("opt", [Adam(), SGD()], ids=["adam", "sgd"])
def test_rows_out_of_range_are_refused_before_any_write(opt):
    params = {"L": np.ones((4, 2)), "W": np.ones(3)}
    grads = {"L": RowGradient(np.array([1, 4]), np.ones((2, 2)), 4)}
    with pytest.raises(IndexRangeError, match=r"'L'.*0\.\.3.*1\.\.4"):
        opt.step(params, grads)
    np.testing.assert_array_equal(params["L"], 1.0)


def test_adam_names_a_parameter_it_cannot_update_in_place():
    opt = Adam()
    strided = np.ones((4, 6))[:, ::2]
    with pytest.raises(InputError, match="'W'.*C-contiguous.*not C-contiguous"):
        opt.step({"W": strided}, {"W": np.ones((4, 3))})
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(InputError, match="'b'.*read-only"):
        opt.step({"b": frozen}, {"b": np.ones(3)})
    with pytest.raises(InputError, match="'c'.*list"):
        opt.step({"c": [1.0, 2.0]}, {"c": np.ones(2)})


def test_adam_refuses_a_gradient_of_the_wrong_shape():
    params = {"W": np.ones((2, 3))}
    with pytest.raises(InputError, match=r"'W' has shape \(3, 2\); expected \(2, 3\)"):
        Adam().step(params, {"W": np.ones((3, 2))})
    np.testing.assert_array_equal(params["W"], 1.0)
    rows = RowGradient(np.array([0]), np.ones((1, 4)), 2)
    with pytest.raises(InputError, match=r"expected \(1, 3\)"):
        Adam().step(params, {"W": rows})


def test_adam_refuses_a_parameter_that_changed_shape():
    opt = Adam()
    opt.step({"W": np.ones(3)}, {"W": np.ones(3)})
    with pytest.raises(InputError, match="'W' is now a float64 array of shape \\(4,\\)"):
        opt.step({"W": np.ones(4)}, {"W": np.ones(4)})
