"""The window-classifier gradient benchmark (``gradcomp bench``, ``benchmarks/``).

Times value + all gradients (L, W, b, U, c) of the CS224N window classifier (window 2, dim 50,
hidden 100, 5 classes, tanh, softmax cross-entropy) per call, median after warm-up, side by
side in one run: gradcomp compiled (the table's gradient as distinct rows, and as a row per
lookup), gradcomp interpreted (the NumPy interpreter of the same graph), the strongest
hand-written NumPy (``peers.py``) and a plainer NumPy that merges repeated rows, and JAX
``jit(value_and_grad)`` and PyTorch eager autograd where they are installed. Every
implementation's gradients are checked against the float64 interpreter before it is timed.
Training steps (gradient + SGD update) are timed the same way.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..models import window_classifier_loss
from ..runtime.blas import BACKEND
from ..runtime.compiled import compile
from .measure import (CFG, PARAMS, SETTLE_SECONDS, check_against,  # noqa: F401
                      first_call_seconds, gemm_calls, gemm_ceiling, make_inputs,
                      median_seconds, peak_memory_delta, train_step_seconds,
                      workload_flops)
from .peers import implementations, numpy_unique_add_at, numpy_value_and_grads  # noqa: F401
from .peers import training_steps
from .report import markdown, plot, write_results  # noqa: F401


def _cell(fn, impls: dict, dtype, vocab: int, batch: int, budget: float, rounds: int = 3):
    """One (dtype, V, B) cell: every implementation checked, then timed in interleaved rounds
    (the best round's median counts, so a slow spell of a shared machine hits all alike)."""
    inputs = make_inputs(vocab, batch, dtype)
    reference = fn.interpret(**{k: (v.astype(np.float64) if v.dtype.kind == "f" else v)
                                for k, v in inputs.items()})
    cell = {"dtype": np.dtype(dtype).name, "V": vocab, "B": batch, "us": {}, "error": {},
            "peak_bytes": {}}
    calls = {name: (lambda impl=impl: impl(**inputs)) for name, impl in impls.items()}
    largest, largest_flops, six = gemm_calls(dtype, batch)
    extra = {"forward": lambda: fn.value(**inputs), "six_gemms": six, "largest_gemm": largest}
    for name, call in calls.items():
        cell["error"][name] = check_against(reference, call(), dtype)
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, call in {**calls, **extra}.items():
            time.sleep(SETTLE_SECONDS)
            seconds = median_seconds(call, budget / rounds)
            best[name] = min(best.get(name, seconds), seconds)
    cell["forward_us"] = best.pop("forward") * 1e6
    cell["six_gemms_us"] = best.pop("six_gemms") * 1e6
    cell["gemm_gflops"] = largest_flops / best.pop("largest_gemm") / 1e9
    cell["us"] = {name: seconds * 1e6 for name, seconds in best.items()}
    for name, call in calls.items():
        cell["peak_bytes"][name] = peak_memory_delta(call)
    print(f"  {cell['dtype']} V={vocab} B={batch}: gradcomp {cell['us']['gradcomp']:.1f} us",
          file=sys.stderr, flush=True)
    return cell


def _sgd_cell(lookups, dtype, vocab: int, batch: int, budget: float, rounds: int) -> dict:
    """Training steps (gradient + SGD update in place): checked to move the parameters alike
    from the same start, then timed in interleaved rounds like the calls."""
    steps = training_steps(lookups)
    inputs = make_inputs(vocab, batch, dtype)
    data = {k: inputs[k] for k in ("windows", "labels")}
    moved = {}
    for name, step in steps.items():
        params = {k: inputs[k].copy() for k in PARAMS}
        step(params, data)
        moved[name] = params
    first, second = moved.values()
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for k in PARAMS:
        if not np.allclose(first[k], second[k], rtol=tolerance, atol=tolerance):
            raise AssertionError(f"the SGD steps move {k} differently")
    params = {name: {k: inputs[k].copy() for k in PARAMS} for name in steps}
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, step in steps.items():
            time.sleep(SETTLE_SECONDS)
            seconds = median_seconds(lambda s=step, p=params[name]: s(p, data), budget / rounds)
            best[name] = min(best.get(name, seconds), seconds)
    return {"dtype": np.dtype(dtype).name, "V": vocab, "B": batch,
            "us": {name: s * 1e6 for name, s in best.items()}}


def run(quick: bool = False) -> dict:
    batches = [1, 32, 256] if quick else [1, 32, 256, 4096]
    vocabs = [20_000] if quick else [20_000, 400_000]
    dtypes = [np.float32] if quick else [np.float32, np.float64]
    budget, rounds = (0.05, 3) if quick else (0.5, 5)
    fn = compile(window_classifier_loss(), block=True)
    lookups = compile(window_classifier_loss(), rows="lookups", block=True)
    impls = implementations(fn, lookups)
    ceiling_before = {np.dtype(d).name: gemm_ceiling(d) for d in dtypes}
    results: dict = {"config": {"batches": batches, "vocabs": vocabs,
                                "dtypes": [np.dtype(d).name for d in dtypes],
                                "implementations": list(impls)}, "cells": []}
    for dtype in dtypes:
        for batch in batches:
            for vocab in vocabs:  # the V sizes of one B back to back, for their ratio
                results["cells"].append(_cell(fn, impls, dtype, vocab, batch, budget, rounds))
    results["kernel_signatures"] = len(fn.kernel.signatures)
    results["kernel_blas"] = BACKEND
    # The ceiling: the best rate of the largest GEMM seen in the run (before the cells, after
    # them, and beside every cell of the largest B), so a slow spell does not lower the floor.
    results["gemm_gflops"] = {
        name: max([gemm_ceiling(np.dtype(name).type), before]
                  + [c["gemm_gflops"] for c in results["cells"]
                     if c["dtype"] == name and c["B"] == max(batches)])
        for name, before in ceiling_before.items()}
    results["train_step_us"] = {v: train_step_seconds(fn, v) * 1e6 for v in
                                ([20_000] if quick else [20_000, 400_000])}
    results["sgd_steps"] = [_sgd_cell(lookups, dtype, vocab, batch, budget, rounds)
                            for dtype in dtypes for batch in batches if batch >= 256
                            for vocab in vocabs]
    if not quick:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as fresh:
            results["first_call_s"] = {
                "empty caches, helpers compiled too (first use after install)":
                    first_call_seconds(str(Path(fresh) / "kernels"), str(Path(fresh) / "helpers")),
                "empty kernel cache": first_call_seconds(cache),
                "warm kernel cache": first_call_seconds(cache),
            }
    return results




def main(quick: bool = False, out_dir: str = "bench-results") -> int:
    results = run(quick)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    table = markdown(results)
    (out / "bench.md").write_text(table + "\n")
    print(table)
    picture = plot(results, out / "bench.png")
    print(f"\nJSON: {out / 'bench.json'}" + (f"; plot: {picture}" if picture else
                                             "; no plot (pip install 'gradcomp[bench]')"))
    return 0
