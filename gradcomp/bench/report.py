"""The benchmark's tables (markdown), its plot and the files its results go to."""

from __future__ import annotations

import json
from pathlib import Path

from .measure import workload_flops


def markdown(results: dict) -> str:
    impls = results["config"]["implementations"]
    lines = ["| dtype | V | B | " + " | ".join(f"{n} (us)" for n in impls)
             + " | numpy / gradcomp_lookups | compiled vs interpreted | fwd (us) "
             "| (fwd+bwd)/fwd |",
             "|---" * (len(impls) + 7) + "|"]
    for cell in results["cells"]:
        us = cell["us"]
        ratio = us["interpreted"] / us["gradcomp"]
        lines.append(
            f"| {cell['dtype']} | {cell['V']:,} | {cell['B']} | "
            + " | ".join(f"{us[n]:,.1f}" for n in impls)
            + f" | **{us['numpy'] / us['gradcomp_lookups']:.2f}x** | {ratio:.1f}x | "
            f"{cell['forward_us']:,.1f} | {us['gradcomp'] / cell['forward_us']:.2f} |"
        )
    lines.append("")
    if results.get("sgd_steps"):
        names = list(results["sgd_steps"][0]["us"])
        lines += ["Training steps (gradient + SGD update of every parameter, in place):", "",
                  "| dtype | V | B | " + " | ".join(f"{n} (us)" for n in names) + " | ratio |",
                  "|---" * (len(names) + 4) + "|"]
        for cell in results["sgd_steps"]:
            us = [cell["us"][n] for n in names]
            lines.append(f"| {cell['dtype']} | {cell['V']:,} | {cell['B']} | "
                         + " | ".join(f"{t:,.1f}" for t in us) + f" | **{us[1] / us[0]:.2f}x** |")
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
