"""The converter under faults (issue 11): a changing source, wrong hashes, hostile output paths.

Each test provokes one fault the converter must turn into a typed error (or
survive), and checks that nothing half-written is left at OUT_DIR.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from nasbench_arrow.converters import cellhash, cli, convert, pipeline

from nasbench_arrow import constants, layout
from nasbench_arrow.errors import ConversionError, DatasetExistsError
from nasbench_arrow.graph import hash_module
from nasbench_arrow.manifest import read_manifest
from nasbench_arrow.records import encode_metrics_values, parse_payload, parse_payload_values
from nasbench_arrow.testing import sample_cells, write_fixture_tfrecord
from nasbench_arrow.tfrecord import iter_payloads, write_tfrecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_convert import assert_matches_reference, leftovers


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    """Two different valid sources of the same layout (12 and 20 cells, 2 budgets)."""
    d = tmp_path_factory.mktemp("trust")
    a = write_fixture_tfrecord(d / "a.tfrecord", sample_cells(20, seed=21), epochs=(12, 108))
    b = write_fixture_tfrecord(d / "b.tfrecord", sample_cells(12, seed=22), epochs=(12, 108))
    return a.path, b.path


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _record_boundary(path: Path, fraction: float) -> int:
    offsets = [off for _, off, _ in iter_payloads(path)]
    return offsets[int(len(offsets) * fraction)]


# ----------------------------------------------------------------------------- source integrity


def test_truncated_during_in_process_conversion_is_an_error(tmp_path, two_sources):
    """Truncated at a record boundary after the converter opened it: error, nothing at OUT_DIR."""
    src = _copy(two_sources[0], tmp_path / "src.tfrecord")
    cut = _record_boundary(src, 0.3)
    done = []

    def truncate(p):
        if p.phase == "read" and not done:
            done.append(True)
            os.truncate(src, cut)

    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="changed while it was being converted"):
        convert(src, out, workers=1, block_size=4096, progress=truncate)
    assert done
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_truncated_after_planning_in_workers_is_an_error(tmp_path, two_sources, monkeypatch):
    """Worker processes see the truncation (size differs from the parent's open file): error."""
    src = _copy(two_sources[0], tmp_path / "src.tfrecord")
    cut = _record_boundary(src, 0.5)
    plan = pipeline._plan_parts

    def plan_then_truncate(*args, **kwargs):
        parts = plan(*args, **kwargs)
        os.truncate(src, cut)
        return parts

    monkeypatch.setattr(pipeline, "_plan_parts", plan_then_truncate)
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="changed while it was being converted.*size went"):
        convert(src, out, workers=2, block_size=4096)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_replaced_during_conversion_is_an_error(tmp_path, two_sources, monkeypatch):
    """``mv other src`` after the start defeats nothing: workers read the opened file, and the run fails.

    The workers open the parent's descriptor (so no value can come from the
    other file); the replacement is still seen at the end (the opened file's
    ctime moved, its name refers to another file) and the run fails rather than
    record a dataset under a name whose file is now different.
    """
    a, b = two_sources
    src = _copy(a, tmp_path / "src.tfrecord")
    other = _copy(b, tmp_path / "other.tfrecord")
    expected = hashlib.sha256(a.read_bytes()).hexdigest()
    plan = pipeline._plan_parts

    def plan_then_replace(*args, **kwargs):
        parts = plan(*args, **kwargs)
        os.replace(other, src)  # the name now holds the other file
        return parts

    monkeypatch.setattr(pipeline, "_plan_parts", plan_then_replace)
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="its name now refers to another file"):
        convert(src, out, workers=2, block_size=4096, expected_sha256=expected)
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_workers_read_the_parents_open_file_not_the_name(tmp_path, two_sources):
    """run_part given the parent's /proc path reads the opened file even after the name moved."""
    a, b = two_sources
    src = _copy(a, tmp_path / "src.tfrecord")
    fd = os.open(src, os.O_RDONLY)
    try:
        os.replace(_copy(b, tmp_path / "other.tfrecord"), src)
        identity = pipeline._identity(os.fstat(fd))  # the opened file, now nameless
        proc = f"/proc/{os.getpid()}/fd/{fd}"
        if not os.path.exists(proc):
            pytest.skip("no /proc/<pid>/fd on this system")
        result = pipeline.run_part(
            proc, 0, 0, None, str(tmp_path / "spill"), block_size=4096, verify_crc=True,
            identity=identity, name="src",
        )
    finally:
        os.close(fd)
    assert result["error"] is None
    assert result["records"] == sum(1 for _ in iter_payloads(a))
    assert result["end"] == a.stat().st_size


