"""The version of gradcomp: stamped into generated kernels and cache keys."""

__version__ = "0.1.0"
