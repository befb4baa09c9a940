"""Training and tagging on the bundled sample with compiled kernels; the command line."""

import numpy as np
import pytest

from gradcomp.cli import main
from gradcomp.data import read_conll, sample_path
from gradcomp.runtime.compiled import RowGradient
from gradcomp.optim import SGD, Adam
from gradcomp.train import WindowTagger, train

pytestmark = pytest.mark.jit


@pytest.fixture(scope="module")
def sample():
    return read_conll(sample_path("train")), read_conll(sample_path("dev"))


def _tagger(sample, **options):
    return WindowTagger.create(sample[0], dim=20, hidden=30, seed=1, **options)


def test_training_beats_the_all_o_baseline(sample):
    tagger = _tagger(sample)
    before = tagger.evaluate(sample[1])
    results = train(tagger, sample[0], sample[1], epochs=3, progress=False).epochs
    assert results[-1].loss < results[0].loss
    assert results[-1].dev["f1"] > 0.6 > before["f1"]
    assert results[-1].dev["accuracy"] > 0.9


def test_fixed_seed_gives_identical_results(sample):
    runs = []
    for _ in range(2):
        tagger = _tagger(sample)
        train(tagger, sample[0][:50], None, epochs=1, progress=False, seed=7)
        runs.append(tagger.params)
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


@pytest.mark.parametrize("optimizer", [SGD(lr=0.1), Adam(lr=0.01)], ids=["sgd", "adam"])
def test_only_looked_up_rows_move(sample, optimizer):
    tagger = _tagger(sample)
    windows, labels = tagger.encode(sample[0][:3])
    before = tagger.params["L"].copy()
    _, grads = tagger.loss_and_grads(windows, labels)
    assert isinstance(grads["L"], RowGradient)
    optimizer.step(tagger.params, grads)
    changed = np.nonzero(np.any(tagger.params["L"] != before, axis=1))[0]
    np.testing.assert_array_equal(changed, np.unique(windows))


def test_logistic_tagger_for_one_entity_type(sample):
    tagger = _tagger(sample, loss="logistic", entity="LOC")
    results = train(tagger, sample[0], sample[1], epochs=3, progress=False).epochs
    assert results[-1].dev["f1"] > 0.6


def test_save_and_load_predict_the_same(sample, tmp_path):
    tagger = _tagger(sample)
    train(tagger, sample[0][:100], None, epochs=1, progress=False)
    tagger.save(tmp_path / "t.npz")
    again = WindowTagger.load(tmp_path / "t.npz")
    assert again.predict(sample[1][:20]) == tagger.predict(sample[1][:20])


def test_cli_train_and_predict(tmp_path, capsys):
    model = tmp_path / "m.npz"
    code = main(["train", "--train", str(sample_path("train")), "--dev", str(sample_path("dev")),
                 "--epochs", "2", "--hidden", "30", "--out", str(model), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and model.exists()
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows[-2:]] == ["1", "2"] and float(rows[-1][-1]) > 0.5
    text = tmp_path / "in.txt"
    text.write_text("Grace Hopper visited Paris last week .\n", encoding="utf-8")
    assert main(["predict", "--model", str(model), "--input", str(text)]) == 0
    tagged = capsys.readouterr().out.split()
    assert "Paris/B-LOC" in tagged


def test_cli_reports_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("word\n", encoding="utf-8")
    assert main(["train", "--train", str(bad), "--no-progress"]) == 2
    assert "bad.conll:1" in capsys.readouterr().err


def test_cli_source_prints_the_kernel(capsys):
    assert main(["source", "--loss", "max_margin", "--hidden", "8", "--dim", "4"]) == 0
    source = capsys.readouterr().out
    assert "def loss_and_grads(" in source and "corrupt" in source
