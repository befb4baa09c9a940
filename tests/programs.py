"""Random programs over gradcomp's whole op set, built twice: in gradcomp and in PyTorch.

A program is a list of steps ``(op, i, j)``; each step applies op number ``op`` to the values at
positions ``i`` and ``j`` (mod the pool's size) and appends the result to the pool. A step whose
operands do not fit (shapes that do not broadcast, an axis that is not there) applies a unary
map instead, so every list of steps is a program. Parameters an op needs (a weight for a
product, an index array for a scatter, labels for cross-entropy) are made on demand as new
inputs. PyTorch evaluates the same steps on the same arrays; its autograd shares nothing with
gradcomp's gradient code, so it is an independent oracle for the value and every gradient.
"""

from __future__ import annotations

import numpy as np
import torch

import gradcomp as gc
from gradcomp.ir import product_dim

DIMS = {"B": 2, "T": 3}
ROWS = 5  # rows of every scatter_add target


def concrete(shape) -> tuple[int, ...]:
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        else:
            count = 1
            for factor in d.split("*"):
                count *= int(factor) if factor.isdigit() else DIMS[factor]
            out.append(count)
    return tuple(out)


class Program:
    """The pool of (gradcomp node, torch tensor) pairs and the inputs behind them."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.arrays: dict[str, np.ndarray] = {}
        self.leaves: dict[str, torch.Tensor] = {}
        self.nodes: dict[str, gc.Node] = {}  # the float inputs
        self.pool: list[tuple[gc.Node, torch.Tensor]] = []
        self.steps: list[str] = []
        for name, shape in (("A", (2, 3)), ("v", (3,)), ("s", ()), ("X", ("B", "T", 4))):
            self.pool.append(self.input(name, shape))
        table = self.input("L", (6, 3))
        index = self.index("I", ("B", "T"), 6)
        self.pool.append((gc.take(table[0], index[0]), table[1][index[1]]))
        self.spare = self.input("spare", (3,))  # in wrt, read by nothing: gradient zeros

    def input(self, name: str, shape) -> tuple[gc.Node, torch.Tensor]:
        value = self.rng.standard_normal(concrete(shape))
        self.arrays[name] = value
        self.leaves[name] = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        self.nodes[name] = gc.tensor(name, shape)
        return self.nodes[name], self.leaves[name]

    def index(self, name: str, shape, bound: int) -> tuple[gc.Node, torch.Tensor]:
        value = self.rng.integers(0, bound, concrete(shape))
        self.arrays[name] = value
        return gc.tensor(name, shape, "int64"), torch.tensor(value)

    def fresh(self, stem: str) -> str:
        return f"{stem}{len(self.arrays)}"


def _unary(p: Program, x, y):
    (g, t), which = x, len(p.pool) % len(UNARY)
    return UNARY[which](g, t)


UNARY = [
    lambda g, t: (gc.tanh(g), torch.tanh(t)),
    lambda g, t: (gc.sigmoid(g), torch.sigmoid(t)),
    lambda g, t: (gc.sin(g), torch.sin(t)),
    lambda g, t: (gc.exp(gc.tanh(g)), torch.exp(torch.tanh(t))),
    lambda g, t: (0.5 * g * g, 0.5 * t * t),
    lambda g, t: (gc.sqrt(g * g + 1.0), torch.sqrt(t * t + 1.0)),
    lambda g, t: (gc.log(1.0 + g * g), torch.log(1.0 + t * t)),
    lambda g, t: (gc.relu(g) - 0.3 * gc.abs(g), torch.relu(t) - 0.3 * torch.abs(t)),
    lambda g, t: (gc.cos(g) ** 2, torch.cos(t) ** 2),
]


def _binary(fg, ft):
    def step(p, x, y):
        (a, ta), (b, tb) = x, y
        if a is b:  # a tie in every element: max and min would share the gradient
            return a + b, ta + tb
        return fg(a, b), ft(ta, tb)

    return step


def _reduce(fg, ft):
    def step(p, x, y):
        g, t = x
        if g.ndim == 0:
            return _unary(p, x, y)
        axis = len(p.pool) % g.ndim
        return fg(g, axis), ft(t, axis)

    return step


def _matmul(p: Program, x, y):
    """x @ W, with W a new input fitting x's last dim; batched when x is 3-D."""
    g, t = x
    if g.ndim == 0:
        return _unary(p, x, y)
    if g.ndim == 3 and len(p.pool) % 2:
        w = p.input(p.fresh("Wb"), (g.shape[0], g.shape[-1], 2))
    else:
        w = p.input(p.fresh("W"), (g.shape[-1],) if len(p.pool) % 3 == 0 else (g.shape[-1], 2))
    return g @ w[0], t @ w[1]


