"""The window-classifier gradient benchmark (``gradcomp bench``, ``benchmarks/``).

Times value + all gradients (L, W, b, U, c) of the CS224N window classifier (window 2, dim 50,
hidden 100, 5 classes, tanh, softmax cross-entropy) per call, median after warm-up, side by
side in one run: gradcomp compiled, gradcomp interpreted (the NumPy interpreter of the same
graph), hand-written NumPy forward+backward with row gradients, and JAX ``jit(value_and_grad)``
and PyTorch eager autograd where they are installed. Every implementation's gradients are
checked against the float64 interpreter before it is timed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from .models import WindowConfig, init_params, window_classifier_loss
from .optim import Adam
from .runtime.blas import BACKEND
from .runtime.compiled import RowGradient, compile
from .testing import as_dense

CFG = WindowConfig(window=2, dim=50, hidden=100, classes=5)

# JAX and PyTorch keep thread pools of their own (gradcomp, the interpreter and NumPy share
# NumPy's OpenBLAS). Their idle threads spin for a while after a call and slow whatever runs
# next on 2 cores (gradcomp at B=256: 644 us right after PyTorch, 394 us after 0.3 s; PyTorch
# itself 2,204 vs 1,251 us), so the next implementation is timed after a pause.
OWN_THREAD_POOLS = ("jax", "torch")
SETTLE_SECONDS = 0.3
PARAMS = ("L", "W", "b", "U", "c")


# ---------------------------------------------------------------- implementations


def numpy_value_and_grads(L, W, b, U, c, windows, labels):
    """Hand-written forward and backward pass; the table's gradient as rows."""
    batch, dim = windows.shape[0], L.shape[1]
    x = L[windows].reshape(batch, -1)
    h = np.tanh(x @ W.T + b)
    scores = h @ U.T + c
    shift = scores.max(axis=1, keepdims=True)
    e = np.exp(scores - shift)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = float(np.mean(np.log(total[:, 0]) + shift[:, 0] - scores[rows, labels]))
    d_scores = e / total
    d_scores[rows, labels] -= 1
    d_scores /= batch
    d_z = (d_scores @ U) * (1 - h * h)
    d_x = (d_z @ W).reshape(-1, dim)
    index, slot = np.unique(windows.ravel(), return_inverse=True)
    d_rows = np.zeros((len(index), dim), L.dtype)
    np.add.at(d_rows, slot, d_x)
    grads = {"L": RowGradient(index, d_rows, L.shape[0]), "W": d_z.T @ x, "b": d_z.sum(0),
             "U": d_scores.T @ h, "c": d_scores.sum(0)}
    return loss, grads


def _jax_impl():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(L, W, b, U, c, windows, labels):
        x = L[windows].reshape(windows.shape[0], -1)
        scores = jnp.tanh(x @ W.T + b) @ U.T + c
        return jnp.mean(jax.nn.logsumexp(scores, axis=1)
                        - jnp.take_along_axis(scores, labels[:, None], 1)[:, 0])

    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))

    def call(L, W, b, U, c, windows, labels):
        value, grads = step(L, W, b, U, c, windows, labels)
        grads = [np.asarray(g) for g in jax.block_until_ready(grads)]
        return float(value), dict(zip(PARAMS, grads))

    return call


def _torch_impl():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)

    def call(L, W, b, U, c, windows, labels):
        tensors = [torch.from_numpy(a).requires_grad_() for a in (L, W, b, U, c)]
        tL, tW, tb, tU, tc = tensors
        x = tL[torch.from_numpy(windows)].reshape(windows.shape[0], -1)
        scores = torch.tanh(x @ tW.T + tb) @ tU.T + tc
        loss = torch.nn.functional.cross_entropy(scores, torch.from_numpy(labels))
        loss.backward()
        return loss.item(), {k: t.grad.numpy() for k, t in zip(PARAMS, tensors)}

    return call


