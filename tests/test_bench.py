"""The benchmark's own pieces: its hand-written NumPy baseline and its gradient check."""

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.bench import check_against, make_inputs, numpy_value_and_grads, workload_flops
from gradcomp.models import window_classifier_loss


@pytest.fixture(scope="module")
def interpreted():
    return gc.compile(window_classifier_loss(), jit=False)


def test_numpy_baseline_matches_the_interpreter(interpreted):
    inputs = make_inputs(vocab=50, batch=7, dtype=np.float64, seed=3)
    reference = interpreted.interpret(**inputs)
    assert check_against(reference, numpy_value_and_grads(**inputs), np.float64) < 1e-12


def test_check_against_refuses_a_wrong_gradient(interpreted):
    inputs = make_inputs(vocab=50, batch=7, dtype=np.float64, seed=4)
    reference = interpreted.interpret(**inputs)
    value, grads = numpy_value_and_grads(**inputs)
    grads["W"] = grads["W"] * 1.01
    with pytest.raises(AssertionError, match="differ"):
        check_against(reference, (value, grads), np.float64)


def test_flop_count_is_the_six_gemms():
    assert workload_flops(1) == 2 * 3 * (250 * 100 + 100 * 5)
