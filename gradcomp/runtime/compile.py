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
import warnings
from pathlib import Path
from types import ModuleType

from ..errors import CacheWarning, CompileError

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


def warn_damaged(path: Path, why: str) -> None:
    warnings.warn(f"gradcomp cache file {path} was damaged ({why}); discarded and rebuilt",
                  CacheWarning, stacklevel=3)


MAX_REPAIRS = 8  # damaged Numba cache files discarded per compile before giving up


def compile_types(dispatcher, types: tuple) -> None:
    """``dispatcher.compile(types)``, discarding damaged Numba cache files on the way.

    Numba unpickles its cache files (a kernel's, or a helper's it links in) without asking
    whether they are whole; a crash mid-write or a full disk leaves files that make it raise.
    Such an error comes from inside Numba's cache object: its files are removed, with one
    warning each, and the compile is tried again (it then compiles and writes them anew).
    """
    for _ in range(MAX_REPAIRS):
        try:
            dispatcher.compile(types)
            return
        except Exception as error:  # noqa: BLE001 - re-raised unless it is a damaged cache
            damaged, stale = _cache_files_in(error.__traceback__)
            if not damaged:
                raise
            for path in damaged:
                warn_damaged(path, f"Numba could not load it: {type(error).__name__}")
            for path in damaged + stale:
                path.unlink(missing_ok=True)
    dispatcher.compile(types)


def _cache_files_in(traceback) -> tuple[list[Path], list[Path]]:
    """The Numba cache file whose loading raised, found from the failing frames, and the
    index that points to it (discarded with it, so no other entry points to a lost file)."""
    from numba.core.caching import IndexDataCacheFile

    damaged: list[Path] = []
    index: list[Path] = []
    while traceback is not None:
        frame = traceback.tb_frame
        owner = frame.f_locals.get("self")
        cache_file = getattr(owner, "_cache_file", owner)
        if isinstance(cache_file, IndexDataCacheFile):
            index = [Path(cache_file._index_path)]
            if frame.f_code.co_name == "_load_data" and "path" in frame.f_locals:
                damaged = [Path(frame.f_locals["path"])]
        traceback = traceback.tb_next
    if index and not damaged:  # the index itself, or an entry it loaded that did not rebuild
        return index, []
    return damaged, index