def _into_impl(fn):
    """gradcomp writing into the gradient arrays of its previous call (``fn.into``)."""
    kept: dict = {}

    def call(**inputs):
        dtype = inputs["L"].dtype
        if dtype not in kept:
            kept[dtype] = fn(**inputs)[1]
        return fn.into(kept[dtype], **inputs), kept[dtype]

    return call


def implementations(fn) -> dict:
    impls = {
        "gradcomp": lambda **a: fn(**a),
        "gradcomp_into": _into_impl(fn),
        "interpreted": lambda **a: fn.interpret(**a),
        "numpy": lambda **a: numpy_value_and_grads(**a),
    }
    for name, factory in (("jax", _jax_impl), ("torch", _torch_impl)):
        call = factory()
        if call is not None:
            impls[name] = lambda _call=call, **a: _call(**a)
    return impls


# ---------------------------------------------------------------- measuring


def make_inputs(vocab: int, batch: int, dtype, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    inputs = init_params(CFG, vocab, seed=seed, dtype=dtype)
    inputs["b"] = (0.1 * rng.standard_normal(CFG.hidden)).astype(dtype)
    inputs.update(windows=rng.integers(0, vocab, (batch, CFG.width)),
                  labels=rng.integers(0, CFG.classes, batch))
    return inputs


def check_against(reference, got, dtype) -> float:
    """Largest error of ``got`` relative to each reference gradient's largest entry."""
    tolerance = 1e-9 if dtype == np.float64 else 2e-3
    worst = 0.0
    for name in PARAMS:
        want = as_dense(reference[1][name]).astype(np.float64)
        have = as_dense(got[1][name]).astype(np.float64)
        scale = max(float(np.abs(want).max()), 1e-12)
        worst = max(worst, float(np.abs(have - want).max()) / scale)
    if worst > tolerance or abs(got[0] - reference[0]) > tolerance * max(1, abs(reference[0])):
        raise AssertionError(f"gradients differ from the float64 reference by {worst:.2e}")
    return worst


def median_seconds(call, budget: float, min_calls: int = 5, max_calls: int = 5000) -> float:
    call()  # warm-up
    start = time.perf_counter()
    call()
    single = max(time.perf_counter() - start, 1e-7)
    count = int(min(max(budget / single, min_calls), max_calls))
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_delta(call) -> int | None:
    """Bytes of resident memory a call added at its peak (Linux: VmHWM after clear_refs).

    Memory freed by earlier calls is first handed back to the OS (glibc ``malloc_trim``), so
    the call's own allocations show up as new resident pages instead of reused ones.
    """
    status = Path("/proc/self/status")
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except (OSError, AttributeError):
        return None

    def read(field):
        for line in status.read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        return 0

    before = read("VmRSS:")
    call()
    return max(read("VmHWM:") - before, 0)


def gemm_calls(dtype, batch: int) -> tuple:
    """NumPy calls timed beside each cell: the workload's largest GEMM alone (its rate is the
    machine's ceiling) and the workload's six GEMMs at their own shapes and layouts."""
    rng = np.random.default_rng(0)
    width = CFG.width * CFG.dim
    x = rng.standard_normal((batch, width)).astype(dtype)
    W = rng.standard_normal((CFG.hidden, width)).astype(dtype)
    U = rng.standard_normal((CFG.classes, CFG.hidden)).astype(dtype)
    h = rng.standard_normal((batch, CFG.hidden)).astype(dtype)
    ds = rng.standard_normal((batch, CFG.classes)).astype(dtype)

    def largest():
        return x @ W.T

    def six():
        return (x @ W.T, h @ U.T, ds @ U, ds.T @ h, h @ W, h.T @ x)

    return largest, 2 * batch * width * CFG.hidden, six


def gemm_ceiling(dtype, batch: int = 4096) -> float:
    """GFLOP/s of one NumPy GEMM of the workload's largest shape."""
    largest, flops, _ = gemm_calls(dtype, batch)
    return flops / median_seconds(largest, 0.3) / 1e9


def workload_flops(batch: int) -> float:
    """Multiply-adds of the six GEMMs (three forward/backward pairs), times two."""
    inner = CFG.width * CFG.dim
    return 2 * batch * 3 * (inner * CFG.hidden + CFG.hidden * CFG.classes)


_FIRST_CALL = textwrap.dedent("""
    import time
    start = time.perf_counter()
    import numpy as np
    import gradcomp as gc
    from gradcomp.models import WindowConfig, init_params, window_classifier_loss
    imported = time.perf_counter()
    fn = gc.compile(window_classifier_loss(), block=True)
    built = time.perf_counter()
    rng = np.random.default_rng(0)
    fn(**init_params(WindowConfig(), 1000, dtype=np.float32),
       windows=rng.integers(0, 1000, (32, 5)), labels=rng.integers(0, 5, 32))
    done = time.perf_counter()
    print(imported - start, built - imported, done - built)
""")


def first_call_seconds(cache_dir: str, helper_cache: str | None = None) -> dict:
    """A fresh process: seconds to import, to build the graphs and source, to the first result.

    ``helper_cache`` set: Numba's own cache goes there too, so gradcomp's shared helpers
    (matmul, gather_rows...) compile as on the first use after installing.
    """
    env = dict(os.environ, GRADCOMP_CACHE_DIR=cache_dir)
    if helper_cache is not None:
        env["NUMBA_CACHE_DIR"] = helper_cache
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, check=True,
                         capture_output=True, text=True).stdout
    imported, built, called = map(float, out.strip().splitlines()[-1].split())
    return {"import": imported, "build": built, "first_call": called,
            "total": imported + built + called}


