"""Kernels call gradcomp's helpers unlinked (``runtime/unlinked.py``): their code declares the
helpers' symbols without defining them, and a cached kernel whose helpers are not known to be
loadable is compiled anew in a fresh process (loading it would crash the process)."""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradcomp.models import window_classifier_loss
from gradcomp.runtime.unlinked import LINKED, callees


def inputs() -> dict:
    """A small window classifier's call (the scripts below import it from this file)."""
    rng = np.random.default_rng(0)
    return {"L": rng.standard_normal((30, 4)), "W": rng.standard_normal((6, 20)),
            "b": rng.standard_normal(6), "U": rng.standard_normal((3, 6)),
            "c": rng.standard_normal(3), "windows": rng.integers(0, 30, (9, 5)),
            "labels": rng.integers(0, 3, 9)}


SCRIPT = textwrap.dedent("""
    import json
    import gradcomp as gc
    from gradcomp.models import window_classifier_loss
    from test_unlinked import inputs
    fn = gc.compile(window_classifier_loss(2, 4, 6, 3), block=True)
    value, grads = fn(**inputs())
    stats = fn.kernel.stats
    print(json.dumps({"value": value, "W": grads["W"].tolist(),
                      "hits": sum(stats.cache_hits.values()),
                      "misses": sum(stats.cache_misses.values())}))
""")


KERNEL_RECORD = "__pycache__/*.loss_and_grads-*.helpers"  # (not its tile halves')


def _env(cache, **more) -> dict:
    path = os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, GRADCOMP_CACHE_DIR=str(cache), PYTHONPATH=path, **more)


def _run(cache) -> dict:
    env = _env(cache)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]  # (a crash loading: -11)
    return json.loads(done.stdout)


def test_the_kernel_declares_the_functions_it_calls_and_defines_none(compiled):
    fn = compiled(("window", "softmax", "tanh"), lambda: window_classifier_loss(2, 4, 6, 3))
    fn(**inputs())
    ir = fn.kernel.inspect_llvm(fn.kernel.signatures[0])
    declared = " ".join(line for line in ir.splitlines() if line.startswith("declare"))
    # the entry's helpers, and the tile's two halves (each compiled on its own)
    for name in ("row_slots", "in_range", "overlaps", "loss_and_grads_tile_forward",
                 "loss_and_grads_tile_backward"):
        assert f"{len(name)}{name}" in declared, name
    unlinked = callees(fn.kernel)
    assert {"loss_and_grads_tile_forward", "row_slots"} <= set(unlinked)
    assert not LINKED & set(unlinked)
    for line in ir.splitlines():
        if line.startswith("define"):
            assert not any(f"{len(n)}{n}" in line for n in unlinked), line


def test_a_cached_kernel_without_its_record_is_compiled_again_not_loaded(tmp_path):
    cache = tmp_path / "cache"
    first = _run(cache)
    assert first["misses"] == 1
    records = sorted(cache.glob(KERNEL_RECORD))
    assert len(records) == 1
    called = {name for name, _ in pickle.loads(records[0].read_bytes())}
    assert {"row_slots", "loss_and_grads_tile_forward", "loss_and_grads_tile_backward"} <= called
    halves = {name for path in cache.glob("__pycache__/*_tile_*.helpers")
              for name, _ in pickle.loads(path.read_bytes())}
    assert {"gather_rows", "matmul", "scatter_rows"} <= halves
    second = _run(cache)  # loaded from the cache
    assert (second["hits"], second["misses"]) == (1, 0) and second["value"] == first["value"]
    # no record: the helpers are not loaded first, so the cached code must not be loaded
    records[0].unlink()
    again = _run(cache)
    assert (again["hits"], again["misses"]) == (0, 1)
    assert again["value"] == first["value"] and again["W"] == first["W"]
    # a record naming none of the helpers: its code declares symbols not defined, the same
    records[0].write_bytes(pickle.dumps([]))
    again = _run(cache)
    assert (again["hits"], again["misses"]) == (0, 1)
    assert again["value"] == first["value"]
    assert _run(cache)["hits"] == 1  # (the compile wrote its record again)


@pytest.mark.parametrize("damage", [b"garbage", pickle.dumps([("gather_rows", 3)])])
def test_a_damaged_record_is_rebuilt_with_a_warning(tmp_path, damage):
    cache = tmp_path / "cache"
    first = _run(cache)
    (record,) = cache.glob(KERNEL_RECORD)
    record.write_bytes(damage)
    env = _env(cache, PYTHONWARNINGS="always")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "damaged" in done.stderr and record.name in done.stderr
    assert json.loads(done.stdout)["value"] == first["value"]
    assert "row_slots" in {name for name, _ in pickle.loads(record.read_bytes())}
