"""A long kernel compiled in pieces (codegen/pieces.py, runtime/pieces.py), against PyTorch
autograd. The budgets are lowered so that small graphs (cheap to compile) need pieces."""

import itertools
import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
import torch

import gradcomp as gc
from gradcomp.codegen import pieces, regions
from gradcomp.codegen.entry import wrapped
from gradcomp.codegen.pieces import driver_lines, link_pieces, names_in
from gradcomp.errors import GradcompError
from gradcomp.runtime.pieces import guess_types

STEPS = 96
CHAIN = textwrap.dedent(f"""
    import numpy as np, gradcomp as gc
    from gradcomp.codegen import pieces
    pieces.PIECE_NODES = 80
    x = gc.tensor("x", (16,))
    v = x
    for k in range({STEPS}):
        v = [gc.sin(v), gc.tanh(v), v * x, v + x][k % 4]
    fn = gc.compile(gc.sum(v), block=True)
    value, grads = fn(x=np.linspace(-1, 1, 16))
""")  # a process compiling a chain in pieces (the budget lowered) and calling it once


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(pieces, "PIECE_NODES", 80)


def _chain(v, x, steps, sin, tanh):
    for k in range(steps):
        v = sin(v) if k % 4 == 0 else tanh(v) if k % 4 == 1 else v * x if k % 4 == 2 else v + x
    return v


def _reference(arrays, loss_fn):
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    loss = loss_fn(tensors)
    loss.backward()
    return loss.item(), {k: t.grad.numpy() for k, t in tensors.items()}


def _bias_loss(lib, x, b, steps):
    return lib[2](lib[1](_chain(x + b, x, steps, lib[0], lib[1])))


GC = (gc.sin, gc.tanh, gc.mean)
TORCH = (torch.sin, torch.tanh, torch.mean)


@pytest.mark.parametrize("jit", [True, False])
def test_a_long_chain_runs_in_pieces_and_matches_pytorch(small_pieces, monkeypatch, jit):
    # (pieces this small hold 12 to 29 steps: loops of 8 steps or more, so that the later
    # pieces' loops read what the first one's keeps)
    monkeypatch.setattr(regions, "MIN_REGION", 8)
    x, b = gc.tensor("x", (5, 8)), gc.tensor("b", (8,))
    fn = gc.compile(_bias_loss(GC, x, b, STEPS), block=True, jit=jit)
    source = fn.source
    assert "def loss_and_grads_piece_3(" in source
    assert "saved = empty(" in source  # kept for later loops: one block, not an array each
    rng = np.random.default_rng(0)
    arrays = {"x": 0.3 * rng.standard_normal((5, 8)), "b": 0.1 * rng.standard_normal(8)}
    value, grads = fn(**arrays)
    want, expected = _reference(arrays, lambda t: _bias_loss(TORCH, t["x"], t["b"], STEPS))
    assert value == pytest.approx(want, rel=1e-12)
    for name in arrays:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-14)
    if jit:  # float32 too, through every piece
        single = {k: v.astype(np.float32) for k, v in arrays.items()}
        value32, grads32 = fn(**single)
        assert value32 == pytest.approx(want, rel=1e-4)
        np.testing.assert_allclose(grads32["x"], expected["x"], rtol=1e-3, atol=1e-5)
        assert len(fn.kernel.signatures) == 2


def test_the_first_piece_checks_the_call(small_pieces):
    x, b = gc.tensor("x", (5, 8)), gc.tensor("b", (8,))
    fn = gc.compile(_bias_loss(GC, x, b, STEPS), block=True)
    fn(x=np.ones((5, 8)), b=np.zeros(8))
    with pytest.raises(GradcompError, match="'b'"):
        fn(x=np.ones((5, 8)), b=np.zeros(7))


def test_a_second_process_loads_every_piece_from_the_cache(tmp_path):
    # a library with threads of its own warns when the process forks (as JAX does): the
    # helper's fork does not show it
    script = textwrap.dedent("""
        import os, warnings
        os.register_at_fork(before=lambda: warnings.warn("forked beside threads", RuntimeWarning))
    """) + CHAIN + textwrap.dedent("""
        import json
        stats = fn.kernel.stats
        print(json.dumps({"pieces": len(fn.kernel.pieces), "value": value,
                          "hits": sum(stats.cache_hits.values()),
                          "misses": sum(stats.cache_misses.values())}))
    """)
    env = dict(os.environ, GRADCOMP_CACHE_DIR=str(tmp_path / "cache"))
    done = [subprocess.run([sys.executable, "-c", script], env=env, check=True,
                           capture_output=True, text=True) for _ in range(2)]
    assert "forked beside threads" not in done[0].stderr
    runs = [json.loads(run.stdout) for run in done]
    count = runs[0]["pieces"]
    assert count >= 3
    assert sum(runs[0][k] for k in ("hits", "misses")) == count  # (hits: the helper's)
    assert runs[1]["hits"] == count and runs[1]["misses"] == 0
    assert runs[1]["value"] == runs[0]["value"]


