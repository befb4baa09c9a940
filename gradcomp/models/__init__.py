"""Losses built with the front end; the CS224N window classifier is the showcase."""

from .window import (
    ACTIVATIONS,
    LOSSES,
    WindowConfig,
    build,
    init_params,
    scores,
    window_classifier_loss,
)

__all__ = [
    "ACTIVATIONS", "LOSSES", "WindowConfig", "build", "init_params", "scores",
    "window_classifier_loss",
]
