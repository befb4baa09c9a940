"""Code generation: from the combined forward+backward DAG to readable Numba source."""

from .emit import KernelSource, emit_kernel

__all__ = ["KernelSource", "emit_kernel"]
