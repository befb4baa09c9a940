"""Graph pictures: DOT text parsed back, the lecture's values and edge gradients, renders."""

import re
import shutil
import struct

import pytest

import gradcomp as gc
from gradcomp.models.examples import lecture_example, ner_example
from gradcomp.viz import draw

NODE = re.compile(r'^\s*(n\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r'^\s*(n\d+) -> (n\d+)(?: \[(.*)\])?;$')


def parse(dot: str):
    """{id: label lines}, [(src, dst, attributes)] from gradcomp's DOT output."""
    nodes, edges = {}, []
    for line in dot.splitlines():
        if m := NODE.match(line):
            nodes[m.group(1)] = m.group(2).replace('\\"', '"').split("\\n")
        elif m := EDGE.match(line):
            label = re.search(r'label="([^"]*)"', m.group(3) or "")
            edges.append((m.group(1), m.group(2), label.group(1) if label else None))
    return nodes, edges


def by_head(nodes):
    return {lines[0]: node_id for node_id, lines in nodes.items()}


def test_lecture_picture_values_and_gradients():
    expr, inputs = lecture_example()
    nodes, edges = parse(gc.to_dot(expr, inputs, grads=True))
    ids = by_head(nodes)
    assert nodes[ids["mul"]][1] == "= 6"
    assert nodes[ids["add"]][1] == "= 3" and nodes[ids["maximum"]][1] == "= 2"
    grads = {(src, dst): label for src, dst, label in edges}
    assert grads[(ids["x"], ids["add"])] == "2"
    assert {grads[(ids["y"], ids["add"])], grads[(ids["y"], ids["maximum"])]} == {"2", "3"}
    assert grads[(ids["z"], ids["maximum"])] == "0"
    assert [nodes[ids[n]][-1] for n in "xyz"] == ["grad = 2", "grad = 5", "grad = 0"]


def test_shared_subexpression_appears_once():
    x = gc.scalar("x")
    h = gc.tanh(x)
    nodes, edges = parse(gc.to_dot(h * h + h))
    assert sum(1 for lines in nodes.values() if lines[0] == "tanh") == 1
    assert len(nodes) == 4  # x, tanh, mul, add


def test_ner_picture_is_one_node_per_tensor_op():
    expr, inputs = ner_example()
    nodes, edges = parse(gc.to_dot(expr, inputs, grads=True))
    assert len(nodes) <= 17  # the softmax cross-entropy is one box (40 boxes expanded)
    heads = [lines[0] for lines in nodes.values()]
    assert {"L", "W", "take", "x = reshape", "h = tanh", "matmul", "loss = cross_entropy"} <= \
        set(heads)  # the model's own names
    expanded = parse(gc.to_dot(expr, inputs, grads=True, expand=True))[0]
    inner = [lines[0] for lines in expanded.values()]
    assert len(expanded) > len(nodes) and "pick" in inner and "exp" in inner
    assert "rankdir=TB" in gc.to_dot(expr, inputs)  # top-down: it fits a page
    assert any("(B, 100)" in lines for lines in nodes.values())
    assert any(label and label.startswith("|.|=") for _, _, label in edges)


def test_adjoint_graph_is_drawn_apart():
    expr, inputs = lecture_example()
    dot = gc.to_dot(expr, inputs, grads=True, adjoint=True)
    assert "subgraph cluster_backward" in dot
    nodes, _ = parse(dot)
    assert any("grad" in lines[0] for lines in nodes.values())


def test_user_names_are_escaped():
    x = gc.scalar('evil"] ; n9 -> n9 [label="x')
    nodes, _ = parse(gc.to_dot(x * 2.0))
    assert nodes["n0"][0] == 'evil"] ; n9 -> n9 [label="x'


def test_draw_without_renderer_writes_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    expr, inputs = lecture_example()
    path, note = draw(expr, tmp_path / "g.png", inputs, grads=True)
    assert path.suffix == ".dot" and "apt-get install graphviz" in note
    assert parse(path.read_text())[0]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_png_render(tmp_path):
    pytest.importorskip("graphviz", reason="the viz extra (graphviz package) is not installed")
    expr, inputs = lecture_example()
    path, note = draw(expr, tmp_path / "lecture.png", inputs, grads=True)
    data = path.read_bytes()
    assert path.suffix == ".png" and note == ""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 200 < width < 4000 and 100 < height < 4000