def test_worker_refuses_a_file_that_is_not_the_parents(tmp_path, two_sources):
    """Where workers must open by name (no /proc), a swapped file fails the identity check."""
    a, b = two_sources
    identity = pipeline._identity(os.stat(a))
    with pytest.raises(ConversionError, match="it is now another file"):
        pipeline._open_source(str(b), identity, "src.tfrecord")
    with pipeline._open_source(str(a), identity, "src.tfrecord") as f:
        assert f.read(1)


def test_split_scan_on_a_shrunken_file_is_typed(tmp_path, two_sources):
    """Truncation racing the split planning: ConversionError, not struct.error."""
    src = _copy(two_sources[0], tmp_path / "src.tfrecord")
    size = src.stat().st_size
    os.truncate(src, size // 2 + 5)
    with pytest.raises(ConversionError, match="changed while it was being converted"):
        pipeline._find_record_start(str(src), size // 2, size)


# ----------------------------------------------------------------------------- hash and DAG checks


def _payload_fields(payload: bytes) -> list:
    return json.loads(payload)


def _rewrite(path: Path, out: Path, change) -> list[tuple[int, int]]:
    """Copy a tfrecord, passing each payload's fields through ``change``; return (index, offset)s changed."""
    payloads, changed, offset = [], [], 0
    for index, off, payload in iter_payloads(path):
        f = _payload_fields(payload)
        g = change(list(f))
        if g != f:
            payload = json.dumps(g).encode()
            changed.append((index, offset))
        payloads.append(payload)
        offset += 12 + len(payload) + 4
    write_tfrecord(out, payloads)
    return changed


def test_hash_that_does_not_match_its_graph_is_refused(tmp_path, two_sources):
    """A record whose stored hash is not its graph's: error with record index and byte offset."""
    a = two_sources[0]
    victim = _payload_fields(next(iter_payloads(a))[2])[0]
    fake = "0" * 31 + ("1" if victim[-1] == "0" else "0")
    changed = _rewrite(a, tmp_path / "bad.tfrecord", lambda f: [fake, *f[1:]] if f[0] == victim else f)
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="does not match its cell") as info:
        convert(tmp_path / "bad.tfrecord", out, workers=1)
    first_index, first_offset = changed[0]
    assert info.value.record_index == first_index
    assert info.value.byte_offset == first_offset
    assert victim in str(info.value)  # the graph's true hash is named
    assert not out.exists()


def test_unpruned_cell_is_refused(tmp_path):
    """A stored cell with a vertex off every input-output path (query could never find it)."""
    matrix = [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]  # vertex 2 has no in-edge
    ops = ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]
    labels = [-1, 0, 2, -2]
    h = hash_module(matrix, labels)  # the hash of the stored (unpruned) graph
    src = tmp_path / "unpruned.tfrecord"
    good = next(iter_payloads(write_fixture_tfrecord(
        tmp_path / "one.tfrecord", sample_cells(1, seed=3), epochs=(108,)
    ).path))[2]
    rest = _payload_fields(good)
    adjacency = "".join(str(x) for row in matrix for x in row)
    payloads = [json.dumps([h, 108, adjacency, ",".join(ops), rest[4]]).encode()] * 3
    write_tfrecord(src, payloads)
    with pytest.raises(ConversionError, match="not pruned: vertex 2") as info:
        convert(src, tmp_path / "out", workers=1)
    assert info.value.record_index == 0


@pytest.mark.parametrize(
    ("adjacency", "what"),
    [("0110" "0001" "0001" "1000", r"entry \(3, 0\).*back to vertex 0"),
     ("0110" "0101" "0001" "0000", r"entry \(1, 1\).*self-loop")],
)
def test_every_decoder_refuses_a_non_dag(adjacency, what):
    """The exact decoders refuse what the fast path refuses: self-loops and back edges."""
    raw = encode_metrics_values([0.0] * 15 + [1000, 5.0])
    ops = "input,conv3x3-bn-relu,maxpool3x3,output"
    payload = json.dumps(["0" * 32, 108, adjacency, ops, base64.encodebytes(raw).decode()])
    for parse in (parse_payload, parse_payload_values):
        with pytest.raises(ConversionError, match=what):
            parse(payload.encode(), record_index=4, byte_offset=99)


