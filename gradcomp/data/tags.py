"""BIO tags: their form, IOB1 to IOB2, repairing a tagger's output, constrained decoding.

A per-token argmax can emit ``I-X`` after ``O`` or after a chunk of another type, which no
chunk starts that way (IOB2, the scheme CoNLL scores with). Two ways to make the output well
formed: ``repair`` rewrites each such ``I-X`` as ``B-X`` (the chunk it would have continued is
taken to start there); ``viterbi`` finds the best tag sequence under the per-token
log-probabilities among those whose every transition is allowed.
"""

from __future__ import annotations

import re

import numpy as np

TAG = re.compile(r"O|[BI]-\S+")


def entity(tag: str) -> str | None:
    """``X`` for ``B-X`` and ``I-X``; None for ``O``."""
    return None if tag == "O" else tag[2:]


def iob1_to_iob2(tags) -> list[str]:
    """IOB1 (``B-X`` only between two adjacent chunks of one type) to IOB2 (every chunk
    starts with ``B-X``)."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and entity(previous) != entity(tag):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def allowed(previous: str, tag: str) -> bool:
    """Whether ``tag`` may follow ``previous`` in IOB2: ``I-X`` only inside an X chunk."""
    return not tag.startswith("I-") or (previous != "O" and entity(previous) == entity(tag))


def repair(tags) -> list[str]:
    """Each ``I-X`` that does not continue an X chunk becomes ``B-X``; the rest is kept."""
    out, previous = [], "O"
    for tag in tags:
        if not allowed(previous, tag):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def transition_mask(tags: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start, step)``: which tags may start a sentence, and ``step[i, j]`` whether tag j
    may follow tag i."""
    start = np.array([allowed("O", t) for t in tags])
    step = np.array([[allowed(p, t) for t in tags] for p in tags])
    return start, step


def viterbi(log_probs: np.ndarray, tags: list[str]) -> list[str]:
    """The tag sequence of highest total log-probability whose transitions are all allowed.

    ``log_probs`` is (tokens, len(tags)). Transitions carry no score of their own (the model
    scores tokens independently): the constraint alone shapes the path.
    """
    if len(log_probs) == 0:
        return []
    start, step = transition_mask(tags)
    forbidden = np.where(step, 0.0, -np.inf)
    score = np.where(start, log_probs[0], -np.inf)
    back = np.zeros(log_probs.shape, dtype=np.int64)
    for t in range(1, len(log_probs)):
        total = score[:, None] + forbidden  # (previous, current)
        back[t] = np.argmax(total, axis=0)
        score = total[back[t], np.arange(len(tags))] + log_probs[t]
    path = [int(np.argmax(score))]
    for t in range(len(log_probs) - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return [tags[i] for i in reversed(path)]
