"""Generated source on disk: write once, import, and let Numba cache the machine code.

The file is ``$GRADCOMP_CACHE_DIR/k_<sha256 of the source>.py`` (``gradcomp.cache``), never
edited; Numba keeps its cache in the ``__pycache__`` beside it, so a second process that builds
the same loss loads machine code instead of compiling.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import FunctionType, ModuleType

from ..cache import warn_damaged, write_source
from ..errors import CompileError
from .unlinked import compile_unlinked, safe_loader

MODULE_PREFIX = "gradcomp_kernel_"


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
    for function in vars(module).values():  # its functions' cached code: loaded only safely
        if getattr(function, "py_func", None) is not None and _generated(function):
            function._cache.load_overload = safe_loader(function, compile_types)
    return module


def plain(dispatcher):
    """The generated function run by the Python interpreter, as are the other functions of
    its module it calls, directly or not (a tile's halves and outlined loops have no wrapper
    for calls from Python)."""
    namespace = dict(dispatcher.py_func.__globals__)
    for name, value in namespace.items():
        if getattr(value, "py_func", None) is not None and _generated(value):
            code = value.py_func.__code__
            namespace[name] = FunctionType(code, namespace, code.co_name)
    code = dispatcher.py_func.__code__
    return FunctionType(code, namespace, code.co_name)


MAX_REPAIRS = 8  # damaged Numba cache files discarded per compile before giving up


def compile_types(dispatcher, types: tuple) -> None:
    """``types`` loaded from Numba's cache (``load_cached``) or else compiled, discarding
    damaged Numba cache files on the way.

    Numba unpickles its cache files (a kernel's, or a helper's it links in) without asking
    whether they are whole; a crash mid-write or a full disk leaves files that make it raise.
    Such an error comes from inside Numba's cache object: its files are removed, with one
    warning each, and the compile is tried again (it then compiles and writes them anew).
    """
    for _ in range(MAX_REPAIRS):
        try:
            if not load_cached(dispatcher, types):
                _compile(dispatcher, types)
            return
        except Exception as error:  # noqa: BLE001 - re-raised unless it is a damaged cache
            damaged, stale = _cache_files_in(error.__traceback__)
            if not damaged:
                raise
            for path in damaged:
                warn_damaged(path, f"Numba could not load it: {type(error).__name__}")
            for path in damaged + stale:
                path.unlink(missing_ok=True)
    _compile(dispatcher, types)


def _generated(dispatcher) -> bool:
    """A function of a generated module (compiled with the helpers left out, ``unlinked``)."""
    return dispatcher.py_func.__module__.startswith(MODULE_PREFIX) and hasattr(
        getattr(dispatcher, "_cache", None), "_cache_file")


def _compile(dispatcher, types: tuple) -> None:
    if _generated(dispatcher):
        compile_unlinked(dispatcher, types)
    else:
        dispatcher.compile(types)


def load_cached(dispatcher, types: tuple) -> bool:
    """Install the machine code Numba has cached for ``types``, if it has it (True).

    ``Dispatcher.compile`` does the same, but first refreshes Numba's target context: that
    imports and registers every implementation Numba has, 0.3 s in a fresh process and nearly
    all of a warm first call, and only compiling needs it. Loading needs Numba's runtime (for
    the arrays a kernel makes), started here. A later compile in the process refreshes as
    usual: Numba's compiler does it itself. A generated function's code is loaded only once
    the functions it calls are (``unlinked.loadable``). This uses the private half of
    Numba's cache API; a dispatcher without it (a chain of pieces, another Numba) returns
    False and compiles.
    """
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "_load_overload", None)
    if load is None or not hasattr(dispatcher, "_cache_hits"):
        return False
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.runtime import rtsys

    with global_compiler_lock:  # (as in Dispatcher.compile: LLVM is not thread-safe)
        if types in dispatcher.overloads:  # (another kernel of the same module loaded it)
            return True
        context = dispatcher.targetctx
        rtsys.initialize(context)
        if _generated(dispatcher):  # its callees loaded first (unlinked.safe_loader)
            load = cache.load_overload
        result = load(types, context)
        if result is None:
            return False
        dispatcher._cache_hits[types] += 1
        if not result.objectmode:
            context.insert_user_function(result.entry_point, result.fndesc, [result.library])
        dispatcher.add_overload(result)
    return True


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
