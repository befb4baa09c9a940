"""Benchmark: how long compiling takes, each loss in fresh processes.

For each loss: a process with an empty kernel cache times ``import gradcomp``, building the
graph, its gradient and the source (``gc.compile``), and the first call, both ways: compiling in
the call (``block=True``: the time until the kernel answers) and in the background (the time to
the first result, which the interpreter gives, and until the kernel is ready). Two more
processes on the now warm cache time their first call, blocking and in the background. Peak
resident memory is the child's own (``ru_maxrss``). JAX ``jit(value_and_grad)`` of the same
loss, ``torch.compile`` of it followed by its first ``autograd.grad`` (Inductor's cache
empty), and PyTensor's ``function`` of the loss and its gradient in Numba mode (its compile
dir empty), each with its first call, are timed in fresh processes where installed. Losses:
the window classifier, tanh MLPs of width 32 and 1 or 8 layers, and chains of 60, 200 and
2,000 elementwise ops (sin, tanh, *, + alternating; the peers not on the last, which took JAX
more than 5 minutes).

``scaling`` times chains of growing length, medians of fresh processes (``compile_scaling.md``).

Run: ``gradcomp bench --compile`` or ``python benchmarks/compile.py [--repeats 3]``;
``python benchmarks/compile.py --scaling 250 500 1000`` for the chains alone.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import textwrap

from .report import write_results

LOSSES = ["window", "mlp1", "mlp8", "chain60", "chain200", "chain2000"]
JAX_MAX_CHAIN = 200  # JAX took more than 5 minutes on the 2,000-op chain

BUILD = textwrap.dedent("""
    import numpy as np

    def build(gc, name):
        rng = np.random.default_rng(0)
        if name == "window":
            from gradcomp.models import WindowConfig, init_params, window_classifier_loss
            inputs = init_params(WindowConfig(), 1000, dtype=np.float32)
            inputs.update(windows=rng.integers(0, 1000, (32, 5)), labels=rng.integers(0, 5, 32))
            return window_classifier_loss(), inputs
        if name.startswith("mlp"):
            layers = int(name[3:])
            h = x = gc.tensor("x", ("B", 32))
            inputs = {"x": rng.standard_normal((16, 32)).astype(np.float32)}
            for k in range(layers):
                W = gc.tensor(f"W{k}", (32, 32))
                inputs[f"W{k}"] = (rng.standard_normal((32, 32)) / 6).astype(np.float32)
                h = gc.tanh(h @ W)
            return gc.mean(h * h), inputs
        steps = int(name[5:])
        x = gc.tensor("x", (64,))
        v = x
        for k in range(steps):
            v = [gc.sin(v), gc.tanh(v), v * x, v + x][k % 4]
        return gc.sum(v), {"x": rng.standard_normal(64).astype(np.float32) * 0.1}
""")

CHILD = BUILD + textwrap.dedent("""
    import resource, sys, time
    start = time.perf_counter()
    import gradcomp as gc
    imported = time.perf_counter()
    loss, inputs = build(gc, sys.argv[1])
    block = sys.argv[2] == "block"
    fn = gc.compile(loss, block=block)
    built = time.perf_counter()
    fn(**inputs)
    first = time.perf_counter()
    fn.wait()
    ready = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(imported - start, built - imported, first - built, ready - built, peak)
""")

SCALING_CHILD = BUILD + textwrap.dedent("""
    import resource, sys, time
    import gradcomp as gc
    from gradcomp.ir import toposort
    start = time.perf_counter()
    loss, inputs = build(gc, sys.argv[1])
    fn = gc.compile(loss, block=True)
    built = time.perf_counter()
    fn(**inputs)
    first = time.perf_counter()
    nodes = len(toposort([fn.loss] + list(fn.grads)))
    pieces = len(getattr(fn.kernel, "pieces", ())) or 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(nodes, pieces, built - start, first - built, peak)
""")

JAX_CHILD = BUILD + textwrap.dedent("""
    import sys, time
    import jax, jax.numpy as jnp
    name = sys.argv[1]
    rng = np.random.default_rng(0)
    if name.startswith("mlp"):
        layers = int(name[3:])
        def loss(p, x):
            h = x
            for k in range(layers):
                h = jnp.tanh(h @ p[k])
            return jnp.mean(h * h)
        args = ([jnp.asarray(rng.standard_normal((32, 32)) / 6, jnp.float32)
                 for _ in range(layers)], jnp.asarray(rng.standard_normal((16, 32)), jnp.float32))
    else:
        steps = int(name[5:])
        def loss(x, x0):
            v = x
            for k in range(steps):
                v = [jnp.sin(v), jnp.tanh(v), v * x, v + x][k % 4]
            return jnp.sum(v)
        x = jnp.asarray(rng.standard_normal(64) * 0.1, jnp.float32)
        args = (x, x)
    start = time.perf_counter()
    step = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(step(*args))
    print(time.perf_counter() - start)
