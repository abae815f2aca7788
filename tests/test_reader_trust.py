"""Hostile manifests and non-regular files: the reader refuses what nasbench-verify refuses, typed and at once.

One validator (``nasbench_arrow.manifest.validate_manifest``) serves both: for
each damaged manifest below, ``NASBench(path)`` raises a ``DatasetError`` whose
message names the field, ``verify_dataset`` reports the same field, and the
``nasbench-verify`` / ``nasbench-doctor`` CLIs exit 1 without a traceback.
FIFOs and devices, given as a path or listed by a manifest, are refused without
being read (a FIFO would block, ``/dev/zero`` never ends).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nasbench_arrow import api, doctor, layout, verify
from nasbench_arrow.errors import DatasetCorruptError, DatasetError, DatasetFormatError
from nasbench_arrow.manifest import layout_files, parse_json, validate_manifest

pytestmark = pytest.mark.timeout(60)  # a hang is the failure these tests look for


@pytest.fixture
def ds(reliability_dataset, tmp_path) -> Path:
    """A private copy of the converted fixture dataset, free to damage."""
    root = tmp_path / "ds"
    shutil.copytree(reliability_dataset, root)
    return root


def _manifest(root: Path) -> dict:
    return json.loads((root / layout.MANIFEST_NAME).read_text())


def _write(root: Path, doc_or_text) -> None:
    text = doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text)
    (root / layout.MANIFEST_NAME).write_text(text)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """Run a CLI in a child process (so a hang is cut by the timeout, and a traceback is visible)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True, text=True, timeout=45, check=False, stdin=subprocess.DEVNULL,
    )


def _refused_everywhere(root: Path, field: str, error=DatasetFormatError) -> None:
    """NASBench raises `error` naming `field`; verify reports it; both CLIs exit 1 without a traceback."""
    with pytest.raises(error) as info:
        api.NASBench(root)
    assert field in str(info.value)
    report = verify.verify_dataset(root)
    assert not report.ok and any(field in str(p) for p in report.problems), report.problems
    for module in ("nasbench_arrow.verify", "nasbench_arrow.doctor"):
        extra = ["--no-tf", "--no-hash"] if module.endswith("doctor") else []
        proc = _cli(module, *extra, str(root))
        assert proc.returncode == 1, (module, proc.stdout[-2000:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, proc.stderr


# --------------------------------------------------------------------------- paths the manifest may name


@pytest.mark.parametrize(
    "rel",
    ["../../outside/x.parquet", "cells/../../../x", "/etc/passwd", "/dev/zero", "cells/bucket=0/../../manifest.json"],
)
def test_manifest_paths_outside_the_dataset_are_refused_by_the_reader(ds, rel, tmp_path):
    """Regression (issue 11.14): traversal, absolute paths and /dev/zero are refused at open, never opened or stat'ed."""
    doc = _manifest(ds)
    doc["files"][rel] = {"rows": 0, "size": 0, "sha256": "0" * 64, "crc32c": 0}
    _write(ds, doc)
    _refused_everywhere(ds, repr(rel))


def test_a_path_of_no_layout_file_is_refused(ds):
    """A relative path inside the dataset that the layout does not define is refused (never read as data)."""
    doc = _manifest(ds)
    doc["files"]["cells/bucket=0/extra.parquet"] = {"rows": 0, "size": 4, "sha256": "0" * 64, "crc32c": 0}
    _write(ds, doc)
    _refused_everywhere(ds, "cells/bucket=0/extra.parquet")


def test_layout_files_are_exactly_the_tables_and_the_index():
    """The whitelist: 16 buckets x 2 tables plus every index array, all relative and inside the dataset."""
    files = layout_files()
    assert len(files) == 2 * len(layout.BUCKETS) + len(layout.INDEX_FILES)
    assert all(not f.startswith("/") and ".." not in f.split("/") for f in files)


# --------------------------------------------------------------------------- damaged fields


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["counts"].pop("epochs"), "counts.epochs"),
        (lambda d: d["counts"].pop("cells"), "counts.cells"),
        (lambda d: d.__setitem__("files", list(d["files"])), "'files'"),
        (lambda d: d.__setitem__("counts", [1, 2]), "'counts'"),
        (lambda d: d["files"].__setitem__(next(iter(d["files"])), [1, 2, 3]), "files["),
        (lambda d: d["files"][next(iter(d["files"]))].__setitem__("size", "12"), "size='12'"),
        (lambda d: d["source"].__setitem__("size", "big"), "source.size"),
        (lambda d: d.pop("schema"), "'schema'"),
        (lambda d: d["counts"].__setitem__("complete", "yes"), "counts.complete"),
    ],
    ids=["no-epochs", "no-cells", "files-list", "counts-list", "entry-list", "size-str", "source-size", "no-schema", "complete-str"],
)
def test_missing_or_mistyped_fields_are_format_errors_naming_the_field(ds, edit, field):
    """Regression (issue 11.15): KeyError / AttributeError / TypeError at open become DatasetFormatError naming the field."""
    doc = _manifest(ds)
    edit(doc)
    _write(ds, doc)
    _refused_everywhere(ds, field)


