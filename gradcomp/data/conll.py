"""CoNLL-format files: one token per line, the tag in the last column, sentences separated by
blank lines, ``-DOCSTART-`` lines skipped. UTF-8 (with or without BOM), any line endings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .tags import TAG, iob1_to_iob2


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None  # None for untagged text


def _lines(path: Path):
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        line = Path(path).read_bytes()[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 ({error.reason})") from None
    return enumerate(text.splitlines(), start=1)


def read_conll(path, scheme: str = "iob2") -> list[Sentence]:
    """The tagged sentences of a CoNLL file (an empty file gives an empty list).

    Columns are separated by tabs or spaces (CoNLL-2003 has four: token, POS, chunk, NER);
    the token is the first, the tag the last. Every line of a file has the same number of
    columns and every tag is ``O``, ``B-X`` or ``I-X``; anything else is a ``DataError``
    naming the file and line, so nothing is dropped unseen. ``scheme="iob1"`` converts IOB1
    tags (``B-`` only between adjacent chunks of one type) to IOB2.
    """
    if scheme not in ("iob1", "iob2"):
        raise DataError(f"tag scheme {scheme!r} is not 'iob1' or 'iob2'")
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    width: tuple[int, int] | None = None  # (columns, the line that set them)

    def flush():
        if tokens:
            kept = iob1_to_iob2(tags) if scheme == "iob1" else list(tags)
            sentences.append(Sentence(tuple(tokens), tuple(kept)))
            tokens.clear()
            tags.clear()

    for number, line in _lines(path):
        columns = line.split()
        if not columns or columns[0] == "-DOCSTART-":
            flush()
            continue
        if len(columns) < 2:
            raise DataError(
                f"{path}:{number}: expected a token and a tag separated by whitespace, "
                f"got {line.strip()!r}"
            )
        if width is None:
            width = (len(columns), number)
        elif len(columns) != width[0]:
            raise DataError(f"{path}:{number}: {len(columns)} columns, but line {width[1]} "
                            f"has {width[0]}; got {line.strip()!r}")
        if not TAG.fullmatch(columns[-1]):
            raise DataError(f"{path}:{number}: tag {columns[-1]!r} is not O, B-X or I-X")
        tokens.append(columns[0])
        tags.append(columns[-1])
    flush()
    return sentences


def read_text(path) -> list[Sentence]:
    """Untagged text: one sentence per line, tokens separated by whitespace."""
    return [Sentence(tuple(line.split()), None) for _, line in _lines(path) if line.split()]


def write_conll(path, sentences: list[Sentence], predicted: list[list[str]]) -> None:
    """Token, gold tag (when there is one) and predicted tag per line, blank lines between
    sentences: the columns conlleval reads."""
    with open(path, "w", encoding="utf-8") as out:
        for sentence, tags in zip(sentences, predicted):
            for i, token in enumerate(sentence.tokens):
                gold = f" {sentence.tags[i]}" if sentence.tags else ""
                out.write(f"{token}{gold} {tags[i]}\n")
            out.write("\n")
