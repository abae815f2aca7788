"""Opening a converted dataset (nasbench_arrow.dataset): index, lazy frames, pruning, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest

from nasbench_arrow import dataset, layout, verify
from nasbench_arrow.api import NASBench
from nasbench_arrow.errors import DatasetCorruptError, DatasetFormatError, DatasetNotFoundError


@pytest.fixture
def copy_of(converted_fixture, tmp_path):
    """A writable copy of the converted fixture, to damage."""
    root = tmp_path / "dataset"
    shutil.copytree(converted_fixture.root, root)
    return root


def _expected_runs(info):
    """(hash, epochs, repeat) of every record, sorted as the runs table is."""
    return sorted((r.module_hash, r.epochs, r.repeat) for r in info.records)


# ----------------------------------------------------------------------------- index


def test_open_dataset_reads_counts_and_maps_the_index(converted_fixture):
    """open_dataset gives the manifest counts and index arrays of the documented dtypes and shapes."""
    ds = dataset.open_dataset(converted_fixture.root)
    info = converted_fixture.info
    index = ds.index
    assert index.num_cells == len(info.hashes) and index.num_runs == info.num_records
    assert ds.epochs == (4, 12, 36, 108)
    assert index.cell_hash.dtype == np.dtype("S32") and index.cell_adjacency.shape == (len(info.hashes), 7, 7)
    assert index.run_metrics.shape == (info.num_records, len(layout.INDEX_RUN_COLUMNS))
    assert [h.decode() for h in index.cell_hash.tolist()] == sorted(info.hashes)
    assert "cells=80" in repr(ds)


def test_index_rows_hold_the_stored_cells_and_runs(converted_fixture):
    """Each index row gives the stored matrix, ops, parameters and the runs' halfway/final metrics."""
    index = dataset.open_dataset(converted_fixture.root).index
    info = converted_fixture.info
    for h in info.hashes[:20]:
        row = index.find(h)
        matrix, ops = info.cells[h]
        assert np.array_equal(index.matrix(row), matrix) and index.matrix(row).dtype == np.int8
        assert index.operations(row) == ops
        assert index.parameters(row) == info.trainable_parameters[h]
        start, stop = index.runs_of(row)
        got = index.run_metrics[start:stop]
        want = [
            [r.stat(stage, metric) for stage in ("halfway", "final")
             for metric in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")]
            for e in (4, 12, 36, 108) for r in info.runs(h, e)
        ]
        assert got.tolist() == want


def test_find_and_find_many_reject_anything_not_held(converted_fixture):
    """find returns the row of a held hash, None otherwise; find_many agrees, vectorised."""
    index = dataset.open_dataset(converted_fixture.root).index
    held = list(converted_fixture.info.hashes[:5])
    bad = ["0" * 32, "F" * 32, held[0][:31], held[0] + "0", "é" * 32, ""]
    for h in held:
        assert index.hash_at(index.find(h)) == h
    for h in bad:
        assert index.find(h) is None
    assert index.find(b"0" * 32) is None
    rows, found = index.find_many(held + bad)
    assert found.tolist() == [True] * 5 + [False] * len(bad)
    assert [index.hash_at(r) for r in rows[:5].tolist()] == held
    rows2, found2 = index.find_many(np.array(held, dtype="S32"))
    assert found2.all() and rows2.tolist() == rows[:5].tolist()


def test_budget_runs_points_at_repeat_zero_of_each_budget(converted_fixture):
    """budget_runs(rows, e) gives each cell's first run row at that budget and its repeat count."""
    index = dataset.open_dataset(converted_fixture.root).index
    rows = np.arange(index.num_cells)[::-1]
    for k, e in enumerate((4, 12, 36, 108)):
        first, count = index.budget_runs(rows, e)
        assert (count == 3).all()
        # 12 runs per cell, sorted by (epochs, repeat): budget k starts 3 * k runs in.
        assert (first == index.run_start[rows] + 3 * k).all()
        assert (index.run_epochs[first] == e).all()
    _, count = index.budget_runs(rows, 5)
    assert (count == 0).all()
    first, count = index.budget_runs(np.zeros(0, np.int64), 108)
    assert first.size == count.size == 0


def test_source_order_recovers_file_order(converted_fixture):
    """source_order lists cells (and budgets) in the order the tfrecord first lists them."""
    index = dataset.open_dataset(converted_fixture.root).index
    rows, epochs = index.source_order()
    first_seen = list(dict.fromkeys(r.module_hash for r in converted_fixture.info.records))
    assert [index.hash_at(r) for r in rows.tolist()] == first_seen
    assert epochs == list(dict.fromkeys(r.epochs for r in converted_fixture.info.records))


# ----------------------------------------------------------------------------- lazy frames


def test_scans_are_lazy_frames_with_the_layout_columns(converted_fixture):
    """scan_cells/scan_runs: the layout's columns plus a str bucket column, all rows."""
    cells = dataset.scan_cells(converted_fixture.root)
    runs = dataset.scan_runs(converted_fixture.root)
    assert isinstance(cells, pl.LazyFrame) and isinstance(runs, pl.LazyFrame)
    assert cells.collect_schema().names() == [*layout.CELLS_SCHEMA.names, "bucket"]
    assert runs.collect_schema().names() == [*layout.RUNS_SCHEMA.names, "bucket"]
    assert runs.collect_schema()["bucket"] == pl.String
    df = runs.select("module_hash", "epochs", "repeat", "bucket").collect()
    assert df.height == converted_fixture.info.num_records
    assert (df["bucket"] == df["module_hash"].str.slice(0, 1)).all()
    got = sorted(df.select("module_hash", "epochs", "repeat").iter_rows())
    assert got == _expected_runs(converted_fixture.info)


def test_filter_hashes_reads_only_the_hash_buckets(copy_of, converted_fixture):
    """With the bucket predicate added, a hash filter opens one file: the others can be garbage."""
    ds = dataset.open_dataset(copy_of)
    ds.scan_runs()  # the first scan checks every footer; the damage below comes after it
    h = converted_fixture.info.hashes[0]
    for bucket in layout.BUCKETS:
        path = copy_of / layout.data_file(layout.RUNS_DIR, bucket)
        if bucket != h[0] and path.exists():
            size = path.stat().st_size
            path.write_bytes(b"PAR1" + b"\x07" * (size - 8) + b"PAR1")
    pruned = dataset.filter_hashes(ds.scan_runs(), [h])
    scan_line = pruned.explain().splitlines()[0]  # e.g. "Parquet SCAN [.../runs/bucket=0/part-0.parquet]"
    assert scan_line.count(".parquet") == 1 and "other sources" not in scan_line
    assert layout.data_file(layout.RUNS_DIR, h[0]) in scan_line
    df = pruned.collect()
    assert df.height == 12 and set(df["module_hash"]) == {h}
    # Without the bucket predicate Polars has to open the damaged files.
    with pytest.raises(pl.exceptions.PolarsError):
        ds.scan_runs().filter(pl.col("module_hash") == h).collect()


def test_filter_hashes_accepts_one_hash_or_many(converted_fixture):
    """filter_hashes takes a str or an iterable of str and keeps exactly those cells."""
    ds = dataset.open_dataset(converted_fixture.root)
    hashes = list(converted_fixture.info.hashes[:6])
    many = dataset.filter_hashes(ds.scan_cells(), hashes).collect()
    assert sorted(many["module_hash"]) == sorted(hashes)
    one = dataset.filter_hashes(ds.scan_cells(), hashes[2]).collect()
    assert one["module_hash"].to_list() == [hashes[2]]


# ----------------------------------------------------------------------------- opening errors


def test_missing_path_raises_dataset_not_found(tmp_path):
    """A path that does not exist: DatasetNotFoundError (also a FileNotFoundError)."""
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        NASBench(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        dataset.open_dataset(tmp_path / "nope.tfrecord")


def test_directory_that_is_not_a_dataset_raises_format_error(tmp_path):
    """A directory without manifest.json: DatasetFormatError saying how to convert."""
    (tmp_path / "something.txt").write_text("hi")
    with pytest.raises(DatasetFormatError, match="not a nasbench-arrow dataset"):
        NASBench(tmp_path)


def test_single_parquet_file_is_refused(copy_of):
    """A Parquet file passed instead of the directory: DatasetFormatError naming the fix."""
    with pytest.raises(DatasetFormatError, match="single Parquet file"):
        NASBench(copy_of / layout.data_file(layout.CELLS_DIR, "0"))


def test_manifest_path_opens_its_directory(copy_of):
    """Passing the manifest.json opens the dataset it describes."""
    assert NASBench(copy_of / layout.MANIFEST_NAME).root == copy_of


def test_unknown_format_version_raises_format_error(copy_of):
    """A manifest of another format version: DatasetFormatError naming both versions."""
    path = copy_of / layout.MANIFEST_NAME
    doc = json.loads(path.read_text())
    doc["format_version"] = layout.FORMAT_VERSION + 1
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetFormatError, match="format version"):
        NASBench(copy_of)


def test_missing_parquet_file_raises_corrupt(copy_of):
    """A Parquet file listed in the manifest but deleted: DatasetCorruptError."""
    (copy_of / layout.data_file(layout.RUNS_DIR, "3")).unlink()
    with pytest.raises(DatasetCorruptError, match="missing"):
        NASBench(copy_of)


def test_truncated_parquet_file_raises_corrupt(copy_of):
    """A Parquet file cut short: DatasetCorruptError."""
    path = copy_of / layout.data_file(layout.CELLS_DIR, "5")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetCorruptError):
        NASBench(copy_of)


