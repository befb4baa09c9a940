"""The benchmark's own pieces: its hand-written NumPy baseline and its gradient check."""

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.bench import (check_against, make_inputs, numpy_unique_add_at,
                            numpy_value_and_grads, workload_flops)
from gradcomp.bench.peers import numpy_sgd_step
from gradcomp.models import window_classifier_loss


@pytest.fixture(scope="module")
def interpreted():
    return gc.compile(window_classifier_loss(), jit=False)


@pytest.mark.parametrize("peer", [numpy_value_and_grads, numpy_unique_add_at])
def test_numpy_baselines_match_the_interpreter(interpreted, peer):
    inputs = make_inputs(vocab=50, batch=7, dtype=np.float64, seed=3)
    inputs["windows"][:, 1] = 3  # repeated rows: per-lookup rows must add up
    reference = interpreted.interpret(**inputs)
    assert check_against(reference, peer(**inputs), np.float64) < 1e-12


def test_numpy_sgd_step_adds_repeated_rows(interpreted):
    inputs = make_inputs(vocab=50, batch=7, dtype=np.float64, seed=5)
    inputs["windows"][:, 0] = 4
    params = {k: inputs[k].copy() for k in ("L", "W", "b", "U", "c")}
    numpy_sgd_step(params, numpy_value_and_grads(**inputs)[1], 0.5)
    _, dense = interpreted.interpret(**inputs)
    for name, value in params.items():
        want = inputs[name] - 0.5 * (dense[name].to_dense() if name == "L" else dense[name])
        np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-15)


def test_check_against_refuses_a_wrong_gradient(interpreted):
    inputs = make_inputs(vocab=50, batch=7, dtype=np.float64, seed=4)
    reference = interpreted.interpret(**inputs)
    value, grads = numpy_value_and_grads(**inputs)
    grads["W"] = grads["W"] * 1.01
    with pytest.raises(AssertionError, match="differ"):
        check_against(reference, (value, grads), np.float64)


def test_flop_count_is_the_six_gemms():
    assert workload_flops(1) == 2 * 3 * (250 * 100 + 100 * 5)
