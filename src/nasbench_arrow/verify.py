"""Check a converted dataset against its manifest: ``nasbench-verify OUT_DIR [--deep]``.

A dataset is a directory of Parquet files and ``.npy`` index arrays described
by ``manifest.json`` (see :mod:`nasbench_arrow.layout`). Copies, partial
downloads, full disks and bit rot damage such directories in ways a reader
would not notice by itself, so :func:`verify_dataset` walks the whole
directory and lists *every* problem it finds instead of stopping at the
first one.

Two depths:

fast (default, milliseconds)
    The manifest parses, names our format and a format version this package
    reads, and agrees with itself (counts, schema); every listed file exists
    with the recorded size; no unlisted file sits where a scan would pick it
    up; each Parquet footer parses and gives the recorded row count, the
    table's schema and our format version; each ``.npy`` header gives the
    dtype and shape the layout promises, and the file is as long as that
    header says. This catches deleted, truncated, extended, misplaced and
    foreign files and a damaged or edited manifest.

deep (``--deep``; about 1 s per GB on one core, plus reading)
    Everything above, plus the SHA-256 of every file against the manifest
    (this is what catches a single flipped byte anywhere) and the data
    invariants readers rely on: hashes unique and sorted in the cells table
    and stored in their bucket; the canonical isomorphism keys of the index
    recomputed from its cell arrays; for every cell, runs at exactly the dataset's
    epoch budgets with exactly ``counts.repeats`` repeats numbered from 0;
    every run's hash present in the cells table; each cell's vertex/edge
    counts and ops consistent with its adjacency; and the query index arrays
    equal, value for value, to the Parquet tables they were built from.
    Files whose checksum does not match are reported and not decoded.

Only the standard library, numpy and pyarrow are used; nothing here writes to
the dataset.

Example
-------
>>> from nasbench_arrow.verify import verify_dataset   # doctest: +SKIP
>>> report = verify_dataset("out/", deep=True)          # doctest: +SKIP
>>> report.ok, report.summary()                         # doctest: +SKIP
>>> report.raise_if_failed()                            # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from . import layout
from .constants import MAX_VERTICES
from .errors import DatasetCorruptError, DatasetFormatError, DatasetNotFoundError
from .manifest import (
    COUNTS,
    FORMAT_VERSION,
    MANIFEST,
    NOT_A_DATASET,
    NOT_FOUND,
    SCHEMA,
    UNEXPECTED_FILE,
    Manifest,
    Problem,
    file_kind,
    layout_files,
    load_manifest,
    open_regular,
    parse_json,
)

__all__ = [
    "CHECKSUM",
    "COUNTS",
    "FORMAT_VERSION",
    "INDEX",
    "INVARIANT",
    "MANIFEST",
    "METADATA",
    "MISSING_FILE",
    "NOT_A_DATASET",
    "NOT_FOUND",
    "ROWS",
    "SCHEMA",
    "SIZE",
    "UNEXPECTED_FILE",
    "UNREADABLE",
    "Problem",
    "VerifyReport",
    "check_checksums",
    "check_crc32c",
    "file_crc32c",
    "file_sha256",
    "main",
    "verify_dataset",
]

# Problem kinds: stable strings, so scripts and tests can match on them. Those of the
# manifest (not-found, not-a-dataset, manifest, format-version, schema, unexpected-file,
# counts) are defined with the one manifest validator, nasbench_arrow.manifest.
MISSING_FILE = "missing-file"  # listed in the manifest, absent on disk
SIZE = "size"  # size on disk differs from the manifest
CHECKSUM = "checksum"  # SHA-256 differs from the manifest (deep)
UNREADABLE = "unreadable"  # footer / header / data cannot be decoded
ROWS = "rows"  # row count (or array length) differs from the manifest
METADATA = "metadata"  # Parquet key-value metadata missing or of another version
INVARIANT = "invariant"  # a data invariant does not hold (deep)
INDEX = "index"  # the query index disagrees with the Parquet tables (deep)

# Which typed error a failed report raises: the first matching group wins.
_NOT_FOUND_KINDS = frozenset({NOT_FOUND})
_FORMAT_KINDS = frozenset({NOT_A_DATASET, MANIFEST, FORMAT_VERSION})

_HEX32 = re.compile(r"[0-9a-f]{32}")
_TABLES = (layout.CELLS_DIR, layout.RUNS_DIR)
_SCHEMAS = {layout.CELLS_DIR: layout.CELLS_SCHEMA, layout.RUNS_DIR: layout.RUNS_SCHEMA}
# Examples quoted per violated invariant; the count is always given in full.
_MAX_EXAMPLES = 5
_HASH_CHUNK = 1 << 20  # bytes per read when hashing; large enough to run at disk speed
# What decoders raise on damaged bytes: pyarrow's ArrowException family (ArrowInvalid is a
# ValueError, IOError an OSError), numpy's header parser (ValueError, SyntaxError from its
# literal parser, EOFError on a short file), and any of them on a short read.
_DECODE_ERRORS = (
    pa.ArrowException,
    ValueError,
    OSError,
    SyntaxError,
    EOFError,
    TypeError,
    KeyError,
    IndexError,
    NotImplementedError,  # ArrowNotImplementedError: a damaged encoding or codec id
    MemoryError,  # a damaged length asking for an impossible allocation
)


@dataclass
class VerifyReport:
    """Result of :func:`verify_dataset`.

    Attributes
    ----------
    root : pathlib.Path
        The dataset directory checked.
    deep : bool
        Whether checksums and invariants were checked.
    problems : list of Problem
        Everything found wrong; empty for a good dataset.
    manifest : Manifest or None
        The parsed manifest, when it could be parsed.
    files_checked : int
        Files listed in the manifest that were examined.
    bytes_checked : int
        Bytes hashed (deep) or listed (fast).
    seconds : float
        Wall time of the check, seconds.
    """

    root: Path
    deep: bool
    problems: list[Problem] = field(default_factory=list)
    manifest: Manifest | None = None
    files_checked: int = 0
    bytes_checked: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def add(self, kind: str, path: str | None, message: str) -> None:
        """Record a problem."""
        self.problems.append(Problem(kind, path, message))

    def kinds(self) -> set[str]:
        """The set of problem kinds found."""
        return {p.kind for p in self.problems}

    def summary(self) -> str:
        """One line: the verdict, what the dataset holds, what was checked and how long it took."""
        what = "sizes, row counts, schema, format version, SHA-256 and invariants" if self.deep else (
            "sizes, row counts, schema and format version (--deep also checks SHA-256 and invariants)"
        )
        if not self.ok:
            n = len(self.problems)
            return f"FAILED {self.root}: {n} problem{'s' * (n != 1)} ({', '.join(sorted(self.kinds()))})"
        m = self.manifest
        counts = m.counts if m is not None else {}
        epochs = "/".join(str(e) for e in counts.get("epochs", []))
        return (
            f"OK {self.root}: nasbench-arrow dataset v{m.format_version if m else '?'}, "
            f"{counts.get('cells', 0):,} cells, {counts.get('runs', 0):,} runs, epochs {epochs}, "
            f"{self.files_checked} files, {_human_bytes(self.bytes_checked)}; checked {what} "
            f"in {self.seconds:.2f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``nasbench-verify --json``)."""
        return {
            "root": str(self.root),
            "ok": self.ok,
            "deep": self.deep,
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "seconds": round(self.seconds, 4),
            "problems": [{"kind": p.kind, "path": p.path, "message": p.message} for p in self.problems],
        }

    def fix(self) -> str:
        """What to do about the problems found, fitted to them ("" when there are none).

        ``--overwrite`` is suggested only for a directory that is a dataset (it
        has a manifest): the converter refuses to overwrite anything else.
        """
        if self.ok:
            return ""
        kinds, root = self.kinds(), self.root
        if NOT_FOUND in kinds:
            return (
                f"fix: check the path; to make a dataset there, convert a source: "
                f"`nasbench-convert nasbench_full.tfrecord {root}`"
            )
        if NOT_A_DATASET in kinds:
            first = next(p for p in self.problems if p.kind == NOT_A_DATASET)
            if first.path is None and "unconverted .tfrecord" in first.message:
                return f"fix: convert it first: `nasbench-convert {root} OUT_DIR`, then `nasbench-verify OUT_DIR`"
            if first.path is None and "not a TFRecord file" in first.message:
                return "fix: this is neither a dataset nor a TFRecord file; download the source again (`nasbench-doctor FILE` checks it)"
            if first.path is None:
                return "fix: pass the directory written by nasbench-convert (the one holding manifest.json)"
            return (
                "fix: this directory is not a dataset (no manifest.json); pass the directory written by "
                "nasbench-convert, or convert into a new directory: `nasbench-convert SOURCE OUT_DIR`"
            )
        if kinds == {FORMAT_VERSION}:
            return (
                f"fix: upgrade nasbench-arrow, or reconvert the source with this version: "
                f"`nasbench-convert SOURCE {root} --overwrite`"
            )
        return f"fix: reconvert with `nasbench-convert SOURCE {root} --overwrite`, or restore a good copy"

    def raise_if_failed(self) -> None:
        """Raise the typed error that fits the problems found, listing all of them.

        Raises
        ------
        DatasetNotFoundError
            The path does not exist.
        DatasetFormatError
            Not a dataset, a damaged manifest, or an unknown format version.
        DatasetCorruptError
            Any problem with the data files.
        """
        if self.ok:
            return
        kinds = self.kinds()
        lines = "\n".join(f"  - {p}" for p in self.problems)
        msg = (
            f"dataset {str(self.root)!r} failed verification with {len(self.problems)} "
            f"problem(s):\n{lines}\n{self.fix()}"
        )
        if kinds & _NOT_FOUND_KINDS:
            raise DatasetNotFoundError(msg)
        if kinds & _FORMAT_KINDS:
            raise DatasetFormatError(msg)
        raise DatasetCorruptError(msg)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file, streamed in 1 MiB reads (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- manifest


def _load_manifest(root: Path, report: VerifyReport) -> Manifest | None:
    """Parse and validate manifest.json with the package's one validator, recording every problem.

    Returns None when the manifest is unusable (the problems say why); a
    manifest with consistency problems is returned so the files can still be
    checked against it.
    """
    try:
        st = os.stat(root)
    except FileNotFoundError:
        report.add(NOT_FOUND, None, f"no such path; convert a tfrecord with `nasbench-convert SOURCE {root}`")
        return None
    except OSError as exc:
        report.add(NOT_A_DATASET, None, f"cannot be examined ({exc.strerror or exc})")
        return None
    if stat.S_ISREG(st.st_mode):
        if _looks_like_tfrecord(root):
            hint = (
                "it looks like an unconverted .tfrecord: convert it first with "
                f"`nasbench-convert {root} OUT_DIR`, then verify OUT_DIR"
            )
        elif root.suffix == ".tfrecord":
            hint = "its first bytes are not TFRecord framing either: not a TFRecord file (check the download)"
        else:
            hint = "pass the directory written by nasbench-convert"
        report.add(NOT_A_DATASET, None, f"is a file, not a dataset directory; {hint}")
        return None
    if not stat.S_ISDIR(st.st_mode):
        # Never opened: reading a FIFO would block, /dev/zero never ends.
        report.add(NOT_A_DATASET, None, f"is {file_kind(st.st_mode)}, not a dataset directory; pass the directory written by nasbench-convert")
        return None
    manifest, problems = load_manifest(root)
    report.problems.extend(problems)
    return manifest


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _looks_like_tfrecord(path: Path) -> bool:
    """Whether a regular file starts with TFRecord framing (a length whose masked CRC32C matches)."""
    from .tfrecord import HEADER_SIZE, masked_crc32c

    try:
        fd = open_regular(path)
    except (OSError, ValueError):
        return False
    try:
        head = os.read(fd, HEADER_SIZE)
    except OSError:
        return False
    finally:
        os.close(fd)
    if len(head) < HEADER_SIZE:
        return False
    return masked_crc32c(head[:8]) == int.from_bytes(head[8:HEADER_SIZE], "little")


def _unlisted_files(root: Path, m: Manifest, report: VerifyReport) -> None:
    """Files under the table and index folders that the manifest does not list.

    A glob scan (``cells/**/*.parquet``) would read a stray file as data, so a
    leftover or foreign file there is a problem, not a curiosity.
    """
    for top in (*_TABLES, layout.INDEX_DIR):
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                if rel not in m.files:
                    report.add(
                        UNEXPECTED_FILE, rel,
                        "not listed in the manifest; scans of this folder would read it: remove it",
                    )


# --------------------------------------------------------------------------- per-file fast checks


def _check_parquet_footer(path: Path, rel: str, table: str, info: dict, report: VerifyReport) -> None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
    except _DECODE_ERRORS as exc:
        report.add(UNREADABLE, rel, f"the Parquet footer cannot be read ({type(exc).__name__}: {exc})")
        return
    if meta.num_rows != info["rows"]:
        report.add(ROWS, rel, f"the footer says {meta.num_rows:,} rows, the manifest {info['rows']:,}")
    problem = _schema_difference(schema, _SCHEMAS[table])
    if problem:
        report.add(SCHEMA, rel, f"{problem} (the {table} table of format version {layout.FORMAT_VERSION})")
    kv = meta.metadata or {}
    raw = kv.get(layout.METADATA_KEY)
    if raw is None:
        report.add(METADATA, rel, f"has no {layout.METADATA_KEY.decode()!r} key-value metadata (not written by nasbench-convert)")
        return
    try:
        doc = parse_json(raw)
    except ValueError as exc:
        report.add(METADATA, rel, f"its {layout.METADATA_KEY.decode()!r} metadata {exc}")
        return
    if not isinstance(doc, dict):
        report.add(METADATA, rel, f"its {layout.METADATA_KEY.decode()!r} metadata is not a JSON object")
        return
    if doc.get("format", layout.FORMAT_NAME) != layout.FORMAT_NAME or doc.get("format_version") != layout.FORMAT_VERSION:
        report.add(
            METADATA, rel,
            f"written as format {doc.get('format')!r} version {doc.get('format_version')!r}; "
            f"expected {layout.FORMAT_NAME!r} version {layout.FORMAT_VERSION}",
        )
    # A file copied into the wrong place says so in its own metadata.
    bucket = rel.split("/")[1].partition("=")[2] if rel.count("/") >= 2 else None
    where = {"table": table, "bucket": bucket, "rows": meta.num_rows}
    for key, value in where.items():
        if key in doc and doc[key] != value:
            report.add(METADATA, rel, f"its metadata says {key}={doc[key]!r}, but it is at {rel} ({key}={value!r})")


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Type equality that ignores the name of a list's item field.

    Parquet's compliant nested types call it ``element`` where Arrow says ``item``.
    """
    if pa.types.is_list(a) and pa.types.is_list(b):
        return _same_type(a.value_type, b.value_type)
    return a.equals(b)


def _schema_difference(got: pa.Schema, want: pa.Schema) -> str | None:
    """What differs between a file's columns and the layout's, or None."""
    got_names, want_names = list(got.names), list(want.names)
    if got_names != want_names:
        missing = [n for n in want_names if n not in got_names]
        extra = [n for n in got_names if n not in want_names]
        if missing or extra:
            return f"columns missing {missing}, unexpected {extra}"
        return f"columns in the order {got_names}, expected {want_names}"
    wrong = [
        f"{f.name}: {f.type} (expected {w.type})"
        for f, w in zip(got, want)
        if not _same_type(f.type, w.type)
    ]
    return f"column types differ: {'; '.join(wrong)}" if wrong else None


def _index_contract(m: Manifest) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """dtype and shape of each index array, from the layout's contract and the manifest counts."""
    n, r = m.counts["cells"], m.counts["runs"]
    v = MAX_VERTICES
    return {
        "cell_hash": (np.dtype("S32"), (n,)),
        "cell_num_vertices": (np.dtype(np.int8), (n,)),
        "cell_adjacency": (np.dtype(np.int8), (n, v, v)),
        "cell_ops": (np.dtype(np.uint8), (n, v)),
        "cell_params": (np.dtype(np.int32), (n,)),
        "run_start": (np.dtype(np.int64), (n + 1,)),
        "run_epochs": (np.dtype(np.int16), (r,)),
        "run_metrics": (np.dtype(np.float64), (r, len(layout.INDEX_RUN_COLUMNS))),
        "cell_canon": (np.dtype(np.int64), (n,)),
        "cell_canon_pos": (np.dtype(np.int32), (n,)),
    }


def _read_npy_header(path: Path) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, data offset) of a .npy file, reading the header only."""
    from numpy.lib import format as npformat

    with open(path, "rb") as f:
        major, _minor = npformat.read_magic(f)
        if major == 1:
            shape, fortran, dtype = npformat.read_array_header_1_0(f)
        elif major in (2, 3):
            shape, fortran, dtype = npformat.read_array_header_2_0(f)
        else:  # pragma: no cover - read_magic already rejects unknown majors
            msg = f"unsupported .npy version {major}"
            raise ValueError(msg)
        return dtype, tuple(shape), fortran, f.tell()


def _check_npy_header(path: Path, rel: str, key: str, m: Manifest, info: dict, report: VerifyReport) -> bool:
    """True when the header matches the contract and the file holds exactly that much data."""
    try:
        dtype, shape, fortran, offset = _read_npy_header(path)
    except _DECODE_ERRORS as exc:
        report.add(UNREADABLE, rel, f"the .npy header cannot be read ({type(exc).__name__}: {exc})")
        return False
    want_dtype, want_shape = _index_contract(m)[key]
    good = True
    if dtype != want_dtype or shape != want_shape or fortran:
        report.add(
            SCHEMA, rel,
            f"holds {dtype.str} {shape}{' (Fortran order)' if fortran else ''}; the layout and manifest counts "
            f"call for {want_dtype.str} {want_shape} in C order",
        )
        good = False
    if info["rows"] != (shape[0] if shape else 0):
        report.add(ROWS, rel, f"has {shape[0] if shape else 0:,} rows, the manifest says {info['rows']:,}")
        good = False
    expected_size = offset + math.prod(shape) * dtype.itemsize
    actual = path.stat().st_size
    if actual != expected_size:
        report.add(
            SIZE, rel,
            f"its header describes {expected_size:,} bytes of file, it has {actual:,}: truncated or padded",
        )
        good = False
    return good


# --------------------------------------------------------------------------- deep checks


def _digest_or_report(digest: Callable[[Path], Any], root: Path, rel: str, problems: list[Problem]):
    """``digest(root / rel)``, or None after appending a missing/unreadable Problem for ``rel``."""
    try:
        return digest(root / rel)
    except FileNotFoundError:
        problems.append(Problem(MISSING_FILE, rel, "listed in the manifest but missing"))
    except OSError as exc:
        problems.append(Problem(UNREADABLE, rel, f"cannot be read ({exc})"))
    return None


def check_checksums(
    root: str | os.PathLike, manifest: Manifest, paths: Iterable[str] | None = None
) -> list[Problem]:
    """SHA-256 of the given (default: all) manifest files against the manifest.

    Meant also for readers that want to check just the files they are about
    to use (e.g. the index arrays before the first query).

    Parameters
    ----------
    root : path
        Dataset directory.
    manifest : Manifest
        Its parsed manifest.
    paths : iterable of str, optional
        Relative POSIX paths from ``manifest.files``; all of them when omitted.

    Returns
    -------
    list of Problem
        One per missing or mismatching file; empty when all match.
    """
    root = Path(root)
    problems = []
    for rel in manifest.files if paths is None else paths:
        info = manifest.files[rel]
        digest = _digest_or_report(file_sha256, root, rel, problems)
        if digest is not None and digest != info["sha256"]:
            problems.append(
                Problem(CHECKSUM, rel, f"SHA-256 is {digest}, the manifest says {info['sha256']}: the file was altered")
            )
    return problems


def file_crc32c(path: str | os.PathLike) -> int:
    """CRC32C (Castagnoli, unmasked) of a file, streamed; about 10 GB/s with a warm cache."""
    import crc32c

    value = 0
    buf = bytearray(_HASH_CHUNK * 8)  # reused: no allocation per read
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            value = crc32c.crc32c(view[:n], value)
    return value


def check_crc32c(
    root: str | os.PathLike, manifest: Manifest, paths: Iterable[str] | None = None
) -> list[Problem]:
    """Fast content check: the CRC32C of files whose manifest entry records one.

    CRC32C runs at memory speed (the whole query index of the full dataset,
    about 380 MB, in roughly 30 ms with a warm page cache), so a reader can
    afford it when opening, unlike SHA-256. It needs the converter to record
    ``"crc32c"`` (an int) in each ``files`` entry; entries without one are
    skipped, so this returns no problems for datasets that do not have them.

    Parameters
    ----------
    root : path
        Dataset directory.
    manifest : Manifest
        Its parsed manifest.
    paths : iterable of str, optional
        Relative POSIX paths from ``manifest.files``; all of them when omitted.

    Returns
    -------
    list of Problem
        One per missing, unreadable or mismatching file.
    """
    root = Path(root)
    problems = []
    for rel in manifest.files if paths is None else paths:
        want = manifest.files[rel].get("crc32c")
        if not _is_count(want):
            continue
        got = _digest_or_report(file_crc32c, root, rel, problems)
        if got is not None and got != want:
            problems.append(
                Problem(CHECKSUM, rel, f"CRC32C is {got:#010x}, the manifest says {want:#010x}: the file was altered")
            )
    return problems


def _read_parquet(path: Path):
    import pyarrow.parquet as pq

    # ParquetFile reads exactly this file: pq.read_table would add the hive `bucket` column.
    # Page checksums, when the writer stored them, are checked on the way.
    return pq.ParquetFile(path, page_checksum_verification=True).read()


def _examples(values: Sequence) -> str:
    shown = ", ".join(str(v) for v in values[:_MAX_EXAMPLES])
    more = len(values) - _MAX_EXAMPLES
    return shown + (f", ... ({more:,} more)" if more > 0 else "")


class _IndexView:
    """The index arrays, memory-mapped, for slice-by-slice comparison."""

    def __init__(self, root: Path):
        self.arrays = {
            key: np.load(root / layout.INDEX_DIR / name, mmap_mode="r", allow_pickle=False)
            for key, name in layout.INDEX_FILES.items()
        }


def _string_parts(column) -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64 of length n + 1, data uint8) of a string column, without Python strings."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if arr.null_count:
        msg = "null strings"
        raise ValueError(msg)
    n, off = len(arr), arr.offset
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[off : off + n + 1].astype(np.int64)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def _fixed_strings(column, width: int) -> np.ndarray | None:
    """A string column as an ``S<width>`` array, or None unless every value has exactly ``width`` bytes."""
    offsets, data = _string_parts(column)
    n = len(offsets) - 1
    if n == 0:
        return np.zeros(0, dtype=f"S{width}")
    if not (np.diff(offsets) == width).all():
        return None
    return np.ascontiguousarray(data[offsets[0] : offsets[0] + n * width]).view(f"S{width}")


# Lowercase hex digits, as a byte lookup table.
_IS_HEX = np.zeros(256, dtype=bool)
_IS_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = True


def _cell_arrays(table) -> dict[str, np.ndarray]:
    """A bucket's cells decoded into index-shaped arrays, plus a per-row 'consistent' mask.

    Vectorised: the full dataset's 423,624 cells take well under a second.
    """
    n = table.num_rows
    nv = table.column("num_vertices").to_numpy().astype(np.int64)
    ne = table.column("num_edges").to_numpy().astype(np.int64)
    offsets, data = _string_parts(table.column("adjacency"))
    lengths = np.diff(offsets)
    ok = (nv >= 2) & (nv <= MAX_VERTICES) & (lengths == nv * nv)
    adj = np.zeros((n, MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
    chars = data[offsets[0] : offsets[-1]] if n else data[:0]
    bits_ok = (chars == ord("0")) | (chars == ord("1"))
    if n:
        starts = offsets[:-1] - offsets[0]
        nonempty = lengths > 0
        bad_char = np.zeros(n, dtype=bool)
        ones = np.zeros(n, dtype=np.int64)
        if nonempty.any():
            idx = starts[nonempty]
            bad_char[nonempty] = np.add.reduceat(~bits_ok, idx) > 0 if len(chars) else False
            ones[nonempty] = np.add.reduceat(chars == ord("1"), idx) if len(chars) else 0
        ok &= ~bad_char & (ones == ne)
    for v in range(2, MAX_VERTICES + 1):
        rows = np.flatnonzero(ok & (nv == v))
        if len(rows):
            win = data[offsets[rows][:, None] + np.arange(v * v)].reshape(len(rows), v, v)
            adj[rows, :v, :v] = (win - ord("0")).astype(np.int8)
    ops_col = table.column("operations").combine_chunks()
    op_offsets = np.asarray(ops_col.offsets, dtype=np.int64)
    op_offsets = op_offsets - op_offsets[0]
    n_ops = np.diff(op_offsets)
    import pyarrow.compute as pc

    codes = pc.index_in(ops_col.flatten(), value_set=pa.array(layout.OP_CODES)).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(codes.astype(np.float64)), 254, codes).astype(np.int64)
    ops = np.full((n, MAX_VERTICES), 255, dtype=np.uint8)
    ok &= n_ops == nv
    if len(codes):
        row_of = np.repeat(np.arange(n), n_ops)
        pos = np.arange(len(codes)) - np.repeat(op_offsets[:-1], n_ops)
        keep = pos < MAX_VERTICES
        ops[row_of[keep], pos[keep]] = codes[keep]
        unknown = np.zeros(n, dtype=bool)
        np.logical_or.at(unknown, row_of, codes == 254)
        ok &= ~unknown
    last = np.clip(nv - 1, 0, MAX_VERTICES - 1)
    ok &= (ops[:, 0] == 0) & (ops[np.arange(n), last] == len(layout.OP_CODES) - 1)
    interior = (ops >= 1) & (ops <= 3)
    ok &= interior.sum(axis=1) == np.maximum(nv - 2, 0)
    return {"num_vertices": nv, "adjacency": adj, "ops": ops, "consistent": ok}


def _check_cells(table, rel: str, bucket: str, report: VerifyReport) -> tuple[np.ndarray, dict] | None:
    """Invariants of one bucket's cells table; returns its hashes as S32 and its decoded arrays, or None."""
    arr = _fixed_strings(table.column("module_hash"), 32)
    raw = arr.view(np.uint8).reshape(-1, 32) if arr is not None else None
    if arr is None or not _IS_HEX[raw].all():
        hashes = table.column("module_hash").to_pylist()
        bad = [h for h in hashes if not isinstance(h, str) or not _HEX32.fullmatch(h)]
        report.add(INVARIANT, rel, f"{len(bad):,} module_hash values are not 32 lowercase hex digits: {_examples(bad)}")
        return None
    wrong_bucket = np.flatnonzero(raw[:, 0] != ord(bucket))
    if len(wrong_bucket):
        report.add(
            INVARIANT, rel,
            f"{len(wrong_bucket):,} hashes belong to another bucket: {_examples([arr[i].decode() for i in wrong_bucket])}",
        )
    if len(arr) > 1 and not (arr[1:] > arr[:-1]).all():
        same = arr[1:] == arr[:-1]
        if same.any():
            dup = np.unique(arr[1:][same])
            report.add(
                INVARIANT, rel,
                f"{len(dup):,} module hashes appear more than once in the cells table: "
                f"{_examples([d.decode() for d in dup])}",
            )
        if (arr[1:] < arr[:-1]).any():
            report.add(INVARIANT, rel, "rows are not sorted by module_hash (row-group pruning relies on it)")
    try:
        cells = _cell_arrays(table)
    except _DECODE_ERRORS as exc:
        report.add(INVARIANT, rel, f"cells cannot be decoded ({type(exc).__name__}: {exc})")
        return None
    bad_cells = np.flatnonzero(~cells["consistent"])
    if len(bad_cells):
        report.add(
            INVARIANT, rel,
            f"{len(bad_cells):,} cells whose vertex/edge counts or ops disagree with their adjacency: "
            f"{_examples([arr[i].decode() for i in bad_cells])}",
        )
    return arr, cells


