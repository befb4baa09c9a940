"""Reverse-mode differentiation: a table of vector-Jacobian rules and the adjoint pass."""

from .reverse import grad

__all__ = ["grad"]
