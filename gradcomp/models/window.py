"""The CS224N named-entity window classifier as a gradcomp loss.

Each example is a window of ``2 * window + 1`` word indices. Their rows of the embedding table
``L`` (V x dim) are concatenated into ``x`` (size (2w+1)·dim), then ``h = f(W x + b)`` with
``f`` tanh, relu or sigmoid. Three scores, as in the lecture:

- ``softmax``: logits ``U h + c`` over the tag classes, softmax cross-entropy, batch mean;
- ``logistic``: one score ``s = u·h`` for "is the centre word of class X", logistic loss
  (written as a two-class cross-entropy over logits [0, s], which is the same and stable);
- ``max_margin``: ``max(0, 1 - s + s_c)`` against a corrupt window ``corrupt``, batch mean.

Inputs: ``L`` (V, dim), ``W`` (hidden, (2w+1)·dim), ``b`` (hidden,), ``U`` (classes, hidden)
and ``c`` (classes,) or ``u`` (hidden,), ``windows`` (B, 2w+1) int64, ``labels`` (B,) int64
(not for max_margin), ``corrupt`` (B, 2w+1) int64 (max_margin only). V and B are named dims.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import frontend as F
from ..errors import IRError
from ..ir import Node, name

ACTIVATIONS = {"tanh": F.tanh, "relu": F.relu, "sigmoid": F.sigmoid}
LOSSES = ("softmax", "logistic", "max_margin")


@dataclass(frozen=True)
class WindowConfig:
    window: int = 2
    dim: int = 50
    hidden: int = 100
    classes: int = 5
    activation: str = "tanh"
    loss: str = "softmax"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise IRError(f"activation {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if self.loss not in LOSSES:
            raise IRError(f"loss {self.loss!r} is not one of {list(LOSSES)}")
        for field in ("window", "dim", "hidden", "classes"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < (0 if field == "window" else 1):
                raise IRError(f"{field} must be a positive int, got {value!r}")

    @property
    def width(self) -> int:
        """Words per window."""
        return 2 * self.window + 1

    def parameter_shapes(self, vocab_size: int) -> dict[str, tuple[int, ...]]:
        shapes = {
            "L": (vocab_size, self.dim),
            "W": (self.hidden, self.width * self.dim),
            "b": (self.hidden,),
        }
        if self.loss == "softmax":
            shapes.update(U=(self.classes, self.hidden), c=(self.classes,))
        else:
            shapes.update(u=(self.hidden,))
        return shapes


def _hidden(cfg: WindowConfig, L: Node, W: Node, b: Node, windows: Node) -> Node:
    x = name(F.reshape(F.take(L, windows), ("B", cfg.width * cfg.dim)), "x")  # the window
    z = name(F.add(F.matmul(x, F.transpose(W)), b), "z")
    return name(ACTIVATIONS[cfg.activation](z), "h")


def _inputs(cfg: WindowConfig) -> dict[str, Node]:
    nodes = {
        "L": F.tensor("L", ("V", cfg.dim)),
        "W": F.tensor("W", (cfg.hidden, cfg.width * cfg.dim)),
        "b": F.tensor("b", (cfg.hidden,)),
        "windows": F.tensor("windows", ("B", cfg.width), "int64"),
    }
    if cfg.loss == "softmax":
        nodes.update(U=F.tensor("U", (cfg.classes, cfg.hidden)), c=F.tensor("c", (cfg.classes,)))
    else:
        nodes.update(u=F.tensor("u", (cfg.hidden,)))
    return nodes


def scores(cfg: WindowConfig, windows_name: str = "windows") -> Node:
    """Logits U h + c (B, classes) for softmax; the score u·h (B,) otherwise."""
    p = _inputs(cfg)
    windows = F.tensor(windows_name, ("B", cfg.width), "int64")
    h = _hidden(cfg, p["L"], p["W"], p["b"], windows)
    if cfg.loss == "softmax":
        return name(F.add(F.matmul(h, F.transpose(p["U"])), p["c"]), "scores")
    return name(F.matmul(h, p["u"]), "score")


def build(cfg: WindowConfig) -> Node:
    """The scalar training loss for ``cfg`` (batch mean)."""
    score = scores(cfg)
    if cfg.loss == "softmax":
        return name(F.cross_entropy(score, F.tensor("labels", ("B",), "int64")), "loss")
    if cfg.loss == "logistic":
        logits = F.concat([F.const(0.0, ("B", 1)), F.reshape(score, ("B", 1))], axis=1)
        return name(F.cross_entropy(logits, F.tensor("labels", ("B",), "int64")), "loss")
    corrupt_score = name(scores(cfg, "corrupt"), "corrupt_score")
    margin = name(F.relu(F.add(F.sub(1.0, score), corrupt_score)), "hinge")
    return name(F.mean(margin), "loss")


def window_classifier_loss(
    window: int = 2,
    dim: int = 50,
    hidden: int = 100,
    classes: int = 5,
    activation: str = "tanh",
    loss: str = "softmax",
) -> Node:
    """The window-classifier loss graph; see the module docstring for its inputs."""
    return build(WindowConfig(window, dim, hidden, classes, activation, loss))


def init_params(cfg: WindowConfig, vocab_size: int, seed: int = 0, dtype=np.float64) -> dict:
    """Glorot-uniform weights, zero biases, small random word vectors."""
    rng = np.random.default_rng(seed)
    params = {}
    for param, shape in cfg.parameter_shapes(vocab_size).items():
        if param in ("b", "c"):
            params[param] = np.zeros(shape, dtype)
        elif param == "L":
            params[param] = (0.1 * rng.standard_normal(shape)).astype(dtype)
        else:
            fan = shape[0] + (shape[1] if len(shape) > 1 else 1)
            limit = np.sqrt(6.0 / fan)
            params[param] = rng.uniform(-limit, limit, shape).astype(dtype)
    return params
