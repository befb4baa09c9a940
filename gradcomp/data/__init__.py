"""Data for the window classifier: CoNLL files, vocabularies, windows, GloVe vectors."""

from .conll import Sentence, read_conll, read_text, write_conll
from .glove import load_glove, glove_package_available
from .vocab import PAD, UNK, TagSet, Vocabulary
from .windows import encode, make_windows, sample_path

__all__ = [
    "PAD", "UNK", "Sentence", "TagSet", "Vocabulary", "encode", "glove_package_available",
    "load_glove", "make_windows", "read_conll", "read_text", "sample_path", "write_conll",
]