def test_two_processes_compiling_one_loss_in_pieces_into_one_cache_both_succeed(tmp_path):
    script = CHAIN + textwrap.dedent("""
        assert len(fn.kernel.pieces) >= 3
        print(repr(value), repr(float(grads["x"].sum())))
    """)
    env = dict(os.environ, GRADCOMP_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.Popen([sys.executable, "-c", script], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [run.communicate() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].strip()


def test_what_a_line_makes_is_read_off_it():
    body = ["V = L.shape[0]", "start = 0", "stop = min(start + 512, V)", "rows = stop - start",
            "scale = (1.0 / (float(V)))", "w_tile = windows[start:stop]",
            "slot, index = row_slots(ravel(windows))", "h = empty((rows, 100), dt)",
            "x = reshape(gather_rows(L, ravel(w_tile)), (rows, 5, 50))",
            "y = reshape(x, (rows, 250))", "p = pick_columns(h, labels)", "z = matmul(y, W.T)",
            "q = -scale"]
    made = names_in(body)[2]
    assert made == {"V": "int", "start": "int", "stop": "int", "rows": "int", "scale": "float",
                    "w_tile": "same as windows", "slot": "index 1", "index": "index 1",
                    "h": "array 2", "x": "array 3 of L", "y": "array 2 of L", "p": "array 1",
                    "z": "array 2 of L", "q": ""}
    # and the types guessed from them, for a float32 call
    f32, i64 = numba.types.float32, numba.types.int64
    params = ["L", "windows", "labels", "W"]
    pieces_, _ = link_pieces("f", params, [body, ["use(x, y, h, w_tile, slot, stop, scale)"]])
    assert pieces_[1].params == ("stop", "scale", "w_tile", "slot", "h", "x", "y")
    array = numba.types.Array
    guessed = guess_types(params, (array(f32, 2, "C"), array(i64, 2, "C"), array(i64, 1, "C"),
                                   array(f32, 2, "C")), pieces_)
    assert guessed[1] == (numba.types.intp, numba.types.float64, array(i64, 2, "C"),
                          array(i64, 1, "C"), array(f32, 2, "C"), array(f32, 3, "C"),
                          array(f32, 2, "C"))


def test_pieces_take_what_earlier_ones_define_and_give_what_later_ones_read():
    bodies = [
        ["a = x + 1.0", "s = 0.0", "for i0 in range(n):", "    s += a[i0]", "unused = 2.0"],
        ["s += a[0]"],  # s: started by piece 1, added to here
        ["b = a * 2.0", "for i0 in range(n):", "    b[i0] += s", "return s, b"],
    ]
    pieces_, _ = link_pieces("f", ["x", "n"], bodies)
    first, second, third = pieces_
    assert (first.params, first.returns) == (("x", "n"), ("a", "s"))
    assert (second.params, second.returns) == (("a", "s"), ("s",))
    assert (third.params, third.returns) == (("n", "a", "s"), ())
    assert [p.function for p in pieces_] == ["f_piece_1", "f_piece_2", "f_piece_3"]
    # the driver, run with the pieces as plain functions, computes what one function would
    source = driver_lines("f", ["x", "n"], pieces_, wrapped)
    for piece, body in zip(pieces_, bodies):
        tail = [f"return {', '.join(piece.returns)}" + ("," if len(piece.returns) == 1 else "")
                ] if piece is not third else []
        source += [f"def {piece.function}({', '.join(piece.params)}):",
                   *("    " + line for line in body + tail)]
    namespace = {}
    exec("\n".join(source), namespace)
    x = np.arange(3.0)
    total, b = namespace["f"](x, 3)
    want = (x + 1).sum() + 1.0
    assert total == want
    np.testing.assert_array_equal(b, 2 * (x + 1) + want)


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "new-interpreter"])
def test_a_second_process_compiles_the_last_pieces(small_pieces, monkeypatch, tmp_path, fork):
    from gradcomp.runtime import pieces as runtime_pieces

    monkeypatch.setattr(runtime_pieces, "HELPER_PIECES", 2)
    monkeypatch.setattr(runtime_pieces, "FORK", fork)  # (a new interpreter off Linux)
    monkeypatch.setenv("GRADCOMP_CACHE_DIR", str(tmp_path))
    steps = 2 * STEPS + (0 if fork else 1)  # (not the other case's loss, loaded already)
    x, b = gc.tensor("x", (5, 8)), gc.tensor("b", (8,))
    fn = gc.compile(_bias_loss(GC, x, b, steps), block=True)
    rng = np.random.default_rng(2)
    arrays = {"x": 0.3 * rng.standard_normal((5, 8)), "b": 0.1 * rng.standard_normal(8)}
    value, grads = fn(**arrays)
    stats = fn.kernel.stats
    count = len(fn.kernel.pieces)
    # the pieces this process did not compile came from the cache the helper wrote
    assert sum(stats.cache_hits.values()) >= 1
    assert sum(stats.cache_hits.values()) + sum(stats.cache_misses.values()) == count
    want, expected = _reference(arrays, lambda t: _bias_loss(TORCH, t["x"], t["b"], steps))
    assert value == pytest.approx(want, rel=1e-12)
    for name in arrays:
        np.testing.assert_allclose(grads[name], expected[name], rtol=1e-10, atol=1e-14)