def _check_runs(
    runs, rel: str, cell_hashes: np.ndarray, m: Manifest, report: VerifyReport
) -> bool:
    """Invariants of one bucket's runs against its cells; True when the runs have the expected shape."""
    epochs = np.asarray(m.counts["epochs"], dtype=np.int16)
    repeats = int(m.counts["repeats"])
    h = _fixed_strings(runs.column("module_hash"), 32)
    if h is None:
        h = np.array(runs.column("module_hash").to_pylist(), dtype="S32")
    e = runs.column("epochs").to_numpy()
    r = runs.column("repeat").to_numpy()
    # With the runs sorted by (hash, epochs, repeat), a complete dataset has
    # exactly this sequence; comparing with it checks every invariant at once.
    n = len(cell_hashes)
    complete = m.counts.get("complete", True) is not False
    want_h = np.repeat(cell_hashes, len(epochs) * repeats)
    want_e = np.tile(np.repeat(epochs, repeats), n)
    want_r = np.tile(np.arange(repeats, dtype=np.int8), n * len(epochs))
    if len(h) == len(want_h) and (h == want_h).all() and (e == want_e).all() and (r == want_r).all():
        return True
    # Something is off: say precisely what.
    orphans = np.unique(h[~np.isin(h, cell_hashes)])
    if len(orphans):
        report.add(
            INVARIANT, rel,
            f"{len(orphans):,} run hashes are not in the cells table: {_examples([x.decode() for x in orphans])}",
        )
    keys = list(zip(h.tolist(), e.tolist(), r.tolist()))
    if any(a >= b for a, b in itertools.pairwise(keys)):
        report.add(INVARIANT, rel, "rows are not sorted by (module_hash, epochs, repeat) or repeat a row")
    groups: dict[bytes, dict[int, list[int]]] = {}
    for hh, ee, rr in keys:
        groups.setdefault(hh, {}).setdefault(ee, []).append(rr)
    want_epochs = set(epochs.tolist())
    bad_epochs = [
        k.decode() for k, g in groups.items() if (set(g) != want_epochs if complete else not set(g) <= want_epochs)
    ]
    if bad_epochs:
        rule = f"every hash must have {sorted(want_epochs)}" if complete else f"budgets outside {sorted(want_epochs)}"
        report.add(
            INVARIANT, rel,
            f"{len(bad_epochs):,} hashes lack or add epoch budgets ({rule}): {_examples(bad_epochs)}",
        )
    bad_repeats = [
        f"{k.decode()}@{ee}"
        for k, g in groups.items()
        for ee, rs in g.items()
        if sorted(rs) != list(range(repeats if complete else len(rs))) or len(rs) > repeats
    ]
    if bad_repeats:
        rule = f"exactly repeats 0..{repeats - 1}" if complete else f"repeats 0..k-1 with k <= {repeats}"
        report.add(
            INVARIANT, rel,
            f"{len(bad_repeats):,} (hash, epochs) pairs do not have {rule}: {_examples(bad_repeats)}",
        )
    missing = [x.decode() for x in cell_hashes if x not in groups]
    if missing:
        report.add(INVARIANT, rel, f"{len(missing):,} cells have no runs: {_examples(missing)}")
    problems = bool(orphans.size or bad_epochs or bad_repeats or missing)
    unsorted = any(a >= b for a, b in itertools.pairwise(keys))
    if not complete and not problems and not unsorted:
        return True  # an incomplete dataset that keeps every rule it still has
    if not problems and not unsorted:
        report.add(INVARIANT, rel, "the runs do not follow the (module_hash, epochs, repeat) order of the layout")
    return False


