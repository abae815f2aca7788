"""The converter: official-format tfrecords in, a dataset equal to the original-style load out."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from nasbench_arrow.converters import batches, cli, convert, pipeline, writer

from nasbench_arrow import constants, layout
from nasbench_arrow.errors import DatasetExistsError
from nasbench_arrow.manifest import read_manifest
from nasbench_arrow.records import encode_metrics_values
from nasbench_arrow.testing import sample_cells, write_fixture_tfrecord
from nasbench_arrow.tfrecord import iter_payloads, write_tfrecord
from realdata_loader import write_realdata_tfrecords

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_loader import OriginalStyleNASBench

STAGE_KEYS = ("halfway", "final")
ORIGINAL_METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


# ----------------------------------------------------------------------------- helpers


def read_table(root: Path, table: str):
    """Every row of one table, all buckets, as a Python dict of columns (rows sorted by file)."""
    parts = [pq.read_table(root / layout.data_file(table, b)) for b in layout.BUCKETS]
    import pyarrow as pa

    return pa.concat_tables(parts).to_pydict()


def assert_matches_reference(root: Path, source: Path) -> None:
    """Every value of the dataset equals what the original-style loader read (repeats in file order)."""
    ref = OriginalStyleNASBench(source, keep_extra=True)
    cells = read_table(root, layout.CELLS_DIR)
    runs = read_table(root, layout.RUNS_DIR)
    assert cells["module_hash"] == sorted(ref.fixed_statistics)
    for i, h in enumerate(cells["module_hash"]):
        fixed = ref.fixed_statistics[h]
        matrix = fixed["module_adjacency"]
        assert cells["adjacency"][i] == "".join(str(int(x)) for x in matrix.ravel())
        assert cells["num_vertices"][i] == matrix.shape[0]
        assert cells["num_edges"][i] == int(matrix.sum())
        assert cells["operations"][i] == fixed["module_operations"]
        assert cells["trainable_parameters"][i] == fixed["trainable_parameters"]
    got: dict = {}
    for k in range(len(runs["module_hash"])):
        key = (runs["module_hash"][k], runs["epochs"][k])
        assert runs["repeat"][k] == len(got.setdefault(key, []))
        got[key].append(k)
    expected_keys = {(h, e) for h, by_e in ref.computed_statistics.items() for e in by_e}
    assert set(got) == expected_keys
    for (h, e), rows in got.items():
        computed = ref.computed_statistics[h][e]
        extra = ref.extra_statistics[h][e]
        assert len(rows) == len(computed)
        for k, point, more in zip(rows, computed, extra):
            for stage in STAGE_KEYS:
                for m in ORIGINAL_METRICS:
                    assert runs[f"{stage}_{m}"][k] == point[f"{stage}_{m}"], (h, e, stage, m)
            for name, value in more.items():
                assert runs[name][k] == value, (h, e, name)
    # Runs within a (hash, epochs) appear in file order.
    for rows in got.values():
        indexes = [runs["record_index"][k] for k in rows]
        assert indexes == sorted(indexes)
    assert sorted(ref.valid_epochs) == read_manifest(root).counts["epochs"]


def dataset_digest(root: Path) -> dict:
    """Content of every data and index file (Parquet as tables, so writer details don't matter)."""
    out = {}
    for table in (layout.CELLS_DIR, layout.RUNS_DIR):
        for b in layout.BUCKETS:
            out[(table, b)] = pq.read_table(root / layout.data_file(table, b)).to_pydict()
    for key, name in layout.INDEX_FILES.items():
        out[key] = np.load(root / layout.INDEX_DIR / name).tobytes()
    return out


def leftovers(parent: Path) -> list[str]:
    """Temporary or backup directories a conversion left beside its output."""
    return [
        p.name
        for p in parent.iterdir()
        if pipeline.TMP_MARKER in p.name or pipeline.OLD_MARKER in p.name
    ]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def full_fixture(tmp_path_factory):
    """30 cells x 4 budgets x 3 repeats, shuffled record order, converted in-process."""
    d = tmp_path_factory.mktemp("convert-full")
    info = write_fixture_tfrecord(
        d / "mini_full.tfrecord", sample_cells(30, seed=5), order="shuffled", seed=7
    )
    root = d / "dataset"
    manifest = convert(info.path, root, workers=1)
    return info, root, manifest


@pytest.fixture(scope="module")
def only108_fixture(tmp_path_factory):
    """25 cells at 108 epochs only, shuffled, converted in-process."""
    d = tmp_path_factory.mktemp("convert-108")
    info = write_fixture_tfrecord(
        d / "mini_108.tfrecord", sample_cells(25, seed=6), epochs=(108,), order="shuffled", seed=8
    )
    root = d / "dataset"
    manifest = convert(info.path, root, workers=1)
    return info, root, manifest


@pytest.fixture(scope="module")
def realdata_files(realdata, tmp_path_factory):
    """The real published values written as official-format files (realdata_loader.write_realdata_tfrecords)."""
    d = tmp_path_factory.mktemp("convert-realdata")
    return write_realdata_tfrecords(realdata, d)


# ----------------------------------------------------------------------------- values


def test_full_fixture_matches_reference_loader(full_fixture):
    """Every value converted from a 4-budget shuffled file equals the original-style load."""
    info, root, _ = full_fixture
    assert_matches_reference(root, info.path)


def test_only108_fixture_matches_reference_loader(only108_fixture):
    """A 108-only file converts with epochs detected from the data, values equal to the reference."""
    info, root, manifest = only108_fixture
    assert manifest.epochs == (108,)
    assert_matches_reference(root, info.path)


def test_fixture_values_equal_what_was_written(full_fixture):
    """The runs hold the 17 written values of each record, repeats numbered in file order."""
    info, root, _ = full_fixture
    runs = read_table(root, layout.RUNS_DIR)
    names = batches.METRIC_COLUMNS
    for k in range(len(runs["module_hash"])):
        rec = info.records[runs["record_index"][k]]
        assert (rec.module_hash, rec.epochs, rec.repeat) == (
            runs["module_hash"][k],
            runs["epochs"][k],
            runs["repeat"][k],
        )
        v = rec.values
        assert [runs[n][k] for n in names] == [*v[:15], v[16]]


@pytest.mark.parametrize("name", ["only108", "inception_full", "first_arch_full"])
def test_realdata_files_match_reference_loader(realdata_files, tmp_path, name):
    """The files of real published values convert to exactly what the original-style loader reads."""
    info = realdata_files[name]
    root = tmp_path / "dataset"
    convert(info.path, root)
    assert_matches_reference(root, info.path)


def test_realdata_inception_values_exact(realdata_files, tmp_path):
    """The Inception cell's published repeat 0 at 108 epochs comes back bit for bit."""
    info = realdata_files["inception_full"]
    root = tmp_path / "dataset"
    convert(info.path, root)
    runs = pl.read_parquet(root / layout.RUNS_DIR, hive_partitioning=True)
    row = runs.filter(
        (pl.col("module_hash") == "28cfc7874f6d200472e1a9dcd8650aa0")
        & (pl.col("epochs") == 108)
        & (pl.col("repeat") == 0)
    ).row(0, named=True)
    assert row["final_validation_accuracy"] == 0.9376001358032227
    assert row["final_test_accuracy"] == 0.9311898946762085
    assert row["final_training_time"] == 1155.85302734375
    cells = pl.read_parquet(root / layout.CELLS_DIR, hive_partitioning=True)
    assert cells.row(0, named=True)["trainable_parameters"] == 2_694_282


def test_genuine_record_converts_exactly(realdata, tmp_path):
    """The one genuine record of the official file converts (allow_incomplete) with its exact values."""
    src = realdata / "nasbench_rs_record_00005c14_e4.tfrecord"
    root = tmp_path / "dataset"
    manifest = convert(src, root, allow_incomplete=True)
    assert manifest.counts == {
        "records": 1,
        "cells": 1,
        "runs": 1,
        "epochs": [4],
        "epochs_in_file_order": [4],
        "repeats": 1,
        "complete": False,
    }
    assert manifest.extra["conversion"]["fast_path_records"] == 1
    cells = read_table(root, layout.CELLS_DIR)
    assert cells["module_hash"] == ["00005c142e6f48ac74fdcf73e3439874"]
    assert cells["adjacency"] == ["0100110001000000010010000010000001000000010000000"]
    assert cells["operations"] == [
        [
            "input",
            "conv3x3-bn-relu",
            "maxpool3x3",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv1x1-bn-relu",
            "output",
        ]
    ]
    assert cells["trainable_parameters"] == [8_555_530]
    assert cells["num_vertices"] == [7]
    assert cells["num_edges"] == [9]
    runs = read_table(root, layout.RUNS_DIR)
    expected = [
        (0.0, 0.0, 0.1002604141831398, 0.09775640815496445, 0.09985977411270142),
        (2.0, 45.152000427246094, 0.10166265815496445, 0.10526842623949051, 0.10436698794364929),
        (4.0, 89.90399932861328, 0.3498597741127014, 0.3489583432674408, 0.3504607379436493),
    ]
    for stage, values in zip(layout.STAGES, expected):
        assert tuple(runs[f"{stage}_{m}"][0] for m in layout.METRICS) == values
    assert runs["total_time"] == [413.7015450000763]
    assert runs["epochs"] == [4]
    assert runs["repeat"] == [0]
    assert runs["record_index"] == [0]
    assert_matches_reference(root, src)


# ----------------------------------------------------------------------------- fast vs exact path


def _payloads(path):
    return [p for _, _, p in iter_payloads(path)]


def test_fast_path_equals_exact_path_per_record(full_fixture):
    """For every record the vectorised fast path gives exactly the exact path's values."""
    info, _, _ = full_fixture
    payloads = _payloads(info.path)
    data = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in payloads])]).astype(np.int64)
    ok, cols = batches.fast_parse(data, offsets[:-1], offsets[1:])
    assert ok.all()
    for i, payload in enumerate(payloads):
        exact = batches.exact_values(payload)
        for name, value in exact.items():
            if name == "metrics":
                assert (
                    cols["metrics"][:, i].tobytes() == np.array(value, dtype=np.float64).tobytes()
                )
            else:
                assert int(cols[name][i]) == value, name


