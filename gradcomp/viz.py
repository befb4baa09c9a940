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
from .ir import Node, Op, composite, format_shape, node_ids, toposort
from .runtime.interp import evaluate
from .runtime.signature import Signature

INPUT_STYLE = 'shape=box, style="rounded,filled", fillcolor="#dbeafe"'
TARGET_STYLE = 'shape=box, style="rounded,filled,bold", fillcolor="#bfdbfe", penwidth=2'
INDEX_STYLE = 'shape=box, style="rounded,filled", fillcolor="#e5e7eb"'
LOSS_STYLE = 'shape=doubleoctagon, style=filled, fillcolor="#fde68a"'
OP_STYLE = 'shape=ellipse, style=filled, fillcolor="#f9fafb"'
ADJOINT_STYLE = 'shape=ellipse, style="filled,dashed", fillcolor="#fee2e2"'
COMPOSITE_STYLE = 'shape=box, style="filled", fillcolor="#ede9fe", peripheries=2'


def _quote(text: str) -> str:
    """A DOT string literal; user text (input names) cannot break out of it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped.replace(chr(13), "")}"'


def _summary(value) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{float(array):.4g}"
    return f"|.|={float(np.linalg.norm(array)):.3g}"


def _node_label(node: Node, value, kind: str | None = None) -> str:
    """The op (or the composite it stands for), with the user's name where there is one."""
    head = kind or (node.name if node.op is Op.INPUT else node.label)
    if node.op is Op.CONST:
        head = f"{node.attr('value'):g}"
    given = node.given_name
    if given is not None and node.op is not Op.INPUT:
        head = f"{given} = {head}"
    lines = [head]
    if node.shape:
        lines.append(format_shape(node.shape))
    if value is not None:
        lines.append(f"= {_summary(value)}")
    return "\n".join(lines)


def composites(order: list[Node]) -> tuple[dict[int, tuple], set[int]]:
    """The composite nodes drawn as one box (``{id: (kind, args)}``, outermost first) and the
    ids of the nodes inside them, which are not drawn. A composite whose inner nodes are also
    used outside it stays expanded."""
    users: dict[int, list[Node]] = {id(n): [] for n in order}
    for node in order:
        for arg in node.args:
            users[id(arg)].append(node)
    boxes: dict[int, tuple] = {}
    hidden: set[int] = set()
    for node in reversed(order):
        found = composite(node)
        if found is None or id(node) in hidden:
            continue
        outside = {id(n) for n in toposort(list(found[1]))}
        inside = {id(n) for n in toposort([node])} - outside - {id(node)}
        if all(id(u) in inside or u is node for i in inside for u in users[i]):
            boxes[id(node)] = found
            hidden |= inside
    return boxes, hidden


def _arguments(node: Node, boxes: dict) -> list[Node]:
    return list(boxes[id(node)][1]) if id(node) in boxes else list(node.args)


def _flowing(node: Node, arg: Node, boxes, hidden, edge_grads, values):
    """The gradient value flowing from ``node`` (a box: from the nodes inside it) into
    ``arg``, or None."""
    if id(node) not in boxes:
        return None
    inner = [n for n in toposort([node]) if id(n) in hidden or n is node]
    parts = [values[id(edge_grads[(id(u), k)])] for u in inner
             for k, a in enumerate(u.args) if a is arg and (id(u), k) in edge_grads]
    return sum(parts[1:], parts[0]) if parts else None


def to_dot(expr: Node, inputs: dict | None = None, grads: bool = False, wrt=None,
           adjoint: bool = False, expand: bool = False) -> str:
    """Graphviz DOT text of ``expr``'s graph (see the module docstring).

    ``grads=True`` needs ``inputs`` and a scalar ``expr``; ``wrt`` picks the gradient targets
    (default every float input). ``adjoint=True`` also draws the backward graph that
    ``gc.grad`` built, dashed, in a cluster of its own. Composites (softmax cross-entropy,
    logsumexp, log_softmax, softmax) are one box each unless ``expand``. Graphs of more than a
    dozen boxes are laid out top-down, so they fit a page.
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

    boxes, hidden = ({}, set()) if expand else composites(order)
    shown = [n for n in order if id(n) not in hidden]
    ids = node_ids(order)
    target_ids = {id(t) for t in targets}
    lines = ["digraph gradcomp {", f"  rankdir={'LR' if len(shown) <= 12 else 'TB'};",
             '  node [fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];']
    for node in shown:
        kind = boxes[id(node)][0] if id(node) in boxes else None
        label = _node_label(node, values.get(id(node)), kind)
        if id(node) in target_ids and id(node) in adjoints and inputs is not None:
            label += f"\ngrad = {_summary(values[id(adjoints[id(node)])])}"
        style = COMPOSITE_STYLE if kind else OP_STYLE
        if node is expr:
            style = LOSS_STYLE
        elif node.op is Op.INPUT:
            style = TARGET_STYLE if id(node) in target_ids else (
                INDEX_STYLE if node.dtype != "float" else INPUT_STYLE)
        lines.append(f"  {ids[id(node)]} [label={_quote(label)}, {style}];")
    for node in shown:
        for position, arg in enumerate(_arguments(node, boxes)):
            attributes = []
            if grads:
                flowing = _flowing(node, arg, boxes, hidden, edge_grads, values)
                contribution = edge_grads.get((id(node), position))
                if flowing is None and contribution is not None and id(node) not in boxes:
                    flowing = values[id(contribution)]
                if flowing is not None:
                    attributes += [f"label={_quote(_summary(flowing))}", 'fontcolor="#b91c1c"']
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
         adjoint: bool = False, expand: bool = False) -> tuple[Path, str]:
    """Render the graph to ``path`` (.svg or .png); returns (the file written, a note).

    Without the ``graphviz`` package or Debian's ``dot`` it writes ``path`` with the suffix
    ``.dot`` instead, and the note says how to install them.
    """
    text = to_dot(expr, inputs, grads, wrt, adjoint, expand)
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