def test_non_dag_record_is_refused_by_the_converter(tmp_path, two_sources):
    """An output->input edge in one record: the conversion fails at that record (any path)."""
    a = two_sources[0]
    target = [None]

    def add_back_edge(f):
        v = int(len(f[2]) ** 0.5)
        if target[0] is None and v >= 3:
            target[0] = f[0]
        if f[0] == target[0]:
            adj = list(f[2])
            adj[(v - 1) * v] = "1"  # output -> input
            f[2] = "".join(adj)
        return f

    changed = _rewrite(a, tmp_path / "bad.tfrecord", add_back_edge)
    with pytest.raises(ConversionError, match="not upper triangular") as info:
        convert(tmp_path / "bad.tfrecord", tmp_path / "out", workers=1)
    assert (info.value.record_index, info.value.byte_offset) == changed[0]


def test_vectorised_hash_equals_the_exact_hash():
    """cellhash.hash_cells gives graph.hash_module's digest for every cell, all vertex counts."""
    cells = sample_cells(300, seed=9)
    n = len(cells)
    adjacency = np.zeros((n, 7, 7), dtype=np.int8)
    labels = np.zeros((n, 7), dtype=np.int64)
    nv = np.zeros(n, dtype=np.int64)
    for k, c in enumerate(cells):
        v = c.num_vertices
        nv[k] = v
        adjacency[k, :v, :v] = c.matrix
        labels[k, :v] = [-1, *[constants.AVAILABLE_OPS.index(o) for o in c.ops[1:-1]], -2]
    got = cellhash.hash_cells(adjacency, labels, nv)
    assert [h.decode() for h in got] == [c.module_hash for c in cells]
    assert sorted(set(nv.tolist())) == list(range(2, 8))


def test_vectorised_hash_resolves_key_ties_exactly(monkeypatch):
    """Force every sort key to tie: the ambiguous cells are re-hashed exactly, same digests."""
    cells = sample_cells(40, seed=10)
    n = len(cells)
    adjacency = np.zeros((n, 7, 7), dtype=np.int8)
    labels = np.zeros((n, 7), dtype=np.int64)
    nv = np.array([c.num_vertices for c in cells])
    for k, c in enumerate(cells):
        v = c.num_vertices
        adjacency[k, :v, :v] = c.matrix
        labels[k, :v] = [-1, *[constants.AVAILABLE_OPS.index(o) for o in c.ops[1:-1]], -2]
    monkeypatch.setattr(
        cellhash, "_sort_keys", lambda d: np.zeros(d.shape[:-1], dtype=np.uint64)
    )
    got = cellhash.hash_cells(adjacency, labels, nv)
    assert [h.decode() for h in got] == [c.module_hash for c in cells]


# ----------------------------------------------------------------------------- output safety


@pytest.fixture
def dataset_dir(tmp_path, two_sources):
    """A converted dataset at tmp_path/ds (of source b)."""
    ds = tmp_path / "ds"
    convert(two_sources[1], ds, workers=1)
    return ds


def test_overwrite_refuses_foreign_files_and_names_them(tmp_path, two_sources, dataset_dir):
    """--overwrite on a dataset directory holding a notes file: refuse, name it, delete nothing."""
    notes = dataset_dir / "notes.txt"
    notes.write_text("mine")
    (dataset_dir / "index" / "extra.npy").write_bytes(b"x")
    with pytest.raises(DatasetExistsError, match=r"2 entries .*\(index/extra.npy, notes.txt\)"):
        convert(two_sources[0], dataset_dir, overwrite=True, workers=1)
    assert notes.read_text() == "mine"
    assert leftovers(tmp_path) == []
    # Told explicitly: replaced, foreign files gone with the old dataset.
    manifest = convert(two_sources[0], dataset_dir, overwrite=True, delete_foreign=True, workers=1)
    assert manifest.source["name"] == two_sources[0].name
    assert not notes.exists()
    assert leftovers(tmp_path) == []


def test_overwrite_never_deletes_the_source(tmp_path, two_sources, dataset_dir):
    """``nasbench-convert ds/src.tfrecord ds --overwrite``: refused, even with --delete-foreign."""
    src = _copy(two_sources[0], dataset_dir / "src.tfrecord")
    for delete_foreign in (False, True):
        with pytest.raises(DatasetExistsError, match="the source file is inside it"):
            convert(src, dataset_dir, overwrite=True, delete_foreign=delete_foreign, workers=1)
        assert src.read_bytes() == two_sources[0].read_bytes()


