"""nasbench-verify and damage detection: every kind of damage is listed, and reading it is a typed error.

Each test copies the session's converted fixture dataset (``reliability_dataset``,
40 cells x 4 budgets x 3 repeats) and damages the copy: a flipped byte in
every file, truncation, deletion, stray files, manifest edits (counts,
version, JSON syntax, file entries), and "forged" datasets whose manifest was
rewritten to match damaged tables, so only the deep invariant and index checks
can tell.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nasbench_arrow import api, layout, verify
from nasbench_arrow.errors import (
    DatasetCorruptError,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    NASBenchError,
)
from nasbench_arrow.verify import verify_dataset

INDEX = layout.INDEX_DIR


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def ds(reliability_dataset, tmp_path) -> Path:
    """A private copy of the converted fixture dataset, free to damage."""
    root = tmp_path / "ds"
    shutil.copytree(reliability_dataset, root)
    return root


def _manifest(root: Path) -> dict:
    return json.loads((root / layout.MANIFEST_NAME).read_text())


def _write_manifest(root: Path, doc: dict) -> None:
    (root / layout.MANIFEST_NAME).write_text(json.dumps(doc, indent=2))


def _flip(path: Path, offset: int, bit: int = 4) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def _first(root: Path, table: str) -> str:
    return next(rel for rel in sorted(_manifest(root)["files"]) if rel.startswith(table + "/"))


def _refresh_entry(root: Path, rel: str, doc: dict | None = None) -> dict:
    """Rewrite the manifest entry of a file to match its current bytes (a 'forged' manifest)."""
    doc = doc or _manifest(root)
    data = (root / rel).read_bytes()
    entry = doc["files"][rel]
    entry["size"] = len(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    if rel.endswith(".parquet"):
        entry["rows"] = pq.ParquetFile(root / rel).metadata.num_rows
    else:
        entry["rows"] = int(np.load(root / rel, mmap_mode="r").shape[0])
    # A forger who knows the format records the CRC32C too (readers refuse entries without one).
    entry["crc32c"] = verify.file_crc32c(root / rel)
    _write_manifest(root, doc)
    return doc


def _rewrite_table(root: Path, rel: str, change) -> None:
    """Replace a Parquet file's table by change(table), keep its metadata, and forge the manifest."""
    path = root / rel
    table = pq.ParquetFile(path).read()
    new = change(table)
    meta = dict(table.schema.metadata)
    doc = json.loads(meta[layout.METADATA_KEY])
    doc["rows"] = new.num_rows  # the file's own metadata forged too
    meta[layout.METADATA_KEY] = json.dumps(doc).encode()
    new = new.replace_schema_metadata(meta)
    pq.write_table(new, path, compression="zstd")
    _refresh_entry(root, rel)


def _reads_typed_or_fails_verification(root: Path) -> None:
    """Opening with verification refuses the dataset with a typed error."""
    with pytest.raises(DatasetError):
        verify_dataset(root, deep=True).raise_if_failed()


