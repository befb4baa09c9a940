"""Loops that repeat, compiled once: an elementwise loop printed twice or more in a kernel.

A deep network prints the same loop once per layer (``tanh_x_3[i0, i1] = tanh(matmul_x_3[i0,
i1])``, then ``_4``, ``_5``...), and Numba types, lowers and optimises every copy anew: each
costs about as much compile time as the products around it. Such a loop, the same up to the
names it reads and writes, becomes one function of the module, called at each place the loop
was; it is compiled once. Measured on the 8-layer tanh MLP (build and first call in fresh
processes with fresh caches, 4 each, alternating): 3.3-4.7 s with its loops inline, 2.9-3.7 s
with each repeated loop one function. A loop printed once stays where it is.

A loop qualifies when it is ``out = empty(shape, dt)`` followed by one ``for`` nest that
stores into ``out[...]`` only (its loop variables apart) and reads some array: the function
makes ``out`` and returns it, taking what the loop reads (arrays, dims, the dtype) as
parameters.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from .pieces import names_in

EMPTY = re.compile(r"^(\s*)(\w+) = empty\((.*), dt\)$")


class Loop(NamedTuple):
    start: int  # its lines in the body: the empty line, then the nest
    stop: int
    indent: str
    out: str  # the array it fills
    free: tuple[str, ...]  # what it reads from the kernel, in the order it first does
    key: str  # its text with those names numbered: equal keys, one function


def outline_loops(body: list[str], params: list[str], function: str, jit: str,
                  wrap) -> tuple[list[str], list[list[str]]]:
    """``body`` with each repeated loop replaced by a call, and the functions called (their
    lines, one list each). ``params`` are the kernel's own parameters; ``wrap`` prints a
    call or header over lines (``entry.wrapped``)."""
    local = set(params) | set(names_in(body)[1])
    found: list[Loop] = []
    k = 0
    while k < len(body):
        loop = _loop_at(body, k, local)
        if loop is None:
            k += 1
            continue
        found.append(loop)
        k = loop.stop
    groups: dict[str, list[Loop]] = {}
    for loop in found:
        groups.setdefault(loop.key, []).append(loop)
    repeated = [g for g in groups.values() if len(g) > 1]
    if not repeated:
        return body, []
    calls, functions = {}, []
    for number, group in enumerate(repeated, start=1):
        name = f"{function}_loop_{number}"
        while name in local:  # (a node of the loss named so)
            name += "_"
        first = group[0]
        doc = (f'    """{_step_comment(body, first.start) or first.out}\n\n    The loop of '
               f'this step and of {len(group) - 1} more of {function} (the same loop over'
               '\n    other arrays): one function, compiled once."""')
        lines = [line[len(first.indent):] for line in body[first.start:first.stop]]
        functions.append([jit, *wrap(f"def {name}(", list(first.free), "):"), doc,
                          *("    " + line for line in lines), f"    return {first.out}"])
        for loop in group:
            calls[loop.start] = (loop.stop, [f"{loop.indent}{line}" for line in wrap(
                f"{loop.out} = {name}(", list(loop.free), ")")])
    replaced, k = [], 0
    while k < len(body):
        if k in calls:
            k, lines = calls[k]
            replaced += lines
        else:
            replaced.append(body[k])
            k += 1
    return replaced, functions


def _loop_at(body: list[str], k: int, local: set[str]):
    """The loop starting at line ``k`` (its ``empty`` line) if it qualifies, else None."""
    found = EMPTY.match(body[k])
    if not found or k + 1 >= len(body):
        return None
    indent, out = found.group(1), found.group(2)
    if not body[k + 1].startswith(indent + "for "):
        return None
    stop = k + 2
    while stop < len(body) and body[stop].startswith(indent + " "):
        stop += 1
    text = "\n".join(line[len(indent):] for line in body[k:stop])
    tree = ast.parse(text)
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Store)}
    loop_vars = {n.target.id for n in ast.walk(tree) if isinstance(n, ast.For)
                 and isinstance(n.target, ast.Name)}
    if stored - loop_vars - {out}:
        return None  # it sets something the kernel reads later: not the loop's alone
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and not (
                isinstance(node.value, ast.Name) and node.value.id == out):
            return None
    if not any(isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load)
               and isinstance(n.value, ast.Name) and n.value.id != out for n in ast.walk(tree)):
        return None  # a fill from scalars: too little to compile on its own
    free = []  # what the nest reads from the kernel in the order it does, then the dims
    reads = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Load)),
                   key=lambda n: (n.lineno == 1, n.lineno, n.col_offset))
    for node in reads:
        if node.id in local and node.id not in loop_vars and node.id != out \
                and node.id not in free:
            free.append(node.id)
    key = text
    for position, name in enumerate([out, *free]):
        key = re.sub(rf"(?<![\w.]){re.escape(name)}\b", f"\x00{position}\x00", key)
    return Loop(k, stop, indent, out, tuple(free), key)


def _step_comment(body: list[str], start: int) -> str:
    """The step's own comment line above the loop (``name = op(...)  (shape)``), not the
    lines of the steps fused into it."""
    k = start - 1
    while k >= 0 and body[k].lstrip().startswith("#"):
        if not body[k].lstrip().startswith("#   "):
            return body[k].strip()[2:]
        k -= 1
    return ""
