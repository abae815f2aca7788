"""The dataset manifest: what a converted dataset holds and how to check it.

``manifest.json`` at the dataset root is written last by the converter (after
every data file is complete) and read first by every reader. Its keys::

    format            "nasbench-arrow"
    format_version    int, see layout.FORMAT_VERSION
    converter_version package version that wrote it
    created           UTC time, ISO 8601
    source            {"name", "size" (bytes), "sha256", "published" (official name or null)}
    counts            {"records", "cells", "runs", "epochs" (sorted list), "repeats" (per cell and budget;
                      the most seen), "complete" (every cell has every budget x 3 repeats)}
    conversion        (written by nasbench-convert) seconds, phase_seconds, cpu_seconds, workers,
                      parts, fast_path_records, exact_path_records, allow_incomplete
    warnings          (only when there are some) e.g. an official-looking source whose checksum differs
    index             (only when there are some) {"canonical_duplicates": stored cells isomorphic to another
                      stored cell; readers then decide such specs by hashing}
    files             {relative POSIX path: {"rows", "size" (bytes), "sha256", "crc32c" (int, Castagnoli,
                      checked by readers: index files at open, a table's files at its first scan)}}
    schema            {"cells": [[name, type], ...], "runs": [[name, type], ...]}
"""

from __future__ import annotations

import json
import os
import stat as _stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import layout
from .constants import NUM_RECORDS_108, NUM_RECORDS_FULL, VALID_EPOCHS
from .errors import DatasetCorruptError, DatasetFormatError, DatasetNotFoundError

__all__ = [
    "COUNTS",
    "FORMAT_VERSION",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "NOT_A_DATASET",
    "NOT_FOUND",
    "SCHEMA",
    "UNEXPECTED_FILE",
    "Manifest",
    "Problem",
    "check_listed_files",
    "file_kind",
    "layout_files",
    "load_manifest",
    "open_regular",
    "parse_json",
    "parse_manifest",
    "raise_for_problems",
    "read_manifest",
    "schema_as_list",
    "validate_manifest",
]

# Problem kinds of the manifest (nasbench_arrow.verify adds those of the data files):
# stable strings, so scripts and tests can match on them.
NOT_FOUND = "not-found"  # the path does not exist
NOT_A_DATASET = "not-a-dataset"  # a file, or a directory without manifest.json
MANIFEST = "manifest"  # manifest.json unreadable, not JSON, keys or types wrong
FORMAT_VERSION = "format-version"  # another format, or a version this package cannot read
SCHEMA = "schema"  # columns/types or dtype/shape differ from the layout
UNEXPECTED_FILE = "unexpected-file"  # a file the manifest does not list, where readers look
COUNTS = "counts"  # manifest counts disagree with each other or with the files

#: A manifest is a few kilobytes (about 20 KB for the full dataset); anything far
#: larger is not one, and is refused before it is read into memory.
MAX_MANIFEST_BYTES = 16 << 20
# Deepest nesting a manifest has is 4 (schema -> table -> column -> [name, type]);
# a hostile file nested 100,000 deep must be a typed error, not a RecursionError.
_MAX_DEPTH = 32
# Counts, sizes and checksums are below 2**64 (20 digits); Python refuses to parse
# integers of more than 4,300 digits with a bare ValueError, so bound them first.
_MAX_INT_DIGITS = 20

