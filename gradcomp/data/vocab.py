"""Word and tag vocabularies. Words are lowercased (GloVe 6B is); id 0 is ``<pad>``, 1 ``<unk>``."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

PAD, UNK = "<pad>", "<unk>"


def normalize(word: str) -> str:
    return word.lower()


class Vocabulary:
    def __init__(self, words: Iterable[str]):
        self.words: list[str] = [PAD, UNK]
        self.index: dict[str, int] = {PAD: 0, UNK: 1}
        for word in words:
            self.add(word)

    def add(self, word: str) -> int:
        word = normalize(word)
        if word not in self.index:
            self.index[word] = len(self.words)
            self.words.append(word)
        return self.index[word]

    @classmethod
    def from_sentences(cls, sentences, min_count: int = 1) -> "Vocabulary":
        counts = Counter(normalize(t) for s in sentences for t in s.tokens)
        return cls(w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                   if c >= min_count)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        return np.array([self.index.get(normalize(t), 1) for t in tokens], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.words)


class TagSet:
    """Tags in a fixed order, ``O`` first."""

    def __init__(self, tags: Iterable[str]):
        distinct = sorted(set(tags) - {"O"})
        self.tags: list[str] = ["O"] + distinct
        self.index = {t: i for i, t in enumerate(self.tags)}

    @classmethod
    def from_sentences(cls, sentences) -> "TagSet":
        return cls(t for s in sentences for t in s.tags)

    def encode(self, tags: Iterable[str]) -> np.ndarray:
        # Tags unseen in training (only in dev) count as O: the model can never predict them.
        return np.array([self.index.get(t, 0) for t in tags], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.tags)