def _check_index_slice(
    idx: _IndexView,
    cells,
    decoded: dict,
    runs,
    cell_hashes: np.ndarray,
    cell_off: int,
    run_off: int,
    bucket: str,
    report: VerifyReport,
) -> None:
    """The index rows of one bucket equal that bucket's Parquet rows."""
    a = idx.arrays
    n, k = len(cell_hashes), runs.num_rows
    cols = layout.INDEX_FILES
    where = f"bucket {bucket}, cell rows {cell_off:,}..{cell_off + n:,}"

    def fail(key: str, what: str) -> None:
        report.add(INDEX, f"{layout.INDEX_DIR}/{cols[key]}", f"{what} ({where}) differ from the Parquet tables")

    cs = slice(cell_off, cell_off + n)
    if not np.array_equal(a["cell_hash"][cs], cell_hashes):
        fail("cell_hash", "hashes")
    if not np.array_equal(a["cell_num_vertices"][cs], decoded["num_vertices"]):
        fail("cell_num_vertices", "vertex counts")
    if not np.array_equal(a["cell_params"][cs], cells.column("trainable_parameters").to_numpy()):
        fail("cell_params", "trainable parameters")
    if not np.array_equal(a["cell_adjacency"][cs], decoded["adjacency"]):
        fail("cell_adjacency", "adjacency matrices")
    if not np.array_equal(a["cell_ops"][cs], decoded["ops"]):
        fail("cell_ops", "op codes")
    rh = _fixed_strings(runs.column("module_hash"), 32)
    starts = run_off + np.searchsorted(rh, cell_hashes, side="left")
    if not np.array_equal(a["run_start"][cs], starts):
        fail("run_start", "run offsets")
    rs = slice(run_off, run_off + k)
    if not np.array_equal(a["run_epochs"][rs], runs.column("epochs").to_numpy()):
        fail("run_epochs", "run budgets")
    # Bitwise, one column at a time (bounded memory): the doubles must be the
    # ones stored, NaN payloads and -0.0 included.
    got = a["run_metrics"][rs]
    for j, name in enumerate(layout.INDEX_RUN_COLUMNS):
        want = runs.column(name).to_numpy()
        if not np.array_equal(np.ascontiguousarray(got[:, j]).view(np.uint64), want.view(np.uint64)):
            fail("run_metrics", f"run metrics ({name})")
            break


