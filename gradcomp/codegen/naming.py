"""Safe, stable, readable identifiers for generated code.

Every name in a kernel comes from here. User text (input names) is reduced to ``[A-Za-z0-9_]``,
kept off keywords, builtins and the kernel's own names, and made unique with a counter, so it
can never change the meaning of the generated source.
"""

from __future__ import annotations

import builtins
import hashlib
import keyword
import re
from pathlib import Path

from ..ir import Node, Op

# A digest of the helpers' source, written into every generated kernel: Numba links a helper's
# machine code into each kernel that calls it, so a kernel cached before the helpers changed
# must not be loaded after (its source, and so its cache entry, differ). The files are read,
# not imported: writing source needs no Numba.
_RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
HELPERS_VERSION = hashlib.sha256(b"".join(
    (_RUNTIME / name).read_bytes() for name in ("helpers.py", "blas.py", "pool.py", "halves.py"))
).hexdigest()[:12]

# What generated modules import from gradcomp.runtime.helpers.
HELPERS = ("CallRejected", "dot", "dot_add", "dot_into", "empty", "gather_rows", "in_range",
           "matmul", "matmul_add", "matmul_into", "overlaps", "pick_columns", "ravel", "reshape",
           "row_slots", "scatter_rows", "tanh", "unpick_columns")
# What a staged module's split and serve functions import from gradcomp.runtime.halves.
HALVES = ("add_into", "hand_back", "like", "post", "run_halves", "taken", "zeroed")
RESERVED = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | set(HELPERS)
    | set(HALVES)
    | {"control", "job", "base", "sums", "more", "half", "total", "np", "math", "numba", "dt", "acc", "row", "kernel", "loss_and_grads", "loss_value"}
)
_LOOP_VAR = re.compile(r"[ij]\d+")
MAX_LENGTH = 32


def sanitize(text: str) -> str:
    """An identifier made from ``text``: other characters become '_', length capped."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_")
    name = re.sub(r"_+", "_", name)[:MAX_LENGTH].rstrip("_") or "x"
    if name[0].isdigit():
        name = "x_" + name
    return name


class Namer:
    """Hands out unique identifiers; the same request always yields the same sequence."""

    def __init__(self):
        self.taken: set[str] = set()
        self._next: dict[str, int] = {}  # per base: the counter to try next (no rescans)

    def fresh(self, wanted: str) -> str:
        base = sanitize(wanted)
        if base in RESERVED or _LOOP_VAR.fullmatch(base):
            base = base + "_"
        name, counter = base, self._next.get(base, 1)
        if counter > 1:
            name = f"{base}_{counter}"
        while name in self.taken:
            counter += 1
            name = f"{base}_{counter}"
        self.taken.add(name)
        self._next[base] = counter
        return name


# Ops that only re-index their argument: they go by its name.
_SAME_NAME = frozenset({Op.RESHAPE, Op.BROADCAST, Op.STOP_GRADIENT})


def display_names(order: list[Node], forward: set[int], adjoint_of: dict[int, Node],
                  flows: dict[int, tuple[Node, Node]]) -> dict[int, str]:
    """A readable name for every node of ``order`` (forward nodes first, then backward).

    The user's names first (inputs, and intermediates named with ``gc.name``); the adjoint of
    a node is ``d_<its name>``; a part of an adjoint that flows back from one user is
    ``d_<name>_from_<user's op>``; any other node is its op and the nearest name up its first
    argument (``exp_scores``); a reshape, broadcast or stop_gradient goes by its argument's.
    ``forward`` holds the ids of the forward nodes; ``adjoint_of`` maps an adjoint's id to its
    primal, ``flows`` a contribution's id to its (user, argument), both from
    ``autodiff.gradients``.
    """
    names: dict[int, str] = {}
    stems: dict[int, str] = {}  # the name a derived name is built on
    for node in order:
        given = node.given_name
        if given is not None:
            names[id(node)] = stems[id(node)] = given
            continue
        backward = id(node) not in forward  # (a forward value that is also a gradient is
        primal = adjoint_of.get(id(node)) if backward else None  # named as a value)
        flow = flows.get(id(node)) if backward else None
        if primal is not None:
            name = "d_" + names[id(primal)]
        elif flow is not None:
            name = f"d_{names[id(flow[1])]}_from_{flow[0].label}"
        elif node.op is Op.CONST:
            name = "const"
        elif node.op is Op.SIZE:
            name = "size_" + "_".join(node.attr("dims"))
        else:
            first = next((a for a in node.args if a.dtype == node.dtype), node.args[0])
            stems[id(node)] = stems[id(first)]
            name = names[id(first)] if node.op in _SAME_NAME else (
                f"{stems[id(first)]}_T" if node.op is Op.TRANSPOSE
                else f"{node.label}_{stems[id(first)]}")
            names[id(node)] = name
            continue
        names[id(node)] = stems[id(node)] = name
    return names
