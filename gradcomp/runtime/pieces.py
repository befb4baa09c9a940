"""A long kernel's pieces at run time (``codegen/pieces.py``): compiled one after another.

The kernel is a plain Python function in the generated module that calls its pieces, each
an ``njit`` dispatcher of its own. ``PieceChain`` stands where a one-function kernel's
dispatcher stands: ``compile(types)`` compiles (or loads from Numba's cache) every piece in
order, each for the types the pieces before it return; ``overloads`` holds the argument types
every piece is compiled for; ``disable_compile`` passes to every piece, so that a call with
types not compiled raises ``TypeError`` in the first piece instead of compiling in the call.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import types as pytypes
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from numba.core import types as nbtypes
from numba.core.compiler_lock import global_compiler_lock

from .compile import compile_types, load_module

HELPER_PIECES = 2  # a kernel of this many pieces or more is compiled by two processes


@dataclass(frozen=True)
class ChainStats:
    """Numba's cache statistics, summed over the pieces (as ``Dispatcher.stats``)."""
    cache_hits: Counter
    cache_misses: Counter


class PieceChain:
    def __init__(self, module, function: str, pieces):
        self.pieces = pieces  # codegen.pieces.Piece, in call order
        self.dispatchers = [getattr(module, p.function) for p in pieces]
        self._call = getattr(module, function)
        self.source_path = module.__file__
        code = self._call.__code__
        self.params = code.co_varnames[:code.co_argcount]  # the kernel's, in order
        self.overloads: dict[tuple, None] = {}  # the argument types compiled for
        plain = {**module.__dict__, **{p.function: d.py_func
                                       for p, d in zip(pieces, self.dispatchers)}}
        # the same kernel run by the Python interpreter: its pieces' plain functions
        self.py_func = pytypes.FunctionType(code, plain, function)

    def __call__(self, *args):
        return self._call(*args)

    @property
    def signatures(self) -> list[tuple]:
        return list(self.overloads)

    @property
    def stats(self) -> ChainStats:
        hits, misses = Counter(), Counter()
        for dispatcher in self.dispatchers:
            hits.update(dispatcher.stats.cache_hits)
            misses.update(dispatcher.stats.cache_misses)
        return ChainStats(hits, misses)

    def compile(self, types: tuple) -> None:
        """Every piece in order, each for what the ones before it return. With many pieces,
        a second process compiles from the last piece down, for the types the pieces' lines
        say they return, into Numba's cache; where the two meet, this one waits for it and
        loads the rest (a piece whose types it guessed wrong is compiled here after all)."""
        known = dict(zip(self.params, types))
        helper = None
        if len(self.pieces) >= HELPER_PIECES:
            order = sorted(self.guessed(types).items(), reverse=True)
            helper = Helper.start([(k, self.pieces[k].function, args) for k, args in order],
                                  dict(zip((p.function for p in self.pieces), self.dispatchers)),
                                  self.source_path)
        try:
            for k, (piece, dispatcher) in enumerate(zip(self.pieces, self.dispatchers)):
                if helper is not None and not helper.claim(k):
                    helper.wait()  # it has the rest: they come from the cache now
                    helper = None
                args = tuple(known[name] for name in piece.params)
                compile_types(dispatcher, args)  # (a damaged piece's cache files repaired)
                returned = dispatcher.overloads[args].signature.return_type
                known.update(zip(piece.returns, returned.types))
        finally:
            if helper is not None:
                helper.stop()
        self.overloads[tuple(types)] = None

    def disable_compile(self, value: bool = True) -> None:
        for dispatcher in self.dispatchers:
            if dispatcher.signatures or not value:  # (Numba asks for one compiled first)
                dispatcher.disable_compile(value)

    def guessed(self, types: tuple) -> dict[int, tuple]:
        """Each piece's argument types as its lines tell them (``guess_types``)."""
        return guess_types(self.params, types, self.pieces)


def guess_types(params, types: tuple, pieces) -> dict[int, tuple]:
    """Each piece's argument types as the lines before it tell them (``Piece.kinds``), for
    the pieces whose every argument they tell: ``params`` are the kernel's, of ``types``."""
    floats = [t.dtype for t in types if isinstance(t, nbtypes.Array)
              and isinstance(t.dtype, nbtypes.Float)]
    dtype = floats[0] if floats else nbtypes.float64
    made = {"float": nbtypes.float64, "int": nbtypes.intp,
            "index 1": nbtypes.Array(nbtypes.int64, 1, "C")}
    known, guesses = dict(zip(params, types)), {}
    for k, piece in enumerate(pieces):
        if all(name in known for name in piece.params):
            guesses[k] = tuple(known[name] for name in piece.params)
        for name, kind in zip(piece.returns, piece.kinds):
            source = kind.split(" of ")[1] if " of " in kind else kind[len("same as "):]
            if kind in made:
                known[name] = made[kind]
            elif kind.startswith("same as ") and source in known:
                known[name] = known[source]
            elif kind.startswith("array ") and (" of " not in kind or source in known):
                of = known[source].dtype if " of " in kind else dtype
                known[name] = nbtypes.Array(of, int(kind.split()[1]), "C")
    return guesses


