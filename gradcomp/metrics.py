"""Token-level scores beside seqeval's entity-level ones: the confusion matrix of tags."""

from __future__ import annotations

import numpy as np


def confusion(gold: list[str], predicted: list[str]) -> tuple[list[str], np.ndarray]:
    """``(tags, counts)``: ``counts[i, j]`` tokens of gold tag i predicted as tag j; tags in
    a fixed order (``O`` first, then by entity type, ``B-`` before ``I-``)."""
    seen = set(gold) | set(predicted)
    tags = sorted(seen, key=lambda t: (t != "O", t[2:], t[:2]))
    index = {t: i for i, t in enumerate(tags)}
    counts = np.zeros((len(tags), len(tags)), dtype=np.int64)
    np.add.at(counts, ([index[t] for t in gold], [index[t] for t in predicted]), 1)
    return tags, counts


def format_confusion(tags: list[str], counts: np.ndarray) -> str:
    """The matrix as text: gold tags down, predicted tags across (numbered like the rows,
    so many long tags still fit a terminal)."""
    cell = max(4, len(str(counts.max(initial=0))) + 1)
    label = max(len(t) for t in tags) + 4
    head = "gold \\ pred".ljust(label) + "".join(str(k).rjust(cell) for k in range(len(tags)))
    rows = [f"{k:>2} {t}".ljust(label) + "".join(str(c).rjust(cell) for c in row)
            for k, (t, row) in enumerate(zip(tags, counts))]
    return "\n".join([head, *rows])