def test_cli_foreign_files_one_line_cli_words(tmp_path, two_sources, dataset_dir, capsys):
    (dataset_dir / "notes.txt").write_text("mine")
    assert cli.main([str(two_sources[0]), str(dataset_dir), "--overwrite", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nasbench-convert: error: ")
    assert "notes.txt" in err and "--delete-foreign" in err and "=True" not in err
    assert cli.main([str(two_sources[0]), str(dataset_dir), "--overwrite", "--delete-foreign",
                     "--quiet"]) == 0
    assert not (dataset_dir / "notes.txt").exists()


def test_cli_never_suggests_what_it_will_refuse(tmp_path, two_sources, dataset_dir, capsys):
    """Not a dataset: no --overwrite hint (it would refuse); a dataset: the CLI flag, not overwrite=True."""
    notadataset = tmp_path / "notadataset"
    notadataset.mkdir()
    (notadataset / "file.txt").write_text("x")
    assert cli.main([str(two_sources[0]), str(notadataset)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "overwrite" not in err
    assert "not a nasbench-arrow dataset" in err
    assert cli.main([str(two_sources[0]), str(notadataset), "--overwrite"]) == 1
    assert "overwrite" not in capsys.readouterr().err
    assert cli.main([str(two_sources[0]), str(dataset_dir)]) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and "overwrite=True" not in err


def test_cli_unwritable_parent_names_out_dir_not_the_temp_name(tmp_path, two_sources, capsys):
    """``nasbench-convert x /proc/newdir``: one line about OUT_DIR, no errno, no temp name."""
    target = "/proc/newdir" if os.path.isdir("/proc") else str(tmp_path / "f" / "x")
    if not os.path.isdir("/proc"):
        (tmp_path / "f").write_text("a file, not a directory")
    assert cli.main([str(two_sources[0]), target, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nasbench-convert: error: cannot create")
    assert target in err
    assert pipeline.TMP_MARKER not in err and "[Errno" not in err


def test_long_out_dir_name_fits_the_temp_names(tmp_path, two_sources):
    """A 240-character OUT_DIR name: the temporary and backup names are shortened to fit."""
    out = tmp_path / ("d" * 240)
    convert(two_sources[0], out, workers=1)
    convert(two_sources[1], out, workers=1, overwrite=True)  # the backup name too
    assert read_manifest(out).source["name"] == two_sources[1].name
    assert leftovers(tmp_path) == []
    tmp = pipeline._sibling(out, pipeline.TMP_MARKER)
    assert len(tmp.name) <= 255 and pipeline.TMP_MARKER in tmp.name
    other = pipeline._sibling(tmp_path / ("d" * 239 + "e"), pipeline.TMP_MARKER)
    assert other.name != tmp.name


# ----------------------------------------------------------------------------- full disk


def test_full_disk_simulated_is_one_line_naming_the_file(tmp_path, two_sources, monkeypatch):
    """A write failing as pyarrow reports ENOSPC (no errno): OutOfSpaceError naming the file."""
    from nasbench_arrow.converters import writer

    def full(table, path, *args):
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(writer, "_write_table", full)
    out = tmp_path / "out"
    with pytest.raises(pipeline.OutOfSpaceError) as info:
        convert(two_sources[0], out, workers=1)
    msg = str(info.value)
    assert "\n" not in msg and info.value.errno == errno.ENOSPC
    assert "cells/bucket=" in msg and "MB free" in msg
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.fixture
def small_fs(tmp_path):
    """A 256 KiB tmpfs (needs root and mount(8)); skipped with the reason otherwise."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
        capture_output=True, text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_full_disk_real_tmpfs_cli_exit_1_no_signal_no_leftovers(tmp_path, small_fs, workers):
    """A real full file system: exit 1 (no SIGBUS), one line naming the file, temp dir removed."""
    src = write_fixture_tfrecord(
        tmp_path / "big.tfrecord", sample_cells(300, seed=5), epochs=(4, 12, 36, 108)
    ).path
    assert src.stat().st_size > 1 << 20
    r = subprocess.run(
        [sys.executable, "-m", "nasbench_arrow.converters.cli", str(src), str(small_fs / "ds"),
         "--quiet", "--workers", workers],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "no space left" in r.stderr
    assert "MB free" in r.stderr and "while writing" in r.stderr
    assert "/proc/" not in r.stderr
    assert os.listdir(small_fs) == []


# ----------------------------------------------------------------------------- processes


_KILL_HARNESS = """
import sys, time, os
from pathlib import Path
from nasbench_arrow.converters import pipeline
flag = Path(sys.argv[3])
wait = pipeline.wait
def watching(*args, **kwargs):
    if not flag.exists():
        time.sleep(0.5)  # the workers are parsing now
        flag.with_suffix(".tmp").write_text("busy")
        os.replace(flag.with_suffix(".tmp"), flag)
    return wait(*args, **kwargs)
pipeline.wait = watching
pipeline.convert(sys.argv[1], sys.argv[2], workers=2, block_size=256)
"""


def _workers_of(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(k) for k in f.read().split()]
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    out.append(k)
        except FileNotFoundError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_kill_9_of_the_converter_takes_its_workers_with_it(tmp_path):
    """SIGKILL of the converter while its workers parse: they are gone within 2 s."""
    src = write_fixture_tfrecord(
        tmp_path / "src.tfrecord", sample_cells(500, seed=6), epochs=(4, 12, 36, 108)
    ).path
    flag = tmp_path / "flag"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_HARNESS, str(src), str(tmp_path / "out"), str(flag)]
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        workers = _workers_of(proc.pid)
        assert len(workers) == 2
        proc.kill()
        proc.wait()
        gone_by = time.monotonic() + 2.0
        while any(_alive(w) for w in workers) and time.monotonic() < gone_by:
            time.sleep(0.05)
        alive = [w for w in workers if _alive(w)]
    finally:
        proc.kill()
        for w in _workers_of(proc.pid) if proc.poll() is None else []:
            os.kill(w, signal.SIGKILL)
    for w in alive:  # clean up before failing
        os.kill(w, signal.SIGKILL)
    assert alive == [], "workers outlived the killed converter"


def test_sigterm_after_the_new_dataset_is_in_place_says_so(
    tmp_path, two_sources, dataset_dir, monkeypatch, capsys
):
    """SIGTERM in the last moments of --overwrite: the message says what is on disk (the new data)."""
    install = pipeline._install

    def install_then_term(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-install: held back until it is done
        return install(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_install", install_then_term)
    rc = cli.main([str(two_sources[0]), str(dataset_dir), "--overwrite", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 130
    assert "holds the new dataset" in err and "left as it was" not in err
    assert read_manifest(dataset_dir).source["name"] == two_sources[0].name
    assert leftovers(tmp_path) == []


def test_sigterm_before_the_install_leaves_the_old_dataset(
    tmp_path, two_sources, dataset_dir, monkeypatch, capsys
):
    def term(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(pipeline, "_fsync_tree", term)
    rc = cli.main([str(two_sources[0]), str(dataset_dir), "--overwrite", "--quiet"])
    assert rc == 130
    assert "still holds the old dataset" in capsys.readouterr().err
    assert read_manifest(dataset_dir).source["name"] == two_sources[1].name
    assert leftovers(tmp_path) == []


def test_python_m_cli_runs():
    """``python -m nasbench_arrow.converters.cli`` (how the API converts in a child interpreter)."""
    r = subprocess.run(
        [sys.executable, "-m", "nasbench_arrow.converters.cli", "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0 and "OUT_DIR" in r.stdout


# ----------------------------------------------------------------------------- other budgets, fewer repeats


def test_other_budget_converts_and_verifies(tmp_path):
    """A dataset trained at 5 epochs (nasbench-train --epochs 5): complete, and verify agrees."""
    from nasbench_arrow.verify import verify_dataset

    src = write_fixture_tfrecord(tmp_path / "e5.tfrecord", sample_cells(8, seed=2), epochs=(5,)).path
    manifest = convert(src, tmp_path / "e5", workers=1)
    assert manifest.counts["epochs"] == [5] and manifest.counts["complete"] is True
    for deep in (False, True):
        report = verify_dataset(tmp_path / "e5", deep=deep)
        assert report.ok, [str(p) for p in report.problems]


def test_one_repeat_dataset_on_disk_and_verified(tmp_path):
    """1 repeat per cell (--allow-incomplete): repeats numbered 0 only, counts say so, verify passes."""
    import pyarrow.parquet as pq

    from nasbench_arrow.verify import verify_dataset

    src = write_fixture_tfrecord(
        tmp_path / "r1.tfrecord", sample_cells(8, seed=2), epochs=(108,), repeats=1
    ).path
    with pytest.raises(ConversionError, match="allow-incomplete"):
        convert(src, tmp_path / "refused", workers=1)
    manifest = convert(src, tmp_path / "r1", workers=1, allow_incomplete=True)
    assert manifest.counts["repeats"] == 1 and manifest.counts["complete"] is False
    assert manifest.counts["runs"] == manifest.counts["cells"] == 8
    repeats = set()
    for b in layout.BUCKETS:
        repeats |= set(pq.read_table(tmp_path / "r1" / layout.data_file(layout.RUNS_DIR, b))
                       ["repeat"].to_pylist())
    assert repeats == {0}
    start = np.load(tmp_path / "r1" / layout.INDEX_DIR / layout.INDEX_FILES["run_start"])
    assert np.diff(start).tolist() == [1] * 8
    for deep in (False, True):
        report = verify_dataset(tmp_path / "r1", deep=deep)
        assert report.ok, [str(p) for p in report.problems]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_dirs_of_killed_conversions_are_removed_live_ones_kept(tmp_path, two_sources):
    """Leftovers of a kill (dead pid, unlocked) go at the next conversion; a live one's stays."""
    import fcntl

    out = tmp_path / "out"
    dead = _dead_pid()
    stale_tmp = tmp_path / f".out{pipeline.TMP_MARKER}{dead}"
    stale_old = tmp_path / f".out{pipeline.OLD_MARKER}{dead}"
    for d in (stale_tmp, stale_old):
        (d / "_work").mkdir(parents=True)
        (d / "_work" / "spill.arrow").write_bytes(b"x" * 1000)
    other_out = tmp_path / f".other{pipeline.TMP_MARKER}{dead}"  # another OUT_DIR's: not ours
    other_out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live = tmp_path / f".out{pipeline.TMP_MARKER}{sleeper.pid}"
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        convert(two_sources[0], out, workers=1)
    finally:
        os.close(fd)
        sleeper.kill()
        sleeper.wait()
    assert not stale_tmp.exists() and not stale_old.exists()
    assert live.exists() and other_out.exists()
    assert read_manifest(out).counts["cells"] == 20


def test_worker_falls_back_to_the_name_when_proc_is_unavailable(tmp_path, two_sources):
    """A /proc path that cannot be opened: the worker opens the name and checks the identity."""
    a = two_sources[0]
    identity = pipeline._identity(os.stat(a))
    with pipeline._open_source("/proc/0/fd/999999", identity, str(a)) as f:
        assert f.read(1)


def test_vectorised_hash_equals_the_official_hashes_of_1000_real_cells(realdata):
    """The 1,000 smallest hashes of the official dataset, with their stored graphs: all equal."""
    cells = json.loads((realdata / "vis_first1000_by_hash.json").read_text())
    n = len(cells)
    adjacency = np.zeros((n, 7, 7), dtype=np.int8)
    labels = np.zeros((n, 7), dtype=np.int64)
    nv = np.zeros(n, dtype=np.int64)
    for k, c in enumerate(cells):
        v = len(c["ops"])
        nv[k] = v
        adjacency[k, :v, :v] = c["matrix"]
        labels[k, :v] = [-1, *[constants.AVAILABLE_OPS.index(o) for o in c["ops"][1:-1]], -2]
    got = cellhash.hash_cells(adjacency, labels, nv)
    assert [h.decode() for h in got] == [c["hash"] for c in cells]


def test_interrupt_as_convert_returns_still_says_what_is_on_disk(
    tmp_path, two_sources, dataset_dir, monkeypatch, capsys
):
    """An interrupt that escapes convert() after the swap (e.g. in its cleanup): the CLI looks."""
    real = pipeline.convert

    def convert_then_interrupt(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # as if SIGTERM landed just as convert returned

    monkeypatch.setattr(pipeline, "convert", convert_then_interrupt)
    rc = cli.main([str(two_sources[0]), str(dataset_dir), "--overwrite", "--quiet"])
    assert rc == 130
    assert "holds the new dataset" in capsys.readouterr().err
    # And one before anything happened: the old dataset, as it was.
    monkeypatch.setattr(pipeline, "convert", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    rc = cli.main([str(two_sources[1]), str(dataset_dir), "--overwrite", "--quiet"])
    assert rc == 130
    assert "still holds the old dataset" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_framing_errors_name_the_source_not_the_proc_path(tmp_path, workers):
    """A text file given as a tfrecord: 'not a TFRecord file', naming the file the user gave."""
    src = tmp_path / "notes.tfrecord"
    src.write_text("some notes, not a TFRecord file\n" * 100)
    with pytest.raises(ConversionError, match="not a TFRecord file") as info:
        convert(src, tmp_path / "out", workers=workers)
    assert info.value.source == str(src)
    assert "/proc/" not in str(info.value)
