"""Writes gradcomp/data/sample_{train,dev}.conll: a small NER sample written for gradcomp.

Sentences come from templates filled with names of people, places, organisations and
events, tagged in IOB2 (PER, LOC, ORG, MISC). Train and dev use different random fills of the
same templates (fixed seeds); dev also draws names that train never shows (the last three of
each list), which the model can only tag from their context.
Run: python scripts/make_sample_conll.py
"""

import random
from pathlib import Path

PEOPLE = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie", "Emmy Noether",
          "Ravi Shankar", "Mei Lin", "Olga Petrova", "Kwame Mensah", "Sofia Rossi",
          "Juan Perez", "Hana Sato", "Lars Nilsen", "Amara Okafor", "Tom Baker", "Nina Weber"]
PLACES = ["Paris", "Berlin", "Lagos", "Tokyo", "Lima", "Oslo", "Cairo", "Toronto", "Madrid",
          "New York", "Buenos Aires", "Nairobi", "Seoul", "Hanoi", "Vienna", "Quito"]
ORGS = ["Acme Corp", "Globex", "United Nations", "Red Cross", "Stanford University",
        "World Bank", "Northwind Traders", "Initech", "Blue Harbor Bank", "City Council"]
MISC = ["Olympics", "World Cup", "Nobel Prize", "French", "Japanese", "Brazilian", "Euro"]

TEMPLATES = [
    "{PER} visited {LOC} last week .",
    "{PER} works for {ORG} in {LOC} .",
    "The {ORG} office in {LOC} opened on Monday .",
    "{PER} said the {MISC} team played well .",
    "Officials in {LOC} met {PER} to discuss the budget .",
    "{ORG} hired {PER} as its new director .",
    "Prices rose sharply in {LOC} after the {MISC} final .",
    "{PER} and {PER} flew from {LOC} to {LOC} .",
    "A spokesman for {ORG} declined to comment .",
    "The {MISC} minister arrived in {LOC} on Tuesday .",
    "{PER} won the {MISC} in {LOC} .",
    "Shares of {ORG} fell 3 percent on Friday .",
    "Heavy rain hit {LOC} and the {ORG} sent help .",
    "It was a quiet day and nothing much happened .",
    "The talks will continue next month , officials said .",
]
POOLS = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS, "MISC": MISC}


def sentence(template: str, rng: random.Random, held_out: bool) -> list[tuple[str, str]]:
    pairs = []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            kind = word[1:-1]
            pool = POOLS[kind] if held_out else POOLS[kind][:-3]  # train never sees the last 3
            for i, part in enumerate(rng.choice(pool).split()):
                pairs.append((part, ("B-" if i == 0 else "I-") + kind))
        else:
            pairs.append((word, "O"))
    return pairs


def write(path: Path, count: int, seed: int, held_out: bool) -> None:
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(count):
        for token, tag in sentence(rng.choice(TEMPLATES), rng, held_out):
            lines.append(f"{token} {tag}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "gradcomp" / "data"
    write(out / "sample_train.conll", 400, seed=1, held_out=False)
    write(out / "sample_dev.conll", 120, seed=2, held_out=True)