def _take(p: Program, x, y):
    """Rows of x (as a table) at a new index array."""
    g, t = x
    if g.ndim == 0 or not isinstance(g.shape[0], int):
        return _unary(p, x, y)
    index = p.index(p.fresh("idx"), (4,), g.shape[0])
    return gc.take(g, index[0]), t[index[1]]


def _scatter(p: Program, x, y):
    """x's rows added into the rows of a zero table at a new index array."""
    g, t = x
    if g.ndim == 0:
        return _unary(p, x, y)
    index = p.index(p.fresh("sidx"), g.shape[:1], ROWS)
    zeros = torch.zeros((ROWS,) + t.shape[1:], dtype=torch.float64)
    return gc.scatter_add(g, index[0], ROWS), zeros.index_add(0, index[1], t)


def _concat_slice(p: Program, x, y):
    """Join x with y (or with tanh(x)) along the last axis, or add two slices of x."""
    (a, ta), (b, tb) = x, y
    if not a.ndim or not isinstance(a.shape[-1], int):
        return _unary(p, x, y)
    if len(p.pool) % 2 or a.shape[-1] == 1:
        if a.shape != b.shape:
            b, tb = gc.tanh(a), torch.tanh(ta)
        return gc.concat([a, b], -1), torch.cat([ta, tb], -1)
    stop = a.shape[-1] - 1
    return (gc.slice_axis(a, -1, 1, a.shape[-1]) * 2.0 + gc.slice_axis(a, -1, 0, stop),
            ta[..., 1:] * 2.0 + ta[..., :stop])


def _reshape(p: Program, x, y):
    """Fold the first two axes into one (a product dim when they are named), or unfold."""
    g, t = x
    if g.ndim >= 2:
        shape = (product_dim(*g.shape[:2]),) + g.shape[2:]
        folded = gc.reshape(g, shape)
        return folded * 1.5, t.reshape(concrete(shape)) * 1.5
    if g.ndim == 1 and g.shape[0] == "B*T":
        return gc.reshape(g, ("B", "T")), t.reshape(DIMS["B"], DIMS["T"])
    return _unary(p, x, y)


def _transpose(p: Program, x, y):
    g, t = x
    if g.ndim < 2:
        return _unary(p, x, y)
    return gc.transpose(g), t.permute(*reversed(range(t.ndim)))


def _cross_entropy(p: Program, x, y):
    g, t = x
    if g.ndim != 2 or not isinstance(g.shape[1], int):
        return _unary(p, x, y)
    labels = p.index(p.fresh("lab"), g.shape[:1], g.shape[1])
    return gc.cross_entropy(g, labels[0]), torch.nn.functional.cross_entropy(t, labels[1])


def _softmax(p: Program, x, y):
    g, t = x
    if g.ndim == 0:
        return _unary(p, x, y)
    if len(p.pool) % 2:
        return gc.softmax(g, -1), torch.softmax(t, -1)
    return gc.log_softmax(g, -1), torch.log_softmax(t, -1)


OPS = [
    _unary,
    _binary(gc.add, torch.add),
    _binary(gc.sub, torch.sub),
    _binary(gc.mul, torch.mul),
    _binary(lambda a, b: a / (1.5 + gc.tanh(b)), lambda a, b: a / (1.5 + torch.tanh(b))),
    _binary(gc.maximum, torch.maximum),
    _binary(gc.minimum, torch.minimum),
    _reduce(gc.sum, lambda t, axis: t.sum(axis)),
    _reduce(gc.mean, lambda t, axis: t.mean(axis)),
    _reduce(gc.max, lambda t, axis: t.amax(axis)),
    _reduce(gc.logsumexp, lambda t, axis: torch.logsumexp(t, axis)),
    _softmax,
    _matmul,
    _take,
    _scatter,
    _concat_slice,
    _reshape,
    _transpose,
    _cross_entropy,
]


def build(steps: list[tuple[int, int, int]], seed: int = 0):
    """``(loss, torch_loss, program)`` for a list of steps."""
    p = Program(seed)
    for op, i, j in steps:
        x, y = p.pool[i % len(p.pool)], p.pool[j % len(p.pool)]
        try:
            result = OPS[op % len(OPS)](p, x, y)
        except gc.ShapeError:  # operands that do not fit: a unary step instead
            result = _unary(p, x, y)
        p.pool.append(result)
    (last, t_last), (other, t_other) = p.pool[-1], p.pool[-2]
    loss = gc.sum(last) + 0.1 * gc.sum(other * other)
    torch_loss = t_last.sum() + 0.1 * (t_other * t_other).sum()
    return loss, torch_loss, p


def oracle(torch_loss: torch.Tensor, p: Program, names: list[str]):
    """The value and the gradient of every named input, by PyTorch autograd."""
    leaves = [p.leaves[n] for n in names]
    grads = torch.autograd.grad(torch_loss, leaves, allow_unused=True)
    return torch_loss.item(), {
        n: np.zeros(p.arrays[n].shape) if g is None else g.numpy()
        for n, g in zip(names, grads)
    }
