"""The NER workflow: best-on-dev models, early stopping, well-formed tags, evaluation,
learning curves and strict readers."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcomp.cli import main
from gradcomp.data import read_conll, sample_path
from gradcomp.data.tags import allowed, iob1_to_iob2, repair, viterbi
from gradcomp.errors import DataError, GradcompError
from gradcomp.train import WindowTagger, train

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def starts_with_inside(tags):
    """Positions where an I-X starts a chunk (after O, after another type, or first)."""
    return [i for i, tag in enumerate(tags) if not allowed(tags[i - 1] if i else "O", tag)]


# ---------------------------------------------------------------- tags


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(TAGS), max_size=12))
def test_repair_leaves_no_chunk_starting_with_inside(tags):
    fixed = repair(tags)
    assert starts_with_inside(fixed) == []
    for before, after in zip(tags, fixed):  # only I-X -> B-X, where needed
        assert after == before or (before.startswith("I-") and after == "B-" + before[2:])
    assert repair(fixed) == fixed


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_viterbi_is_the_best_allowed_sequence(length, seed):
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(len(TAGS)), length))
    best = viterbi(log_probs, TAGS)
    assert starts_with_inside(best) == []
    brute = max((seq for seq in itertools.product(range(len(TAGS)), repeat=length)
                 if not starts_with_inside([TAGS[i] for i in seq])),
                key=lambda seq: sum(log_probs[t, i] for t, i in enumerate(seq)))
    score = sum(log_probs[t, TAGS.index(tag)] for t, tag in enumerate(best))
    assert score == pytest.approx(sum(log_probs[t, i] for t, i in enumerate(brute)), abs=1e-12)


def test_iob1_to_iob2():
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-PER"]
    assert iob1_to_iob2(iob1) == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-PER"]


# ---------------------------------------------------------------- readers


@pytest.mark.parametrize("text, line, what", [
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-NP\n", 4, "3 columns"),
    ("Paris\tB-LOC\nis\tO\nnice\tX-ADJ\n", 3, "tag 'X-ADJ'"),
    ("-DOCSTART- -X- O O\n\nword\n", 3, "a token and a tag"),
])
def test_reader_errors_name_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=f"bad.conll:{line}: .*{what}"):
        read_conll(path)


def test_reader_takes_conll2003_columns_tabs_and_iob1(tmp_path):
    path = tmp_path / "eng.conll"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU\tNNP\tI-NP\tI-ORG\nrejects\tVBZ\tI-VP\tO\n"
                    "German\tJJ\tI-NP\tI-MISC\ncall\tNN\tI-NP\tO\n\nPeter NNP I-NP I-PER\n",
                    encoding="utf-8")
    iob1 = read_conll(path, scheme="iob1")
    assert [s.tokens for s in iob1] == [("EU", "rejects", "German", "call"), ("Peter",)]
    assert iob1[0].tags == ("B-ORG", "O", "B-MISC", "O") and iob1[1].tags == ("B-PER",)
    assert read_conll(path)[0].tags[0] == "I-ORG"  # iob2: as written
    with pytest.raises(DataError, match="scheme"):
        read_conll(path, scheme="bioes")


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def sample():
    return read_conll(sample_path("train")), read_conll(sample_path("dev"))


def _tagger(sample):
    return WindowTagger.create(sample[0], dim=20, hidden=30, seed=1)


@pytest.mark.jit
def test_the_kept_parameters_are_those_of_the_best_dev_epoch(sample):
    tagger = _tagger(sample)
    run = train(tagger, sample[0][:60], sample[1], epochs=5, progress=False, lr=0.02)
    scores = [r.dev["f1"] for r in run.epochs]
    assert run.kept.epoch == 1 + int(np.argmax(scores))
    assert tagger.evaluate(sample[1])["f1"] == run.kept.dev["f1"]
    assert max(scores) > min(scores), "a run whose F1 never changes tests nothing"


@pytest.mark.jit
def test_patience_stops_and_lr_decays(sample):
    tagger = _tagger(sample)
    run = train(tagger, sample[0][:20], sample[1], epochs=8, progress=False, lr=1e-9,
                patience=2, lr_decay=0.5)  # nothing is learnt: F1 never improves
    assert run.stopped_early and [r.epoch for r in run.epochs] == [1, 2, 3]
    assert [r.lr for r in run.epochs] == pytest.approx([1e-9, 1e-9, 5e-10])  # decayed after 2
    with pytest.raises(GradcompError, match="dev"):
        train(tagger, sample[0][:20], None, epochs=1, progress=False, patience=1)


@pytest.mark.jit
def test_decoders_give_well_formed_tags(sample):
    tagger = _tagger(sample)
    train(tagger, sample[0][:15], None, epochs=1, progress=False)
    raw = tagger.predict(sample[1], "argmax")
    for decode in ("repair", "viterbi"):
        out = tagger.predict(sample[1], decode)
        assert [len(s) for s in out] == [len(s) for s in raw]
        assert all(starts_with_inside(tags) == [] for tags in out)
    with pytest.raises(GradcompError, match="decode"):
        tagger.predict(sample[1], "beam")


@pytest.mark.jit
def test_cli_evaluate_and_learning_curve(tmp_path, capsys):
    model, curve, columns = tmp_path / "m.npz", tmp_path / "curve.png", tmp_path / "pred.txt"
    dev = str(sample_path("dev"))
    assert main(["train", "--train", str(sample_path("train")), "--dev", dev, "--epochs", "2",
                 "--hidden", "30", "--out", str(model), "--plot", str(curve),
                 "--no-progress"]) == 0
    assert "best dev F1" in capsys.readouterr().out
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["evaluate", "--model", str(model), "--input", dev, "--decode", "viterbi",
                 "--predictions", str(columns)]) == 0
    out = capsys.readouterr().out
    assert "LOC" in out and "confusion" in out and "B-PER" in out
    lines = [line.split() for line in columns.read_text().splitlines() if line]
    gold = [t for s in read_conll(dev) for t in s.tags]
    assert {len(line) for line in lines} == {3} and [line[1] for line in lines] == gold
