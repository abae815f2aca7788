"""Many processes on one dataset: identical answers, and no reader ever sees a dataset mid-replacement.

* 8 processes x 1,000 queries (``query`` with seeded repeats, every budget,
  halfway or final) opened at the same moment give exactly the answers one
  process gives alone, budget counters included.
* While ``convert(..., overwrite=True)`` replaces a dataset again and again
  (alternating two sources with the same cells and different metrics, so the
  index files have identical sizes), reader processes open and read it in a
  loop: every open must give one of the two datasets, complete and matching
  its own manifest, or a typed error; never a mixture, never another exception.
* Deterministic interleavings of the same race, driven in one process: a
  reader opening just before and just after the converter's atomic swap of
  the directories, and a reader whose manifest was read just before the swap.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest

from nasbench_arrow.errors import DatasetError

NUM_PROCESSES = 8
QUERIES_PER_PROCESS = 1000


def _canon(x):
    if isinstance(x, dict):
        return {str(k): _canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canon(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float):
        return repr(x)
    return x


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(_canon(obj), sort_keys=True).encode()).hexdigest()


def _query_plan(root: str, n: int, seed: int) -> list[tuple]:
    """n (matrix, ops, epochs, stop_halfway) queries drawn from the dataset's cells and budgets."""
    from nasbench_arrow import api

    nb = api.NASBench(root)
    rng = random.Random(seed)
    hashes = sorted(nb.hash_iterator())
    epochs = sorted(nb.valid_epochs)
    plan = []
    for _ in range(n):
        spec = nb.spec_from_hash(rng.choice(hashes))
        plan.append((np.asarray(spec.original_matrix).tolist(), list(spec.original_ops), rng.choice(epochs), rng.random() < 0.3))
    return plan