def _deep_checks(root: Path, m: Manifest, intact: set[str], report: VerifyReport) -> None:
    """Invariants and index consistency, bucket by bucket (bounded memory)."""
    index_rels = {f"{layout.INDEX_DIR}/{name}" for name in layout.INDEX_FILES.values()}
    idx = _IndexView(root) if index_rels <= intact else None
    cell_off = run_off = 0
    for bucket in layout.BUCKETS:
        c_rel, r_rel = layout.data_file(layout.CELLS_DIR, bucket), layout.data_file(layout.RUNS_DIR, bucket)
        has_c, has_r = c_rel in m.files, r_rel in m.files
        if not has_c and not has_r:
            continue
        if has_c != has_r:
            report.add(INVARIANT, c_rel if has_c else r_rel, f"bucket {bucket} has a {'cells' if has_c else 'runs'} file but no {'runs' if has_c else 'cells'} file")
        if not (has_c and has_r and c_rel in intact and r_rel in intact):
            idx = None  # offsets into the index are unknown past a damaged bucket
            continue
        try:
            cells, runs = _read_parquet(root / c_rel), _read_parquet(root / r_rel)
        except _DECODE_ERRORS as exc:  # intact checksums but undecodable: a converter bug
            report.add(UNREADABLE, c_rel, f"bucket {bucket} cannot be decoded ({type(exc).__name__}: {exc})")
            idx = None
            continue
        checked = _check_cells(cells, c_rel, bucket, report)
        if checked is None:
            idx = None
            continue
        hashes, decoded = checked
        if not _check_runs(runs, r_rel, hashes, m, report):
            idx = None
        if idx is not None:
            _check_index_slice(idx, cells, decoded, runs, hashes, cell_off, run_off, bucket, report)
        cell_off += len(hashes)
        run_off += runs.num_rows
    if idx is not None:
        a = idx.arrays
        if len(a["run_start"]) and int(a["run_start"][-1]) != run_off:
            report.add(
                INDEX, f"{layout.INDEX_DIR}/{layout.INDEX_FILES['run_start']}",
                f"last entry is {int(a['run_start'][-1]):,}, expected the number of runs {run_off:,}",
            )
        if cell_off == len(a["cell_canon"]):
            _check_canonical_index(a, report)


