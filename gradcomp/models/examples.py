"""Small graphs with inputs, for pictures and first steps: the lecture's and the NER model's."""

from __future__ import annotations

import numpy as np

from .. import frontend as F
from ..ir import Node
from .window import WindowConfig, init_params, window_classifier_loss


def lecture_example() -> tuple[Node, dict]:
    """f = (x + y) * max(y, z) at x=1, y=2, z=0, as drawn in the lecture."""
    x, y, z = F.scalars("x y z")
    return F.mul(F.add(x, y), F.maximum(y, z)), {"x": 1.0, "y": 2.0, "z": 0.0}


def ner_example() -> tuple[Node, dict]:
    """The window classifier at tensor level with small random inputs."""
    cfg = WindowConfig()
    rng = np.random.default_rng(0)
    inputs = init_params(cfg, 100)
    inputs.update(windows=rng.integers(0, 100, (4, cfg.width)),
                  labels=rng.integers(0, cfg.classes, 4))
    return window_classifier_loss(), inputs