def _variant_payloads(payload: bytes) -> list[bytes]:
    """Equivalent spellings of one record that the fast path must leave to the exact path."""
    h, e, adj, ops, b64 = json.loads(payload)
    raw = base64.b64decode(b64)
    from nasbench_arrow.records import decode_metrics_values

    values = decode_metrics_values(raw)
    # total_time first, then the rest: the same message, fields out of order.
    reordered = raw[-9:] + raw[:-9]
    # An unknown field (number 15, varint) protobuf skips.
    unknown = raw + b"\x78\x05"
    return [
        json.dumps([h, e, adj, ops, b64], separators=(",", ":")).encode(),  # no spaces
        json.dumps([h, e, adj, ops, base64.b64encode(raw).decode()]).encode(),  # no newlines
        json.dumps([h, e, adj, ops, base64.encodebytes(reordered).decode()]).encode(),
        json.dumps([h, e, adj, ops, base64.encodebytes(unknown).decode()]).encode(),
        json.dumps([h, e, adj, ops, b64], ensure_ascii=True)
        .replace(h, "\\u00" + hex(ord(h[0]))[2:] + h[1:])
        .encode(),
        (" " + payload.decode() + "\n").encode(),  # JSON whitespace around the list
        json.dumps(
            [h, e, adj, ops, base64.encodebytes(encode_metrics_values(values)).decode()]
        ).encode(),
    ]


