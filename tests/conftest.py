"""Shared fixtures. Compiled kernels are cached per session: Numba compiles take seconds."""

import os
import tempfile

import pytest


def pytest_configure(config):
    # One fresh kernel cache for the whole run, unless the caller chose one.
    os.environ.setdefault("GRADCOMP_CACHE_DIR", tempfile.mkdtemp(prefix="gradcomp-test-cache-"))
    # Tests of compiled kernels test the kernels: compile in the first call, not in the
    # background (tests/test_background.py covers that, the default, on its own).
    os.environ.setdefault("GRADCOMP_COMPILE", "block")


@pytest.fixture(scope="session")
def compiled():
    """compiled(key, build) -> gc.compile(build()), built once per session per key."""
    import gradcomp as gc

    cache = {}

    def get(key, build, **options):
        if key not in cache:
            cache[key] = gc.compile(build(), **options)
        return cache[key]

    return get