def test_deeply_nested_manifest_is_a_format_error(ds):
    """Regression (issue 11.15): JSON nested 100,000 deep is refused, not a RecursionError."""
    _write(ds, '{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused_everywhere(ds, "nests JSON too deeply")


def test_nesting_below_the_parser_limit_is_still_refused(ds):
    """Nesting the json module parses (depth 500) but no manifest has is refused too."""
    doc = _manifest(ds)
    value: list = []
    for _ in range(500):
        value = [value]
    doc["warnings"] = value
    _write(ds, doc)
    _refused_everywhere(ds, "nests JSON too deeply")


@pytest.mark.parametrize("where", ["counts.runs", "files.size", "source.size"])
def test_five_thousand_digit_integer_is_a_format_error(ds, where):
    """Regression (issue 11.15): a 5,000-digit count is refused with a typed error, not int()'s ValueError traceback."""
    text = (ds / layout.MANIFEST_NAME).read_text()
    doc = json.loads(text)
    marker = 123456789123
    if where == "counts.runs":
        doc["counts"]["runs"] = marker
    elif where == "source.size":
        doc["source"]["size"] = marker
    else:
        doc["files"][next(iter(doc["files"]))]["size"] = marker
    _write(ds, json.dumps(doc).replace(str(marker), "9" * 5000))
    _refused_everywhere(ds, "5,000 digits")


def test_huge_integer_in_parquet_metadata_is_reported_not_raised(ds):
    """A 5,000-digit integer or deep nesting in a Parquet file's key-value metadata: verify reports METADATA."""
    import pyarrow.parquet as pq

    rel = layout.data_file(layout.CELLS_DIR, next(b for b in layout.BUCKETS if (ds / layout.data_file(layout.CELLS_DIR, b)).exists()))
    table = pq.read_table(ds / rel)
    meta = dict(table.schema.metadata)
    meta[layout.METADATA_KEY] = ('{"rows": ' + "9" * 5000 + "}").encode()
    pq.write_table(table.replace_schema_metadata(meta), ds / rel)
    report = verify.verify_dataset(ds)
    assert any(p.kind == verify.METADATA and p.path == rel and "5,000 digits" in p.message for p in report.problems)


def test_parse_json_refuses_without_builtin_exceptions():
    """parse_json turns every refusal into one ValueError line."""
    for bad in ("[" * 100_000, '{"a": ' + "1" * 5000 + "}", '{"a": NaN}', b"\xff\xfe", "[1, 2"):
        with pytest.raises(ValueError) as info:
            parse_json(bad)
        assert type(info.value) is ValueError and "\n" not in str(info.value)
    assert parse_json('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_manifest_is_a_format_error(ds):
    """Regression (issue 11.15): a manifest without read permission is a DatasetFormatError, not a bare PermissionError."""
    path = ds / layout.MANIFEST_NAME
    path.chmod(0)
    try:
        with pytest.raises(DatasetFormatError, match="cannot be read"):
            api.NASBench(ds)
        report = verify.verify_dataset(ds)
        assert report.kinds() == {verify.MANIFEST}
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_validator_lists_every_problem_at_once():
    """validate_manifest returns all problems of a manifest, not only the first."""
    doc = {"format": layout.FORMAT_NAME, "format_version": layout.FORMAT_VERSION, "converter_version": "x",
           "created": "now", "source": {}, "counts": {"cells": -1, "runs": "2"}, "files": {}, "schema": {}}
    manifest, problems = validate_manifest(doc)
    text = " ".join(str(p) for p in problems)
    assert manifest is None
    for field in ("counts.records", "counts.cells", "counts.runs", "counts.repeats", "counts.epochs"):
        assert field in text


# --------------------------------------------------------------------------- checksums


def test_missing_crc32c_is_a_format_error_at_open(ds):
    """Regression (issue 11.16): crc32c entries removed and a byte flipped: open refuses instead of serving other values."""
    doc = _manifest(ds)
    for entry in doc["files"].values():
        entry.pop("crc32c")
    _write(ds, doc)
    path = ds / layout.INDEX_DIR / layout.INDEX_FILES["run_metrics"]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))
    _refused_everywhere(ds, "no crc32c")