def compile_parts(kernel, parts, types: tuple) -> None:
    """A tiled kernel's two functions of a tile (``KernelSource.tile_parts``: the kernel's
    lines up to them, which are no function, the forward, the backward), compiled at once
    before the kernel: the forward by a second process, the backward here, each for the
    types the lines before it tell (``guess_types``). The kernel's own compile then finds
    both; one whose types were guessed wrong is compiled in the kernel's typing after all."""
    code = kernel.py_func.__code__
    guesses = guess_types(code.co_varnames[:code.co_argcount], types, parts)
    forward, backward = (kernel.py_func.__globals__[p.function] for p in parts[1:])
    helper = None
    if 1 in guesses:
        helper = Helper.start([(1, parts[1].function, guesses[1])],
                              {parts[1].function: forward}, code.co_filename)
    try:
        if 2 in guesses:
            _guessed_compile(backward, guesses[2])
    finally:
        if helper is not None:
            helper.wait()
    if 1 in guesses:
        _guessed_compile(forward, guesses[1])  # (from the cache the second process filled)


def _guessed_compile(dispatcher, types: tuple) -> None:
    from numba.core.errors import NumbaError

    try:
        compile_types(dispatcher, types)
    except NumbaError:  # types Numba cannot compile it for: a wrong guess
        pass


class Helper:
    """The second process: compiles pieces from the last one down, each claimed first (a
    file made exclusively), until it reaches one this process has claimed.

    On Linux it is a fork of this process, which has gradcomp, Numba and the kernel's module
    loaded already (a fresh interpreter spends about 0.9 s importing them before its first
    piece); elsewhere a new interpreter that loads the module from its file."""

    def __init__(self, claims: Path, process):
        self.claims = claims
        self.process = process  # subprocess.Popen, or _Forked: wait() and kill()

    @classmethod
    def start(cls, work: list, dispatchers: dict, source_path: str) -> Helper:
        """``work``: (claim, function, argument types), in the order to compile them."""
        claims = Path(tempfile.mkdtemp(prefix="gradcomp-pieces-"))
        if FORK:
            return cls(claims, _Forked.start(claims, work, dispatchers))
        (claims / "work.pickle").write_bytes(pickle.dumps((source_path, work)))
        code = ("import sys; from gradcomp.runtime.pieces import helper_main; "
                "helper_main(sys.argv[1])")
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(claims)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return cls(claims, process)

    def claim(self, k: int) -> bool:
        return claim(self.claims, k)

    def wait(self) -> None:
        self.process.wait()
        shutil.rmtree(self.claims, ignore_errors=True)

    def stop(self) -> None:
        self.process.kill()
        self.wait()


FORK = sys.platform.startswith("linux")  # (macOS: forking is unsafe beside its frameworks)


class _Forked:
    """A forked helper, waited for and killed as a ``subprocess.Popen`` is."""

    def __init__(self, pid: int):
        self.pid = pid

    @classmethod
    def start(cls, claims: Path, work: list, dispatchers: dict) -> _Forked:
        # Forked holding Numba's compiler lock, so that no other thread of this process is
        # inside Numba or LLVM (whose locks the child could not take) when it forks. Libraries
        # with threads of their own warn in their before-fork hooks (JAX: "os.fork() is
        # incompatible with multithreaded code"), as Python 3.12 does of any threads: the
        # child touches nothing of theirs (it runs Numba's compiler, writes Numba's cache and
        # leaves by os._exit), so their warnings are not shown for this fork.
        with global_compiler_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid:
            return cls(pid)
        try:  # the child: its output goes nowhere, and it leaves without Python's exit
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            compile_claimed(claims, work, dispatchers)
        finally:
            os._exit(0)

    def wait(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:  # (already reaped)
            pass

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def claim(claims: Path, k: int) -> bool:
    """Piece ``k`` is this process's to compile (False: the other one has it)."""
    try:
        os.close(os.open(claims / f"{k}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def compile_claimed(claims: Path, work: list, dispatchers: dict) -> None:
    """The second process's work: compile the pieces it is given, last first, for as long as
    it can claim them."""
    for k, function, args in work:
        if not claim(claims, k):
            return
        compile_types(dispatchers[function], args)


def helper_main(claims: str) -> None:
    """A new interpreter's helper: load the module, then ``compile_claimed``."""
    folder = Path(claims)
    path, work = pickle.loads((folder / "work.pickle").read_bytes())
    module = load_module(Path(path).read_text(encoding="utf-8"))
    compile_claimed(folder, work, {function: getattr(module, function)
                                   for _, function, _ in work})