def train_step_seconds(fn, vocab: int, batch: int = 32) -> float:
    inputs = make_inputs(vocab, batch, np.float32)
    params = {k: inputs[k] for k in PARAMS}
    data = {"windows": inputs["windows"], "labels": inputs["labels"]}
    opt = Adam(lr=1e-4)

    def step():
        _, grads = fn(**params, **data)
        opt.step(params, grads)

    return median_seconds(step, 0.3)


# ---------------------------------------------------------------- the run


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
        previous = None
        for name, call in {**calls, **extra}.items():
            if previous in OWN_THREAD_POOLS:
                time.sleep(SETTLE_SECONDS)
            previous = name
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


def run(quick: bool = False) -> dict:
    batches = [1, 32, 256] if quick else [1, 32, 256, 4096]
    vocabs = [20_000] if quick else [20_000, 400_000]
    dtypes = [np.float32] if quick else [np.float32, np.float64]
    budget, rounds = (0.05, 3) if quick else (0.5, 5)
    fn = compile(window_classifier_loss(), block=True)
    impls = implementations(fn)
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
    if not quick:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as fresh:
            results["first_call_s"] = {
                "empty caches, helpers compiled too (first use after install)":
                    first_call_seconds(str(Path(fresh) / "kernels"), str(Path(fresh) / "helpers")),
                "empty kernel cache": first_call_seconds(cache),
                "warm kernel cache": first_call_seconds(cache),
            }
    return results