""")

TORCH_CHILD = BUILD + textwrap.dedent("""
    import os, sys, tempfile, time
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()  # cold, as gradcomp's
    import torch
    name = sys.argv[1]
    rng = np.random.default_rng(0)
    def tensor(a):
        return torch.tensor(a, dtype=torch.float32, requires_grad=True)
    if name.startswith("mlp"):
        layers = int(name[3:])
        def loss(ws, x):
            h = x
            for w in ws:
                h = torch.tanh(h @ w)
            return (h * h).mean()
        params = [tensor(rng.standard_normal((32, 32)) / 6) for _ in range(layers)]
        data = torch.tensor(rng.standard_normal((16, 32)), dtype=torch.float32)
    else:
        steps = int(name[5:])
        def loss(ws, _):
            x = v = ws[0]
            for k in range(steps):
                v = [torch.sin(v), torch.tanh(v), v * x, v + x][k % 4]
            return v.sum()
        params, data = [tensor(rng.standard_normal(64) * 0.1)], None
    start = time.perf_counter()
    step = torch.compile(loss)
    value = step(params, data)
    torch.autograd.grad(value, params)  # (the backward graph is compiled at its first call)
    print(time.perf_counter() - start)
""")


PYTENSOR_CHILD = textwrap.dedent("""
    import os, sys, tempfile, time
    import numpy as np
    os.environ["PYTENSOR_FLAGS"] = "compiledir=" + tempfile.mkdtemp()  # cold, as gradcomp's
    import pytensor, pytensor.tensor as pt
    name = sys.argv[1]
    rng = np.random.default_rng(0)
    if name.startswith("mlp"):
        layers = int(name[3:])
        params = [pt.matrix(f"W{k}", dtype="float32") for k in range(layers)]
        x = pt.matrix("x", dtype="float32")
        h = x
        for w in params:
            h = pt.tanh(h @ w)
        loss, inputs = pt.mean(h * h), params + [x]
        args = [(rng.standard_normal((32, 32)) / 6).astype(np.float32) for _ in params]
        args.append(rng.standard_normal((16, 32)).astype(np.float32))
    else:
        steps = int(name[5:])
        x = v = pt.vector("x", dtype="float32")
        for k in range(steps):
            v = [pt.sin(v), pt.tanh(v), v * x, v + x][k % 4]
        loss, params, inputs = pt.sum(v), [x], [x]
        args = [(rng.standard_normal(64) * 0.1).astype(np.float32)]
    start = time.perf_counter()
    step = pytensor.function(inputs, [loss] + pytensor.grad(loss, params), mode="NUMBA")
    step(*args)
    print(time.perf_counter() - start)