def _check_canonical_index(a: dict[str, np.ndarray], report: VerifyReport) -> None:
    """cell_canon / cell_canon_pos hold the sorted canonical keys of the (already checked) cell arrays."""
    keys = layout.canonical_keys_of_index(a["cell_adjacency"], a["cell_ops"], a["cell_num_vertices"])
    pos = np.asarray(a["cell_canon_pos"], dtype=np.int64)
    n = len(keys)
    rel = f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_canon_pos']}"
    if n and (pos.min() < 0 or pos.max() >= n or len(np.unique(pos)) != n):
        report.add(INDEX, rel, f"is not a permutation of the {n:,} cell rows")
        return
    canon = np.asarray(a["cell_canon"])
    if not np.array_equal(canon, keys[pos]):
        report.add(
            INDEX, f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_canon']}",
            "canonical keys differ from those of the cell arrays (recomputed)",
        )
    elif n > 1 and (canon[1:] < canon[:-1]).any():
        report.add(INDEX, f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_canon']}", "keys are not sorted ascending")


# --------------------------------------------------------------------------- entry points


def verify_dataset(
    root: str | os.PathLike,
    deep: bool = False,
    *,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """Check a converted dataset against its manifest and list every problem.

    Never raises for a damaged dataset: problems go into the report. Call
    :meth:`VerifyReport.raise_if_failed` to turn them into a typed error.

    Parameters
    ----------
    root : path
        Dataset directory written by ``nasbench-convert``.
    deep : bool, default False
        Also compare every file's SHA-256 with the manifest and check the data
        invariants and the query index against the Parquet tables (reads
        every byte: about 1 s per GB of dataset on one core with a warm cache).
    progress : callable, optional
        Called with a short status line before each stage (for a CLI).

    Returns
    -------
    VerifyReport
        ``report.ok`` is True when nothing was found wrong.
    """
    t0 = time.perf_counter()
    root = Path(root)
    report = VerifyReport(root=root, deep=deep)
    say = progress or (lambda _msg: None)
    m = _load_manifest(root, report)
    report.manifest = m
    if m is None:
        report.seconds = time.perf_counter() - t0
        return report
    say("checking the manifest")
    _unlisted_files(root, m, report)
    present = set()
    say(f"checking {len(m.files)} files")
    index_names = {f"{layout.INDEX_DIR}/{name}": key for key, name in layout.INDEX_FILES.items()}
    allowed = layout_files()
    for rel, info in m.files.items():
        if rel not in allowed:
            continue  # reported by the manifest validator; never opened
        path = root / rel
        report.files_checked += 1
        try:
            st = path.stat()
        except FileNotFoundError:
            report.add(MISSING_FILE, rel, "listed in the manifest but missing")
            continue
        except OSError as exc:
            report.add(UNREADABLE, rel, f"cannot be examined ({exc})")
            continue
        if not stat.S_ISREG(st.st_mode):
            # Never opened: a FIFO would block a reader, a device such as /dev/zero never ends.
            report.add(MISSING_FILE, rel, f"is {file_kind(st.st_mode)}, not a regular file")
            continue
        size = st.st_size
        present.add(rel)
        report.bytes_checked += size
        if size != info["size"]:
            report.add(SIZE, rel, f"has {size:,} bytes, the manifest says {info['size']:,}")
        table = rel.split("/", 1)[0]
        if table in _SCHEMAS and rel.endswith(".parquet"):
            _check_parquet_footer(path, rel, table, info, report)
        elif rel in index_names:
            _check_npy_header(path, rel, index_names[rel], m, info, report)
    if deep:
        say("hashing files (SHA-256)")
        bad = check_checksums(root, m, sorted(present))
        bad_paths = {p.path for p in bad}
        bad += [p for p in check_crc32c(root, m, sorted(present)) if p.path not in bad_paths]
        report.problems.extend(bad)
        # Decode only files whose bytes are the ones the converter wrote and whose
        # shape checks passed: damaged bytes are reported, never fed to a decoder.
        undecodable = {CHECKSUM, SIZE, UNREADABLE, MISSING_FILE, SCHEMA}
        damaged = {p.path for p in report.problems if p.path and p.kind in undecodable}
        intact = present - damaged
        say("checking invariants and the query index")
        _deep_checks(root, m, intact, report)
    report.seconds = time.perf_counter() - t0
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``nasbench-verify OUT_DIR [--deep] [--json]``: 0 when the dataset is intact, 1 otherwise.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Exit status: 0 intact, 1 problems found (each listed), 2 usage error.
    """
    parser = argparse.ArgumentParser(
        prog="nasbench-verify",
        description=(
            "Check a dataset written by nasbench-convert against its manifest. The default fast check "
            "reads the manifest, file sizes, Parquet footers and index headers; --deep also hashes every "
            "file (SHA-256) and checks the data invariants and the query index."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="dataset directory written by nasbench-convert")
    parser.add_argument("--deep", action="store_true", help="also check SHA-256 checksums and data invariants")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = verify_dataset(args.out_dir, deep=args.deep)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    print(report.summary())
    if report.ok:
        return 0
    for problem in report.problems:
        print(f"  - {problem}")
    print(report.fix())
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