def markdown(results: dict) -> str:
    impls = results["config"]["implementations"]
    lines = ["| dtype | V | B | " + " | ".join(f"{n} (us)" for n in impls)
             + " | compiled vs interpreted | fwd (us) | (fwd+bwd)/fwd |",
             "|---" * (len(impls) + 6) + "|"]
    for cell in results["cells"]:
        us = cell["us"]
        ratio = us["interpreted"] / us["gradcomp"]
        lines.append(
            f"| {cell['dtype']} | {cell['V']:,} | {cell['B']} | "
            + " | ".join(f"{us[n]:,.1f}" for n in impls)
            + f" | {ratio:.1f}x | {cell['forward_us']:,.1f} | "
            f"{us['gradcomp'] / cell['forward_us']:.2f} |"
        )
    lines.append("")
    by_key = {(c["dtype"], c["B"], c["V"]): c["us"]["gradcomp"] for c in results["cells"]}
    vocabs = results["config"]["vocabs"]
    if len(vocabs) > 1:
        ratios = [f"{d} B={b}: {by_key[(d, b, vocabs[-1])] / by_key[(d, b, vocabs[0])]:.2f}"
                  for d in results["config"]["dtypes"] for b in results["config"]["batches"]]
        lines.append(f"- gradcomp time at V={vocabs[-1]:,} / V={vocabs[0]:,}: " + ", ".join(ratios))
    for dtype, ceiling in results["gemm_gflops"].items():
        floors = [f"B={c['B']} V={c['V']:,}: "
                  f"{c['us']['gradcomp'] / (workload_flops(c['B']) / ceiling / 1e3):.2f}x"
                  for c in results["cells"] if c["dtype"] == dtype]
        lines.append(f"- {dtype}, gradcomp time over the GEMM floor (the workload's GEMM flops "
                     f"at the run's best GEMM rate, {ceiling:.1f} GFLOP/s): " + ", ".join(floors))
        gemms = [f"B={c['B']} V={c['V']:,}: {c['us']['gradcomp'] / c['six_gemms_us']:.2f}x"
                 for c in results["cells"] if c["dtype"] == dtype]
        lines.append(f"- {dtype}, gradcomp time over the six GEMMs alone in NumPy, timed in the "
                     "same rounds: " + ", ".join(gemms))
        for cell in results["cells"]:
            if cell["dtype"] == dtype and cell["B"] == 4096:
                achieved = workload_flops(4096) / cell["us"]["gradcomp"] / 1e3
                lines.append(f"- {dtype} B=4096 V={cell['V']:,}: gradcomp {achieved:.1f} GFLOP/s, "
                             f"the largest GEMM beside it {cell['gemm_gflops']:.1f} GFLOP/s")
    steps = results["train_step_us"]
    lines.append("- training step (kernel + Adam, B=32, float32): "
                 + ", ".join(f"V={int(v):,}: {t:,.1f} us" for v, t in steps.items())
                 + (f"; ratio {steps[400_000] / steps[20_000]:.2f}" if len(steps) > 1 else ""))
    for state, first in results.get("first_call_s", {}).items():
        lines.append(f"- first call in a fresh process, {state}: import {first['import']:.2f} s, "
                     f"graph + gradients + source {first['build']:.2f} s, first call "
                     f"(compile or cache load) {first['first_call']:.2f} s; total "
                     f"{first['total']:.2f} s")
    lines.append(f"- products in gradcomp's kernels: {results.get('kernel_blas', '?')}")
    lines.append(f"- kernels compiled for all B and V: {results['kernel_signatures']} "
                 "(one per dtype)")
    peaks = [c for c in results["cells"] if c["B"] == max(results["config"]["batches"])]
    for cell in peaks:
        mem = ", ".join(f"{n} {b / 2**20:.1f} MiB" for n, b in cell["peak_bytes"].items()
                        if b is not None)
        lines.append(f"- peak memory of one call, {cell['dtype']} V={cell['V']:,} "
                     f"B={cell['B']}: {mem}")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    first = results["cells"][0]
    for name in results["config"]["implementations"]:
        cells = [c for c in results["cells"] if c["dtype"] == first["dtype"] and c["V"] == first["V"]]
        ax.plot([c["B"] for c in cells], [c["us"][name] for c in cells], marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="us per call (value + grads)",
           title=f"window classifier, {first['dtype']}, V={first['V']:,}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_results(out_dir, stem: str, text: str, data) -> Path:
    """A benchmark's table as ``<stem>.md`` and its numbers as ``<stem>.json`` in ``out_dir``;
    the table is printed too. Returns the folder."""
    print(text)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    return out


def main(quick: bool = False, out_dir: str = "bench-results") -> int:
    results = run(quick)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    picture = plot(results, out / "bench.png")
    print(f"\nJSON: {out / 'bench.json'}" + (f"; plot: {picture}" if picture else
                                             "; no plot (pip install 'gradcomp[bench]')"))
    return 0
