"""gradcomp on Dask: a LocalCluster of two single-threaded worker processes on this machine."""

import os
import signal

import numpy as np
import pytest

import gradcomp as gc
from gradcomp.data import read_conll, sample_path
from gradcomp.ir import to_payload
from gradcomp.models import WindowConfig, init_params, window_classifier_loss
from gradcomp.testing import as_dense
from gradcomp.train import WindowTagger, train

from gradcomp import distributed  # noqa: E402 - the test extra installs Dask

pytestmark = pytest.mark.jit


@pytest.fixture(scope="session")
def client():
    client = distributed.connect(workers=2)
    yield client
    client.close()
    client.cluster.close()


def _problem(dim, seed=0, sizes=(7, 5, 9, 3, 6)):
    cfg = WindowConfig(dim=dim, hidden=10, classes=3)
    fn = gc.compile(window_classifier_loss(dim=dim, hidden=10, classes=3))
    params = init_params(cfg, 50, seed=seed)
    rng = np.random.default_rng(seed)
    shards = [{"windows": rng.integers(0, 50, (n, 5)), "labels": rng.integers(0, 3, n)}
              for n in sizes]
    return fn, params, shards


def _joined(shards):
    return {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}


def _assert_same(got, want, rtol):
    assert got[0] == pytest.approx(want[0], rel=rtol)
    for name, g in want[1].items():
        np.testing.assert_allclose(as_dense(got[1][name]), as_dense(g), rtol=rtol, atol=1e-15)


def test_sharded_gradient_equals_the_single_process_one(client):
    fn, params, shards = _problem(dim=8)
    got = distributed.sharded_value_and_grad(client, fn, params, shards)
    _assert_same(got, fn(**params, **_joined(shards)), rtol=1e-12)
    assert isinstance(got[1]["L"], gc.RowGradient)  # merged as rows, never densified
    assert len(got[1]["L"].indices) == len(np.unique(_joined(shards)["windows"]))
    dense = gc.compile(fn.loss, rows=False)
    _assert_same(distributed.sharded_value_and_grad(client, dense, params, shards),
                 dense(**params, **_joined(shards)), rtol=1e-12)
    again = distributed.sharded_value_and_grad(client, fn, params, shards)
    assert again[0] == got[0]  # a fixed reduction order: the same bits every time
    for name in got[1]:
        np.testing.assert_array_equal(as_dense(again[1][name]), as_dense(got[1][name]))


def test_workers_build_each_kernel_once_and_load_it_from_their_cache(client):
    fn, params, shards = _problem(dim=6)
    fn(**params, **shards[0])  # compiled here: the workers share this kernel cache
    for _ in range(2):
        distributed.sharded_value_and_grad(client, fn, params, shards)
    key = distributed.KernelSpec.of(fn).key
    for worker, stats in client.run(distributed.kernel_stats).items():
        if key in stats:
            assert stats[key]["builds"] == 1, worker
            assert stats[key]["compiled"] == 0 and stats[key]["loaded"] >= 1, worker


def test_a_worker_that_cannot_build_a_kernel_names_itself_and_the_kernel(client):
    bad = distributed.KernelSpec(to_payload([gc.tensor("x", (3,))]), ("x",), True, True,
                                 "not-a-scalar-loss")
    future = client.submit(distributed.worker.shard_gradient, bad, {}, {"x": np.ones(3)})
    with pytest.raises(gc.CompileError, match=r"worker tcp://[\d.:]+: kernel not-a-scalar-loss"):
        future.result()


def test_a_killed_worker_does_not_change_the_result(client):
    fn, params, shards = _problem(dim=8, seed=1, sizes=[4000] * 24)
    want = distributed.sharded_value_and_grad(client, fn, params, shards)
    spec = distributed.KernelSpec.of(fn)
    shared = client.scatter([params], broadcast=True, hash=False)[0]
    parts = [client.submit(distributed.worker.shard_gradient, spec, shared, s, pure=False)
             for s in shards]
    next(iter(distributed_as_completed(parts)))  # the job is under way
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    held = [key for key, where in client.who_has(parts).items() if victim in where]
    os.kill(pids[victim], signal.SIGKILL)
    assert held or not all(p.done() for p in parts), "the fault must lose work to test its rerun"
    got = distributed.gradients.finish(client, spec, parts)
    assert got[0] == want[0]  # every shard counted once: the same bits as without the fault
    for name in want[1]:
        np.testing.assert_array_equal(as_dense(got[1][name]), as_dense(want[1][name]))
    client.wait_for_workers(2, timeout=60)


def distributed_as_completed(futures):
    from distributed import as_completed

    return as_completed(futures)


@pytest.fixture(scope="module")
def sample():
    return read_conll(sample_path("train"))[:40], read_conll(sample_path("dev"))


def test_training_on_two_workers_takes_the_same_steps(client, sample):
    runs = []
    for workers in (None, client):
        tagger = WindowTagger.create(sample[0], dim=20, hidden=30, seed=1)
        tagger.params = {k: v.astype(np.float64) for k, v in tagger.params.items()}
        if workers is None:
            train(tagger, sample[0], None, epochs=1, batch_size=64, progress=False)
        else:
            distributed.train(client, tagger, sample[0], None, epochs=1, batch_size=64,
                              progress=False)
        runs.append(tagger.params)
    for name in runs[0]:
        np.testing.assert_allclose(runs[1][name], runs[0][name], rtol=1e-9, atol=1e-12)


def test_tagging_on_workers_matches_the_serial_tags(client, sample):
    tagger = WindowTagger.create(sample[0], dim=20, hidden=30, seed=1)
    train(tagger, sample[0], None, epochs=1, progress=False)
    serial = tagger.predict(sample[1], "viterbi")
    assert distributed.predict(client, tagger, sample[1], "viterbi", partition=17) == serial
