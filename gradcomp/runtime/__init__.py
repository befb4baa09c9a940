"""Running graphs: input validation, the NumPy interpreter, and compiled kernels."""
