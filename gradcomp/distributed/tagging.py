"""Tagging a large corpus on Dask workers: partitions in, tags out in input order."""

from __future__ import annotations

from ..errors import GradcompError

_TAGGERS: dict = {}  # per worker process: the tagger of each model sent, built once


def predict(client, tagger, sentences: list, decode: str = "repair",
            partition: int = 2000) -> list[list[str]]:
    """``tagger.predict(sentences, decode)``, partitions of ``partition`` sentences at a time
    on the workers; the same tags as the serial call, in the same order."""
    if partition < 1:
        raise GradcompError(f"partition must be at least 1 sentence, got {partition}")
    model = client.scatter([(tagger.meta(), tagger.params)], broadcast=True, hash=False)[0]
    parts = [client.submit(_predict_part, model, sentences[lo:lo + partition], decode,
                           pure=False)
             for lo in range(0, len(sentences), partition)]
    return [tags for part in client.gather(parts) for tags in part]


def _predict_part(model: tuple, sentences: list, decode: str) -> list[list[str]]:
    from ..train import WindowTagger

    meta, params = model
    key = hash(meta), id(params)  # the params stay alive in the cache: ids are not reused
    tagger = _TAGGERS.get(key)
    if tagger is None:
        tagger = _TAGGERS[key] = WindowTagger.from_meta(meta, params)
    return tagger.predict(sentences, decode)
