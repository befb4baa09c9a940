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

# A digest of the helpers' source, written into every generated kernel: Numba links a helper's
# machine code into each kernel that calls it, so a kernel cached before the helpers changed
# must not be loaded after (its source, and so its cache entry, differ). The files are read,
# not imported: writing source needs no Numba.
_RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
HELPERS_VERSION = hashlib.sha256(b"".join(
    (_RUNTIME / name).read_bytes() for name in ("kernels.py", "blas.py"))).hexdigest()[:12]

# What generated modules import from gradcomp.runtime.kernels.
HELPERS = ("CallRejected", "dot", "dot_add", "dot_into", "gather_rows", "in_range", "matmul",
           "matmul_add", "matmul_into", "overlaps", "pick_columns", "row_slots", "scatter_rows",
           "tanh", "unpick_columns")
RESERVED = frozenset(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(builtins))
    | set(HELPERS)
    | {"np", "math", "numba", "dt", "acc", "row", "kernel", "loss_and_grads", "loss_value"}
)
_LOOP_VAR = re.compile(r"[ij]\d+")
MAX_LENGTH = 24


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

    def fresh(self, wanted: str) -> str:
        base = sanitize(wanted)
        if base in RESERVED or _LOOP_VAR.fullmatch(base):
            base = base + "_"
        name, counter = base, 1
        while name in self.taken:
            counter += 1
            name = f"{base}_{counter}"
        self.taken.add(name)
        return name