def test_parquet_file_replaced_by_garbage_of_the_same_size_raises_corrupt(copy_of):
    """Same size, not Parquet (bad magic bytes): DatasetCorruptError at open, no data read."""
    path = copy_of / layout.data_file(layout.RUNS_DIR, "a")
    path.write_bytes(b"\0" * path.stat().st_size)
    with pytest.raises(DatasetCorruptError, match="not a Parquet file"):
        NASBench(copy_of)


def test_missing_index_file_raises_corrupt(copy_of):
    """An index .npy file deleted: DatasetCorruptError."""
    (copy_of / layout.INDEX_DIR / layout.INDEX_FILES["run_metrics"]).unlink()
    with pytest.raises(DatasetCorruptError):
        NASBench(copy_of)


def test_index_file_of_the_wrong_shape_raises_corrupt(copy_of):
    """An index array whose shape disagrees with the manifest counts: DatasetCorruptError."""
    path = copy_of / layout.INDEX_DIR / layout.INDEX_FILES["cell_params"]
    np.save(path, np.zeros(3, dtype=np.int32))
    manifest_path = copy_of / layout.MANIFEST_NAME
    doc = json.loads(manifest_path.read_text())
    entry = doc["files"][f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_params']}"]
    entry["size"] = path.stat().st_size
    # A forged manifest (its CRC32C recomputed): the shape check, not the checksum, must catch it.
    entry["crc32c"] = verify.file_crc32c(path)
    manifest_path.write_text(json.dumps(doc))
    with pytest.raises(DatasetCorruptError, match="cell_params.npy holds"):
        NASBench(copy_of)


def test_damaged_index_header_raises_corrupt(copy_of):
    """An index file that is not a .npy (same size): DatasetCorruptError."""
    path = copy_of / layout.INDEX_DIR / layout.INDEX_FILES["run_epochs"]
    path.write_bytes(b"x" * path.stat().st_size)
    with pytest.raises(DatasetCorruptError, match="cannot be read"):
        NASBench(copy_of)


def test_open_retries_when_the_dataset_is_replaced_while_opening(converted_fixture, converted_fixture_108, tmp_path, monkeypatch):
    """A directory swapped in between reading the manifest and mapping the index is reopened, never mixed."""
    live = tmp_path / "live"
    shutil.copytree(converted_fixture.root, live)
    shutil.copytree(converted_fixture_108.root, tmp_path / "next")
    real_read = dataset.read_manifest
    swaps = []

    def read_then_swap(path, **kwargs):
        manifest = real_read(path, **kwargs)
        if not swaps:
            swaps.append(True)
            live.rename(tmp_path / "old")
            (tmp_path / "next").rename(live)
        return manifest

    monkeypatch.setattr(dataset, "read_manifest", read_then_swap)
    nb = NASBench(live)
    assert swaps and nb.valid_epochs == {108}
    assert len(nb.fixed_statistics) == len(converted_fixture_108.info.hashes)
    assert nb.dataset.manifest.counts["runs"] == nb.dataset.index.num_runs


def test_damaged_parquet_footer_gives_a_typed_error_when_a_lazy_frame_is_asked_for(copy_of):
    """A footer length that no longer parses (magic intact) raises DatasetCorruptError from runs(), not a Polars error."""
    path = copy_of / layout.data_file(layout.RUNS_DIR, "c")
    data = bytearray(path.read_bytes())
    data[-6] ^= 0x40  # inside the 4-byte footer length, before the trailing "PAR1"
    path.write_bytes(bytes(data))
    nb = NASBench(copy_of)  # opening reads no Parquet
    with pytest.raises(DatasetCorruptError, match="unreadable Parquet footer"):
        nb.runs()
    assert nb.cells().select("module_hash").collect().height == nb.dataset.index.num_cells


def test_run_rows_index_like_the_array(converted_fixture):
    """index.run_metrics (read with pread) gives exactly what the .npy array gives, for every indexing form used."""
    ds = dataset.open_dataset(converted_fixture.root)
    rows = ds.index.run_metrics
    full = np.load(converted_fixture.root / layout.INDEX_DIR / layout.INDEX_FILES["run_metrics"])
    n = full.shape[0]
    rng = np.random.default_rng(0)
    scattered = rng.integers(0, n, 500)
    keys = [
        0, n - 1, -1, slice(3, 40), slice(None), slice(5, 5), slice(0, n, 7),
        scattered, np.sort(scattered), scattered.reshape(50, 10), np.arange(n)[::-1],
        (scattered, slice(4, 8)), (np.sort(scattered), slice(0, 4)), (scattered.reshape(25, 20), 3),
        (slice(2, 9), slice(1, 3)), np.zeros(0, np.int64), full[:, 0] > 0.5,
    ]
    for key in keys:
        got, want = rows[key], full[key]
        assert got.shape == want.shape and np.array_equal(got.view(np.uint64), np.ascontiguousarray(want).view(np.uint64)), key
    assert rows.shape == full.shape and len(rows) == n and np.array_equal(np.asarray(rows), full)
    for bad in (n, -n - 1, np.array([0, n])):
        with pytest.raises(IndexError):
            rows[bad]


def test_objects_on_an_unchanged_dataset_share_one_index(copy_of):
    """Opening the same unchanged files again shares the in-memory arrays; any change to a file gives a fresh copy."""
    import os

    a, b = NASBench(copy_of), NASBench(copy_of)
    assert a.dataset.index is b.dataset.index
    none = NASBench(copy_of, verify="none")
    assert none.dataset.index is a.dataset.index  # checked arrays serve an unchecked open too
    path = copy_of / layout.INDEX_DIR / layout.INDEX_FILES["cell_params"]
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    c = NASBench(copy_of)
    assert c.dataset.index is not a.dataset.index
    h = next(iter(c.hash_iterator()))
    assert repr(c.get_metrics_from_hash(h)) == repr(a.get_metrics_from_hash(h))


def test_too_many_open_files_is_a_clear_dataset_error(copy_of, monkeypatch):
    """EMFILE while opening is a DatasetError saying so (not 'damaged, reconvert')."""
    import errno

    from nasbench_arrow import manifest as manifest_module
    from nasbench_arrow.errors import DatasetError

    real = dataset.open_regular

    def exhausted(name, *, dir_fd=None):
        if str(name).endswith(".parquet"):
            raise OSError(errno.EMFILE, "Too many open files")
        return real(name, dir_fd=dir_fd)

    monkeypatch.setattr(dataset, "open_regular", exhausted)
    assert manifest_module.open_regular is real
    with pytest.raises(DatasetError, match="too many open files.*ulimit") as info:
        NASBench(copy_of)
    assert not isinstance(info.value, DatasetCorruptError)


def test_a_retry_after_replacement_never_closes_a_shared_generation(converted_fixture, converted_fixture_108, tmp_path, monkeypatch):
    """A second open that shares the first object's files and then sees the dataset replaced leaves the first object working."""
    live = tmp_path / "live"
    shutil.copytree(converted_fixture.root, live)
    shutil.copytree(converted_fixture_108.root, tmp_path / "next")
    first = NASBench(live)
    h = next(iter(first.hash_iterator()))
    want = repr(first.get_metrics_from_hash(h))
    real_read = dataset.read_manifest
    swaps = []

    def read_then_swap(path, **kwargs):
        manifest = real_read(path, **kwargs)
        if not swaps:
            swaps.append(True)
            live.rename(tmp_path / "old")
            (tmp_path / "next").rename(live)
        return manifest

    monkeypatch.setattr(dataset, "read_manifest", read_then_swap)
    second = NASBench(live)
    assert swaps and second.valid_epochs == {108}
    spec = first.spec_from_hash(h)
    assert first.query(spec, repeat=0)["trainable_parameters"] > 0  # reads run_metrics: still open
    assert repr(first.get_metrics_from_hash(h)) == want
    assert first.runs(h).collect().height == 12
