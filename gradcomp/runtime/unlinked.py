"""Kernels call gradcomp's helpers' machine code; they do not carry copies of the helpers.

Numba links the LLVM IR of every function a kernel calls into the kernel's module (so that
LLVM may inline it) and optimises and compiles it all again. For the window classifier that
is 12,000 lines of helper IR beside the kernel's own 11,000: 1.0-1.3 s of a 3.7-4.4 s compile
on a 2-core machine. The helpers are loops over rows and BLAS calls, where inlining gains
nothing, so the function being compiled here (a kernel, a piece, a stage) leaves them out
(``compile_unlinked``): its code calls the helpers' symbols, which the JIT resolves to the
helpers already loaded in the process (from their own Numba cache). The same goes for the
other functions of its module it calls (a tiled kernel's two halves of a tile, outlined
loops), each compiled and cached on its own. Numba's own helpers (``tanh``'s overload,
``min``) and gradcomp's smallest (``LINKED``) are linked as before.

The price: code loaded from Numba's cache needs those callees loaded first, or LLVM cannot
resolve them (the process would crash). So each compile records beside Numba's cache which
overloads it calls (``*.helpers``); before a load, ``loadable`` loads them and checks that
every symbol the cached code declares is defined, here or under the number another process
gave the same function (``_alias``). If one is not (no record, or a callee not loaded here
at all), the function is compiled anew instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import tempfile
from pathlib import Path

from numba.core.codegen import CPUCodeLibrary
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher

from ..cache import warn_damaged

RECORD = ".helpers"  # the record's suffix, beside Numba's index of the function
# linked as before: a few lines each, inlined where they are called, and (with their several
# specialisations per kernel) 0.1 s of loading a cached window classifier if left out
LINKED = frozenset({"empty", "reshape", "ravel"})


def callees(dispatcher) -> dict:
    """The functions ``dispatcher``'s code calls unlinked, by name: gradcomp's helpers its
    module imports and the other functions of its module (a kernel's tile parts and outlined
    loops), all but the few ``LINKED``."""
    return {name: value for name, value in dispatcher.py_func.__globals__.items()
            if isinstance(value, CPUDispatcher) and value is not dispatcher
            and name not in LINKED}


def compile_unlinked(dispatcher, types: tuple) -> None:
    """Compile ``types`` afresh (not from Numba's cache) with its callees left out, then
    record which of their overloads the code calls."""
    called: set[tuple[str, tuple]] = set()
    qualname = dispatcher.py_func.__qualname__
    link = CPUCodeLibrary.add_linking_library
    found = callees(dispatcher)

    def add_linking_library(library, other):
        if library.name == qualname:
            for name, callee in found.items():
                for sig, result in callee.overloads.items():
                    if result.library is other:
                        called.add((name, sig))
                        return
        link(library, other)

    cache = dispatcher._cache
    load = cache.load_overload
    # (the lock: no other thread compiles while linking is changed, Numba's lock is reentrant)
    with global_compiler_lock:
        CPUCodeLibrary.add_linking_library = add_linking_library
        cache.load_overload = lambda sig, context: None  # (a cached entry may lack its record)
        try:
            dispatcher.compile(types)
        finally:
            CPUCodeLibrary.add_linking_library = link
            cache.load_overload = load
    _write_record(_record_path(dispatcher, types), sorted(called, key=repr))


def loadable(dispatcher, types: tuple, data, load) -> bool:
    """Whether the code Numba cached for ``types`` (``data``, as its cache file holds it) may
    be loaded: the callees its record names are loaded (``load(callee, sig)``), and every
    symbol it declares is then defined, or is one of them under the name another process
    gave it (``_alias``). (Code without a record, compiled with its callees linked in, as
    Numba does, declares none.)"""
    found = callees(dispatcher)
    for name, sig in _read_record(_record_path(dispatcher, types)) or ():
        if name not in found:
            return False
        load(found[name], sig)
    engine = dispatcher.targetctx.codegen()._engine
    missing = [name for name in _declared(data)
               if not engine.is_symbol_defined(name) and name not in _ALIASES]
    return not missing or _alias(missing, found)


# A Numba symbol holds a number each process gives anew (``B3v12``: the function's 12th
# identity in the process that compiled it): the same helper, compiled by two processes
# that both missed its cache, has two names. Those names, without that number, and the
# symbols this process resolves them to.
_UID = re.compile(r"B(\d+)v(\d+)")
_ALIASES: dict[str, int] = {}


def _alias(missing: list[str], found: dict) -> bool:
    """Resolve each missing symbol to the same function, of the same argument types, loaded
    here under another number (``llvmlite``'s ``add_symbol``, which the JIT's linker
    consults); False if one is not loaded here at all."""
    from llvmlite import binding

    here = {}
    for callee in found.values():
        for result in callee.overloads.values():
            name = result.fndesc.mangled_name
            here[_unnumbered(name)] = (result.library, name)
    if not all(_unnumbered(name) in here for name in missing):
        return False
    for name in missing:
        library, own = here[_unnumbered(name)]
        _ALIASES[name] = library.get_pointer_to_function(own)
        binding.add_symbol(name, _ALIASES[name])
    return True


def _unnumbered(symbol: str) -> str:
    return _UID.sub(lambda m: "" if int(m[1]) == 1 + len(m[2]) else m[0], symbol)


def safe_loader(dispatcher, load):
    """A ``load_overload(sig, context)`` for ``dispatcher``'s Numba cache that loads only
    what ``loadable`` allows (installed on every function of a generated module, so that
    Numba's own compile, in a caller's typing, never loads what would crash)."""
    cache = dispatcher._cache

    def load_overload(sig, context):
        from numba.core.runtime import rtsys

        rtsys.initialize(context)  # (loading needs Numba's runtime, not a refreshed context)
        data = cache._cache_file.load(cache._index_key(sig, context.codegen()))
        if data is None or not loadable(dispatcher, sig, data, load):
            return None
        return cache._impl.rebuild(context, data)

    return load_overload


def _declared(data) -> list[str]:
    """The functions the cached code calls but does not define (``CompileResult._reduce``:
    its library as object code and the bitcode of its module)."""
    from llvmlite import binding

    _, _, (_, bitcode) = data[0]
    module = binding.parse_bitcode(bitcode)
    return [f.name for f in module.functions if f.is_declaration and f.name.startswith("_ZN")]


def _record_path(dispatcher, types: tuple) -> Path:
    cache = dispatcher._cache
    key = hashlib.sha256(repr(types).encode()).hexdigest()[:16]
    return Path(cache._cache_path) / f"{cache._cache_file._index_name}.{key}{RECORD}"


def _read_record(path: Path):
    """The record, or None: none there, or damaged (then discarded with a warning); either
    way the function is compiled anew and the record written again."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        called = pickle.loads(data)
        whole = all(isinstance(name, str) and isinstance(sig, tuple) for name, sig in called)
    except Exception:  # noqa: BLE001 - whatever a damaged pickle raises
        whole = False
    if whole:
        return called
    warn_damaged(path, "not a record of the helpers its kernel calls")
    path.unlink(missing_ok=True)
    return None


def _write_record(path: Path, called: list) -> None:
    """Atomically (a whole record or none); a cache that cannot be written is not an error."""
    with contextlib.suppress(OSError):
        handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(pickle.dumps(called))
        os.replace(temp, path)
