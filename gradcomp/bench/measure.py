"""Measuring one implementation: inputs, the gradient check, timing, memory, GEMM rates.

Shared by the window-classifier benchmark and the other benchmarks in ``benchmarks/``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from ..models import WindowConfig, init_params
from ..optim import Adam
from ..testing import as_dense

CFG = WindowConfig(window=2, dim=50, hidden=100, classes=5)

# Thread pools spin for a while after a call (JAX's, PyTorch's, and NumPy's OpenBLAS after a
# product on 2 threads) and slow whatever runs next on 2 cores: gradcomp at B=256 took 644 us
# right after PyTorch, 394 us after 0.3 s; gradcomp on two threads at B=1024 3.6 ms right
# after NumPy, 1.6 ms after a pause. So every implementation is timed after a pause.
SETTLE_SECONDS = 0.25
PARAMS = ("L", "W", "b", "U", "c")


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
