"""Generated source on disk: write once, import, and let Numba cache the machine code.

The file is ``$GRADCOMP_CACHE_DIR/k_<sha256 of the source>.py``, written atomically (temp file,
then ``os.replace``) and never edited; Numba keeps its cache in the ``__pycache__`` beside it,
so a second process that builds the same loss loads machine code instead of compiling. A file
whose content no longer matches its name is rewritten; a cache dir that cannot be written
falls back to a directory under the system temp dir.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ..errors import CompileError

MODULE_PREFIX = "gradcomp_kernel_"


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
        if path.read_text(encoding="utf-8") == source:
            return path
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: (re)write it below
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


def load_module(source: str) -> ModuleType:
    """Import the generated source as a module (registered in sys.modules for Numba's cache)."""
    path = write_source(source)
    name = MODULE_PREFIX + path.stem
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise CompileError(f"the generated module {path} failed to import: {error}") from error
    return module