def test_non_canonical_payloads_take_the_exact_path_with_same_rows(tmp_path):
    """Payloads spelled differently (JSON spacing, escapes, base64 lines, proto field order) give identical rows."""
    info = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(4, seed=9), epochs=(108,))
    payloads = _payloads(info.path)
    variants = [_variant_payloads(p) for p in payloads]
    for k in range(len(variants[0])):
        src = tmp_path / f"variant{k}.tfrecord"
        write_tfrecord(src, [v[k] for v in variants])
        root = tmp_path / f"variant{k}"
        manifest = convert(src, root)
        # The last variant is the canonical bytes again: it must stay on the fast path.
        expected_exact = 0 if k == len(variants[0]) - 1 else len(payloads)
        assert manifest.extra["conversion"]["exact_path_records"] == expected_exact, k
        assert_matches_reference(root, src)
    base = tmp_path / "canonical"
    convert(info.path, base)
    assert dataset_digest(base) == dataset_digest(tmp_path / "variant0")


def test_mixed_block_fast_and_exact_rows_in_order(tmp_path):
    """A block mixing canonical and non-canonical records keeps each row with its own record."""
    info = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(6, seed=2), epochs=(4, 108))
    payloads = _payloads(info.path)
    mixed = [_variant_payloads(p)[0] if i % 3 == 1 else p for i, p in enumerate(payloads)]
    src = tmp_path / "mixed.tfrecord"
    write_tfrecord(src, mixed)
    root = tmp_path / "mixed"
    manifest = convert(src, root)
    assert manifest.extra["conversion"]["exact_path_records"] == len(payloads) // 3
    assert_matches_reference(root, src)


