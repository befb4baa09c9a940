"""Golden sources: the kernels of the lecture example and of the window classifier (softmax
and max-margin), committed in ``tests/golden/`` as reviewed text, so that any change to the
generated code shows up as a diff in review. After a deliberate change, rewrite them with
``GRADCOMP_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and read the diff."""

import os
from pathlib import Path

import pytest

import gradcomp as gc
from gradcomp.models import window_classifier_loss

GOLDEN = Path(__file__).parent / "golden"


def _lecture():
    x, y, z = gc.scalars("x y z")
    return (x + y) * gc.maximum(y, z)


KERNELS = {
    "lecture": _lecture,
    "window_softmax": lambda: window_classifier_loss(loss="softmax"),
    "window_max_margin": lambda: window_classifier_loss(loss="max_margin"),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_generated_source_is_the_reviewed_one(name):
    source = gc.compile(KERNELS[name](), jit=False).source
    path = GOLDEN / f"{name}.py.txt"
    if os.environ.get("GRADCOMP_UPDATE_GOLDEN"):
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"no golden source {path.name}; write it with GRADCOMP_UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8"), (
        f"the generated source of {name} differs from {path}; if the change is meant, rewrite "
        "it with GRADCOMP_UPDATE_GOLDEN=1 and review the diff")


def test_names_are_metadata_outside_the_hash_consing_key():
    z = gc.tensor("z", (3,))
    first = gc.tanh(z)
    assert gc.name(first, "h") is first and gc.tanh(z) is first  # naming makes no new node
    assert "[h]" in gc.dump(first)
    source = gc.compile(gc.sum(first * first), jit=False).source
    assert "h = empty((3,), dt)" in source and "d_h" in source
    with pytest.raises(gc.IRError, match="identifier"):
        gc.name(first, "not a name")


def test_a_graph_sent_as_data_keeps_its_names():
    from gradcomp.ir import from_payload, to_payload

    loss = window_classifier_loss(dim=4, hidden=3, classes=2)
    payload = to_payload([loss])
    for node in gc.ir.toposort([loss]):  # forget the names, as another process would
        gc.ir._NAMES.pop(node, None)
    again = from_payload(payload)[0]
    assert again is loss and loss.given_name == "loss"
    assert gc.compile(again, jit=False).source == gc.compile(
        window_classifier_loss(dim=4, hidden=3, classes=2), jit=False).source
