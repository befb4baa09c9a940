"""Benchmark: the zoo's losses (``examples/zoo``), value + all gradients per call.

For each model, in one process and interleaved round by round: gradcomp compiled, gradcomp
interpreted (the NumPy interpreter of the same graph), PyTorch eager autograd and JAX
``jit(value_and_grad)`` where installed, all in float32 at one batch size. Before timing,
every implementation's value and gradients are checked against the float64 interpreter.
The first-call time of gradcomp is its compile with an empty kernel cache (Numba's cache of
gradcomp's own helpers warm, as after any earlier use); JAX's is its trace and XLA compile.

Run: python benchmarks/zoo.py [--batch 64] [--rounds 5] [--out-dir benchmarks/results]
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["GRADCOMP_CACHE_DIR"] = tempfile.mkdtemp(prefix="gradcomp-zoo-")  # a cold cache
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import gradcomp as gc  # noqa: E402
from gradcomp.bench import SETTLE_SECONDS, median_seconds, write_results  # noqa: E402
from gradcomp.testing import as_dense  # noqa: E402

from examples.zoo import MODELS  # noqa: E402


def as32(inputs: dict) -> dict:
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in inputs.items()}


def torch_impl(model):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)

    def call(**inputs):
        tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
        floats = [k for k, v in inputs.items() if v.dtype.kind == "f"]
        for k in floats:
            tensors[k].requires_grad_()
        loss = model.torch_loss(tensors)
        grads = torch.autograd.grad(loss, [tensors[k] for k in floats], allow_unused=True)
        return loss.item(), {k: g.numpy() for k, g in zip(floats, grads) if g is not None}

    return call


def jax_impl(model):
    try:
        import jax
    except ImportError:
        return None
    # Only the float inputs are differentiated; the int ones (indices, labels) ride along.
    step = jax.jit(jax.value_and_grad(lambda floats, ints: model.jax_loss({**floats, **ints})))

    def call(**inputs):
        floats = {k: v for k, v in inputs.items() if v.dtype.kind == "f"}
        ints = {k: v for k, v in inputs.items() if v.dtype.kind != "f"}
        value, grads = step(floats, ints)
        return float(value), {k: np.asarray(g) for k, g in jax.block_until_ready(grads).items()}

    return call


def check(reference, got, what: str) -> float:
    worst = 0.0
    for name, want in reference[1].items():
        want = as_dense(want).astype(np.float64)
        have = as_dense(got[1][name]).astype(np.float64)
        worst = max(worst, float(np.abs(have - want).max()) / max(np.abs(want).max(), 1e-6))
    worst = max(worst, abs(got[0] - reference[0]) / max(abs(reference[0]), 1.0))
    if worst > 2e-3:
        raise AssertionError(f"{what} differs from the float64 interpreter by {worst:.1e}")
    return worst


def measure(name: str, batch: int, rounds: int, budget: float) -> dict:
    model = importlib.import_module(f"examples.zoo.{name}")
    inputs64 = model.data(batch=batch)
    inputs = as32(inputs64)
    start = time.perf_counter()
    fn = gc.compile(model.loss(), block=True)  # the first call is the compile
    reference = fn.interpret(**inputs64)
    fn(**inputs)
    first_call = time.perf_counter() - start
    impls = {"gradcomp": lambda **a: fn(**a), "interpreted": lambda **a: fn.interpret(**a)}
    for peer, factory in (("torch", torch_impl), ("jax", jax_impl)):
        call = factory(model)
        if call is not None:
            impls[peer] = call
    row = {"model": name, "batch": batch, "first_call_s": {"gradcomp": first_call}}
    for peer, call in impls.items():
        start = time.perf_counter()
        result = call(**inputs)
        if peer == "jax":
            row["first_call_s"]["jax"] = time.perf_counter() - start
        check(reference, result, f"{name}: {peer}")
    best = {peer: float("inf") for peer in impls}
    for _ in range(rounds):  # interleaved: every implementation once per round
        for peer, call in impls.items():
            best[peer] = min(best[peer], median_seconds(lambda: call(**inputs), budget))
            if peer in ("torch", "jax"):
                time.sleep(SETTLE_SECONDS)  # their idle threads spin: let them settle
    row["us_per_call"] = {peer: seconds * 1e6 for peer, seconds in best.items()}
    return row


def table(rows: list[dict]) -> str:
    peers = ["gradcomp", "interpreted", "torch", "jax"]
    head = ("| model | gradcomp | interpreted | PyTorch eager | JAX jit | gradcomp first call "
            "| JAX first call |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for row in rows:
        us = row["us_per_call"]
        cells = [f"{us[p]:,.1f}" if p in us else "-" for p in peers]
        first = row["first_call_s"]
        lines.append(f"| {row['model']} | " + " | ".join(cells)
                     + f" | {first['gradcomp']:.2f} s | "
                     + (f"{first['jax']:.2f} s |" if "jax" in first else "- |"))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per median")
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    rows = [measure(name, args.batch, args.rounds, args.budget) for name in MODELS]
    text = (f"Value + all gradients per call, float32, B = {args.batch}; us per call, the best "
            f"of {args.rounds} interleaved rounds of medians. First call: compile with an empty "
            f"kernel cache.\n\n{table(rows)}\n")
    write_results(args.out_dir, "zoo", text, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