""")


def child(script: str, args: list[str], cache: str) -> list[float]:
    env = {**__import__("os").environ, "GRADCOMP_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", script, *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    return [float(v) for v in out.split()]


def measure(name: str, repeats: int, jax: bool, torch: bool = False,
            pytensor: bool = False) -> dict:
    cold, background, warm, warm_background, peaks = [], [], [], [], []
    jax_first, torch_first, pytensor_first = [], [], []
    peers = name != "window" and not (name.startswith("chain") and int(name[5:]) > JAX_MAX_CHAIN)
    for _ in range(repeats):
        cache = tempfile.mkdtemp(prefix="gradcomp-compile-")
        imported, built, first, _, peak = child(CHILD, [name, "block"], cache)
        cold.append((imported, built, first))
        peaks.append(peak)
        again = child(CHILD, [name, "block"], cache)  # a second process, the cache warm
        warm.append(again[1] + again[2])  # beyond import: build and first call
        again = child(CHILD, [name, "background"], cache)  # the default: no wait at all
        warm_background.append(again[1] + again[2])
        fresh = tempfile.mkdtemp(prefix="gradcomp-compile-")
        _, built_b, first_b, ready_b, _ = child(CHILD, [name, "background"], fresh)
        background.append((built_b + first_b, ready_b))
        if jax and peers:
            jax_first.append(child(JAX_CHILD, [name], cache)[0])
        if torch and peers:
            torch_first.append(child(TORCH_CHILD, [name], cache)[0])
        if pytensor and peers:
            pytensor_first.append(child(PYTENSOR_CHILD, [name], cache)[0])
    med = statistics.median
    return {"loss": name, "import_s": med(c[0] for c in cold), "build_s": med(c[1] for c in cold),
            "first_call_cold_s": med(c[2] for c in cold),
            "first_result_background_s": med(b[0] for b in background),
            "ready_background_s": med(b[1] for b in background),
            "first_call_warm_s": med(warm),
            "first_result_warm_background_s": med(warm_background),
            "peak_rss_mib": med(peaks) / 2**20,
            "jax_first_call_s": med(jax_first) if jax_first else None,
            "torch_compile_first_call_s": med(torch_first) if torch_first else None,
            "pytensor_numba_first_call_s": med(pytensor_first) if pytensor_first else None}


def scaling(sizes: list[int], out_dir: str, repeats: int = 3) -> int:
    """Chains of ``sizes`` ops, medians of ``repeats`` fresh processes each (cache empty):
    nodes of the graph and its gradient, seconds to build and to the first call (compiling
    in it), peak memory, and how much more each costs than the one before."""
    lines = [(f"Chains of elementwise ops (sin, tanh, *, + alternating), median of {repeats} "
              "fresh processes each, compiling in the first call (kernel cache empty)."), "",
             ("| ops | nodes | pieces | build (s) | first call (s) | total (s) | peak RSS | "
              "nodes x | total x |"), "|---|---|---|---|---|---|---|---|---|"]
    rows, before = [], None
    for size in sizes:
        runs = [child(SCALING_CHILD, [f"chain{size}"],
                      tempfile.mkdtemp(prefix="gradcomp-compile-")) for _ in range(repeats)]
        nodes, pieces, built, first, peak = (statistics.median(column) for column in zip(*runs))
        row = {"ops": size, "nodes": int(nodes), "pieces": int(pieces), "build_s": built,
               "first_call_s": first, "total_s": statistics.median(r[2] + r[3] for r in runs),
               "peak_rss_mib": peak / 2**20}
        growth = ("-", "-") if before is None else (
            f"{row['nodes'] / before['nodes']:.2f}", f"{row['total_s'] / before['total_s']:.2f}")
        lines.append(f"| {size:,} | {row['nodes']:,} | {row['pieces']} | {built:.2f} | "
                     f"{first:.2f} | {row['total_s']:.2f} | {row['peak_rss_mib']:.0f} MiB | "
                     f"{growth[0]} | {growth[1]} |")
        rows.append(row)
        before = row
    write_results(out_dir, "compile_scaling", "\n".join(lines) + "\n", rows)
    return 0


def main(repeats: int = 3, losses: list[str] = LOSSES, out_dir: str = "bench-results") -> int:
    has_jax, has_torch, has_pytensor = (importlib.util.find_spec(m) is not None
                                        for m in ("jax", "torch", "pytensor"))
    rows = [measure(name, repeats, has_jax, has_torch, has_pytensor) for name in losses]
    lines = [f"Seconds, median of {repeats} fresh processes each (2-core machine; Numba's "
             "cache of gradcomp's helpers warm, the kernel cache empty unless warm).", "",
             "| loss | import | build (graph, gradient, source) | first call, compiling in it | "
             "first result, compiling in the background | kernel ready (background) | "
             "build + first call, warm cache | the same, in the background | peak RSS | "
             "JAX jit first call | torch.compile first call | PyTensor (Numba mode) first call |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        jax_cell, torch_cell, pytensor_cell = (f"{r[k]:.2f}" if r[k] else "-" for k in (
            "jax_first_call_s", "torch_compile_first_call_s", "pytensor_numba_first_call_s"))
        lines.append(f"| {r['loss']} | {r['import_s']:.2f} | {r['build_s']:.2f} | "
                     f"{r['first_call_cold_s']:.2f} | {r['first_result_background_s']:.3f} | "
                     f"{r['ready_background_s']:.2f} | {r['first_call_warm_s']:.2f} | "
                     f"{r['first_result_warm_background_s']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} MiB | {jax_cell} | {torch_cell} | {pytensor_cell} |")
    write_results(out_dir, "compile", "\n".join(lines) + "\n", rows)
    return 0
