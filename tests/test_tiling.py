"""Row tiling: which graphs run their per-row steps tile by tile, and that the results agree."""

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.codegen.tiling import TILE_ROWS
from gradcomp.models import WindowConfig, init_params, window_classifier_loss
from gradcomp.testing import as_dense

pytestmark = pytest.mark.jit

BATCHES = [1, TILE_ROWS, TILE_ROWS + 1, 2 * TILE_ROWS + 3]  # one tile, full, one row over, 3


def assert_agree(got, expected, rtol):
    value, grads = got
    assert value == pytest.approx(expected[0], rel=rtol, abs=rtol)
    for name, want in expected[1].items():
        want = as_dense(want)
        np.testing.assert_allclose(as_dense(grads[name]), want, rtol=rtol,
                                   atol=rtol * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("loss", ["softmax", "logistic", "max_margin"])
def test_window_classifier_is_tiled_and_agrees_with_the_interpreter(loss, compiled):
    cfg = WindowConfig(window=2, dim=4, hidden=6, classes=3, loss=loss)
    fn = compiled(("window", loss, "tanh"), lambda: window_classifier_loss(2, 4, 6, 3, "tanh", loss))
    assert f"for start in range(0, B, {TILE_ROWS}):" in fn.source
    rng = np.random.default_rng(7)
    for batch in BATCHES:
        inputs = init_params(cfg, 40, seed=batch)
        inputs["b"] = 0.5 * rng.standard_normal(cfg.hidden)
        inputs["windows"] = rng.integers(0, 40, (batch, cfg.width))
        if loss == "max_margin":
            inputs["corrupt"] = rng.integers(0, 40, (batch, cfg.width))
        else:
            inputs["labels"] = rng.integers(0, 3 if loss == "softmax" else 2, batch)
        expected = fn.interpret(**inputs)
        assert_agree(fn(**inputs), expected, rtol=1e-12)
        as32 = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in inputs.items()}
        assert_agree(fn(**as32), expected, rtol=2e-5)
    # the tile's two functions, compiled before the kernel for the types their lines tell:
    # once per dtype (a wrong guess would add the one the kernel's typing compiled)
    halves = [fn.kernel.py_func.__globals__[f"loss_and_grads_tile_{which}"]
              for which in ("forward", "backward")]
    assert [len(h.signatures) for h in halves] == [len(fn.kernel.signatures)] * 2 == [2, 2]


def _untiled_cases():
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3,))
    centred = x - gc.mean(x, axis=0)  # every row reads a sum over all rows
    return {
        "max over the rows": gc.max(gc.tanh(x @ w)),
        "row step reading a sum": gc.sum(gc.tanh(centred @ w)),
        "gradient per row": gc.sum(gc.tanh(x @ w)),  # d_x has a row per row: wrt x
    }


@pytest.mark.parametrize("name", sorted(_untiled_cases()))
def test_graphs_that_mix_rows_are_not_tiled_and_stay_right(name, compiled):
    fn = compiled(("untiled", name), lambda: _untiled_cases()[name])
    assert "the tiles" not in fn.source
    rng = np.random.default_rng(3)
    inputs = {"x": rng.standard_normal((2 * TILE_ROWS + 3, 3)), "w": rng.standard_normal(3)}
    assert_agree(fn(**inputs), fn.interpret(**inputs), rtol=1e-12)


def test_a_sum_over_rows_with_only_parameter_gradients_is_tiled(compiled):
    x, w = gc.tensor("x", ("B", 3)), gc.tensor("w", (3,))
    fn = compiled("tiled-w", lambda: gc.mean(gc.tanh(x @ w)), wrt=["w"])
    assert "the tiles" in fn.source
    assert "dot_add(" in fn.source  # tiles after the first add x_tile.T @ dz_tile into d_w
    rng = np.random.default_rng(4)
    inputs = {"x": rng.standard_normal((2 * TILE_ROWS + 3, 3)), "w": rng.standard_normal(3)}
    assert_agree(fn(**inputs), fn.interpret(**inputs), rtol=1e-12)
    assert fn.check(**inputs) < 1e-6