@pytest.mark.slow
def test_parallel_conversion_equals_serial(tmp_path):
    """Splitting the file over worker processes gives the same dataset as one process."""
    info = write_fixture_tfrecord(
        tmp_path / "a.tfrecord", sample_cells(60, seed=3), order="shuffled", seed=1
    )
    serial = tmp_path / "serial"
    parallel = tmp_path / "parallel"
    convert(info.path, serial, workers=1)
    manifest = convert(info.path, parallel, workers=2, block_size=64 * 1024)
    assert manifest.extra["conversion"]["parts"] == 2
    assert dataset_digest(serial) == dataset_digest(parallel)
    assert_matches_reference(parallel, info.path)


def test_split_point_scan_finds_record_start(full_fixture):
    """The boundary scan lands on a real record start at or after the split point."""
    info, _, _ = full_fixture
    starts = [off for _, off, _ in iter_payloads(info.path)]
    size = info.path.stat().st_size
    for split in (1, size // 3, size // 2, starts[7] - 1, starts[7]):
        found = pipeline._find_record_start(str(info.path), split, size)
        assert found == min(s for s in starts if s >= split)


# ----------------------------------------------------------------------------- layout


def test_partition_pruning_polars_reads_one_bucket(full_fixture):
    """A Polars scan filtered by bucket and hash reads one file of sixteen."""
    _, root, _ = full_fixture
    h = pq.read_table(root / layout.data_file(layout.CELLS_DIR, "a"))["module_hash"][0].as_py()
    lf = pl.scan_parquet(root / layout.RUNS_DIR, hive_partitioning=True).filter(
        (pl.col(layout.BUCKET_COLUMN) == layout.bucket_of(h)) & (pl.col("module_hash") == h)
    )
    plan = lf.explain()
    scanned = [line for line in plan.splitlines() if "SCAN" in line]
    assert len(scanned) == 1
    assert "bucket=a" in scanned[0]
    assert all(f"bucket={b}" not in scanned[0] for b in layout.BUCKETS if b != "a")
    assert lf.collect().height == len(constants.VALID_EPOCHS) * constants.NUM_REPEATS


def test_partition_pruning_pyarrow_fragments(full_fixture):
    """A pyarrow dataset filter on the bucket keeps exactly one fragment."""
    import pyarrow.compute as pc

    _, root, _ = full_fixture
    dataset = ds.dataset(root / layout.RUNS_DIR, format="parquet", partitioning="hive")
    fragments = list(dataset.get_fragments(filter=pc.field(layout.BUCKET_COLUMN) == "7"))
    assert len(fragments) == 1
    assert "bucket=7" in fragments[0].path


def test_row_group_statistics_prune(tmp_path, monkeypatch):
    """Rows sorted by hash give disjoint row-group ranges, so a hash filter reads one row group."""
    import pyarrow.compute as pc

    monkeypatch.setattr(writer, "RUNS_ROW_GROUP", 12)
    monkeypatch.setattr(writer, "CELLS_ROW_GROUP", 2)
    info = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(40, seed=4))
    root = tmp_path / "dataset"
    convert(info.path, root)
    for table in (layout.CELLS_DIR, layout.RUNS_DIR):
        for b in layout.BUCKETS:
            meta = pq.ParquetFile(root / layout.data_file(table, b)).metadata
            bounds = []
            for g in range(meta.num_row_groups):
                if meta.row_group(g).num_rows == 0:
                    continue  # an empty bucket
                stats = meta.row_group(g).column(0).statistics
                assert stats is not None and stats.has_min_max
                bounds.append((stats.min, stats.max))
            assert bounds == sorted(bounds)
            # Ranges may only touch where one hash spans two groups.
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(bounds))
    h = info.hashes[len(info.hashes) // 2]
    path = root / layout.data_file(layout.RUNS_DIR, layout.bucket_of(h))
    fragment = next(iter(ds.dataset(path, format="parquet").get_fragments()))
    assert fragment.metadata.num_row_groups > 1
    kept = fragment.split_by_row_group(filter=pc.field("module_hash") == h)
    assert 1 <= len(kept) < fragment.metadata.num_row_groups


def test_manifest_content(full_fixture):
    """The manifest lists format, source checksum, counts, every file with size and sha256, and the schemas."""
    info, root, manifest = full_fixture
    doc = json.loads((root / layout.MANIFEST_NAME).read_text())
    assert doc["format"] == layout.FORMAT_NAME
    assert doc["format_version"] == layout.FORMAT_VERSION
    data = info.path.read_bytes()
    assert doc["source"] == {
        "name": info.path.name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "published": None,
    }
    n = len(info.hashes)
    # Independent of the converter: the budgets in the order the written records list them.
    first_seen = list(dict.fromkeys(r.epochs for r in info.records))
    assert doc["counts"] == {
        "records": n * 12,
        "cells": n,
        "runs": n * 12,
        "epochs": [4, 12, 36, 108],
        "epochs_in_file_order": first_seen,
        "repeats": 3,
        "complete": True,
    }
    expected_files = {
        layout.data_file(t, b) for t in (layout.CELLS_DIR, layout.RUNS_DIR) for b in layout.BUCKETS
    }
    expected_files |= {f"{layout.INDEX_DIR}/{name}" for name in layout.INDEX_FILES.values()}
    assert set(doc["files"]) == expected_files
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == expected_files | {layout.MANIFEST_NAME}
    for rel, entry in doc["files"].items():
        content = (root / rel).read_bytes()
        assert entry["size"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        if rel.endswith(".parquet"):
            assert entry["rows"] == pq.ParquetFile(root / rel).metadata.num_rows
    assert doc["schema"]["cells"] == [[f.name, str(f.type)] for f in layout.CELLS_SCHEMA]
    assert doc["schema"]["runs"] == [[f.name, str(f.type)] for f in layout.RUNS_SCHEMA]
    assert read_manifest(root).counts == manifest.counts


def test_parquet_key_value_metadata(full_fixture):
    """Each Parquet file carries the format metadata (version, source checksum, its table and bucket)."""
    _, root, manifest = full_fixture
    for table, schema in (
        (layout.CELLS_DIR, layout.CELLS_SCHEMA),
        (layout.RUNS_DIR, layout.RUNS_SCHEMA),
    ):
        for b in layout.BUCKETS:
            pf = pq.ParquetFile(root / layout.data_file(table, b))
            assert pf.schema_arrow.remove_metadata() == schema
            meta = json.loads(pf.schema_arrow.metadata[layout.METADATA_KEY])
            assert meta["format"] == layout.FORMAT_NAME
            assert meta["format_version"] == layout.FORMAT_VERSION
            assert meta["table"] == table
            assert meta["bucket"] == b
            assert meta["rows"] == pf.metadata.num_rows
            assert meta["source"] == manifest.source
            assert meta["counts"]["records"] == manifest.counts["records"]
            assert meta["counts"]["epochs"] == manifest.counts["epochs"]


def test_rows_sorted_by_hash_epochs_repeat(full_fixture):
    """Cells are sorted by hash and runs by (hash, epochs, repeat) inside every file."""
    _, root, _ = full_fixture
    for b in layout.BUCKETS:
        cells = pq.read_table(root / layout.data_file(layout.CELLS_DIR, b)).to_pydict()
        assert cells["module_hash"] == sorted(cells["module_hash"])
        assert all(h[0] == b for h in cells["module_hash"])
        runs = pq.read_table(root / layout.data_file(layout.RUNS_DIR, b)).to_pydict()
        keys = list(zip(runs["module_hash"], runs["epochs"], runs["repeat"]))
        assert keys == sorted(keys)


def test_query_index_matches_tables(full_fixture):
    """The .npy query index holds the same cells and runs as the Parquet tables, in hash order."""
    _, root, _ = full_fixture
    idx = {k: np.load(root / layout.INDEX_DIR / v) for k, v in layout.INDEX_FILES.items()}
    cells = read_table(root, layout.CELLS_DIR)
    runs = read_table(root, layout.RUNS_DIR)
    n = len(cells["module_hash"])
    assert idx["cell_hash"].dtype == np.dtype("S32")
    assert [h.decode() for h in idx["cell_hash"]] == cells["module_hash"]
    assert idx["cell_num_vertices"].tolist() == cells["num_vertices"]
    assert idx["cell_params"].tolist() == cells["trainable_parameters"]
    assert idx["cell_adjacency"].shape == (n, 7, 7) and idx["cell_adjacency"].dtype == np.int8
    assert idx["cell_ops"].shape == (n, 7) and idx["cell_ops"].dtype == np.uint8
    for i in range(n):
        v = cells["num_vertices"][i]
        m = idx["cell_adjacency"][i]
        assert "".join(str(x) for x in m[:v, :v].ravel()) == cells["adjacency"][i]
        assert not m[v:].any() and not m[:, v:].any()
        ops = idx["cell_ops"][i]
        assert [layout.OP_CODES[c] for c in ops[:v]] == cells["operations"][i]
        assert (ops[v:] == 255).all()
    start = idx["run_start"]
    assert start.dtype == np.int64 and start[0] == 0 and start[-1] == len(runs["module_hash"])
    for i in range(n):
        assert set(runs["module_hash"][start[i] : start[i + 1]]) == {cells["module_hash"][i]}
    assert idx["run_epochs"].tolist() == runs["epochs"]
    assert idx["run_metrics"].shape == (len(runs["module_hash"]), len(layout.INDEX_RUN_COLUMNS))
    for j, name in enumerate(layout.INDEX_RUN_COLUMNS):
        assert idx["run_metrics"][:, j].tolist() == runs[name]


# ----------------------------------------------------------------------------- output directory


def test_existing_dataset_refused(full_fixture, tmp_path):
    """Converting into an existing dataset raises DatasetExistsError and leaves it untouched."""
    info, root, _ = full_fixture
    before = (root / layout.MANIFEST_NAME).read_bytes()
    with pytest.raises(DatasetExistsError, match="overwrite"):
        convert(info.path, root)
    assert (root / layout.MANIFEST_NAME).read_bytes() == before
    assert leftovers(root.parent) == []


def test_overwrite_replaces_dataset(tmp_path):
    """overwrite=True replaces an existing dataset with the new one and leaves no backup behind."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1), epochs=(108,))
    b = write_fixture_tfrecord(tmp_path / "b.tfrecord", sample_cells(5, seed=2), epochs=(108,))
    root = tmp_path / "out" / "dataset"
    convert(a.path, root)
    manifest = convert(b.path, root, overwrite=True)
    assert read_manifest(root).source["name"] == "b.tfrecord"
    assert manifest.counts["cells"] == 5
    assert_matches_reference(root, b.path)
    assert leftovers(root.parent) == []


def test_failed_overwrite_keeps_old_dataset(tmp_path):
    """A conversion that fails with overwrite=True leaves the old dataset intact."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1), epochs=(108,))
    root = tmp_path / "dataset"
    convert(a.path, root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(a.path.read_bytes()[:-3])
    from nasbench_arrow.errors import ConversionError

    with pytest.raises(ConversionError):
        convert(bad, root, overwrite=True)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert leftovers(tmp_path) == []


def test_overwrite_refuses_non_dataset_directory(tmp_path):
    """overwrite=True never deletes a non-empty directory that is not a dataset."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetExistsError, match="not a nasbench-arrow dataset"):
        convert(a.path, target, overwrite=True)
    assert (target / "notes.txt").read_text() == "keep me"


def test_empty_directory_is_filled(tmp_path):
    """An existing empty OUT_DIR is accepted without overwrite."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    target = tmp_path / "empty"
    target.mkdir()
    convert(a.path, target)
    assert (target / layout.MANIFEST_NAME).is_file()


def test_published_checksum_recognised_and_lookalike_warned(tmp_path, monkeypatch):
    """A matching SHA256 marks the source as published; an official name with another checksum is warned about."""
    a = write_fixture_tfrecord(
        tmp_path / "nasbench_only108.tfrecord", sample_cells(2, seed=1), epochs=(108,)
    )
    m = convert(a.path, tmp_path / "one")
    assert m.source["published"] is None
    assert any("nasbench_only108.tfrecord" in w and "differs" in w for w in m.extra["warnings"])
    sha = m.source["sha256"]
    fake = constants.PublishedFile("nasbench_only108.tfrecord", sha, 6, (108,), "tiny")
    monkeypatch.setattr(constants, "PUBLISHED_FILES", {sha: fake})
    m2 = convert(a.path, tmp_path / "two")
    assert m2.source["published"] == "nasbench_only108.tfrecord"
    assert "warnings" not in m2.extra


def test_expected_sha256_mismatch_fails(tmp_path):
    """expected_sha256 that differs from the source's checksum fails and writes nothing."""
    from nasbench_arrow.errors import ConversionError

    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    with pytest.raises(ConversionError, match="SHA256"):
        convert(a.path, tmp_path / "out", expected_sha256="0" * 64)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []
    good = hashlib.sha256(a.path.read_bytes()).hexdigest()
    assert convert(a.path, tmp_path / "out", expected_sha256=good.upper()).source["sha256"] == good


def test_progress_callback_reports_phases(tmp_path):
    """The progress callback sees the read, write and done phases with consistent counts."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1), epochs=(108,))
    seen = []
    convert(a.path, tmp_path / "out", progress=seen.append, block_size=300)
    phases = [p.phase for p in seen]
    assert phases[-1] == "done"
    assert "write" in phases
    assert seen[-1].records == a.num_records
    assert seen[-1].bytes_done == seen[-1].bytes_total == a.path.stat().st_size


# ----------------------------------------------------------------------------- CLI


def test_cli_converts_and_summarises(tmp_path, capsys):
    """`nasbench-convert SOURCE OUT_DIR` exits 0 and prints a summary with counts."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1))
    assert cli.main([str(a.path), str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert "36 records -> 3 cells, 36 runs, epochs 4/12/36/108, 3 repeats" in out
    assert "MB/s" in out and "records/s" in out
    assert err == ""  # not a terminal: no progress display


def test_cli_quiet_prints_nothing(tmp_path, capsys):
    """--quiet suppresses the summary."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    assert cli.main([str(a.path), str(tmp_path / "out"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_cli_existing_output_exit_1(full_fixture, capsys):
    """An existing OUT_DIR gives exit status 1 and one error line."""
    info, root, _ = full_fixture
    assert cli.main([str(info.path), str(root)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("nasbench-convert: error: ")
    assert "--overwrite" in err


def test_cli_overwrite_flag(tmp_path, capsys):
    """--overwrite replaces an existing dataset (exit 0)."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    out = tmp_path / "out"
    assert cli.main([str(a.path), str(out), "--quiet"]) == 0
    assert cli.main([str(a.path), str(out), "--quiet", "--overwrite"]) == 0


def test_cli_bad_data_exit_1(tmp_path, capsys):
    """Corrupt input gives exit status 1, one line naming record index and byte offset, no OUT_DIR."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(a.path.read_bytes()[:-1])
    assert cli.main([str(bad), str(tmp_path / "out")]) == 1
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("nasbench-convert: error: ")
    assert "record 5" in err and "byte offset" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["only-source"],
        ["a", "b", "--expect-sha256", "xyz"],
        ["a", "b", "--workers", "0"],
        ["a", "b", "--bogus"],
    ],
)
def test_cli_usage_errors_exit_2(argv, capsys):
    """Usage errors exit with status 2 and one error line."""
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("nasbench-convert: error: ")


def test_cli_missing_source_exit_1(tmp_path, capsys):
    """A missing source file gives exit status 1 and one error line."""
    assert cli.main([str(tmp_path / "nope.tfrecord"), str(tmp_path / "out")]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("nasbench-convert: error: ") and "does not exist" in err


def test_cli_expect_sha256_mismatch_exit_1(tmp_path, capsys):
    """--expect-sha256 with another checksum fails with exit status 1."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    assert cli.main([str(a.path), str(tmp_path / "out"), "--expect-sha256", "ab" * 32]) == 1
    _, err = capsys.readouterr()
    assert "SHA256" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_cli_allow_incomplete(realdata, tmp_path, capsys):
    """The genuine single record needs --allow-incomplete; without it the CLI explains and exits 1."""
    src = realdata / "nasbench_rs_record_00005c14_e4.tfrecord"
    assert cli.main([str(src), str(tmp_path / "out")]) == 1
    _, err = capsys.readouterr()
    assert "--allow-incomplete" in err and "record 0, byte offset 0" in err
    assert cli.main([str(src), str(tmp_path / "out"), "--allow-incomplete", "--quiet"]) == 0


def test_cli_progress_on_terminal(tmp_path):
    """On a terminal the progress line shows records/s, MB and the phases, ending with a newline."""
    import io

    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1), epochs=(108,))
    stream = io.StringIO()
    line = cli.ProgressLine(stream)
    convert(a.path, tmp_path / "out", progress=line, block_size=400)
    line.close()
    text = stream.getvalue()
    assert "records/s" in text and "MB" in text and "done in" in text
    assert text.endswith("\n")


@pytest.mark.slow
def test_console_script_subprocess(tmp_path):
    """The installed `nasbench-convert` console script runs and exits 0 (and 1 on a second run)."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(2, seed=1), epochs=(108,))
    exe = Path(sys.executable).with_name("nasbench-convert")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nasbench_arrow.converters.cli"]
    out = tmp_path / "out"
    env = dict(os.environ)
    first = subprocess.run(
        [*cmd, str(a.path), str(out)], capture_output=True, text=True, env=env, check=False
    )
    assert first.returncode == 0, first.stderr
    assert "converted a.tfrecord" in first.stdout
    second = subprocess.run(
        [*cmd, str(a.path), str(out)], capture_output=True, text=True, env=env, check=False
    )
    assert second.returncode == 1
    assert second.stderr.startswith("nasbench-convert: error: ")


def test_overwrite_swaps_atomically(tmp_path, monkeypatch):
    """Replacing a dataset never leaves OUT_DIR without a complete dataset (atomic exchange on Linux)."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1), epochs=(108,))
    b = write_fixture_tfrecord(tmp_path / "b.tfrecord", sample_cells(4, seed=2), epochs=(108,))
    root = tmp_path / "dataset"
    convert(a.path, root)
    seen = []
    real_rename = os.rename

    def rename(src, dst, *args, **kwargs):
        seen.append(read_manifest(root).source["name"])
        real_rename(src, dst, *args, **kwargs)
        seen.append(read_manifest(root).source["name"])

    swapped = []
    real_exchange = pipeline._exchange

    def exchange(x, y):
        swapped.append(real_exchange(x, y))
        return swapped[-1]

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(pipeline, "_exchange", exchange)
    convert(b.path, root, overwrite=True)
    assert len(swapped) == 1
    if swapped[0]:  # every rename afterwards happens with the new dataset in place
        assert seen and set(seen) == {"b.tfrecord"}
    assert read_manifest(root).source["name"] == "b.tfrecord"
    assert leftovers(tmp_path) == []


def test_overwrite_without_atomic_exchange(tmp_path, monkeypatch):
    """Where the OS cannot swap directories, overwrite falls back to two renames and still replaces."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", sample_cells(3, seed=1), epochs=(108,))
    b = write_fixture_tfrecord(tmp_path / "b.tfrecord", sample_cells(4, seed=2), epochs=(108,))
    root = tmp_path / "dataset"
    convert(a.path, root)
    monkeypatch.setattr(pipeline, "_exchange", lambda a, b: False)
    convert(b.path, root, overwrite=True)
    assert read_manifest(root).source["name"] == "b.tfrecord"
    assert_matches_reference(root, b.path)
    assert leftovers(tmp_path) == []