def _run_queries(args) -> tuple[int, str]:
    """Worker: open the dataset, run the plan with a seeded NASBench, return a digest of every answer."""
    root, plan, seed, start_at = args
    from nasbench_arrow import api

    while time.time() < start_at:  # open at the same moment as the others
        time.sleep(0.001)
    nb = api.NASBench(root, seed=seed)
    answers = []
    for matrix, ops, epochs, halfway in plan:
        spec = api.ModelSpec(matrix, ops)
        answers.append(nb.query(spec, epochs=epochs, stop_halfway=halfway))
    answers.append(nb.get_budget_counters())
    return seed, _digest(answers)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_many_processes_identical_answers(reliability_dataset):
    """8 processes x 1,000 queries, opened at once, answer exactly as one process alone does."""
    root = str(reliability_dataset)
    plan = _query_plan(root, QUERIES_PER_PROCESS, seed=1)
    seeds = [0, 1] * (NUM_PROCESSES // 2)  # pairs of processes with the same seed must agree too
    alone = {s: _run_queries((root, plan, s, 0))[1] for s in set(seeds)}
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # after every worker has imported
    with ctx.Pool(NUM_PROCESSES) as pool:
        results = pool.map(_run_queries, [(root, plan, s, start_at) for s in seeds], chunksize=1)
    assert len(results) == NUM_PROCESSES
    for seed, digest in results:
        assert digest == alone[seed], f"a process with seed {seed} answered differently"
    assert alone[0] != alone[1]  # the seeds do pick different repeats


# --------------------------------------------------------------------------- replacement under readers


def _dataset_digest(nb) -> str:
    """Everything the query path returns for every cell of an open dataset."""
    return _digest({h: nb.get_metrics_from_hash(h) for h in sorted(nb.hash_iterator())})


def _reader(args) -> dict:
    """Worker: open and read the dataset in a loop until told to stop; classify each open."""
    root, stop_file, expected = args
    from nasbench_arrow import api

    seen = {"old": 0, "new": 0, "typed": [], "mixed": [], "other": []}
    while not Path(stop_file).exists():
        try:
            nb = api.NASBench(root)
            sha = nb.dataset.manifest.source["sha256"]
            digest = _dataset_digest(nb)
            # The reader loop of issue 11.12: lazy frames of the same object, collected
            # while the dataset is being replaced, must be of the same dataset.
            runs = _digest(nb.runs().collect().sort(["module_hash", "epochs", "repeat"]).drop("bucket").to_dicts())
        except DatasetError as exc:
            seen["typed"].append(type(exc).__name__)
            continue
        except Exception as exc:  # noqa: BLE001 - any other exception is the finding
            seen["other"].append(f"{type(exc).__name__}: {exc}")
            continue
        label = expected.get(sha)
        if label is None or expected[label] != digest or expected["runs-" + label] != runs:
            seen["mixed"].append(sha)
        else:
            seen[label] += 1
    return seen


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    """Two files with the same 40 cells and different metrics, and the digest of each converted dataset."""
    from nasbench_arrow.converters import convert

    from nasbench_arrow import api, testing

    base = tmp_path_factory.mktemp("replace")
    cells = testing.sample_cells(40, seed=21)
    out = {}
    for label, seed in (("old", 1), ("new", 2)):
        src = base / f"{label}.tfrecord"
        testing.write_fixture_tfrecord(src, cells, seed=seed)
        ref = base / f"ref-{label}"
        m = convert(src, ref, workers=1)
        out[label] = (src, m.source["sha256"], _dataset_digest(api.NASBench(str(ref))))
        out["runs-" + label] = _digest(
            api.NASBench(str(ref)).runs().collect().sort(["module_hash", "epochs", "repeat"]).drop("bucket").to_dicts()
        )
    assert out["old"][2] != out["new"][2]
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_readers_during_repeated_overwrite(two_sources, tmp_path):
    """Readers looping while the dataset is replaced 8 times: each open is the old or the new dataset, whole."""
    from nasbench_arrow.converters import convert

    root = tmp_path / "live"
    convert(two_sources["old"][0], root, workers=1)
    expected = {}
    for label in ("old", "new"):
        _src, sha, digest = two_sources[label]
        expected[sha] = label
        expected[label] = digest
        expected["runs-" + label] = two_sources["runs-" + label]
    stop = tmp_path / "stop"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pending = pool.map_async(_reader, [(str(root), str(stop), expected)] * 2)
        time.sleep(2.0)  # readers up and reading
        for i in range(8):
            convert(two_sources["new" if i % 2 == 0 else "old"][0], root, overwrite=True, workers=1)
        stop.write_text("stop")
        results = pending.get(timeout=120)
    total = {k: sum(r[k] for r in results) for k in ("old", "new")}
    other = [x for r in results for x in r["other"]]
    mixed = [x for r in results for x in r["mixed"]]
    typed = [x for r in results for x in r["typed"]]
    assert not other, f"untyped errors while the dataset was replaced: {other[:3]}"
    assert not mixed, f"{len(mixed)} opens saw values of one dataset under the other's manifest (or runs() of the other)"
    assert total["old"] + total["new"] > 0
    # Typed errors (a reader giving up after repeated replacements, or a file of the
    # old copy deleted under it) are allowed and counted, never hidden.
    print(f"replacement stress: {total} complete opens, {len(typed)} typed errors {sorted(set(typed))}")


def test_reader_at_each_step_of_the_switch(two_sources, tmp_path, monkeypatch):
    """A reader opening just before, just after the atomic swap, and after the old copy is moved away gets a whole dataset."""
    import os

    from nasbench_arrow.converters import convert, pipeline

    from nasbench_arrow import api

    root = tmp_path / "live"
    convert(two_sources["old"][0], root, workers=1)
    seen = {}

    def open_now(step):
        try:
            nb = api.NASBench(str(root))
            sha = nb.dataset.manifest.source["sha256"]
            label = "old" if sha == two_sources["old"][1] else "new"
            seen[step] = label if _dataset_digest(nb) == two_sources[label][2] else "mixed"
        except DatasetError as exc:
            seen[step] = exc

    real_exchange, real_rename = pipeline._exchange, os.rename

    def exchange(a, b):
        open_now("before swap")
        done = real_exchange(a, b)
        open_now("after swap")
        return done

    def rename(src, dst, *a, **k):
        real_rename(src, dst, *a, **k)
        if pipeline.OLD_MARKER in str(dst):
            open_now("old moved aside")

    monkeypatch.setattr(pipeline, "_exchange", exchange)
    monkeypatch.setattr(os, "rename", rename)
    convert(two_sources["new"][0], root, overwrite=True, workers=1)
    assert seen["before swap"] == "old"
    assert all(v in ("old", "new") for v in seen.values()), seen
    assert seen["old moved aside"] == "new"


def test_manifest_read_before_the_switch_is_not_mixed(two_sources, tmp_path, monkeypatch):
    """A reader that read the old manifest just before a replacement never returns the new values as the old."""
    from nasbench_arrow.converters import convert

    from nasbench_arrow import api, dataset

    root = tmp_path / "live"
    convert(two_sources["old"][0], root, workers=1)
    real_read = dataset.read_manifest
    replaced = []

    def read_then_replace(path, **kwargs):
        m = real_read(path, **kwargs)
        if not replaced:
            replaced.append(True)
            convert(two_sources["new"][0], root, overwrite=True, workers=1)
        return m

    monkeypatch.setattr(dataset, "read_manifest", read_then_replace)
    try:
        nb = api.NASBench(str(root))
    except DatasetError:
        return  # refusing is fine
    sha = nb.dataset.manifest.source["sha256"]
    label = "old" if sha == two_sources["old"][1] else "new"
    assert _dataset_digest(nb) == two_sources[label][2], "old manifest, new data: a mixed dataset"


# --------------------------------------------------------------------------- one generation per object (issue 11.12/13/17)


def _runs_of(nb):
    return nb.runs().collect().sort(["module_hash", "epochs", "repeat"]).drop("bucket").to_dicts()


def _cells_of(nb):
    return nb.cells().collect().sort("module_hash").drop("bucket").to_dicts()


def test_object_opened_before_an_overwrite_keeps_its_generation(two_sources, tmp_path):
    """Regression: after --overwrite, an old object answered query() from the old data and runs() from the new."""
    from nasbench_arrow.converters import convert

    from nasbench_arrow import api

    ref_old = api.NASBench(str(two_sources["old"][0].parent / "ref-old"))
    root = tmp_path / "live"
    convert(two_sources["old"][0], root, workers=1)
    nb = api.NASBench(str(root))
    made_before = nb.runs()  # a lazy frame made before, collected after the replacement
    order_before = list(nb.hash_iterator())
    convert(two_sources["new"][0], root, overwrite=True, workers=1)
    assert _dataset_digest(nb) == two_sources["old"][2]
    assert _runs_of(nb) == _runs_of(ref_old)
    assert made_before.collect().sort(["module_hash", "epochs", "repeat"]).drop("bucket").to_dicts() == _runs_of(ref_old)
    assert _cells_of(nb) == _cells_of(ref_old)
    assert list(nb.hash_iterator()) == order_before
    fresh = api.NASBench(str(root))
    assert _dataset_digest(fresh) == two_sources["new"][2]
    assert _runs_of(fresh) != _runs_of(nb)


def test_object_survives_its_directory_being_deleted(reliability_dataset, tmp_path):
    """The old generation deleted outright (as --overwrite does): the object still answers, whole."""
    import shutil

    from nasbench_arrow import api

    root = tmp_path / "ds"
    shutil.copytree(reliability_dataset, root)
    nb = api.NASBench(str(root))
    want_q, want_r = _dataset_digest(nb), _runs_of(api.NASBench(str(reliability_dataset)))
    shutil.rmtree(root)
    assert _dataset_digest(nb) == want_q
    assert _runs_of(nb) == want_r
    assert nb.summary().height == len(list(nb.hash_iterator()))


_TRUNCATE_CHILD = r"""
import json, os, sys
from nasbench_arrow import api
from nasbench_arrow.errors import DatasetCorruptError
root, victim, how, other = sys.argv[1:5]
def calls(nb, hashes):
    return {
        "get_metrics_from_hash": lambda: [nb.get_metrics_from_hash(h) for h in hashes],
        "query": lambda: [nb.query(nb.spec_from_hash(h), repeat=0) for h in hashes],
        "query_many": lambda: nb.query_many(hashes, repeat="mean").to_dicts(),
        "summary": lambda: nb.summary().to_dicts(),
    }
digest = lambda v: json.dumps(v, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
reference = api.NASBench(root)
hashes = sorted(reference.hash_iterator())
before = {name: digest(call()) for name, call in calls(reference, hashes).items()}
live = {name: (api.NASBench(root), name) for name in before}  # one untouched object per read path
path = os.path.join(root, victim)
if how == "truncate":
    os.truncate(path, os.path.getsize(path) // 3)
else:  # cp over a live copy: same size, other bytes, written in place
    with open(other, "rb") as src, open(path, "r+b") as dst:
        dst.write(src.read())
out = {}
for name, (nb, _) in live.items():
    try:
        got = digest(calls(nb, hashes)[name]())
    except DatasetCorruptError as exc:
        out[name] = "typed: " + str(exc)
    else:
        out[name] = "same" if got == before[name] else "DIFFERENT"
print(json.dumps(out))
"""


@pytest.mark.parametrize("how", ["truncate", "rewrite"])
@pytest.mark.parametrize("victim", ["index/run_metrics.npy", "index/cell_hash.npy", "index/run_start.npy"])
def test_index_file_changed_under_a_live_reader(two_sources, tmp_path, victim, how):
    """Regression: an index file truncated under a live reader gave SIGBUS or KeyError; now a typed error or the opened values."""
    import shutil
    import subprocess
    import sys

    from nasbench_arrow.converters import convert

    root = tmp_path / "live"
    convert(two_sources["old"][0], root, workers=1)
    other = two_sources["new"][0].parent / "ref-new" / victim
    if how == "rewrite":
        shutil.copy(other, tmp_path / "other.npy")
    proc = subprocess.run(
        [sys.executable, "-c", _TRUNCATE_CHILD, str(root), victim, how, str(tmp_path / "other.npy")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, f"reader died (rc {proc.returncode}): {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, outcome in out.items():
        assert outcome == "same" or outcome.startswith("typed: "), (name, outcome)
        if victim.endswith("run_metrics.npy"):
            # The one file read after open: every read path notices, none returns other values.
            assert outcome.startswith("typed: ") and "since the dataset was opened" in outcome, (name, outcome)
        else:
            assert outcome == "same", (name, outcome)  # copied into memory at open and checked then


def test_tfrecord_replaced_with_same_size_and_mtime_is_reconverted(two_sources, tmp_path, capsys):
    """Regression: a .tfrecord replaced by another of the same size with its mtime restored served the stale cache."""
    import shutil

    from nasbench_arrow import api

    old_src, new_src = two_sources["old"][0], two_sources["new"][0]
    assert old_src.stat().st_size == new_src.stat().st_size
    src = tmp_path / "data.tfrecord"
    shutil.copy(old_src, src)
    assert api.NASBench(str(src)).dataset.manifest.source["sha256"] == two_sources["old"][1]
    capsys.readouterr()
    # Touched only (mtime restored, ctime changed): the fingerprint agrees, SHA-256 once, no reconversion.
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert api.NASBench(str(src)).dataset.manifest.source["sha256"] == two_sources["old"][1]
    assert "converting" not in capsys.readouterr().err
    # Replaced in place by the other file, mtime restored (cp -p / rsync -t / curl -R).
    mtime = src.stat().st_mtime_ns
    src.write_bytes(new_src.read_bytes())
    os.utime(src, ns=(mtime, mtime))
    assert src.stat().st_mtime_ns == mtime and src.stat().st_size == old_src.stat().st_size
    nb = api.NASBench(str(src))
    assert "converting" in capsys.readouterr().err
    assert nb.dataset.manifest.source["sha256"] == two_sources["new"][1]
    assert _dataset_digest(nb) == two_sources["new"][2]


def test_lazy_frame_outlives_its_object(reliability_dataset, tmp_path):
    """`NASBench(path).runs()` drops the object at once: the frame still collects that generation."""
    import gc
    import shutil

    from nasbench_arrow import api

    root = tmp_path / "ds"
    shutil.copytree(reliability_dataset, root)
    want = _runs_of(api.NASBench(str(reliability_dataset)))
    lf = api.NASBench(str(root)).runs()
    rows = api.NASBench(str(root)).dataset.index.run_metrics  # kept alone, it keeps its file open
    first = rows[0:5]
    gc.collect()
    shutil.rmtree(root)
    assert lf.collect().sort(["module_hash", "epochs", "repeat"]).drop("bucket").to_dicts() == want
    assert (rows[0:5] == first).all() and rows[[4, 0, 2], 1:3].shape == (3, 2)
