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
        helper = Helper.start(self, types) if len(self.pieces) >= HELPER_PIECES else None
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
        """Each piece's argument types as its lines tell them (``Piece.kinds``), for the
        pieces whose every argument they tell."""
        floats = [t.dtype for t in types if isinstance(t, nbtypes.Array)
                  and isinstance(t.dtype, nbtypes.Float)]
        dtype = floats[0] if floats else nbtypes.float64
        made = {"float": nbtypes.float64, "int": nbtypes.intp}
        known, guesses = dict(zip(self.params, types)), {}
        for k, piece in enumerate(self.pieces):
            if all(name in known for name in piece.params):
                guesses[k] = tuple(known[name] for name in piece.params)
            for name, kind in zip(piece.returns, piece.kinds):
                if kind.startswith("array "):
                    known[name] = nbtypes.Array(dtype, int(kind.split()[1]), "C")
                elif kind in made:
                    known[name] = made[kind]
        return guesses


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
    def start(cls, chain: PieceChain, types: tuple) -> Helper:
        claims = Path(tempfile.mkdtemp(prefix="gradcomp-pieces-"))
        order = sorted(chain.guessed(types).items(), reverse=True)
        work = [(k, chain.pieces[k].function, args) for k, args in order]
        if FORK:
            return cls(claims, _Forked.start(claims, work, dict(
                zip((p.function for p in chain.pieces), chain.dispatchers))))
        (claims / "work.pickle").write_bytes(pickle.dumps((chain.source_path, work)))
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
        # inside Numba or LLVM (whose locks the child could not take) when it forks.
        with global_compiler_lock:
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