def test_cuts_go_where_the_fewest_values_cross(monkeypatch):
    """Against every way of cutting small random graphs into pieces of about 6 nodes, each
    cut within its window (0.4 of a piece from where equal pieces would end)."""
    monkeypatch.setattr(pieces, "PIECE_NODES", 6)
    monkeypatch.setattr(pieces, "BALANCE", 0.8)
    rng = np.random.default_rng(3)
    for _ in range(40):
        _check_cuts(rng, int(rng.integers(6, 13)))


def test_pieces_are_an_even_number_of_one_size(monkeypatch):
    """Chains of equal steps: the fewest pieces of PIECE_NODES made even, each within 0.2 of
    their mean (two processes compile them at once: 640 + 165 nodes, three pieces, or five
    full pieces and one of 5 nodes keep one waiting for the other)."""
    monkeypatch.setattr(pieces, "PIECE_NODES", 640)
    for count, weight, want in [(805, 1, 2), (161, 5, 2), (1605, 1, 4), (3205, 1, 6),
                                (6405, 1, 12), (12805, 1, 22), (700, 2, 4)]:
        sizes = [weight * (stop - start) for start, stop in _chain_cuts(count, weight)]
        assert len(sizes) == want
        mean = sum(sizes) / len(sizes)
        assert all(abs(size - mean) <= 0.2 * mean + weight for size in sizes)


def test_a_step_heavier_than_its_window_is_cut_beside():
    """One step of 2,000 nodes among 1,499 steps of 1: the pieces still cover every step
    once, in order, none empty; the heavy step is a piece of its own, the cuts its windows
    would have held fall beside it."""
    steps = [object() for _ in range(1500)]
    heavy = steps[700]
    ranges = pieces.plan_cuts(steps, lambda s: set(), set(),
                              lambda s: 2000 if s is heavy else 1)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(steps)
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(ranges))
    assert (700, 701) in ranges and len(ranges) == pieces.piece_count(3499) - 1


def _chain_cuts(count: int, weight: int) -> tuple:
    """The cuts of a chain of ``count`` steps of ``weight`` nodes, each reading the last."""
    steps = [object() for _ in range(count)]
    index = {id(s): k for k, s in enumerate(steps)}
    return pieces.plan_cuts(steps, lambda s: {id(steps[index[id(s)] - 1])} if index[id(s)]
                            else set(), {id(steps[-1])}, lambda s: weight)


def _check_cuts(rng, count: int) -> None:
    steps = [object() for _ in range(count)]
    weights = {id(s): int(rng.integers(1, 4)) for s in steps}
    reads = {id(s): {id(steps[j]) for j in rng.integers(0, k, 2)} if k else set()
             for k, s in enumerate(steps)}
    roots = {id(steps[-1]), id(steps[int(rng.integers(count))])}

    def crossing(p):  # values made before step p and read from p on (or by the results)
        return sum(1 for q in steps[:p] if id(q) in roots or any(
            id(q) in reads[id(r)] for r in steps[p:]))

    def cost(cuts):
        return sum(map(crossing, cuts))

    total = sum(weights.values())
    count_pieces = pieces.piece_count(total)
    mean = total / count_pieces
    upto = list(itertools.accumulate((weights[id(s)] for s in steps), initial=0))

    def within(cuts):  # cut j near where j pieces of the mean end
        return all(abs(upto[p] - j * mean) <= pieces.BALANCE / 2 * mean
                   for j, p in enumerate(cuts, 1))

    ways = [c for c in itertools.combinations(range(1, count), count_pieces - 1) if within(c)]
    ranges = pieces.plan_cuts(steps, lambda s: reads[id(s)], roots, lambda s: weights[id(s)])
    assert ranges[0][0] == 0 and ranges[-1][1] == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(start < stop for start, stop in ranges)
    if total <= pieces.PIECE_NODES:
        assert len(ranges) == 1
    elif ways:
        cuts = [start for start, _ in ranges[1:]]
        assert within(cuts) and cost(cuts) == min(map(cost, ways))
