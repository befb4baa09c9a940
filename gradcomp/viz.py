"""Pictures of the computation graph, as the lecture draws them.

``to_dot`` writes Graphviz DOT text of the DAG: one node per tensor op (shared subexpressions
once), each showing its op and shape, its forward value when inputs are given, and with
``grads=True`` each edge labelled with the gradient flowing back along it (upstream × local,
computed by the interpreter). ``draw`` renders SVG or PNG through the optional ``graphviz``
package and Debian's ``dot``; without them it writes the ``.dot`` file and says what to install.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .autodiff.reverse import backward, check_loss, resolve_wrt
from .ir import Node, Op, format_shape, node_ids, toposort
from .runtime.interp import evaluate
from .runtime.signature import Signature

INPUT_STYLE = 'shape=box, style="rounded,filled", fillcolor="#dbeafe"'
TARGET_STYLE = 'shape=box, style="rounded,filled,bold", fillcolor="#bfdbfe", penwidth=2'
INDEX_STYLE = 'shape=box, style="rounded,filled", fillcolor="#e5e7eb"'
LOSS_STYLE = 'shape=doubleoctagon, style=filled, fillcolor="#fde68a"'
OP_STYLE = 'shape=ellipse, style=filled, fillcolor="#f9fafb"'
ADJOINT_STYLE = 'shape=ellipse, style="filled,dashed", fillcolor="#fee2e2"'


def _quote(text: str) -> str:
    """A DOT string literal; user text (input names) cannot break out of it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped.replace(chr(13), "")}"'


def _summary(value) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{float(array):.4g}"
    return f"|.|={float(np.linalg.norm(array)):.3g}"


def _node_label(node: Node, value) -> str:
    head = node.name if node.op is Op.INPUT else node.label
    if node.op is Op.CONST:
        head = f"{node.attr('value'):g}"
    lines = [head]
    if node.shape:
        lines.append(format_shape(node.shape))
    if value is not None:
        lines.append(f"= {_summary(value)}")
    return "\n".join(lines)


def to_dot(expr: Node, inputs: dict | None = None, grads: bool = False, wrt=None,
           adjoint: bool = False) -> str:
    """Graphviz DOT text of ``expr``'s graph (see the module docstring).

    ``grads=True`` needs ``inputs`` and a scalar ``expr``; ``wrt`` picks the gradient targets
    (default every float input). ``adjoint=True`` also draws the backward graph that
    ``gc.grad`` built, dashed, in a cluster of its own.
    """
    order = toposort([expr])
    targets: list[Node] = []
    edge_grads: dict[tuple, Node] = {}
    adjoints: dict[int, Node] = {}
    if grads or adjoint:
        check_loss(expr)
        targets = resolve_wrt(expr, wrt)
        adjoints, edge_grads = backward(expr, targets)
    extra = list(edge_grads.values()) + [adjoints[id(t)] for t in targets if id(t) in adjoints]
    values: dict[int, object] = {}
    if inputs is not None:
        wanted = order + extra
        bound = Signature(wanted).bind(inputs)
        for node, value in zip(wanted, evaluate(wanted, bound)):
            values[id(node)] = value
    elif grads:
        raise ValueError("to_dot(grads=True) needs the inputs to compute gradients")

    ids = node_ids(order)
    target_ids = {id(t) for t in targets}
    lines = ["digraph gradcomp {", "  rankdir=LR;", '  node [fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    for node in order:
        label = _node_label(node, values.get(id(node)))
        if id(node) in target_ids and id(node) in adjoints and inputs is not None:
            label += f"\ngrad = {_summary(values[id(adjoints[id(node)])])}"
        style = OP_STYLE
        if node is expr:
            style = LOSS_STYLE
        elif node.op is Op.INPUT:
            style = TARGET_STYLE if id(node) in target_ids else (
                INDEX_STYLE if node.dtype != "float" else INPUT_STYLE)
        lines.append(f"  {ids[id(node)]} [label={_quote(label)}, {style}];")
    for node in order:
        for position, arg in enumerate(node.args):
            attributes = []
            contribution = edge_grads.get((id(node), position))
            if grads and contribution is not None:
                attributes.append(f"label={_quote(_summary(values[id(contribution)]))}")
                attributes.append('fontcolor="#b91c1c"')
            suffix = f" [{', '.join(attributes)}]" if attributes else ""
            lines.append(f"  {ids[id(arg)]} -> {ids[id(node)]}{suffix};")
    if adjoint:
        lines += _adjoint_cluster(order, [adjoints[id(t)] for t in targets if id(t) in adjoints],
                                  ids)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _adjoint_cluster(forward: list[Node], outputs: list[Node], ids: dict) -> list[str]:
    """The backward graph: its new nodes dashed in a cluster; forward values it reads, by edge."""
    forward_ids = {id(n) for n in forward}
    new = [n for n in toposort(outputs) if id(n) not in forward_ids]
    start = len(ids)
    for k, node in enumerate(new):
        ids[id(node)] = f"n{start + k}"
    lines = ["  subgraph cluster_backward {", '    label="backward (adjoint graph)";',
             '    style=dashed; color="#b91c1c";']
    for node in new:
        lines.append(f"    {ids[id(node)]} [label={_quote(_node_label(node, None))}, "
                     f"{ADJOINT_STYLE}];")
    lines.append("  }")
    for node in new:
        for arg in node.args:
            lines.append(f"  {ids[id(arg)]} -> {ids[id(node)]} [style=dashed, color=\"#b91c1c\"];")
    return lines


def draw(expr: Node, path, inputs: dict | None = None, grads: bool = False, wrt=None,
         adjoint: bool = False) -> tuple[Path, str]:
    """Render the graph to ``path`` (.svg or .png); returns (the file written, a note).

    Without the ``graphviz`` package or Debian's ``dot`` it writes ``path`` with the suffix
    ``.dot`` instead, and the note says how to install them.
    """
    text = to_dot(expr, inputs, grads, wrt, adjoint)
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "svg"
    if fmt == "dot":
        path.write_text(text, encoding="utf-8")
        return path, ""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is None or shutil.which("dot") is None:
        fallback = path.with_suffix(".dot")
        fallback.write_text(text, encoding="utf-8")
        return fallback, ("wrote DOT text instead of a picture: rendering needs "
                          "pip install 'gradcomp[viz]' and Graphviz's dot "
                          "(apt-get install graphviz)")
    path.write_bytes(graphviz.Source(text).pipe(format=fmt))
    return path, ""
