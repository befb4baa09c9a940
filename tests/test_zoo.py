"""Every model of the zoo (``examples/zoo``) against the same model in PyTorch (float64).

Each model is compiled once (Numba), and its value and every gradient, compiled and
interpreted, must match PyTorch autograd to a relative 1e-9.
"""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the examples beside the tests

from examples.zoo import MODELS  # noqa: E402

import gradcomp as gc  # noqa: E402


def torch_reference(model, inputs):
    tensors = {k: torch.tensor(v, requires_grad=v.dtype.kind == "f") for k, v in inputs.items()}
    loss = model.torch_loss(tensors)
    floats = [k for k, v in inputs.items() if v.dtype.kind == "f"]
    grads = torch.autograd.grad(loss, [tensors[k] for k in floats], allow_unused=True)
    return loss.item(), {k: (np.zeros(inputs[k].shape) if g is None else g.numpy())
                         for k, g in zip(floats, grads)}


@pytest.mark.jit
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_against_pytorch(name):
    model = importlib.import_module(f"examples.zoo.{name}")
    inputs = model.data(batch=7, seed=3)
    value, expected = torch_reference(model, inputs)
    fn = gc.compile(model.loss())
    for how, (got_value, grads) in (("compiled", fn(**inputs)),
                                    ("interpreted", fn.interpret(**inputs))):
        assert got_value == pytest.approx(value, rel=1e-9), how
        assert set(grads) == set(expected)
        for key, want in expected.items():
            got = gc.testing.as_dense(grads[key])
            scale = max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale,
                                       err_msg=f"{how} gradient of {key}")