# --------------------------------------------------------------------------- non-regular files


def _fifo(path: Path) -> Path:
    if path.exists():
        path.unlink()
    os.mkfifo(path)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
@pytest.mark.parametrize("rel", [layout.MANIFEST_NAME, f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_params']}", layout.data_file(layout.RUNS_DIR, "0")])
def test_fifo_inside_a_dataset_is_refused_without_blocking(ds, rel):
    """Regression (issue 11.14/18): a FIFO where a manifest or data file should be is a typed error at once."""
    if not (ds / rel).exists():
        pytest.skip(f"{rel} is not part of this fixture")
    _fifo(ds / rel)
    with pytest.raises(DatasetError, match="FIFO"):
        api.NASBench(ds)
    report = verify.verify_dataset(ds)
    assert not report.ok and any("FIFO" in p.message for p in report.problems)
    proc = _cli("nasbench_arrow.doctor", "--no-tf", str(ds))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
@pytest.mark.parametrize(
    "module",
    ["nasbench_arrow.verify", "nasbench_arrow.doctor", "nasbench_arrow.converters.cli", "nasbench_arrow.plot", "nasbench_arrow.train.cli"],
)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_every_cli_refuses_non_regular_files_at_once(tmp_path, module, kind):
    """Regression (issue 11.18): a FIFO or /dev/zero as the path: exit 1 (or 2) with one line, no hang, no traceback."""
    path = _fifo(tmp_path / "pipe") if kind == "fifo" else Path("/dev/zero")
    if not path.exists():
        pytest.skip("no /dev/zero here")
    args = {
        "nasbench_arrow.doctor": ["--no-tf", str(path)],
        "nasbench_arrow.converters.cli": [str(path), str(tmp_path / "out")],
        "nasbench_arrow.plot": ["overview", str(path), str(tmp_path / "out.png")],
        "nasbench_arrow.train.cli": ["--list", str(path), "--cifar", str(tmp_path), "--out", str(tmp_path / "runs")],
    }.get(module, [str(path)])
    proc = _cli(module, *args)
    assert proc.returncode in (1, 2), (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    said = (proc.stdout + proc.stderr).lower()
    assert "fifo" in said or "character device" in said or "not a regular file" in said, said[-2000:]


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null here")
def test_dev_null_is_a_dataset_error():
    """Regression (issue 11.19): NASBench('/dev/null') is a DatasetFormatError naming what it is, not a bare FileNotFoundError."""
    with pytest.raises(DatasetFormatError, match="character device"):
        api.NASBench("/dev/null")


def test_manifest_permission_error_is_a_format_error(ds, monkeypatch):
    """Regression (issue 11.15), also under root: a PermissionError reading the manifest is a DatasetFormatError."""
    from nasbench_arrow import manifest as manifest_module

    real = manifest_module.open_regular

    def refuse(name, *, dir_fd=None):
        if str(name).endswith(layout.MANIFEST_NAME):
            raise PermissionError(13, "Permission denied", str(name))
        return real(name, dir_fd=dir_fd)

    monkeypatch.setattr(manifest_module, "open_regular", refuse)
    with pytest.raises(DatasetFormatError, match="cannot be read.*Permission denied"):
        api.NASBench(ds)
    report = verify.verify_dataset(ds)
    assert report.kinds() == {verify.MANIFEST} and "Permission denied" in report.problems[0].message
