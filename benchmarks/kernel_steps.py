"""Benchmark: where a call of the window classifier's kernel spends its time, step by step.

The generated source is copied with a cycle-counter reading (LLVM's ``readcyclecounter``)
before every step's comment line, and each step is charged the cycles up to the next reading.
The copy is compiled beside the real kernel and called with the benchmark's inputs; the table
gives microseconds per call for each step, summed over the tiles, largest first, with the
kernel's own median time (unstamped) to show what the stamps add. Each figure is the best of
five rounds (per step for the steps). From 128 rows up, the kernel's own call runs the rows'
two halves on both cores (``runtime/split.py``); the stamped copy is the one-function kernel.

Run: python benchmarks/kernel_steps.py [--dtype float64] [--batch 4096] [--vocab 20000]
[--rows lookups]
"""

import argparse
import inspect
import re
import time
import types as pytypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

import gradcomp as gc
from gradcomp.codegen import plan
from gradcomp.bench.measure import make_inputs, median_seconds
from gradcomp.models import window_classifier_loss

# A step's comment ("# name = op(...)", or the rows' own sections), not a fused part's.
STEP = re.compile(r"^(\s+)# (?:(\w+) = |(this tile's lookups|gradient of \w+ as rows|sums over))")


@intrinsic
def cycles(typingctx):
    """The CPU's cycle counter (rdtsc on x86)."""
    def codegen(context, builder, signature, args):
        counter = builder.module.declare_intrinsic(
            "llvm.readcyclecounter", fnty=ir.FunctionType(ir.IntType(64), []))
        return builder.call(counter, [])

    return types.int64(), codegen


@numba.njit
def _now():
    return cycles()


def stamped(source: str, function: str) -> tuple[str, list[str]]:
    """The kernel's source with a reading before each step and a ``spent`` array as its last
    parameter; the steps' labels in order (the first, 'entry', is the entry check and set-up
    before the first step)."""
    lines, labels = [], ["entry"]
    in_header = False
    for line in source.splitlines():
        in_header = in_header or line.startswith(f"def {function}(")
        if in_header and line.endswith("):"):  # the header's last line (it may wrap)
            lines += [line[:-2] + ", spent):", "    last = cycles()"]
            in_header = False
            continue
        found = STEP.match(line)
        if found:
            labels.append(found.group(2) or found.group(3))
            lines.append(f"{found.group(1)}now = cycles(); spent[{len(labels) - 2}] += now - last; "
                         "last = now")
        if line.lstrip().startswith("return "):
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{indent}spent[{len(labels) - 1}] += cycles() - last")
        lines.append(line)
    return "\n".join(lines).replace("@numba.njit(cache=True,", "@numba.njit("), labels


def cycles_per_second() -> float:
    start_cycles, start = _now(), time.perf_counter()
    time.sleep(0.2)
    return (_now() - start_cycles) / (time.perf_counter() - start)


def profile(dtype, batch: int, vocab: int, rows: str, seconds: float = 2.0,
            rounds: int = 5) -> dict:
    fn = gc.compile(window_classifier_loss(), rows=rows, block=True)
    # the stamped copy: the same kernel as one function (no tile halves, which would need
    # readings of their own)
    whole, plan.PART_NODES = plan.PART_NODES, 10**9
    try:
        source = gc.compile(window_classifier_loss(), rows=rows, jit=False).source
    finally:
        plan.PART_NODES = whole
    function = fn.kernel.py_func.__name__
    text, labels = stamped(source, function)
    module = pytypes.ModuleType("stamped_kernel")
    module.cycles = cycles
    exec(compile(text, "stamped_kernel", "exec"), module.__dict__)  # noqa: S102 - our own source
    kernel = getattr(module, function)
    inputs = make_inputs(vocab, batch, dtype)
    # the kernel's parameters: the inputs, then a buffer d_<input> per array gradient
    names = inspect.signature(fn.kernel.py_func).parameters
    args = [inputs[n] if n in inputs else np.zeros_like(inputs[n[2:]]) for n in names]
    spent = np.zeros(len(labels), np.int64)
    kernel(*args, spent)  # compiles
    per_second = cycles_per_second()
    kernel_us, steps = float("inf"), {}
    for _ in range(rounds):  # a slow spell of a shared machine spoils a round, not the table
        kernel_us = min(kernel_us, median_seconds(lambda: fn(**inputs), seconds / rounds) * 1e6)
        calls, start = 0, time.perf_counter()
        spent[:] = 0
        while time.perf_counter() - start < seconds / rounds or calls < 5:
            kernel(*args, spent)
            calls += 1
        this_round: dict[str, float] = {}
        for label, count in zip(labels, spent):
            this_round[label] = this_round.get(label, 0.0) + count * 1e6 / per_second / calls
        steps = {k: min(v, steps.get(k, v)) for k, v in this_round.items()}
    return {"kernel_us": kernel_us, "stamped_us": sum(steps.values()), "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--vocab", type=int, default=20_000)
    parser.add_argument("--rows", default="lookups", choices=["lookups", "distinct", "dense"])
    args = parser.parse_args()
    rows = {"lookups": "lookups", "distinct": True, "dense": False}[args.rows]
    result = profile(np.dtype(args.dtype).type, args.batch, args.vocab, rows)
    total = result["stamped_us"]
    print(f"{args.dtype}, B={args.batch}, V={args.vocab}, rows={args.rows}: "
          f"call {result['kernel_us']:.1f} us (median, best round), steps {total:.1f} us "
          "(each step's best round, added)\n")
    print("| step | us per call | share |\n|---|---|---|")
    for label, us in sorted(result["steps"].items(), key=lambda kv: -kv[1]):
        if us >= 0.005 * total:
            print(f"| {label} | {us:.1f} | {100 * us / total:.1f}% |")


if __name__ == "__main__":
    main()