_REQUIRED = ("format", "format_version", "converter_version", "created", "source", "counts", "files", "schema")
_TYPES = {"converter_version": str, "created": str, "source": dict, "counts": dict, "files": dict, "schema": dict}
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    Attributes
    ----------
    kind : str
        One of the kind constants (``"manifest"``, ``"size"``, ``"checksum"``, ...).
    path : str or None
        File relative to the dataset root (POSIX separators), or None for
        the dataset as a whole.
    message : str
        What was found, what was expected, and where relevant what to do.
    """

    kind: str
    path: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"[{self.kind}] {where}{self.message}"


def schema_as_list(schema) -> list[list[str]]:
    """A pyarrow schema as ``[[name, type string], ...]`` for the manifest."""
    return [[f.name, str(f.type)] for f in schema]


def layout_files() -> frozenset[str]:
    """Every relative path a dataset may list: the tables' bucket files and the index arrays.

    Readers and ``nasbench-verify`` accept nothing else in ``files``, so a
    manifest can never make them open a path outside the dataset
    (``../x``, ``/dev/zero``, ``cells/../../x``) or anything the layout does
    not define.
    """
    files = {layout.data_file(t, b) for t in (layout.CELLS_DIR, layout.RUNS_DIR) for b in layout.BUCKETS}
    files |= {f"{layout.INDEX_DIR}/{name}" for name in layout.INDEX_FILES.values()}
    return frozenset(files)


@dataclass
class Manifest:
    """Parsed ``manifest.json``.

    Attributes mirror the JSON keys listed in the module docstring.
    """

    format_version: int
    converter_version: str
    created: str
    source: dict[str, Any]
    counts: dict[str, Any]
    files: dict[str, dict[str, Any]]
    schema: dict[str, list[list[str]]]
    format: str = layout.FORMAT_NAME
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> tuple[int, ...]:
        """Budgets present in the dataset (sorted)."""
        return tuple(int(e) for e in self.counts["epochs"])

    def to_json(self) -> str:
        """Serialise with stable key order."""
        doc = {
            "format": self.format,
            "format_version": self.format_version,
            "converter_version": self.converter_version,
            "created": self.created,
            "source": self.source,
            "counts": self.counts,
            "files": self.files,
            "schema": self.schema,
        }
        doc.update(self.extra)
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"

    def write(self, root: str | os.PathLike) -> None:
        """Write ``manifest.json`` into ``root`` atomically (temp file, fsync, rename)."""
        path = Path(root) / layout.MANIFEST_NAME
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


# --------------------------------------------------------------------------- reading bytes


def open_regular(name: str | os.PathLike, *, dir_fd: int | None = None) -> int:
    """Open a file read-only and make sure it is a regular file; returns the descriptor.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for
    a writer, and the ``fstat`` of the opened descriptor (not a ``stat`` of
    the name, which could be swapped in between) refuses FIFOs, devices
    (``/dev/zero`` would stream zeros forever) and sockets.

    Raises
    ------
    OSError
        From ``open`` (FileNotFoundError, PermissionError, ...).
    IsADirectoryError
        A directory.
    ValueError
        Not a regular file; the message says what it is.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if _stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "is a directory", str(name))
        if not _stat.S_ISREG(mode):
            msg = f"is {file_kind(mode)}, not a regular file"
            raise ValueError(msg)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def file_kind(mode: int) -> str:
    """``"a FIFO"``, ``"a character device"``, ... for an ``st_mode``."""
    for test, name in (
        (_stat.S_ISFIFO, "a FIFO (named pipe)"),
        (_stat.S_ISCHR, "a character device"),
        (_stat.S_ISBLK, "a block device"),
        (_stat.S_ISSOCK, "a socket"),
        (_stat.S_ISDIR, "a directory"),
        (_stat.S_ISLNK, "a symbolic link"),
        (_stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read_manifest_bytes(root: Path, dir_fd: int | None) -> tuple[bytes | None, Problem | None]:
    """The bytes of ``manifest.json``, or the problem that prevents reading them."""
    where = layout.MANIFEST_NAME if dir_fd is not None else root / layout.MANIFEST_NAME
    try:
        fd = open_regular(where, dir_fd=dir_fd)
    except FileNotFoundError:
        return None, Problem(
            NOT_A_DATASET, layout.MANIFEST_NAME,
            "missing: this directory is not a nasbench-arrow dataset (the converter writes the manifest "
            "last, so an interrupted conversion never has one); convert with `nasbench-convert SOURCE OUT_DIR`",
        )
    except ValueError as exc:
        return None, Problem(MANIFEST, layout.MANIFEST_NAME, f"{exc}; a manifest is a small JSON file")
    except OSError as exc:
        return None, Problem(MANIFEST, layout.MANIFEST_NAME, f"cannot be read ({exc.strerror or exc})")
    try:
        size = os.fstat(fd).st_size
        if size > MAX_MANIFEST_BYTES:
            return None, Problem(
                MANIFEST, layout.MANIFEST_NAME,
                f"has {size:,} bytes; a manifest has a few kilobytes (at most {MAX_MANIFEST_BYTES:,} are read)",
            )
        chunks, total = [], 0
        while total <= MAX_MANIFEST_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        return None, Problem(MANIFEST, layout.MANIFEST_NAME, f"cannot be read ({exc.strerror or exc})")
    finally:
        os.close(fd)
    if total > MAX_MANIFEST_BYTES:
        return None, Problem(MANIFEST, layout.MANIFEST_NAME, f"grew past {MAX_MANIFEST_BYTES:,} bytes while read")
    return b"".join(chunks), None


class _Refused(ValueError):
    """A JSON value the manifest parser refuses (raised from the json hooks)."""


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        msg = f"an integer of {len(text):,} digits (counts, sizes and checksums have at most {_MAX_INT_DIGITS})"
        raise _Refused(msg)
    return int(text)


def _no_constant(name: str):
    msg = f"the non-standard JSON constant {name}"
    raise _Refused(msg)


def _depth_exceeds(doc: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` (iterative: no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_manifest(data: bytes) -> tuple[dict | None, list[Problem]]:
    """Decode manifest bytes to a JSON object; never raises for hostile input.

    Refused with a problem instead of an exception: bytes that are not UTF-8
    JSON, a value that is not an object, nesting deeper than 32 (where
    ``json`` would raise ``RecursionError``), integers of more than 20 digits
    (where ``int`` would raise ``ValueError`` past 4,300), and ``NaN`` /
    ``Infinity``.

    Returns
    -------
    doc : dict or None
        The object, or None when it cannot be used.
    problems : list of Problem
        Empty when ``doc`` is not None.
    """
    name = layout.MANIFEST_NAME
    try:
        doc = parse_json(data)
    except ValueError as exc:
        return None, [Problem(MANIFEST, name, f"{exc}; the manifest is damaged or not ours")]
    if not isinstance(doc, dict):
        return None, [Problem(MANIFEST, name, f"holds a JSON {_json_type(doc)}, expected an object")]
    return doc, []


def parse_json(data: bytes | str) -> Any:
    """``json.loads`` for metadata we did not necessarily write (manifests, Parquet key-value metadata).

    Raises
    ------
    ValueError
        With one line saying what was refused: not UTF-8 JSON, nesting
        deeper than 32 (instead of ``RecursionError``), an integer of more
        than 20 digits (instead of ``int``'s bare ``ValueError`` past 4,300
        digits), or ``NaN`` / ``Infinity``.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except _Refused as exc:
        msg = f"holds {exc}"
        raise ValueError(msg) from None
    except RecursionError:
        msg = f"nests JSON too deeply (at most {_MAX_DEPTH} levels)"
        raise ValueError(msg) from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        msg = f"cannot be parsed as UTF-8 JSON ({exc})"
        raise ValueError(msg) from None
    if _depth_exceeds(value, _MAX_DEPTH):
        msg = f"nests JSON too deeply (at most {_MAX_DEPTH} levels)"
        raise ValueError(msg)
    return value


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


# --------------------------------------------------------------------------- validation


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _bad_file_entry(rel: str, info: object) -> tuple[str, str] | None:
    """(kind, why) a ``files`` entry is unusable, or None."""
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel or "\0" in rel:
        return MANIFEST, "is not a relative path inside the dataset (never opened)"
    if not isinstance(info, dict):
        return MANIFEST, f"is a JSON {_json_type(info)}, expected an object with rows, size, sha256 and crc32c"
    for key in ("rows", "size"):
        if not _is_count(info.get(key)):
            return MANIFEST, f"has {key}={info.get(key)!r}, expected a non-negative integer"
    sha = info.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or not set(sha) <= _HEX:
        return MANIFEST, f"has sha256={sha!r}, expected 64 lowercase hex digits"
    if "crc32c" in info and not (_is_count(info["crc32c"]) and info["crc32c"] < 1 << 32):
        return MANIFEST, f"has crc32c={info['crc32c']!r}, expected an unsigned 32-bit integer"
    if rel not in layout_files():
        return UNEXPECTED_FILE, "listed in the manifest but not a file of the dataset layout (never opened)"
    return None


def validate_manifest(doc: dict) -> tuple[Manifest | None, list[Problem]]:
    """Check a parsed manifest against the layout and itself; list every problem.

    The one validator of the package: readers (:func:`read_manifest`,
    ``NASBench``) raise on any problem it returns, ``nasbench-verify`` reports
    them all. It checks the keys and their JSON types, the format name and
    version, ``counts`` (non-negative integers; sorted epochs from the
    budgets of NAS-Bench-101), every ``files`` entry (a path of the layout,
    never outside the dataset; integer rows and size; SHA-256 and CRC32C),
    and the consistency of counts, schema and file list.

    Parameters
    ----------
    doc : dict
        From :func:`parse_manifest`.

    Returns
    -------
    manifest : Manifest or None
        None when the keys are too broken to build one (the problems say why).
    problems : list of Problem
        Empty for a good manifest.
    """
    name = layout.MANIFEST_NAME
    fmt = doc.get("format")
    if fmt != layout.FORMAT_NAME:
        return None, [Problem(FORMAT_VERSION, name, f"describes format {fmt!r}, expected {layout.FORMAT_NAME!r}")]
    version = doc.get("format_version")
    if version != layout.FORMAT_VERSION or isinstance(version, bool):
        return None, [
            Problem(
                FORMAT_VERSION, name,
                f"format version {version!r}; this nasbench-arrow reads version {layout.FORMAT_VERSION} only: "
                "upgrade nasbench-arrow or reconvert the source tfrecord",
            )
        ]
    problems = []
    for key, typ in _TYPES.items():
        if key not in doc:
            problems.append(Problem(MANIFEST, name, f"lacks the key {key!r}"))
        elif not isinstance(doc[key], typ):
            problems.append(
                Problem(MANIFEST, name, f"{key!r} is a JSON {_json_type(doc[key])}, expected {_json_type(typ())}")
            )
    if problems:
        return None, problems
    counts = doc["counts"]
    for key in ("records", "cells", "runs", "repeats"):
        value = counts.get(key)
        if not _is_count(value):
            shown = "missing" if key not in counts else f"{value!r}"
            problems.append(Problem(MANIFEST, name, f"counts.{key} is {shown}, expected a non-negative integer"))
    epochs = counts.get("epochs")
    if (
        not isinstance(epochs, list)
        or not epochs
        # Any positive budget below 2**15 (the int16 epochs column): the converter
        # accepts datasets trained at other budgets (nasbench-train --epochs).
        or not all(_is_count(e) and 0 < e < 2**15 for e in epochs)
        or sorted(set(epochs)) != epochs
    ):
        shown = "missing" if "epochs" not in counts else f"{epochs!r}"
        problems.append(
            Problem(
                MANIFEST, name,
                f"counts.epochs is {shown}, expected a sorted, non-empty list of distinct budgets "
                f"(epochs, 1..32767; the official files have {list(VALID_EPOCHS)})",
            )
        )
    source = doc["source"]
    for key, ok, want in (
        ("name", lambda v: isinstance(v, str), "a string"),
        ("size", _is_count, "a non-negative integer"),
        ("sha256", lambda v: isinstance(v, str), "a string of hex digits"),
    ):
        if key in source and not ok(source[key]):
            problems.append(Problem(MANIFEST, name, f"source.{key} is {source[key]!r}, expected {want}"))
    if "complete" in counts and not isinstance(counts["complete"], bool):
        problems.append(Problem(MANIFEST, name, f"counts.complete is {counts['complete']!r}, expected true or false"))
    fatal = bool(problems)
    for rel, info in doc["files"].items():
        bad = _bad_file_entry(rel, info)
        if bad:
            kind, why = bad
            problems.append(Problem(kind, rel if kind == UNEXPECTED_FILE else name, why if kind == UNEXPECTED_FILE else f"files[{rel!r}] {why}"))
            fatal = fatal or kind == MANIFEST
        elif "crc32c" not in info:
            # Readers check the CRC32C at open (index) and first scan (tables): without it a
            # flipped byte would be served as a number, so its absence is damage, not a skipped check.
            problems.append(
                Problem(MANIFEST, name, f"files[{rel!r}] has no crc32c checksum (readers check it before serving the file)")
            )
    if fatal:
        return None, problems
    manifest = Manifest(
        format=fmt,
        format_version=version,
        converter_version=doc["converter_version"],
        created=doc["created"],
        source=doc["source"],
        counts=counts,
        files=doc["files"],
        schema=doc["schema"],
        extra={k: v for k, v in doc.items() if k not in _REQUIRED},
    )
    problems += _consistency_problems(manifest)
    return manifest, problems


def _consistency_problems(m: Manifest) -> list[Problem]:
    """Counts, schema and file list agree with each other and with the layout."""
    name = layout.MANIFEST_NAME
    problems = []
    c = m.counts
    cells, runs, records, repeats = c["cells"], c["runs"], c["records"], c["repeats"]
    if runs != records:
        problems.append(Problem(COUNTS, name, f"counts.runs={runs:,} but counts.records={records:,}; each record is one run"))
    expected_runs = cells * len(c["epochs"]) * repeats
    # A conversion with allow_incomplete=True records complete=false: cells may
    # lack budgets or repeats, so the product is an upper bound only.
    complete = c.get("complete", True) is not False
    if runs > expected_runs or (complete and runs != expected_runs):
        problems.append(
            Problem(
                COUNTS, name,
                f"counts.runs={runs:,}, expected cells x epochs x repeats = {cells:,} x {len(c['epochs'])} x {repeats} "
                f"= {expected_runs:,}",
            )
        )
    published = m.source.get("published")
    known = {"nasbench_full.tfrecord": NUM_RECORDS_FULL, "nasbench_only108.tfrecord": NUM_RECORDS_108}
    if isinstance(published, str) and published in known and records != known[published]:
        problems.append(
            Problem(
                COUNTS, name,
                f"source is the published {published} ({known[published]:,} records) but counts.records={records:,}",
            )
        )
    for table, schema in ((layout.CELLS_DIR, layout.CELLS_SCHEMA), (layout.RUNS_DIR, layout.RUNS_SCHEMA)):
        want = schema_as_list(schema)
        got = m.schema.get(table)
        if got != want:
            problems.append(Problem(SCHEMA, name, f"schema.{table} is {got!r}, the layout says {want!r}"))
    for index_name in layout.INDEX_FILES.values():
        rel = f"{layout.INDEX_DIR}/{index_name}"
        if rel not in m.files:
            problems.append(Problem(MANIFEST, name, f"does not list the index file {rel}"))
    for table, total in ((layout.CELLS_DIR, cells), (layout.RUNS_DIR, runs)):
        listed = sum(info["rows"] for rel, info in m.files.items() if rel.startswith(table + "/"))
        if listed != total:
            problems.append(
                Problem(COUNTS, name, f"the {table} files list {listed:,} rows in all but counts.{table}={total:,}")
            )
    return problems


# --------------------------------------------------------------------------- entry points


def load_manifest(root: str | os.PathLike, *, dir_fd: int | None = None) -> tuple[Manifest | None, list[Problem]]:
    """Read, parse and validate ``root/manifest.json``, listing every problem (never raises for bad data).

    Parameters
    ----------
    root : path
        Dataset directory (used for messages, and for reading unless ``dir_fd`` is given).
    dir_fd : int, optional
        An open descriptor of the dataset directory: the manifest is read
        relative to it, so it is the manifest of that very directory even if
        another one has been renamed to ``root`` since.

    Returns
    -------
    manifest : Manifest or None
    problems : list of Problem
    """
    data, problem = _read_manifest_bytes(Path(root), dir_fd)
    if problem is not None:
        return None, [problem]
    doc, problems = parse_manifest(data)
    if doc is None:
        return None, problems
    return validate_manifest(doc)


def raise_for_problems(root: str | os.PathLike, problems: list[Problem]) -> None:
    """Raise the typed error for manifest problems, naming every field; nothing when the list is empty.

    Raises
    ------
    DatasetFormatError
        For every kind of manifest problem (the manifest is damaged, edited or not ours).
    """
    if not problems:
        return
    first = problems[0]
    if first.kind == NOT_A_DATASET:
        msg = (
            f"{str(root)!r} is not a nasbench-arrow dataset: it has no {layout.MANIFEST_NAME} (an interrupted "
            "conversion never leaves one); convert with `nasbench-convert SOURCE OUT_DIR`"
        )
        raise DatasetFormatError(msg)
    if first.kind == FORMAT_VERSION and len(problems) == 1:
        raise DatasetFormatError(f"dataset {str(root)!r}: {first.path}: {first.message}")
    listed = "; ".join(str(p) for p in problems[:8])
    more = f"; ... ({len(problems) - 8} more)" if len(problems) > 8 else ""
    msg = (
        f"dataset {str(root)!r} has a manifest that cannot be trusted ({len(problems)} problem"
        f"{'s' * (len(problems) != 1)}): {listed}{more}. Run `nasbench-verify {root}` for the list; reconvert "
        f"the source (`nasbench-convert SOURCE {root} --overwrite`) or restore a good copy"
    )
    raise DatasetFormatError(msg)


def read_manifest(root: str | os.PathLike, *, dir_fd: int | None = None) -> Manifest:
    """Read and validate the manifest of a converted dataset.

    Parameters
    ----------
    root : path
        Dataset directory.
    dir_fd : int, optional
        Open descriptor of ``root``; everything is then read relative to it.

    Returns
    -------
    Manifest

    Raises
    ------
    DatasetNotFoundError
        ``root`` does not exist.
    DatasetFormatError
        ``root`` is not a directory, has no manifest, or the manifest is
        unreadable, not JSON, lacks or mistypes a field, lists a path outside
        the layout, lacks a checksum, or names another format or version
        (the message names each field; see :func:`validate_manifest`).
    DatasetCorruptError
        A file the manifest lists is missing, not a regular file, or has another size.
    """
    root = Path(root)
    if dir_fd is None:
        try:
            st = os.stat(root)
        except FileNotFoundError:
            msg = f"no dataset at {str(root)!r}: the path does not exist; convert a tfrecord with `nasbench-convert SOURCE {root}`"
            raise DatasetNotFoundError(msg) from None
        except OSError as exc:
            msg = f"{str(root)!r} cannot be examined ({exc.strerror or exc}); pass a dataset directory written by nasbench-convert"
            raise DatasetFormatError(msg) from exc
        if not _stat.S_ISDIR(st.st_mode):
            what = "a file" if _stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)
            msg = f"{str(root)!r} is {what}, not a converted dataset directory; pass the directory written by nasbench-convert (or an official .tfrecord)"
            raise DatasetFormatError(msg)
    manifest, problems = load_manifest(root, dir_fd=dir_fd)
    raise_for_problems(root, problems)
    check_listed_files(root, manifest, dir_fd=dir_fd)
    return manifest


def check_listed_files(root: Path, manifest: Manifest, *, dir_fd: int | None = None) -> None:
    """Every listed file exists as a regular file of the recorded size (``stat`` only, nothing opened).

    Raises
    ------
    DatasetCorruptError
        Naming the first file that is missing, not a regular file, or of another size.
    """
    for rel, info in manifest.files.items():
        try:
            st = os.stat(rel if dir_fd is not None else root / rel, dir_fd=dir_fd)
        except FileNotFoundError:
            msg = f"dataset {str(root)!r} is incomplete: {rel} is listed in the manifest but missing; run `nasbench-verify {root}` and reconvert"
            raise DatasetCorruptError(msg) from None
        except OSError as exc:
            msg = f"dataset {str(root)!r} is damaged: {rel} cannot be examined ({exc.strerror or exc}); run `nasbench-verify {root}`"
            raise DatasetCorruptError(msg) from exc
        if not _stat.S_ISREG(st.st_mode):
            msg = f"dataset {str(root)!r} is damaged: {rel} is {file_kind(st.st_mode)}, not a regular file; reconvert the dataset"
            raise DatasetCorruptError(msg)
        if st.st_size != info["size"]:
            msg = f"dataset {str(root)!r} is damaged: {rel} has {st.st_size} bytes, the manifest says {info['size']}; run `nasbench-verify {root}` and reconvert"
            raise DatasetCorruptError(msg)
