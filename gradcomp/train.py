"""Training and tagging with the window classifier, on compiled kernels only.

``WindowTagger`` holds the vocabularies, the parameters and two compiled kernels: the fused
loss+gradients kernel for training and the forward kernel of the scores for prediction.
Optimizers update the embedding table only at the rows a batch looked up (row gradients), so
a step costs the same at V = 20,000 and V = 400,000. Scores use seqeval (conlleval rules).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .data import Sentence, TagSet, Vocabulary, encode
from .data.tags import repair, viterbi
from .errors import DataError, GradcompError
from .models import WindowConfig, build, init_params, scores
from .metrics import confusion
from .optim import OPTIMIZERS
from .runtime.compiled import compile, compile_forward

DECODERS = ("argmax", "repair", "viterbi")

# ---------------------------------------------------------------- the tagger


@dataclass
class TaggerSpec:
    """What a tagger is: its model shape and, for a binary tagger, the entity type."""

    model: WindowConfig
    tags: list[str]
    entity: str | None = None  # binary ("is this a LOC?") taggers only


def _entity_of(tag: str) -> str:
    return tag.split("-", 1)[-1] if tag != "O" else "O"


class WindowTagger:
    """Tags each token from its window: softmax over the tag set, or binary logistic."""

    def __init__(self, spec: TaggerSpec, vocab: Vocabulary, params: dict):
        if spec.model.loss == "max_margin":
            raise GradcompError("the tagger trains 'softmax' or 'logistic' models; max_margin "
                                "is available as a loss (gc.models) but has no tag decision")
        self.spec, self.vocab, self.params = spec, vocab, params
        # Compiled in the first call: a run's numbers must not depend on when a background
        # compile finished (the interpreter rounds differently in float32).
        self.loss_fn = compile(build(spec.model), block=True)
        self.score_fn = compile_forward(scores(spec.model), block=True)
        self._grads: dict | None = None  # the gradient arrays, reused by every step

    @classmethod
    def create(cls, train: list[Sentence], window=2, dim=50, hidden=100, activation="tanh",
               loss="softmax", entity=None, vectors=None, vocab=None, seed=0):
        """A fresh tagger for ``train``'s tags; ``vectors`` (V x dim) with ``vocab`` if given."""
        vocab = vocab or Vocabulary.from_sentences(train)
        if loss == "logistic":
            if not entity:
                raise GradcompError("a logistic tagger needs an entity type, e.g. entity='LOC'")
            tags = ["O", entity]
        else:
            tags = TagSet.from_sentences(train).tags
        if vectors is not None:
            dim = vectors.shape[1]
        model = WindowConfig(window, dim, hidden, len(tags), activation, loss)
        params = init_params(model, len(vocab), seed=seed, dtype=np.float32)
        if vectors is not None:
            params["L"] = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(TaggerSpec(model, tags, entity), vocab, params)

    # ------------------------------------------------------------ data

    def _labels(self, sentence: Sentence) -> list[str]:
        if self.spec.entity is None:
            return list(sentence.tags)
        return [self.spec.entity if _entity_of(t) == self.spec.entity else "O"
                for t in sentence.tags]

    def encode(self, sentences: list[Sentence]):
        """Windows (N, 2w+1) and label ids (N,) of every token."""
        windows, _ = encode(sentences, self.vocab, None, self.spec.model.window)
        index = {t: i for i, t in enumerate(self.spec.tags)}
        labels = np.array([index.get(t, 0) for s in sentences for t in self._labels(s)],
                          dtype=np.int64)
        return windows, labels

    # ------------------------------------------------------------ use

    def loss_and_grads(self, windows: np.ndarray, labels: np.ndarray):
        """The batch loss and gradients. The gradient arrays are reused: each call overwrites
        the previous call's (copy them to keep them)."""
        if self._grads is None:
            value, self._grads = self.loss_fn(**self.params, windows=windows, labels=labels)
            return value, self._grads
        return self.loss_fn.into(self._grads, **self.params, windows=windows,
                                 labels=labels), self._grads

    def predict(self, sentences: list[Sentence], decode: str = "repair") -> list[list[str]]:
        """Tags per sentence. ``decode``: ``"argmax"`` (each token's best tag, as scored),
        ``"repair"`` (then each ``I-X`` that starts a chunk becomes ``B-X``) or
        ``"viterbi"`` (the best sequence whose transitions are all allowed)."""
        if decode not in DECODERS:
            raise GradcompError(f"decode {decode!r} is not one of {DECODERS}")
        if not sentences:
            return []
        windows, _ = encode(sentences, self.vocab, None, self.spec.model.window)
        raw = self.score_fn(**self.params, windows=windows)
        out, start = [], 0
        for s in sentences:
            stop = start + len(s.tokens)
            out.append(self._decode(raw[start:stop], decode))
            start = stop
        return out

    def _decode(self, raw: np.ndarray, decode: str) -> list[str]:
        if self.spec.entity is not None:  # binary: one score per token
            tags = [f"I-{self.spec.entity}" if s > 0 else "O" for s in np.atleast_1d(raw)]
            return tags if decode == "argmax" else repair(tags)
        if decode == "viterbi":
            shifted = raw - raw.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return viterbi(log_probs, self.spec.tags)
        tags = [self.spec.tags[i] for i in np.argmax(raw, axis=1)]
        return tags if decode == "argmax" else repair(tags)

    def gold(self, sentences: list[Sentence]) -> list[list[str]]:
        if self.spec.entity is None:
            return [list(s.tags) for s in sentences]
        return [repair(f"I-{self.spec.entity}" if t == self.spec.entity else "O"
                       for t in self._labels(s)) for s in sentences]

    def evaluate(self, sentences: list[Sentence], decode: str = "repair") -> dict:
        """Token accuracy, entity-level precision/recall/F1 and seqeval's per-type report
        (conlleval rules), the token-level confusion matrix, and the predictions."""
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

        predicted, gold = self.predict(sentences, decode), self.gold(sentences)
        flat_p = [t for s in predicted for t in s]
        flat_g = [t for s in gold for t in s]
        accuracy = float(np.mean([p == g for p, g in zip(flat_p, flat_g)])) if flat_g else 0.0
        return {
            "accuracy": accuracy,
            "precision": precision_score(gold, predicted, zero_division=0),
            "recall": recall_score(gold, predicted, zero_division=0),
            "f1": f1_score(gold, predicted, zero_division=0),
            "report": classification_report(gold, predicted, zero_division=0),
            "confusion": confusion(flat_g, flat_p),
            "predicted": predicted,
        }

    # ------------------------------------------------------------ files

    def meta(self) -> str:
        """Everything but the parameters, as JSON: the model, the tags, the vocabulary."""
        return json.dumps({"model": asdict(self.spec.model), "tags": self.spec.tags,
                           "entity": self.spec.entity, "words": self.vocab.words})

    @classmethod
    def from_meta(cls, meta: str, params: dict) -> "WindowTagger":
        fields = json.loads(meta)
        spec = TaggerSpec(WindowConfig(**fields["model"]), fields["tags"], fields["entity"])
        return cls(spec, Vocabulary(fields["words"][2:]), params)

    def save(self, path) -> None:
        np.savez(path, meta=np.array(self.meta()), **self.params)

    @classmethod
    def load(cls, path) -> "WindowTagger":
        try:
            stored = np.load(path, allow_pickle=False)
            meta = str(stored["meta"])
            json.loads(meta)
        except (OSError, KeyError, ValueError) as error:
            raise DataError(f"{path}: not a gradcomp tagger file ({error})") from None
        return cls.from_meta(meta, {k: stored[k] for k in stored.files if k != "meta"})


