"""gradcomp against PyTorch autograd (float64) on random programs over the whole op set.

The interpreter and the kernels evaluate the same adjoint graph, so comparing them cannot catch
a wrong gradient rule; PyTorch shares nothing with gradcomp's gradient code. Each program's value
and every gradient (unused ``wrt`` inputs included) must agree to a relative 1e-9, through the
generated source (run as Python: every program) and the interpreter, and through Numba-compiled
kernels for a sample. A failing example prints its steps and its graph, so it can be replayed
with ``programs.build(steps)``.
"""

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import gradcomp as gc
from gradcomp.ir import FLOAT, inputs_of

from programs import OPS, build, oracle

STEPS = st.lists(st.tuples(st.integers(0, len(OPS) - 1), st.integers(0, 60),
                           st.integers(0, 60)), min_size=1, max_size=8)
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_close(got, want, what):
    got = np.asarray(gc.testing.as_dense(got), dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale, err_msg=what)


def check_program(steps, jit: bool):
    loss, torch_loss, program = build(steps)
    note(f"steps: {steps}\n{gc.dump(loss)}")
    used = {n.name for n in inputs_of([loss])}
    wrt = list(program.nodes)
    inputs = {n: a for n, a in program.arrays.items()
              if n in wrt or n in used}  # int inputs only where the loss reads them
    value, expected = oracle(torch_loss, program, wrt)
    fn = gc.compile(loss, wrt=list(program.nodes.values()), jit=jit)
    for how, (got_value, got) in (("compiled", fn(**inputs)), ("interpreted",
                                                               fn.interpret(**inputs))):
        assert_close(got_value, value, f"{how} value")
        assert set(got) == set(wrt)
        for name in wrt:
            assert_close(got[name], expected[name], f"{how} gradient of {name}")
    return loss


@settings(max_examples=320, **SETTINGS)
@given(STEPS)
def test_random_programs_against_pytorch(steps):
    check_program(steps, jit=False)


@settings(max_examples=6, **SETTINGS)
@given(st.lists(st.tuples(st.integers(0, len(OPS) - 1), st.integers(0, 60),
                          st.integers(0, 60)), min_size=3, max_size=6))
def test_random_programs_compiled_by_numba_against_pytorch(steps):
    check_program(steps, jit=True)


def test_the_programs_cover_the_op_set():
    """Every op of the generator builds, so the random programs do reach it."""
    seen = set()
    for op in range(len(OPS)):
        for i in range(6):
            loss = build([(op, i, i + 1), (op, i + 2, i)])[0]
            seen |= {n.op for n in gc.ir.toposort([loss])}
            assert loss.dtype == FLOAT
    assert {gc.Op.MATMUL, gc.Op.TAKE, gc.Op.SCATTER_ADD, gc.Op.CONCAT, gc.Op.SLICE,
            gc.Op.RESHAPE, gc.Op.TRANSPOSE, gc.Op.PICK, gc.Op.MAX, gc.Op.SUM} <= seen
