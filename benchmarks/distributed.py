"""Benchmark: window-classifier gradients on Dask workers against the single-process kernel.

For global batches from 4,096 to 1,000,000 windows (V = 20,000, dim 50, hidden 100, 5 classes,
float32), windows per second of value + all gradients: gradcomp's kernel in this process, and
``gradcomp.distributed.sharded_value_and_grad`` on a LocalCluster of 1 and of 2 worker
processes, the data already partitioned on the workers (one shard each). The distributed time
is split, from Dask's task stream, into compute (the longest worker's shard), reduction (the
combine tasks and the final scaling), transfer (parameters out, results between workers and
home) and scheduling (the rest of the wall time: messages, (de)serialisation, waiting). It also
measures what one training step's parameters cost to send: the whole set (a broadcast) against
only what an update changes (the looked-up rows of L and the dense parameters).

Run: python benchmarks/distributed.py [--repeats 3] [--out-dir benchmarks/results]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and its name would hide Dask's
# ``distributed`` package from everything that imports it.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
from distributed import get_task_stream  # noqa: E402

import gradcomp as gc  # noqa: E402
from gradcomp import distributed  # noqa: E402
from gradcomp.distributed.gradients import KernelSpec, finish  # noqa: E402
from gradcomp.bench import write_results  # noqa: E402
from gradcomp.distributed.worker import shard_gradient  # noqa: E402
from gradcomp.models import WindowConfig, init_params, window_classifier_loss  # noqa: E402

CFG = WindowConfig(window=2, dim=50, hidden=100, classes=5)
VOCAB = 20_000
BATCHES = (4_096, 32_768, 262_144, 1_000_000)


def data(batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"windows": rng.integers(0, VOCAB, (batch, CFG.width)),
            "labels": rng.integers(0, CFG.classes, batch)}


def single_process(fn, params, batch: int, repeats: int) -> float:
    inputs = {**params, **data(batch)}
    fn(**inputs)
    return statistics.median(_seconds(lambda: fn(**inputs)) for _ in range(repeats))


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def on_workers(client, fn, params, batch: int, repeats: int) -> dict:
    workers = sorted(client.scheduler_info()["workers"])
    whole = data(batch)
    shards = [{k: v[part] for k, v in whole.items()}
              for part in np.array_split(np.arange(batch), len(workers))]
    placed = [client.scatter([s], workers=[w], hash=False)[0] for s, w in zip(shards, workers)]
    spec = KernelSpec.of(fn)
    step = lambda: finish(client, spec, [  # noqa: E731 - one step, as sharded_value_and_grad
        client.submit(shard_gradient, spec, shared, s, pure=False) for s in placed])
    shared = client.scatter([params], broadcast=True, hash=False)[0]
    step()  # warm: kernels built on the workers
    splits = []
    for _ in range(repeats):
        start = time.perf_counter()
        with get_task_stream(client) as stream:
            shared = client.scatter([params], broadcast=True, hash=False)[0]
            scattered = time.perf_counter() - start
            step()
        wall = time.perf_counter() - start
        splits.append(_split(stream.data, wall, scattered))
    return {k: statistics.median(s[k] for s in splits) for k in splits[0]}


def _split(tasks: list, wall: float, scattered: float) -> dict:
    compute: dict[str, float] = {}
    reduction = transfer = 0.0
    for task in tasks:
        for part in task["startstops"]:
            seconds = part["stop"] - part["start"]
            if part["action"] == "transfer":
                transfer += seconds
            elif part["action"] == "compute" and task["key"].startswith("combine"):
                reduction += seconds
            elif part["action"] == "compute":
                compute[task["worker"]] = compute.get(task["worker"], 0.0) + seconds
    longest = max(compute.values(), default=0.0)
    transfer += scattered
    return {"wall": wall, "compute": longest, "reduction": reduction, "transfer": transfer,
            "scheduling": max(wall - longest - reduction - transfer, 0.0)}


def parameter_traffic(client, fn, params, batch: int, repeats: int) -> dict:
    """Bytes and seconds to send one step's parameters: all of them, or what changed."""
    grads = fn(**params, **data(min(batch, 262_144)))[1]
    rows = grads["L"].indices
    update = {"L_rows": rows, "L_values": params["L"][rows],
              **{k: v for k, v in params.items() if k != "L"}}
    out = {}
    for name, payload in (("broadcast", params), ("update", update)):
        size = sum(v.nbytes for v in payload.values())
        seconds = statistics.median(_seconds(lambda: client.scatter(
            [payload], broadcast=True, hash=False)[0].result()) for _ in range(repeats))
        out[name] = {"bytes": size, "seconds": seconds}
    out["distinct_rows"] = int(len(rows))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    fn = gc.compile(window_classifier_loss(CFG.window, CFG.dim, CFG.hidden, CFG.classes),
                    block=True)
    params = init_params(CFG, VOCAB, dtype=np.float32)
    rows = [{"batch": b, "single_s": single_process(fn, params, b, args.repeats)}
            for b in BATCHES]
    traffic = {}
    for workers in (1, 2):
        client = distributed.connect(workers=workers)
        try:
            for row in rows:
                row[f"workers_{workers}"] = on_workers(client, fn, params, row["batch"],
                                                       args.repeats)
            if workers == 2:
                traffic = {b: parameter_traffic(client, fn, params, b, args.repeats)
                           for b in (4_096, 262_144)}
        finally:
            client.close()
            client.cluster.close()
    write_results(args.out_dir, "distributed", report(rows, traffic),
                  {"rows": rows, "traffic": traffic})
    return 0


def report(rows: list[dict], traffic: dict) -> str:
    lines = ["Windows per second of value + all gradients (float32, V = 20,000); median of the "
             "runs. Dask: data already on the workers, one shard each; ms per step split as "
             "compute / reduction / transfer / scheduling.", "",
             "| global batch | one process | 1 worker | 2 workers | 2 workers: compute | "
             "reduction | transfer | scheduling |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        b, two = row["batch"], row["workers_2"]
        rate = [b / row["single_s"], b / row["workers_1"]["wall"], b / two["wall"]]
        parts = " | ".join(f"{two[k] * 1e3:,.1f}" for k in ("compute", "reduction", "transfer",
                                                             "scheduling"))
        lines.append(f"| {b:,} | " + " | ".join(f"{r:,.0f}" for r in rate) + f" | {parts} |")
    lines += ["", "One step's parameters sent to 2 workers (all of them, or only what an "
              "update changes):", "", "| global batch | distinct rows of L | broadcast | "
              "update |", "|---|---|---|---|"]
    for b, t in traffic.items():
        cells = [f"{t[k]['bytes'] / 2**20:.2f} MiB, {t[k]['seconds'] * 1e3:.1f} ms"
                 for k in ("broadcast", "update")]
        lines.append(f"| {b:,} | {t['distinct_rows']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
