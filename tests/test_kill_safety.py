"""Kill-safety of nasbench-convert: SIGKILL at any point never leaves a half dataset at OUT_DIR.

Two kinds of kill:

* **At a chosen phase** (deterministic). The CLI runs in a child process
  through a small harness that pauses at one phase of the pipeline and
  reports where it is; the test then sends SIGKILL. Phases: before reading,
  mid-stream (third block parsed), half the Parquet buckets written, index
  written, manifest written (a complete dataset in the temporary directory),
  and, with ``--overwrite``, just before and just after the atomic swap of
  the old and new directories, and after the old copy is renamed aside. The harness wraps pipeline functions by name, so it
  follows the converter's internals: if those are renamed, it fails loudly
  rather than silently testing nothing.
* **At a time** (black box). The real ``python -m nasbench_arrow.converters.cli``
  on a file that takes a few seconds, killed at fractions of a clean run's time.

After each kill: nothing at OUT_DIR (or, with ``--overwrite``, the old
dataset, intact and readable), leftovers only under the converter's
clearly named dot-prefixed temporary names beside OUT_DIR, and a rerun
succeeds and verifies.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nasbench_arrow import layout
from nasbench_arrow.errors import DatasetNotFoundError
from nasbench_arrow.verify import verify_dataset

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

# Names a conversion may leave beside OUT_DIR when killed: dot-prefixed, marked.
LEFTOVER = re.compile(r"^\.(?P<name>.+)\.nasbench-convert-(tmp|old)-\d+$")

HARNESS = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    point = os.environ["H7_KILL_AT"]
    flag = Path(os.environ["H7_FLAG"])

    def pause(where):
        # Write then rename, so the test never reads a created-but-empty flag.
        tmp = flag.with_name(flag.name + ".tmp")
        tmp.write_text(where)
        os.replace(tmp, flag)
        time.sleep(600)  # the test kills us here

    from nasbench_arrow import tfrecord
    from nasbench_arrow import manifest as manifest_module
    from nasbench_arrow.converters import batches, pipeline, writer

    # Small read blocks, so that "mid-stream" falls between blocks.
    tfrecord.DEFAULT_BLOCK_SIZE = 64 * 1024

    def wrap(owner, name, before=None, after=None):
        original = getattr(owner, name)  # AttributeError: the pipeline changed, update the harness
        def wrapper(*args, **kwargs):
            if before is not None:
                before(*args, **kwargs)
            result = original(*args, **kwargs)
            if after is not None:
                after(*args, **kwargs)
            return result
        setattr(owner, name, wrapper)

    calls = {"blocks": 0}
    if point == "early":
        wrap(pipeline, "_phase1", before=lambda *a, **k: pause(point))
    elif point == "mid-stream":
        def count(*a, **k):
            calls["blocks"] += 1
            if calls["blocks"] == 3:
                pause(point)
        wrap(batches, "parse_block", before=count)
    elif point == "buckets":
        wrap(writer, "write_bucket", before=lambda b, *a, **k: b == 8 and pause(point))
    elif point == "index":
        wrap(writer, "write_index", after=lambda *a, **k: pause(point))
    elif point == "manifest":
        wrap(manifest_module.Manifest, "write", after=lambda *a, **k: pause(point))
    elif point == "before-swap":
        wrap(pipeline, "_exchange", before=lambda *a, **k: pause(point))
    elif point == "after-swap":
        wrap(pipeline, "_exchange", after=lambda *a, **k: pause(point))
    elif point == "old-moved":
        def moved(src, dst, *a, **k):
            if pipeline.OLD_MARKER in str(dst):
                pause(point)  # the old dataset, swapped out, was just renamed aside
        wrap(os, "rename", after=moved)
    else:
        raise SystemExit(f"unknown kill point {point!r}")

    from nasbench_arrow.converters.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> Path:
    """300 cells x 4 budgets x 3 repeats (3,600 records, ~1.4 MB: about 20 read blocks of 64 KiB)."""
    from nasbench_arrow import testing

    path = tmp_path_factory.mktemp("kill-small") / "small.tfrecord"
    testing.write_fixture_tfrecord(path, testing.sample_cells(300, seed=5), seed=5, keep_records=False)
    return path


@pytest.fixture(scope="module")
def big_source(tmp_path_factory) -> Path:
    """An official-format file of 2,000 cells x 4 budgets x 3 repeats (24,000 records, ~9.5 MB)."""
    from nasbench_arrow import testing

    path = tmp_path_factory.mktemp("kill") / "big.tfrecord"
    testing.write_fixture_tfrecord(path, testing.sample_cells(2000, seed=3), seed=3, keep_records=False)
    return path


@pytest.fixture(scope="module")
def old_source(tmp_path_factory) -> Path:
    """A different small file whose dataset plays 'the old one' for --overwrite."""
    from nasbench_arrow import testing

    path = tmp_path_factory.mktemp("kill-old") / "old.tfrecord"
    testing.write_fixture_tfrecord(path, testing.sample_cells(30, seed=11), seed=11)
    return path


def _env() -> dict:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def _leftovers(out: Path) -> list[str]:
    """Entries beside OUT_DIR other than OUT_DIR and the sources."""
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name and not p.name.endswith(".tfrecord"))


def _check_after_kill(out: Path, *, old_sha: str | None) -> list[str]:
    """No half dataset at OUT_DIR; leftovers clearly named; returns the leftovers."""
    if old_sha is None:
        assert not out.exists(), f"{out} exists after the kill: {sorted(os.listdir(out))}"
        with pytest.raises(DatasetNotFoundError):
            verify_dataset(out).raise_if_failed()
    else:
        report = verify_dataset(out, deep=True)
        assert report.ok, report.problems
        assert report.manifest.source["sha256"] == old_sha, "OUT_DIR is not the old dataset"
    left = _leftovers(out)
    for name in left:
        m = LEFTOVER.match(name)
        assert m and m.group("name") == out.name, f"unclearly named leftover {name!r}"
        # A leftover is never mistaken for a dataset by name: it is dot-prefixed and marked.
        assert name.startswith(".")
    return left


def _rerun_and_verify(source: Path, out: Path, *, overwrite: bool = False, cli: bool = False) -> None:
    """Convert again (in-process, or through the real CLI) and check the result deeply."""
    if cli:
        args = [sys.executable, "-m", "nasbench_arrow.converters.cli", str(source), str(out), "--quiet"]
        if overwrite:
            args.append("--overwrite")
        proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
    else:
        from nasbench_arrow.converters import convert

        convert(source, out, overwrite=overwrite, workers=1)
    report = verify_dataset(out, deep=True)
    assert report.ok, report.problems


def _kill_at(point: str, source: Path, out: Path, tmp_path: Path, *extra: str) -> None:
    """Run the CLI through the harness, wait until it pauses at ``point``, SIGKILL it."""
    harness = tmp_path / "harness.py"
    harness.write_text(HARNESS)
    flag = tmp_path / "paused-at"
    env = dict(_env(), H7_KILL_AT=point, H7_FLAG=str(flag))
    proc = subprocess.Popen(
        [sys.executable, str(harness), str(source), str(out), "--quiet", "--workers", "1", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            if proc.poll() is not None:
                pytest.fail(f"converter exited ({proc.returncode}) before reaching {point!r}: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"converter did not reach {point!r} within 120 s")
            time.sleep(0.01)
        assert flag.read_text() == point
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", ["early", "mid-stream", "buckets", "index", "manifest"])
def test_sigkill_at_phase_leaves_no_dataset(small_source, tmp_path, point):
    """SIGKILL at each phase: no OUT_DIR, only marked leftovers, and a rerun converts and verifies."""
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    _kill_at(point, small_source, out, tmp_path)
    left = _check_after_kill(out, old_sha=None)
    assert left, "a killed conversion leaves its temporary directory (the kill gives no chance to clean up)"
    if point == "manifest":
        # Even the fully written temporary dataset is not where readers look.
        tmp_dir = out.parent / left[0]
        assert (tmp_dir / layout.MANIFEST_NAME).is_file()
    _rerun_and_verify(small_source, out)
    for name in left:  # the stale leftover is still clearly marked, and ignored by the new dataset
        assert LEFTOVER.match(name)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", ["mid-stream", "manifest"])
def test_sigkill_during_overwrite_keeps_old_dataset(small_source, old_source, tmp_path, point):
    """--overwrite killed before the switch: the old dataset is still at OUT_DIR, intact; a rerun replaces it."""
    from nasbench_arrow.converters import convert

    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    old = convert(old_source, out, workers=1)
    _kill_at(point, small_source, out, tmp_path, "--overwrite")
    _check_after_kill(out, old_sha=old.source["sha256"])
    _rerun_and_verify(small_source, out, overwrite=True)
    assert verify_dataset(out).manifest.source["name"] == small_source.name


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("point", "expect"),
    [("before-swap", "old"), ("after-swap", "new"), ("old-moved", "new")],
)
def test_sigkill_during_the_switch_keeps_a_dataset(small_source, old_source, tmp_path, point, expect):
    """--overwrite killed at the final switch (before or after the atomic swap): a complete dataset is at OUT_DIR."""
    from nasbench_arrow.converters import convert

    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    old = convert(old_source, out, workers=1)
    _kill_at(point, small_source, out, tmp_path, "--overwrite")
    if expect == "old":
        _check_after_kill(out, old_sha=old.source["sha256"])
    else:
        report = verify_dataset(out, deep=True)
        assert report.ok, report.problems
        assert report.manifest.source["name"] == small_source.name
        _check_after_kill(out, old_sha=report.manifest.source["sha256"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_real_cli_at_times(big_source, tmp_path):
    """The real CLI killed at 10% and 50% of a clean run's time: never a half dataset; reruns succeed."""
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    cmd = [sys.executable, "-m", "nasbench_arrow.converters.cli", str(big_source), str(out), "--quiet"]
    t0 = time.monotonic()
    subprocess.run(cmd, env=_env(), timeout=300, check=True, capture_output=True)
    clean = time.monotonic() - t0
    assert verify_dataset(out).ok
    import shutil

    outcomes = []
    for fraction in (0.1, 0.5):  # early enough that load changes cannot make both runs finish first
        shutil.rmtree(out)
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(clean * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        finished = proc.returncode == 0
        outcomes.append((fraction, "finished" if finished else "killed"))
        if finished:  # it won the race: then the dataset must be complete
            assert verify_dataset(out, deep=True).ok
            continue
        _check_after_kill(out, old_sha=None)
        _rerun_and_verify(big_source, out, cli=True)
    assert any(o == "killed" for _, o in outcomes), f"no run was killed before finishing: {outcomes}"
