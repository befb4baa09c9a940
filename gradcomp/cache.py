"""The kernel cache's files: where they live, how they are named, written and found damaged.

Everything gradcomp keeps on disk lives in ``$GRADCOMP_CACHE_DIR`` (default
``~/.cache/gradcomp``): generated kernel sources (``k_<sha256>.py``, Numba's cache beside them)
and simplified partial derivatives (``d_<sha256>.txt``). Files are written atomically (temp
file, then ``os.replace``); a file found damaged is rebuilt with one ``CacheWarning`` naming it.
A cache dir that cannot be written falls back to a directory under the system temp dir.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

from .errors import CacheWarning, CompileError


def default_cache_dir() -> Path:
    configured = os.environ.get("GRADCOMP_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradcomp"


_PROVEN: set[Path] = set()  # directories this process has already written a probe into


def _writable(directory: Path) -> bool:
    if directory in _PROVEN:  # every kernel and cached derivative asks: probe once
        return True
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", delete=True)
        probe.close()
    except OSError:
        return False
    _PROVEN.add(directory)
    return True


def cache_dir() -> Path:
    """The configured cache dir, or a per-user temp dir when that one is not writable."""
    directory = default_cache_dir()
    if _writable(directory):
        return directory
    fallback = Path(tempfile.gettempdir()) / f"gradcomp-cache-{os.getuid()}"
    if not _writable(fallback):
        raise CompileError(f"neither {directory} nor {fallback} is a writable cache directory")
    return fallback


def source_key(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:24]


def write_source(source: str) -> Path:
    """The cache file holding exactly ``source``, written atomically if missing or corrupt."""
    path = cache_dir() / f"k_{source_key(source)}.py"
    try:
        if path.read_bytes() == source.encode("utf-8"):
            return path
        warn_damaged(path, "its text is not the source it is named for")
    except OSError:
        pass  # missing: write it below
    try:
        write_atomic(path, source)
    except OSError as error:
        raise CompileError(f"could not write generated source to {path}: {error}") from error
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file, so a reader never sees half of it."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except OSError:
        Path(temp).unlink(missing_ok=True)
        raise


def warn_damaged(path: Path, why: str) -> None:
    warnings.warn(f"gradcomp cache file {path} was damaged ({why}); discarded and rebuilt",
                  CacheWarning, stacklevel=3)