def _canon(x):
    """Nested metrics with arrays as lists and floats by repr, for exact comparison."""
    if isinstance(x, dict):
        return {str(k): _canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canon(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float):
        return repr(x)
    return x


_READS = {
    "query": lambda nb: _canon({h: nb.get_metrics_from_hash(h) for h in sorted(nb.hash_iterator())}),
    "cells": lambda nb: nb.cells().collect().sort("module_hash").to_dicts(),
    "runs": lambda nb: nb.runs().collect().sort(["module_hash", "epochs", "repeat"]).to_dicts(),
}


@pytest.fixture(scope="module")
def baseline(reliability_dataset) -> dict:
    """What every read path returns on the intact dataset."""
    from nasbench_arrow import api

    nb = api.NASBench(str(reliability_dataset))
    return {name: read(nb) for name, read in _READS.items()}


def _reads_are_typed_or_exact(root: Path, baseline: dict, paths=tuple(_READS)) -> str:
    """Open with the facade and use each read path: each gives the intact values or a DatasetError."""
    from nasbench_arrow import api

    try:
        nb = api.NASBench(str(root))
    except DatasetError:
        return "refused at open"
    outcome = []
    for name in paths:
        try:
            value = _READS[name](nb)
        except DatasetError:
            outcome.append(f"{name}: typed error")
            continue
        assert value == baseline[name], f"{name} returned other values than the intact dataset"
        outcome.append(f"{name}: intact values")
    return "; ".join(outcome)


def _open_and_read(root: Path) -> None:
    """Open with the facade and touch the query path: a typed error is expected."""
    from nasbench_arrow import api

    nb = api.NASBench(str(root))
    for h in list(nb.hash_iterator()):
        nb.get_metrics_from_hash(h)


# --------------------------------------------------------------------------- intact dataset


def test_intact_dataset_passes_fast_and_deep(reliability_dataset):
    """The converter's output passes both depths with no problem."""
    for deep in (False, True):
        report = verify_dataset(reliability_dataset, deep=deep)
        assert report.ok, report.problems
        assert report.files_checked == len(_manifest(reliability_dataset)["files"])
        report.raise_if_failed()


def test_cli_success_is_one_line(reliability_dataset, capsys):
    """`nasbench-verify OUT_DIR` exits 0 with a one-line summary naming counts and checks."""
    assert verify.main([str(reliability_dataset)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("OK ") and "40 cells" in out[0] and "480 runs" in out[0]
    assert verify.main([str(reliability_dataset), "--deep"]) == 0
    assert "SHA-256" in capsys.readouterr().out


def test_cli_lists_each_problem(ds, capsys):
    """With damage, the CLI exits 1 and lists every problem on its own line."""
    cells, runs = _first(ds, layout.CELLS_DIR), _first(ds, layout.RUNS_DIR)
    (ds / cells).unlink()
    (ds / runs).write_bytes((ds / runs).read_bytes()[:100])
    assert verify.main([str(ds)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    assert f"[missing-file] {cells}" in out
    assert f"[size] {runs}" in out


def test_cli_json(ds, capsys):
    """--json gives a machine-readable report with each problem's kind and path."""
    rel = f"{INDEX}/{layout.INDEX_FILES['run_metrics']}"
    (ds / rel).unlink()
    assert verify.main([str(ds), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert {"kind": "missing-file", "path": rel} in [{k: p[k] for k in ("kind", "path")} for p in doc["problems"]]


# --------------------------------------------------------------------------- byte flips


def test_flipped_byte_in_every_file_is_detected_by_deep(ds):
    """A byte flipped in any file (middle, near the end) is a checksum problem for that file, and only that file."""
    files = sorted(_manifest(ds)["files"])
    assert len(files) >= 8 + 2  # every index array and at least one file per table
    for rel in files:
        path = ds / rel
        original = path.read_bytes()
        for offset in (len(original) // 2, len(original) - 9):
            _flip(path, offset)
            report = verify_dataset(ds, deep=True)
            assert verify.CHECKSUM in report.kinds(), (rel, offset)
            assert {p.path for p in report.problems} == {rel}, (rel, offset, report.problems)
            with pytest.raises(DatasetCorruptError, match="failed verification"):
                report.raise_if_failed()
            with pytest.raises(DatasetCorruptError, match=rel.replace("=", ".")):
                api.NASBench(str(ds), verify=True)
            path.write_bytes(original)
    assert verify_dataset(ds, deep=True).ok


def test_verify_true_opens_an_intact_dataset(reliability_dataset, baseline):
    """NASBench(path, verify=True) opens an intact dataset and reads the same values."""
    nb = api.NASBench(str(reliability_dataset), verify=True)
    assert _READS["query"](nb) == baseline["query"]


def test_in_place_flip_in_index_without_verify(ds, baseline):
    """Regression (issue 7 item 6): a value flipped inside run_metrics.npy is refused at open by its CRC32C."""
    rel = f"{INDEX}/{layout.INDEX_FILES['run_metrics']}"
    size = (ds / rel).stat().st_size
    _flip(ds / rel, size - 8 * 40 + 6)  # inside a double near the end
    assert _reads_are_typed_or_exact(ds, baseline, paths=("query",)) == "refused at open"
    with pytest.raises(DatasetCorruptError, match=r"index/run_metrics\.npy.*CRC32C.*nasbench-verify"):
        api.NASBench(str(ds))


@pytest.mark.parametrize("key", sorted(layout.INDEX_FILES))
def test_flip_in_any_index_file_is_refused_at_open(ds, key):
    """A byte flipped in the data of any index array: DatasetCorruptError naming the file at open."""
    rel = f"{INDEX}/{layout.INDEX_FILES[key]}"
    _flip(ds / rel, (ds / rel).stat().st_size - 1, bit=0)
    with pytest.raises(DatasetCorruptError, match=layout.INDEX_FILES[key].replace(".", r"\.")):
        api.NASBench(str(ds))


def test_verify_none_skips_the_crc_and_deep_lists_everything(ds):
    """verify='none'/False opens a dataset with a flipped index byte; 'deep'/True refuse it; bad values are a ValueError."""
    rel = f"{INDEX}/{layout.INDEX_FILES['run_metrics']}"
    _flip(ds / rel, (ds / rel).stat().st_size - 3)
    for off in ("none", False):
        api.NASBench(str(ds), verify=off)
    for deep in ("deep", True):
        with pytest.raises(DatasetCorruptError, match="failed verification"):
            api.NASBench(str(ds), verify=deep)
    with pytest.raises(ValueError, match="verify must be"):
        api.NASBench(str(ds), verify="fast")


def _data_page_offset(path: Path, column: str) -> int:
    """An offset inside the first data page of a column (past the page header)."""
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    chunk = meta.row_group(0).column(names.index(column))
    return chunk.data_page_offset + chunk.total_compressed_size // 2


@pytest.mark.parametrize(
    ("table", "column", "read"),
    [
        (layout.RUNS_DIR, "final_test_accuracy", "runs"),
        (layout.RUNS_DIR, "epochs", "runs"),
        (layout.CELLS_DIR, "trainable_parameters", "cells"),
        (layout.CELLS_DIR, "adjacency", "cells"),
    ],
)
def test_flip_in_parquet_data_page_is_refused_by_lazy_frames(ds, baseline, table, column, read):
    """A byte flipped inside a data page: nb.runs()/nb.cells() raise DatasetCorruptError, never other values."""
    rel = _first(ds, table)
    _flip(ds / rel, _data_page_offset(ds / rel, column))
    nb = api.NASBench(str(ds))  # opening reads no Parquet data
    lazy = nb.runs if read == "runs" else nb.cells
    with pytest.raises(DatasetCorruptError, match=rel.replace("=", ".")):
        lazy()
    assert _reads_are_typed_or_exact(ds, baseline, paths=("query", read)) == f"query: intact values; {read}: typed error"


def test_parquet_files_carry_page_checksums(ds):
    """The converter writes page CRCs: pyarrow asked to check them refuses a flipped data page."""
    rel = _first(ds, layout.RUNS_DIR)
    _flip(ds / rel, _data_page_offset(ds / rel, "final_test_accuracy"))
    with pytest.raises(OSError, match="(?i)crc|checksum"):
        pq.ParquetFile(ds / rel, page_checksum_verification=True).read()


def test_manifest_records_crc32c_of_every_file(reliability_dataset):
    """Every manifest file entry has the CRC32C of the file's bytes."""
    doc = _manifest(reliability_dataset)
    for rel, entry in doc["files"].items():
        assert entry["crc32c"] == verify.file_crc32c(reliability_dataset / rel), rel


@pytest.mark.parametrize("table", [layout.CELLS_DIR, layout.RUNS_DIR])
@pytest.mark.parametrize("where", ["magic", "footer-length"])
def test_damaged_parquet_footer_is_detected_fast(ds, baseline, table, where):
    """Damage to a Parquet file's trailing magic or footer length is caught without --deep; queries stay exact or typed."""
    rel = _first(ds, table)
    size = (ds / rel).stat().st_size
    _flip(ds / rel, size - 1 if where == "magic" else size - 6)
    report = verify_dataset(ds)
    assert verify.UNREADABLE in report.kinds()
    assert {p.path for p in report.problems} == {rel}
    _reads_are_typed_or_exact(ds, baseline, paths=("query",))


@pytest.mark.parametrize("table", [layout.CELLS_DIR, layout.RUNS_DIR])
def test_lazy_frames_on_damaged_footer_are_typed(ds, baseline, table):
    """Lazy frames over a file with a damaged footer length raise a DatasetError (footers are checked at the first scan)."""
    rel = _first(ds, table)
    _flip(ds / rel, (ds / rel).stat().st_size - 6)
    _reads_are_typed_or_exact(ds, baseline, paths=(table,))


def test_damaged_npy_header_is_detected_fast(ds):
    """A flipped byte in an index array's header (its dtype) is caught without --deep."""
    rel = f"{INDEX}/{layout.INDEX_FILES['run_metrics']}"
    header = (ds / rel).read_bytes()[:128]
    _flip(ds / rel, header.index(b"<f8") + 2, bit=1)  # '<f8' -> '<f:' : not a dtype
    report = verify_dataset(ds)
    assert report.kinds() & {verify.UNREADABLE, verify.SCHEMA}
    with pytest.raises(DatasetError):
        _open_and_read(ds)


# --------------------------------------------------------------------------- truncation, deletion, stray files


@pytest.mark.parametrize(
    "victim", ["cells", "runs", "run_metrics", "cell_hash"], ids=lambda v: f"truncate-{v}"
)
def test_truncated_file(ds, victim):
    """A truncated file is a size problem without --deep, and opening the dataset is a DatasetCorruptError."""
    rel = _first(ds, victim) if victim in ("cells", "runs") else f"{INDEX}/{layout.INDEX_FILES[victim]}"
    data = (ds / rel).read_bytes()
    (ds / rel).write_bytes(data[: len(data) * 2 // 3])
    report = verify_dataset(ds)
    assert verify.SIZE in report.kinds()
    assert all(p.path == rel for p in report.problems)
    with pytest.raises(DatasetCorruptError):
        _open_and_read(ds)


@pytest.mark.parametrize("victim", ["cells", "runs", "run_start", "cell_params"], ids=lambda v: f"delete-{v}")
def test_deleted_file(ds, victim):
    """A deleted file is a missing-file problem, and opening the dataset is a DatasetCorruptError."""
    rel = _first(ds, victim) if victim in ("cells", "runs") else f"{INDEX}/{layout.INDEX_FILES[victim]}"
    (ds / rel).unlink()
    report = verify_dataset(ds)
    assert [(p.kind, p.path) for p in report.problems] == [(verify.MISSING_FILE, rel)]
    with pytest.raises(DatasetCorruptError):
        report.raise_if_failed()
    with pytest.raises(DatasetCorruptError):
        _open_and_read(ds)


def test_stray_parquet_file_is_reported(ds):
    """A file the manifest does not list inside a table folder (a scan would read it) is reported."""
    rel = _first(ds, layout.RUNS_DIR)
    stray = (ds / rel).with_name("part-1.parquet")
    shutil.copy(ds / rel, stray)
    report = verify_dataset(ds)
    assert [(p.kind, p.path) for p in report.problems] == [
        (verify.UNEXPECTED_FILE, stray.relative_to(ds).as_posix())
    ]


def test_file_moved_to_another_bucket(ds):
    """A Parquet file swapped with another bucket's (sizes and checksums updated) is caught by its own metadata."""
    files = [rel for rel in sorted(_manifest(ds)["files"]) if rel.startswith("cells/")]
    a, b = files[0], files[1]
    data_a, data_b = (ds / a).read_bytes(), (ds / b).read_bytes()
    (ds / a).write_bytes(data_b)
    (ds / b).write_bytes(data_a)
    doc = _refresh_entry(ds, a)
    _refresh_entry(ds, b, doc)
    report = verify_dataset(ds)
    assert verify.METADATA in report.kinds()
    assert {p.path for p in report.problems if p.kind == verify.METADATA} == {a, b}


def test_every_problem_is_listed(ds):
    """Several kinds of damage at once are all reported, not just the first."""
    cells, runs = _first(ds, layout.CELLS_DIR), _first(ds, layout.RUNS_DIR)
    (ds / cells).unlink()
    (ds / runs).write_bytes(b"garbage")
    (ds / INDEX / "extra.npy").write_bytes(b"x")
    doc = _manifest(ds)
    doc["counts"]["runs"] += 1
    _write_manifest(ds, doc)
    report = verify_dataset(ds)
    assert {verify.MISSING_FILE, verify.SIZE, verify.UNEXPECTED_FILE, verify.COUNTS} <= report.kinds()


# --------------------------------------------------------------------------- manifest edits


def test_manifest_deleted(ds):
    """Without manifest.json the directory is not a dataset (DatasetFormatError)."""
    (ds / layout.MANIFEST_NAME).unlink()
    report = verify_dataset(ds)
    assert report.kinds() == {verify.NOT_A_DATASET}
    with pytest.raises(DatasetFormatError):
        report.raise_if_failed()
    with pytest.raises(DatasetFormatError):
        _open_and_read(ds)


@pytest.mark.parametrize("cut", [2, 10, 200])
def test_manifest_json_syntax(ds, cut):
    """A manifest cut short (invalid JSON) is a manifest problem and a DatasetFormatError on open."""
    text = (ds / layout.MANIFEST_NAME).read_text()
    (ds / layout.MANIFEST_NAME).write_text(text[:-cut])
    report = verify_dataset(ds)
    assert report.kinds() == {verify.MANIFEST}
    with pytest.raises(DatasetFormatError):
        _open_and_read(ds)


@pytest.mark.parametrize("version", [layout.FORMAT_VERSION + 1, 0, "1", None])
def test_manifest_format_version(ds, version):
    """An unknown format version is refused (DatasetFormatError) with the upgrade hint."""
    doc = _manifest(ds)
    doc["format_version"] = version
    _write_manifest(ds, doc)
    report = verify_dataset(ds)
    assert report.kinds() == {verify.FORMAT_VERSION}
    assert "upgrade nasbench-arrow" in report.problems[0].message
    with pytest.raises(DatasetFormatError):
        _open_and_read(ds)


def test_manifest_other_format(ds):
    """A manifest of another format is refused."""
    doc = _manifest(ds)
    doc["format"] = "something-else"
    _write_manifest(ds, doc)
    assert verify_dataset(ds).kinds() == {verify.FORMAT_VERSION}


@pytest.mark.parametrize(
    ("edit", "kinds"),
    [
        (lambda d: d["counts"].__setitem__("cells", d["counts"]["cells"] + 1), {verify.COUNTS, verify.SCHEMA}),
        (lambda d: d["counts"].__setitem__("runs", d["counts"]["runs"] - 3), {verify.COUNTS, verify.SCHEMA}),
        (lambda d: d["counts"].__setitem__("records", 7), {verify.COUNTS}),
        (lambda d: d["counts"].__setitem__("epochs", [4, 12, 36]), {verify.COUNTS}),
        (lambda d: d["counts"].__setitem__("epochs", [0, 4]), {verify.MANIFEST}),  # 0 is no budget
        (lambda d: d["counts"].__setitem__("cells", "40"), {verify.MANIFEST}),
        (lambda d: d.pop("files"), {verify.MANIFEST}),
        (lambda d: d["schema"]["runs"].pop(), {verify.SCHEMA}),
    ],
    ids=["cells+1", "runs-3", "records", "epochs-dropped", "epochs-invalid", "cells-string", "no-files", "schema"],
)
def test_manifest_edits(ds, edit, kinds):
    """Edited manifest counts, epochs, keys and schema are reported without --deep."""
    doc = _manifest(ds)
    edit(doc)
    _write_manifest(ds, doc)
    report = verify_dataset(ds)
    assert kinds <= report.kinds(), report.problems
    with pytest.raises(DatasetError):
        report.raise_if_failed()


def test_manifest_file_entry_edits(ds):
    """A file entry's rows, size, or checksum edited: rows and size fast, checksum only with --deep."""
    doc = _manifest(ds)
    cells, runs, idx = _first(ds, layout.CELLS_DIR), _first(ds, layout.RUNS_DIR), f"{INDEX}/cell_params.npy"
    doc["files"][cells]["rows"] += 1
    doc["files"][runs]["size"] += 1
    doc["files"][idx]["sha256"] = "0" * 64
    _write_manifest(ds, doc)
    fast = {(p.kind, p.path) for p in verify_dataset(ds).problems}
    assert (verify.ROWS, cells) in fast and (verify.SIZE, runs) in fast
    assert all(path != idx for _, path in fast)
    deep = {(p.kind, p.path) for p in verify_dataset(ds, deep=True).problems}
    assert (verify.CHECKSUM, idx) in deep


def test_manifest_entry_unlisted(ds):
    """Removing a file's entry from the manifest leaves an unlisted file and a row-count mismatch."""
    doc = _manifest(ds)
    rel = _first(ds, layout.RUNS_DIR)
    del doc["files"][rel]
    _write_manifest(ds, doc)
    kinds = verify_dataset(ds).kinds()
    assert {verify.UNEXPECTED_FILE, verify.COUNTS} <= kinds


def test_manifest_path_outside_dataset(ds):
    """A files entry pointing outside the dataset is a manifest problem, never read."""
    doc = _manifest(ds)
    doc["files"]["../../etc/passwd"] = {"rows": 0, "size": 0, "sha256": "0" * 64}
    _write_manifest(ds, doc)
    report = verify_dataset(ds, deep=True)
    assert report.kinds() == {verify.MANIFEST}


# --------------------------------------------------------------------------- forged datasets: invariants and index


def _invariant_report(ds):
    report = verify_dataset(ds, deep=True)
    assert not report.kinds() & {verify.CHECKSUM, verify.SIZE}, report.problems  # the manifest was forged
    return report


def test_duplicate_cell_hash(ds):
    """A cell row duplicated (manifest forged to match) breaks hash uniqueness: deep reports it."""
    rel = _first(ds, layout.CELLS_DIR)
    _rewrite_table(ds, rel, lambda t: pa.concat_tables([t, t.slice(0, 1)]).sort_by("module_hash"))
    report = _invariant_report(ds)
    assert any(p.kind == verify.INVARIANT and "more than once" in p.message for p in report.problems)
    assert not verify_dataset(ds).kinds() & {verify.INVARIANT}  # only --deep looks at the data


def test_missing_repeat(ds):
    """A run row dropped (manifest forged) leaves a (hash, epochs) with 2 repeats: deep reports it."""
    rel = _first(ds, layout.RUNS_DIR)
    _rewrite_table(ds, rel, lambda t: t.slice(1))
    report = _invariant_report(ds)
    assert any(p.kind == verify.INVARIANT and "repeats" in p.message for p in report.problems)


def test_missing_budget(ds):
    """All runs of one budget of a cell dropped: the hash's epoch set differs, reported."""
    rel = _first(ds, layout.RUNS_DIR)

    def drop(t):
        h = t.column("module_hash")[0].as_py()
        keep = [not (x == h and e == 4) for x, e in zip(t.column("module_hash").to_pylist(), t.column("epochs").to_pylist())]
        return t.filter(pa.array(keep))

    _rewrite_table(ds, rel, drop)
    report = _invariant_report(ds)
    assert any(p.kind == verify.INVARIANT and "epoch budgets" in p.message for p in report.problems)


def test_run_without_cell(ds):
    """A run whose hash is not in the cells table is reported."""
    rel = _first(ds, layout.RUNS_DIR)

    def orphan(t):
        hashes = t.column("module_hash").to_pylist()
        hashes[-1] = hashes[-1][:-1] + ("0" if hashes[-1][-1] != "0" else "1")
        return t.set_column(0, "module_hash", pa.array(hashes, pa.string()))

    _rewrite_table(ds, rel, orphan)
    report = _invariant_report(ds)
    assert any(p.kind == verify.INVARIANT and "not in the cells table" in p.message for p in report.problems)


def test_cell_inconsistent_with_adjacency(ds):
    """A cell whose edge count disagrees with its adjacency string is reported."""
    rel = _first(ds, layout.CELLS_DIR)

    def bump(t):
        edges = t.column("num_edges").to_pylist()
        edges[0] += 1
        return t.set_column(2, "num_edges", pa.array(edges, pa.int8()))

    _rewrite_table(ds, rel, bump)
    report = _invariant_report(ds)
    assert any(p.kind == verify.INVARIANT and "adjacency" in p.message for p in report.problems)


def test_index_disagrees_with_parquet(ds):
    """An index array rewritten with other values (manifest forged) differs from the tables: deep reports INDEX."""
    rel = f"{INDEX}/{layout.INDEX_FILES['run_metrics']}"
    arr = np.load(ds / rel)
    arr[5, 3] += 0.125
    np.save(ds / rel, arr)
    _refresh_entry(ds, rel)
    report = _invariant_report(ds)
    assert [(p.kind, p.path) for p in report.problems] == [(verify.INDEX, rel)]


@pytest.mark.parametrize("key", sorted(layout.INDEX_FILES))
def test_every_index_array_is_compared(ds, key):
    """Changing one value of any index array (manifest forged) is caught by the index check."""
    rel = f"{INDEX}/{layout.INDEX_FILES[key]}"
    arr = np.load(ds / rel)
    flat = arr.reshape(-1) if arr.dtype.kind != "S" else None
    if flat is None:
        arr[3] = b"f" * 32
    elif key == "run_start":
        arr[2] += 1
    else:
        flat[7] = flat[7] + 1 if arr.dtype.kind != "f" else flat[7] + 0.5
    np.save(ds / rel, arr)
    _refresh_entry(ds, rel)
    report = _invariant_report(ds)
    assert (verify.INDEX, rel) in {(p.kind, p.path) for p in report.problems}


def test_crc32c_entries_are_checked(ds):
    """When the manifest records crc32c per file, check_crc32c and --deep compare it."""
    doc = _manifest(ds)
    for rel in doc["files"]:
        doc["files"][rel]["crc32c"] = verify.file_crc32c(ds / rel)
    _write_manifest(ds, doc)
    m = verify_dataset(ds).manifest
    assert verify.check_crc32c(ds, m) == []
    rel = f"{INDEX}/{layout.INDEX_FILES['run_metrics']}"
    _flip(ds / rel, 200)
    assert [(p.kind, p.path) for p in verify.check_crc32c(ds, m)] == [(verify.CHECKSUM, rel)]


# --------------------------------------------------------------------------- not a dataset


def test_missing_path(tmp_path):
    """A path that does not exist: not-found, DatasetNotFoundError (also a FileNotFoundError)."""
    report = verify_dataset(tmp_path / "nope")
    assert report.kinds() == {verify.NOT_FOUND}
    with pytest.raises(DatasetNotFoundError):
        report.raise_if_failed()
    with pytest.raises(FileNotFoundError):
        report.raise_if_failed()


def test_unconverted_tfrecord_passed(reliability_source):
    """A .tfrecord passed where a dataset directory is expected says to convert it first."""
    report = verify_dataset(reliability_source)
    assert report.kinds() == {verify.NOT_A_DATASET}
    assert "nasbench-convert" in report.problems[0].message and "unconverted" in report.problems[0].message
    assert verify.main([str(reliability_source)]) == 1


def test_errors_are_nasbench_errors(tmp_path):
    """Every error raise_if_failed raises is a NASBenchError."""
    with pytest.raises(NASBenchError):
        verify_dataset(tmp_path).raise_if_failed()


def test_unknown_operation_in_cells(ds):
    """A cell whose op list holds a label outside the space (manifest forged) is reported."""
    rel = _first(ds, layout.CELLS_DIR)

    def rename_op(t):
        ops = t.column("operations").to_pylist()
        ops[0] = [*ops[0][:-1], "conv5x5"]  # the output label replaced
        return t.set_column(4, "operations", pa.array(ops, pa.list_(pa.string())))

    _rewrite_table(ds, rel, rename_op)
    report = _invariant_report(ds)
    assert any(p.kind == verify.INVARIANT and "ops" in p.message for p in report.problems)
    # The index still holds the true ops, so the table/index comparison flags it too.
    assert (verify.INDEX, f"{INDEX}/{layout.INDEX_FILES['cell_ops']}") in {(p.kind, p.path) for p in report.problems}


def test_deep_verify_reads_only_intact_files(ds):
    """Files with a bad checksum are reported and never decoded (no decoder error on top)."""
    rel = _first(ds, layout.RUNS_DIR)
    data = bytearray((ds / rel).read_bytes())
    data[100:400] = bytes(300)  # a run of zeros in the data pages
    (ds / rel).write_bytes(bytes(data))
    report = verify_dataset(ds, deep=True)
    assert [(p.kind, p.path) for p in report.problems] == [(verify.CHECKSUM, rel)]


@pytest.mark.parametrize("what", ["tfrecord", "text-file", "fake-tfrecord", "nonexistent", "checkout"])
def test_cli_fix_fits_the_problem_and_never_overwrites_a_non_dataset(what, reliability_source, tmp_path, capsys):
    """Regression (issue 14): the fix line was always `--overwrite`, even for a source file, text, a missing path or a checkout."""
    if what == "tfrecord":
        path, want = reliability_source, f"nasbench-convert {reliability_source} OUT_DIR"
    elif what == "text-file":
        path, want = tmp_path / "notes.txt", "directory written by nasbench-convert"
        path.write_text("notes\n")
    elif what == "fake-tfrecord":
        path, want = tmp_path / "nasbench_full.tfrecord", "download the source again"
        path.write_text("not data\n" * 10)
    elif what == "nonexistent":
        path, want = tmp_path / "nope", "check the path"
    else:
        path, want = tmp_path / "checkout", "not a dataset (no manifest.json)"
        (path / ".git").mkdir(parents=True)
        (path / "README.md").write_text("# a project\n")
    assert verify.main([str(path)]) == 1
    fix = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("fix:")]
    assert len(fix) == 1 and want in fix[0], fix
    assert "--overwrite" not in fix[0]


def test_cli_fix_for_a_damaged_dataset_is_reconvert(ds, capsys):
    """A real dataset with a damaged file: the fix is to reconvert over it (or restore)."""
    (ds / _first(ds, layout.RUNS_DIR)).unlink()
    assert verify.main([str(ds)]) == 1
    assert f"nasbench-convert SOURCE {ds} --overwrite" in capsys.readouterr().out
