"""Windows of word ids around each token, padded with ``<pad>`` at sentence edges."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .vocab import TagSet, Vocabulary


def make_windows(ids: np.ndarray, window: int) -> np.ndarray:
    """(len(ids), 2*window+1): row i holds ids[i-window .. i+window], 0 (pad) off the edges."""
    padded = np.concatenate([np.zeros(window, np.int64), ids, np.zeros(window, np.int64)])
    offsets = np.arange(2 * window + 1)
    return padded[np.arange(len(ids))[:, None] + offsets[None, :]]


def encode(sentences, vocab: Vocabulary, tags: TagSet | None, window: int):
    """All windows of a corpus and their tag ids (labels None for untagged text)."""
    if not sentences:
        width = 2 * window + 1
        return np.zeros((0, width), np.int64), np.zeros(0, np.int64)
    windows = np.concatenate([make_windows(vocab.encode(s.tokens), window) for s in sentences])
    if tags is None or sentences[0].tags is None:
        return windows, None
    labels = np.concatenate([tags.encode(s.tags) for s in sentences])
    return windows, labels


def sample_path(split: str) -> Path:
    """The small CoNLL sample shipped with gradcomp: ``train`` or ``dev``."""
    return Path(str(resources.files("gradcomp.data") / f"sample_{split}.conll"))
