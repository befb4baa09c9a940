"""Compiling a kernel in the background while the NumPy interpreter serves the calls.

A kernel's first call with new dtypes starts Numba on a thread of its own and is answered by
the interpreter, as are the calls after it, until the kernel is ready; from then on they go
to the kernel. The thread is Numba's (its compiler is Python and holds the GIL most of the
time, so the caller's interpreted calls, mostly NumPy, run between its slices: on 2 cores the
compile takes one and the caller the other for NumPy's work). ``GRADCOMP_COMPILE=block`` (or
``gc.compile(..., block=True)``) compiles in the call instead, as before.
"""

from __future__ import annotations

import os
import threading


class NotReady(Exception):
    """The kernel for this call's types is still compiling: interpret the call, then call
    ``start()`` (the compile begins after the first interpreted answer, not against it)."""

    def __init__(self, start=None):
        super().__init__()
        self.start = start or (lambda: None)


def block_by_default() -> bool:
    return os.environ.get("GRADCOMP_COMPILE", "background") == "block"


class Background:
    """The compiles one kernel has running or done, one per tuple of argument types."""

    def __init__(self):
        self._threads: dict[tuple, threading.Thread] = {}
        self._errors: dict[tuple, BaseException] = {}
        self._lock = threading.Lock()

    def ensure(self, types: tuple, compile_types) -> None:
        """Raise ``NotReady`` in the call that starts ``compile_types(types)`` and while it
        runs; re-raise what it raised if it failed; return once it is done."""
        with self._lock:
            thread = self._threads.get(types)
            if thread is None:  # this call starts it, and is interpreted whatever happens
                thread = threading.Thread(target=self._run, args=(types, compile_types),
                                          name="gradcomp-compile", daemon=True)
                self._threads[types] = thread
                raise NotReady(thread.start)
        if thread.is_alive() or thread.ident is None:  # running, or about to start
            raise NotReady()
        if types in self._errors:
            raise self._errors[types]

    def _run(self, types: tuple, compile_types) -> None:
        try:
            compile_types(types)
        except BaseException as error:  # noqa: BLE001 - handed to the next call or wait()
            self._errors[types] = error

    @property
    def pending(self) -> bool:
        return any(t.is_alive() or t.ident is None for t in self._threads.values())

    @property
    def started(self) -> bool:
        return bool(self._threads)

    def wait(self) -> None:
        """Block until every compile started has finished; raise the first that failed."""
        for thread in list(self._threads.values()):
            if thread.ident is not None:
                thread.join()
        for error in self._errors.values():
            raise error