# ---------------------------------------------------------------- training


@dataclass
class EpochResult:
    epoch: int
    loss: float
    dev: dict = field(default_factory=dict)
    seconds: float = 0.0
    lr: float = 0.0


@dataclass
class Training:
    """What a training run did: every epoch, the one whose parameters were kept, and why
    it stopped."""

    epochs: list[EpochResult]
    kept: EpochResult | None = None  # with a dev set: the epoch of best dev F1
    stopped_early: bool = False


def train(tagger: WindowTagger, train_sents: list[Sentence], dev_sents: list[Sentence] | None,
          epochs: int = 5, batch_size: int = 32, optimizer: str = "adam", lr: float | None = None,
          seed: int = 0, progress: bool = True, on_epoch=None, patience: int | None = None,
          lr_decay: float | None = None, keep_best: bool = True, gradients=None) -> Training:
    """Minibatch training; ``on_epoch(result)`` is called after each epoch.

    With dev sentences: the parameters of the epoch with the best dev entity F1 are kept
    (``keep_best``), ``patience`` epochs without a better F1 stop the run, and ``lr_decay``
    multiplies the learning rate after each epoch that did not improve it. ``gradients``
    computes each step elsewhere: ``gradients(tagger, windows, labels)`` returns the function
    from a batch's row numbers to its ``(loss, grads)`` (``gradcomp.distributed``).
    """
    from tqdm import tqdm

    if not train_sents:
        raise DataError("no training sentences")
    if optimizer not in OPTIMIZERS:
        raise GradcompError(f"optimizer {optimizer!r} is not one of {sorted(OPTIMIZERS)}")
    if (patience is not None or lr_decay is not None) and not dev_sents:
        raise GradcompError("patience and lr_decay follow the dev F1: give dev sentences")
    opt = OPTIMIZERS[optimizer](**({"lr": lr} if lr else {}))
    windows, labels = tagger.encode(train_sents)
    step = gradients(tagger, windows, labels) if gradients is not None else (
        lambda batch: tagger.loss_and_grads(windows[batch], labels[batch]))
    rng = np.random.default_rng(seed)
    run = Training([])
    best: dict | None = None
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(labels))
        batches = range(0, len(order), batch_size)
        total, count = 0.0, 0
        for lo in tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False,
                       disable=not progress):
            batch = order[lo:lo + batch_size]
            value, grads = step(batch)
            opt.step(tagger.params, grads)
            total += value * len(batch)
            count += len(batch)
        result = EpochResult(epoch, total / count, seconds=time.perf_counter() - start,
                             lr=opt.lr)
        run.epochs.append(result)
        if dev_sents:
            result.dev = tagger.evaluate(dev_sents)
            if run.kept is None or result.dev["f1"] > run.kept.dev["f1"]:
                run.kept = result
                best = {k: v.copy() for k, v in tagger.params.items()} if keep_best else None
            elif lr_decay is not None:
                opt.lr *= lr_decay
        if on_epoch:
            on_epoch(result)
        if patience is not None and epoch - run.kept.epoch >= patience:
            run.stopped_early = epoch < epochs
            break
    if best is not None:
        for key, value in best.items():  # in place: the optimizer's state refers to them
            tagger.params[key][...] = value
    return run
