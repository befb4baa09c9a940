"""CoNLL-format files: one token per line, the tag in the last column, sentences separated by
blank lines, ``-DOCSTART-`` lines skipped. UTF-8 (with or without BOM), any line endings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


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


def read_conll(path) -> list[Sentence]:
    """The tagged sentences of a CoNLL file (an empty file gives an empty list)."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush():
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags)))
            tokens.clear()
            tags.clear()

    for number, line in _lines(path):
        columns = line.split()
        if not columns:
            flush()
            continue
        if columns[0] == "-DOCSTART-":
            flush()
            continue
        if len(columns) < 2:
            raise DataError(
                f"{path}:{number}: expected a token and a tag separated by whitespace, "
                f"got {line.strip()!r}"
            )
        tokens.append(columns[0])
        tags.append(columns[-1])
    flush()
    return sentences


def read_text(path) -> list[Sentence]:
    """Untagged text: one sentence per line, tokens separated by whitespace."""
    return [Sentence(tuple(line.split()), None) for _, line in _lines(path) if line.split()]


def write_conll(path, sentences: list[Sentence], predicted: list[list[str]]) -> None:
    """Token and predicted tag per line (and the gold tag between them, when there is one)."""
    with open(path, "w", encoding="utf-8") as out:
        for sentence, tags in zip(sentences, predicted):
            for i, token in enumerate(sentence.tokens):
                gold = f" {sentence.tags[i]}" if sentence.tags else ""
                out.write(f"{token}{gold} {tags[i]}\n")
            out.write("\n")
