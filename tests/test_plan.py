"""The code generator is a plan and a printer: every decision is in a frozen ``Plan``, the
printer only reads it, and the kernel's results are typed records decoded by kind."""

import dataclasses

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.autodiff.reverse import gradients, resolve_wrt
from gradcomp.codegen.emit import print_module
from gradcomp.codegen.plan import make_plan
from gradcomp.models import window_classifier_loss


def _plan(loss, rows=True, staged=False):
    wrt = resolve_wrt(loss, None)
    adjoints = gradients(loss, wrt)
    row_names = {w.name for w in wrt if rows and w.name == "L"}
    return make_plan(loss, wrt, adjoints.grads, row_names, adjoints=adjoints, staged=staged)


@pytest.fixture(scope="module")
def window_plan():
    return _plan(window_classifier_loss(2, 4, 6, 3))


def test_the_plan_is_frozen(window_plan):
    with pytest.raises(dataclasses.FrozenInstanceError):
        window_plan.names = {}
    with pytest.raises(TypeError):  # its maps are read-only views
        window_plan.names[0] = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        window_plan.schedule.fused = frozenset()


def test_printing_a_plan_twice_gives_the_same_source(window_plan):
    """The printer keeps no state: a second print of the same plan is the same text."""
    first = print_module(window_plan)
    assert print_module(window_plan) == first
    assert "def loss_and_grads(" in first and "d_h" in first


def test_staged_plan_prints_three_functions_from_the_same_plan_decisions():
    plan = _plan(window_classifier_loss(2, 4, 6, 3), staged=True)
    source = print_module(plan)
    for function in (plan.stages.prepare, plan.stages.rows, plan.stages.finish):
        assert f"def {function}(" in source
    assert set(plan.stages.private) <= set(plan.stages.carried) | {
        name for name, _ in plan.buffer_params}


def test_results_are_records_whose_positions_cover_the_returned_tuple(window_plan):
    results = window_plan.results
    assert results[0].kind == "value" and results[0].positions == (0,)
    returned = sorted(p for r in results if r.kind != "buffer" for p in r.positions)
    assert returned == list(range(len(window_plan.returns)))
    buffers = [r for r in results if r.kind == "buffer"]
    assert [r.positions[0] for r in buffers] == list(range(len(window_plan.buffer_params)))
    assert [r.input for r in buffers] == [w.name for w in window_plan.buffer_inputs]
    assert {r.input: r.kind for r in results if r.kind == "rows"} == {"L": "rows"}


def test_scalar_and_rows_results_decode_by_kind_against_the_interpreter():
    """A loss with every kind of result: the compiled call (decoded by the records) gives
    what the interpreter gives."""
    L = gc.tensor("L", (7, 3))
    idx = gc.tensor("idx", ("B",), dtype="int")
    s, v = gc.scalar("s"), gc.tensor("v", (3,))
    loss = gc.sum(gc.tanh(gc.take(L, idx) * v) * s) + s * s
    fn = gc.compile(loss, jit=False)
    rng = np.random.default_rng(0)
    inputs = dict(L=rng.standard_normal((7, 3)), idx=np.array([1, 4, 1, 6]),
                  s=0.7, v=rng.standard_normal(3))
    value, grads = fn(**inputs)
    want_value, want = fn.interpret(**inputs)
    assert value == pytest.approx(want_value, rel=1e-12)
    assert isinstance(grads["s"], float) and grads["s"] == pytest.approx(want["s"], rel=1e-12)
    np.testing.assert_allclose(grads["v"], want["v"], rtol=1e-12)
    np.testing.assert_allclose(grads["L"].to_dense(), want["L"].to_dense(), rtol=1e-12)
