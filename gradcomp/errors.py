"""The exceptions gradcomp raises. Every user-facing error is a ``GradcompError``.

Subclasses also derive from the built-in exception a Python user would expect
(``ShapeError`` is a ``ValueError``, ``InputError`` a ``TypeError``...), so existing
``except ValueError`` code keeps working.
"""


class GradcompError(Exception):
    """Base class of every error gradcomp raises on purpose."""


class ShapeError(GradcompError, ValueError):
    """Shapes or named dims that do not fit together."""


class IRError(GradcompError, ValueError):
    """A malformed expression graph (wrong arity, wrong dtype, bad attribute)."""


class NotDifferentiableError(GradcompError, ValueError):
    """A gradient was asked for something that has none (a non-scalar loss, an int input)."""


class UnsupportedError(GradcompError, NotImplementedError):
    """A SymPy construct or option gradcomp does not translate."""


class InputError(GradcompError, TypeError):
    """A call got a missing, unknown or ill-typed input array."""


class IndexRangeError(GradcompError, IndexError):
    """An integer index array points outside the table it indexes."""


class CompileError(GradcompError, RuntimeError):
    """Numba failed on generated source; the message names the file and line."""


class DataError(GradcompError, ValueError):
    """A malformed data file; the message names the file and line."""


def describe_array(value) -> str:
    """How an error names a value that should have been a writable C-contiguous array."""
    if not hasattr(value, "flags"):
        return type(value).__name__
    return (f"{value.dtype} array of shape {value.shape}"
            + ("" if value.flags.c_contiguous else ", not C-contiguous")
            + ("" if value.flags.writeable else ", read-only"))


class CacheWarning(UserWarning):
    """A damaged file in the kernel cache was discarded and rebuilt."""
