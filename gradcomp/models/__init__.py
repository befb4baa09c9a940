"""Losses built with the front end; the CS224N window classifier is the showcase."""

from .window import LOSSES, ACTIVATIONS, WindowConfig, init_params, window_classifier_loss

__all__ = ["ACTIVATIONS", "LOSSES", "WindowConfig", "init_params", "window_classifier_loss"]
