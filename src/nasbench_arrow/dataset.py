"""Reading a converted dataset: memory-mapped query index and Polars lazy scans.

Opening a dataset reads ``manifest.json``, checks the CRC32C of the
``index/*.npy`` files against it (streamed in 8 MB reads, about 30 ms for the
full dataset with a warm page cache, so a byte altered in place is refused
rather than returned as a number; ``verify="none"`` skips it), and maps them
(``np.load(mmap_mode="r")``): the operating system pages in the few kilobytes
a query touches, so the resident memory stays small (single rows of the
largest array, ``run_metrics``, are read with ``os.pread`` so random queries
do not leave it resident). Parquet is only read when a lazy frame is
collected; the footers and the CRC32C of a table's files are checked when the
first lazy frame of that table is asked for, and Polars is only imported then.

A dataset replaced while it is being opened (``nasbench-convert --overwrite``
renames a new directory in) is detected by the directory's identity and
opened again, so a manifest is never paired with another dataset's index.
Lazy frames scan by path: collected after such a replacement, they read the
new files.

Names follow Polars: ``scan_*`` return a ``pl.LazyFrame``.

Example
-------
>>> from nasbench_arrow import dataset                          # doctest: +SKIP
>>> ds = dataset.open_dataset("nasbench_full/")                 # doctest: +SKIP
>>> row = ds.index.find("28cfc7874f6d200472e1a9dcd8650aa0")     # doctest: +SKIP
>>> lf = dataset.filter_hashes(ds.scan_runs(), ["28cfc7874f6d200472e1a9dcd8650aa0"])  # doctest: +SKIP
>>> lf.collect()                                                # one bucket file opened  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import layout
from .errors import (
    DatasetCorruptError,
    DatasetError,
    DatasetExistsError,
    DatasetFormatError,
    DatasetNotFoundError,
)
from .manifest import Manifest, read_manifest

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = [
    "CACHE_ENV",
    "CACHE_SUFFIX",
    "VERIFY_MODES",
    "Dataset",
    "QueryIndex",
    "filter_hashes",
    "is_openable",
    "open_dataset",
    "resolve_dataset",
    "scan_cells",
    "scan_runs",
]

#: Environment variable naming the directory where converted copies of
#: ``.tfrecord`` files are kept when the file's own directory is not writable.
CACHE_ENV = "NASBENCH_ARROW_CACHE"
#: A tfrecord ``X.tfrecord`` is converted into ``X.tfrecord.nasbench-arrow/`` beside it.
CACHE_SUFFIX = ".nasbench-arrow"
# Written into a cached conversion: size and mtime of the source it came from,
# so a later open can reuse the cache without hashing gigabytes.
_SOURCE_MARKER = "source-stat.json"

# dtype and shape (in terms of the manifest's cell/run counts) of each index file.
_INDEX_SPEC: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "cell_hash": ("|S32", ("cells",)),
    "cell_num_vertices": ("|i1", ("cells",)),
    "cell_adjacency": ("|i1", ("cells", 7, 7)),
    "cell_ops": ("|u1", ("cells", 7)),
    "cell_params": ("<i4", ("cells",)),
    "run_start": ("<i8", ("cells+1",)),
    "run_epochs": ("<i2", ("runs",)),
    "run_metrics": ("<f8", ("runs", len(layout.INDEX_RUN_COLUMNS))),
    "cell_canon": ("<i8", ("cells",)),
    "cell_canon_pos": ("<i4", ("cells",)),
}

#: What ``open_dataset(verify=...)`` / ``NASBench(verify=...)`` accept.
VERIFY_MODES = ("index", "deep", "none")

_PARQUET_MAGIC = b"PAR1"
_OPEN_ATTEMPTS = 5

_OP_NAMES = layout.OP_CODES
# Index arrays whose single rows are read with os.pread rather than through the mapping.
_PREAD = ("run_metrics",)
_RUN_ROW = struct.Struct(f"<{len(layout.INDEX_RUN_COLUMNS)}d")


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


# ---------------------------------------------------------------------------
# The memory-mapped query index
# ---------------------------------------------------------------------------


class QueryIndex:
    """The ``index/*.npy`` arrays of a dataset, memory-mapped.

    Cells are ordered by module hash; runs by (module hash, epochs, repeat), so
    the runs of cell ``i`` are rows ``run_start[i]:run_start[i + 1]``.

    Parameters
    ----------
    root : path
        Dataset directory.
    manifest : Manifest
        Its manifest, already read; gives the expected cell and run counts.

    Raises
    ------
    DatasetCorruptError
        An index file is missing, unreadable, or has another dtype or shape
        than the manifest's counts imply.

    Attributes
    ----------
    num_cells, num_runs : int
    cell_hash : np.ndarray
        ``(num_cells,)`` ``|S32`` ASCII hex hashes, sorted.
    cell_num_vertices, cell_adjacency, cell_ops, cell_params : np.ndarray
        See ``layout.INDEX_FILES``.
    run_start, run_epochs, run_metrics : np.ndarray
        See ``layout.INDEX_FILES``; ``run_metrics`` columns are
        ``layout.INDEX_RUN_COLUMNS`` (seconds and fractions 0-1).
    """

    def __init__(self, root: str | os.PathLike, manifest: Manifest):
        root = Path(root)
        counts = manifest.counts
        try:
            num_cells = int(counts["cells"])
            num_runs = int(counts["runs"])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"manifest of {str(root)!r} lacks integer counts 'cells'/'runs' ({exc!r}); reconvert the dataset"
            raise DatasetFormatError(msg) from exc
        self.root = root
        self.num_cells = num_cells
        self.num_runs = num_runs
        self._files: dict[str, tuple[int, int]] = {}  # name -> (file descriptor, data offset)
        fds: list[int] = []
        self._finalizer = weakref.finalize(self, _close_all, fds)
        sizes = {"cells": num_cells, "cells+1": num_cells + 1, "runs": num_runs}
        for name, (dtype, shape_spec) in _INDEX_SPEC.items():
            path = root / layout.INDEX_DIR / layout.INDEX_FILES[name]
            expected_shape = tuple(sizes[s] if isinstance(s, str) else s for s in shape_spec)
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                msg = f"dataset {str(root)!r} is incomplete: index file {path.name} is missing; reconvert the dataset"
                raise DatasetCorruptError(msg) from None
            except (ValueError, OSError, EOFError) as exc:
                msg = f"dataset {str(root)!r} is damaged: index file {path.name} cannot be read ({exc}); reconvert the dataset"
                raise DatasetCorruptError(msg) from exc
            if array.dtype != np.dtype(dtype) or array.shape != expected_shape:
                msg = (
                    f"dataset {str(root)!r} is damaged: index file {path.name} holds {array.dtype.str} "
                    f"{array.shape}, expected {np.dtype(dtype).str} {expected_shape} for the manifest's "
                    f"{num_cells} cells and {num_runs} runs; reconvert the dataset"
                )
                raise DatasetCorruptError(msg)
            # A plain ndarray view of the memmap: same pages, without np.memmap's
            # per-slice Python overhead.
            setattr(self, name, np.asarray(array))
            if name in _PREAD:
                # Single rows of the largest array (325 MB for the full dataset) are
                # read with os.pread: a page fault on a mapping maps its neighbours
                # too (fault-around), so 10,000 random queries through the mapping
                # would leave most of the file resident. The arrays read through the
                # mapping are 13-20 MB at most.
                fds.append(os.open(path, os.O_RDONLY))
                self._files[name] = (fds[-1], int(array.offset))
        bounds = self.run_start[[0, -1]].tolist()
        if bounds != [0, num_runs]:
            msg = (
                f"dataset {str(root)!r} is damaged: index file {layout.INDEX_FILES['run_start']} spans runs "
                f"{bounds[0]}..{bounds[1]}, expected 0..{num_runs}; reconvert the dataset"
            )
            raise DatasetCorruptError(msg)

    # -- cells ---------------------------------------------------------------

    def find(self, module_hash: str) -> int | None:
        """Row of a module hash, or None when the dataset does not hold it.

        Parameters
        ----------
        module_hash : str
            32 lowercase hex digits.

        Returns
        -------
        int or None
        """
        if not isinstance(module_hash, str) or len(module_hash) != 32:
            return None
        try:
            key = module_hash.encode("ascii")
        except UnicodeEncodeError:
            return None
        hashes = self.cell_hash
        i = int(hashes.searchsorted(key))
        if i < self.num_cells and hashes[i] == key:
            return i
        return None

    def find_many(self, hashes: Any) -> tuple[np.ndarray, np.ndarray]:
        """Rows of many hashes at once.

        Parameters
        ----------
        hashes : sequence of str, or array of str/bytes
            Module hashes.

        Returns
        -------
        rows : np.ndarray of int64
            Row of each hash (0 where not found).
        found : np.ndarray of bool
            Whether each hash is in the dataset.
        """
        keys = _as_hash_bytes(hashes)
        n = self.num_cells
        if n == 0 or keys.size == 0:
            return np.zeros(keys.shape, np.int64), np.zeros(keys.shape, bool)
        rows = self.cell_hash.searchsorted(keys)
        clipped = np.minimum(rows, n - 1)
        found = (rows < n) & (self.cell_hash[clipped] == keys)
        return np.where(found, clipped, 0).astype(np.int64), found

    def find_canonical(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of cells by canonical isomorphism key (:func:`layout.canonical_keys`).

        Parameters
        ----------
        keys : np.ndarray of int64
            Keys of pruned valid specs.

        Returns
        -------
        rows : np.ndarray of int64
            Row of each key's cell (0 where not found).
        found : np.ndarray of bool
            Whether exactly one stored cell has the key.
        shared : np.ndarray of bool
            Whether several stored cells have it (isomorphic cells stored under
            different hashes; never in the official files): the caller must
            decide by hashing.
        """
        keys = np.asarray(keys, dtype=np.int64)
        n = self.num_cells
        if n == 0 or keys.size == 0:
            none = np.zeros(keys.shape, bool)
            return np.zeros(keys.shape, np.int64), none, none.copy()
        canon = self.cell_canon
        at = canon.searchsorted(keys)
        clipped = np.minimum(at, n - 1)
        # -1 marks matrices and stored cells outside the key's domain: never a match.
        hit = (at < n) & (canon[clipped] == keys) & (keys >= 0)
        after = np.minimum(clipped + 1, n - 1)
        shared = hit & (after != clipped) & (canon[after] == keys)
        found = hit & ~shared
        rows = np.where(found, self.cell_canon_pos[clipped], 0).astype(np.int64)
        return rows, found, shared

    def hash_at(self, row: int) -> str:
        """Module hash of a cell row."""
        return self.cell_hash[row].decode("ascii")

    def _pread(self, name: str, size: int, position: int) -> bytes:
        fd, offset = self._files[name]
        return os.pread(fd, size, offset + position)

    def cell(self, row: int) -> tuple[np.ndarray, list[str], int]:
        """A cell as stored: ``(matrix, ops, trainable parameters)``.

        ``matrix`` is a fresh ``(V, V)`` int8 array, ``ops`` a fresh list of
        labels, input to output.
        """
        v = int(self.cell_num_vertices[row])
        matrix = np.array(self.cell_adjacency[row, :v, :v])
        ops = [_OP_NAMES[c] for c in self.cell_ops[row, :v].tolist()]
        return matrix, ops, int(self.cell_params[row])

    def matrix(self, row: int) -> np.ndarray:
        """Adjacency of a cell as stored (a fresh ``(V, V)`` int8 array)."""
        return self.cell(row)[0]

    def operations(self, row: int) -> list[str]:
        """Operation labels of a cell as stored, input to output."""
        return self.cell(row)[1]

    def parameters(self, row: int) -> int:
        """Trainable parameters of a cell."""
        return self.cell(row)[2]

    # -- runs ----------------------------------------------------------------

    def runs_of(self, row: int) -> tuple[int, int]:
        """``(start, stop)`` run rows of a cell."""
        start, stop = self.run_start[row : row + 2].tolist()
        return start, stop

    def run_budgets(self, start: int, stop: int) -> list[int]:
        """Budget (epochs) of runs ``start:stop``."""
        return self.run_epochs[start:stop].tolist()

    def run_values(self, run: int) -> tuple[float, ...]:
        """The ``layout.INDEX_RUN_COLUMNS`` of one run (seconds, fractions 0-1)."""
        return _RUN_ROW.unpack(self._pread("run_metrics", _RUN_ROW.size, run * _RUN_ROW.size))

    def run_block(self, start: int, stop: int) -> list[tuple[float, ...]]:
        """:meth:`run_values` of runs ``start:stop``."""
        size = _RUN_ROW.size
        return list(_RUN_ROW.iter_unpack(self._pread("run_metrics", size * (stop - start), size * start)))

    def close(self) -> None:
        """Close the file descriptors (the mappings stay valid until the arrays are freed)."""
        self._finalizer()

    def budget_runs(self, rows: np.ndarray, epochs: int) -> tuple[np.ndarray, np.ndarray]:
        """First run row and number of repeats of some cells at one budget.

        Looks only at the runs of the given cells (a few per cell), so the
        cost grows with ``len(rows)``, not with the dataset.

        Parameters
        ----------
        rows : np.ndarray of int
            Cell rows.
        epochs : int
            Budget.

        Returns
        -------
        first : np.ndarray of int64
            Run row of repeat 0 at that budget (meaningless where ``count`` is 0).
        count : np.ndarray of int64
            Repeats of each cell at that budget (0 when none).
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts = self.run_start[rows]
        stops = self.run_start[rows + 1]
        width = int((stops - starts).max()) if rows.size else 0
        if width == 0:
            return starts.astype(np.int64), np.zeros(rows.shape, np.int64)
        positions = starts[:, None] + np.arange(width)[None, :]
        inside = positions < stops[:, None]
        budgets = self.run_epochs[np.where(inside, positions, 0)]
        # Runs are sorted by (hash, epochs, repeat): the first match is repeat 0.
        match = inside & (budgets == epochs)
        return starts + match.argmax(axis=1), match.sum(axis=1).astype(np.int64)

    def source_order(self) -> tuple[np.ndarray, list[int]]:
        """Cells and budgets in the order the source file first lists them.

        The original loader filled its dicts while reading the file, so
        ``hash_iterator()`` and the printed set of valid epochs follow file
        order. This reads the ``record_index`` column of the runs table once
        (about 40 MB for the full dataset) to recover that order.

        Returns
        -------
        cell_rows : np.ndarray of int64
            Cell rows in order of their first record.
        epochs : list of int
            Budgets in order of their first record.
        """
        record_index = _read_record_index(self.root, self.num_runs)
        if self.num_cells == 0:
            return np.zeros(0, np.int64), []
        first_record = np.minimum.reduceat(record_index, self.run_start[:-1])
        order = np.argsort(first_record, kind="stable")
        budgets = {int(e): int(record_index[self.run_epochs == e].min()) for e in np.unique(self.run_epochs)}
        return order.astype(np.int64), sorted(budgets, key=budgets.__getitem__)


def _as_hash_bytes(hashes: Any) -> np.ndarray:
    """Normalise hashes (str/bytes sequence or array, Polars/pandas series) to ``|S32``.

    Anything that is not 32 ASCII characters becomes a key that matches nothing.
    """
    if hasattr(hashes, "to_numpy"):  # Polars or pandas Series
        hashes = hashes.to_numpy()
    arr = np.asarray(hashes)
    if arr.dtype.kind == "S" and arr.dtype.itemsize == 32:
        return arr.reshape(-1)
    arr = arr.reshape(-1)
    out = np.empty(arr.shape, dtype="|S32")
    if arr.dtype.kind == "U" and arr.dtype.itemsize == 128:  # exactly <U32: vectorised
        try:
            return arr.astype("|S32")
        except UnicodeEncodeError:  # non-ASCII: the loop below marks it
            pass
    for i, h in enumerate(arr.tolist()):
        if isinstance(h, str) and len(h) == 32 and h.isascii():
            out[i] = h.encode("ascii")
        elif isinstance(h, bytes) and len(h) == 32:
            out[i] = h
        else:
            out[i] = b"!" * 32  # sorts before every hex digit: never found
    return out


def _read_record_index(root: Path, num_runs: int) -> np.ndarray:
    """The runs table's ``record_index`` column in run order (bucket by bucket)."""
    import pyarrow.parquet as pq

    parts = []
    for bucket in layout.BUCKETS:
        path = root / layout.data_file(layout.RUNS_DIR, bucket)
        if not path.exists():
            continue
        try:
            column = pq.read_table(path, columns=["record_index"], page_checksum_verification=True).column(0)
        except Exception as exc:  # pyarrow raises several types for damaged files
            msg = f"dataset {str(root)!r} is damaged: {path.relative_to(root)} cannot be read ({exc}); reconvert the dataset"
            raise DatasetCorruptError(msg) from exc
        parts.append(column.to_numpy())
    record_index = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if record_index.size != num_runs:
        msg = f"dataset {str(root)!r} is damaged: the runs table has {record_index.size} rows, the index {num_runs}; reconvert the dataset"
        raise DatasetCorruptError(msg)
    return record_index.astype(np.int64, copy=False)


# ---------------------------------------------------------------------------
# Lazy frames
# ---------------------------------------------------------------------------


def _table_files(root: Path, table: str, *, check_footers: bool = True) -> list[Path]:
    """The table's Parquet files; with ``check_footers``, each footer parsed (about 1 ms a file).

    A damaged footer would otherwise surface only when a lazy frame is
    collected, as an untyped Polars error.
    """
    files = [root / layout.data_file(table, b) for b in layout.BUCKETS]
    files = [f for f in files if f.exists()]
    if not files:
        msg = f"dataset {str(root)!r} has no {table} files; reconvert the dataset"
        raise DatasetCorruptError(msg)
    if check_footers:
        import pyarrow.parquet as pq

        for f in files:
            try:
                pq.read_metadata(f)
            except Exception as exc:  # pyarrow raises several types for damaged files
                msg = (
                    f"dataset {str(root)!r} is damaged: {f.relative_to(root).as_posix()} has an unreadable "
                    f"Parquet footer ({exc}); run `nasbench-verify {root}` and reconvert"
                )
                raise DatasetCorruptError(msg) from exc
    return files


# (dataset directory, its identity, table) whose files' CRC32C matched the manifest
# in this process: each table is checked once, when its first lazy frame is made.
_TABLES_CHECKED: set[tuple] = set()


def _check_table_crc(root: Path, table: str, manifest: Manifest | None = None) -> None:
    """CRC32C of a table's Parquet files against the manifest, once per process and dataset.

    Polars decodes a Parquet page with a flipped byte into other numbers
    without an error (it does not check page checksums), so a lazy frame is
    only handed out over files whose bytes are the converter's. About 60 ms
    per GB with a warm page cache.
    """
    key = (str(root), _identity(root), table)
    if key in _TABLES_CHECKED:
        return
    if manifest is None:
        manifest = read_manifest(root)
    rels = [rel for rel in manifest.files if rel.startswith(table + "/")]
    _raise_if_crc_differs(root, manifest, rels, f"the {table} table would give wrong values")
    _TABLES_CHECKED.add(key)


def _raise_if_crc_differs(root: Path, manifest: Manifest, rels: list[str], consequence: str) -> None:
    """DatasetCorruptError naming every listed file whose CRC32C differs from the manifest's."""
    from .verify import check_crc32c

    problems = check_crc32c(root, manifest, rels)
    if problems:
        listed = "; ".join(f"{p.path}: {p.message}" for p in problems)
        msg = (
            f"dataset {str(root)!r} is damaged ({consequence}): {listed}. Run `nasbench-verify {root} --deep` "
            f"to list every problem, then reconvert it (`nasbench-convert SOURCE {root} --overwrite`) "
            f"or restore a good copy"
        )
        raise DatasetCorruptError(msg)


def _scan(
    root: Path, table: str, *, check_footers: bool = True, manifest: Manifest | None = None, check_crc: bool = True
) -> pl.LazyFrame:
    import polars as pl

    files = _table_files(root, table, check_footers=check_footers)
    if check_crc:
        _check_table_crc(root, table, manifest)
    return pl.scan_parquet(
        [str(f) for f in files],
        hive_partitioning=True,
        # Bucket values "0".."f" must stay strings, not be parsed as numbers or dates.
        hive_schema={layout.BUCKET_COLUMN: pl.String},
        try_parse_hive_dates=False,
    )


def scan_cells(root: str | os.PathLike) -> pl.LazyFrame:
    """Lazy frame over the cells table: one row per unique cell.

    Columns: ``module_hash`` (str), ``num_vertices`` (i8), ``num_edges`` (i8),
    ``adjacency`` (str of V*V 0/1 digits, row-major, as stored),
    ``operations`` (list of str), ``trainable_parameters`` (i32), and the hive
    partition ``bucket`` (str, first hex digit of the hash).

    Parameters
    ----------
    root : path
        Dataset directory.

    Raises
    ------
    DatasetCorruptError
        A file of the table is missing, has a damaged Parquet footer, or
        (checked on the first scan of the table in a process) other bytes than
        the converter wrote (CRC32C against the manifest).
    """
    return _scan(Path(root), layout.CELLS_DIR)


def scan_runs(root: str | os.PathLike) -> pl.LazyFrame:
    """Lazy frame over the runs table: one row per training run.

    Columns: ``module_hash``, ``epochs`` (i16: 4, 12, 36, 108), ``repeat``
    (i8, 0-based in source order), ``{stage}_{metric}`` (f64) for the stages
    ``start``, ``halfway``, ``final`` and the metrics ``current_epoch``,
    ``training_time`` (seconds), ``train_accuracy``, ``validation_accuracy``,
    ``test_accuracy`` (fractions 0-1), ``total_time`` (seconds, training and
    evaluation), ``record_index`` (i64, position in the source file) and the hive
    partition ``bucket``.

    Parameters
    ----------
    root : path
        Dataset directory.

    Raises
    ------
    DatasetCorruptError
        A file of the table is missing, has a damaged Parquet footer, or
        (checked on the first scan of the table in a process) other bytes than
        the converter wrote (CRC32C against the manifest).
    """
    return _scan(Path(root), layout.RUNS_DIR)


def filter_hashes(lf: pl.LazyFrame, hashes: str | Iterable[str]) -> pl.LazyFrame:
    """Keep the rows of some module hashes, reading only their buckets.

    Polars cannot infer the partition from a predicate on ``module_hash``; this
    adds the equivalent predicate on the ``bucket`` column, which prunes whole
    files before any is opened, and the hash predicate, which Parquet row-group
    statistics push down inside the remaining files.

    Parameters
    ----------
    lf : pl.LazyFrame
        From :func:`scan_cells` or :func:`scan_runs` (or ``NASBench.cells()`` / ``.runs()``).
    hashes : str or iterable of str
        Module hashes.

    Returns
    -------
    pl.LazyFrame
    """
    import polars as pl

    if isinstance(hashes, str):
        hashes = [hashes]
    hashes = [str(h) for h in hashes]
    buckets = sorted({layout.bucket_of(h) for h in hashes if h})
    return lf.filter(
        pl.col(layout.BUCKET_COLUMN).is_in(buckets) & pl.col("module_hash").is_in(hashes)
    )


# ---------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------


class Dataset:
    """An opened, converted dataset: its manifest, index and lazy tables.

    Use :func:`open_dataset` to make one.

    Attributes
    ----------
    root : Path
    manifest : Manifest
    index : QueryIndex
    """

    def __init__(self, root: Path, manifest: Manifest, index: QueryIndex, *, verify: str = "index"):
        self.root = root
        self.manifest = manifest
        self.index = index
        #: The ``verify`` mode it was opened with; "none" also skips the CRC32C of the tables at the first scan.
        self.verify = verify

    @property
    def epochs(self) -> tuple[int, ...]:
        """Budgets present (sorted)."""
        return self.manifest.epochs

    def scan_cells(self) -> pl.LazyFrame:
        """See :func:`scan_cells` (footers and CRC32C are checked on the first call only)."""
        return self._scan(layout.CELLS_DIR)

    def scan_runs(self) -> pl.LazyFrame:
        """See :func:`scan_runs` (footers and CRC32C are checked on the first call only)."""
        return self._scan(layout.RUNS_DIR)

    def _scan(self, table: str) -> pl.LazyFrame:
        checked = self.__dict__.setdefault("_footers_checked", set())
        first = table not in checked
        lf = _scan(
            self.root,
            table,
            check_footers=first,
            manifest=self.manifest,
            check_crc=first and self.verify != "none",
        )
        checked.add(table)
        return lf

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, cells={self.index.num_cells}, runs={self.index.num_runs}, epochs={list(self.epochs)})"


def _check_parquet_files(root: Path, manifest: Manifest) -> None:
    """Cheap integrity check of every Parquet file: magic bytes at both ends.

    Catches truncation and files replaced by something else without reading
    data; a flipped byte inside a file is caught by the CRC32C checks (index at
    open, tables at their first scan) or ``nasbench-verify --deep``.
    """
    for rel in manifest.files:
        if not rel.endswith(".parquet"):
            continue
        path = root / rel
        try:
            with open(path, "rb") as f:
                head = f.read(4)
                f.seek(-4, os.SEEK_END)
                tail = f.read(4)
        except OSError as exc:
            msg = f"dataset {str(root)!r} is damaged: {rel} cannot be read ({exc}); reconvert the dataset"
            raise DatasetCorruptError(msg) from exc
        if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
            msg = f"dataset {str(root)!r} is damaged: {rel} is not a Parquet file (bad magic bytes); reconvert the dataset"
            raise DatasetCorruptError(msg)


def _verify_mode(verify: Any) -> str:
    """Normalise a ``verify`` argument to one of :data:`VERIFY_MODES`."""
    if verify is True:
        return "deep"
    if verify is False or verify is None:
        return "none"
    if isinstance(verify, str) and verify in VERIFY_MODES:
        return verify
    msg = f"verify must be 'index' (default), 'deep' (or True) or 'none' (or False), got {verify!r}"
    raise ValueError(msg)


def is_openable(root: str | os.PathLike) -> bool:
    """Whether ``root`` is a dataset this version opens (the default checks pass).

    For tools that keep a derived dataset of their own (the demo, benchmarks):
    anything else (missing, damaged, written by an older converter) is theirs to
    rebuild.

    Parameters
    ----------
    root : path
        Dataset directory.

    Returns
    -------
    bool
    """
    try:
        open_dataset(root)
    except DatasetError:
        return False
    return True


def open_dataset(
    path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    verify: bool | str = "index",
) -> Dataset:
    """Open a converted dataset, converting an official ``.tfrecord`` first if given one.

    Parameters
    ----------
    path : path
        A dataset directory written by ``nasbench-convert``, its
        ``manifest.json``, or a ``.tfrecord`` in the official format (see
        :func:`resolve_dataset` for where its conversion is cached).
    cache_dir : path, optional
        Where to keep the conversion of a ``.tfrecord``.
    verify : {"index", "deep", "none"} or bool, default "index"
        How much to check beyond the manifest, file sizes and headers (always
        checked). ``"index"``: the CRC32C of every query index file against
        the manifest (about 30 ms for the full dataset's 380 MB with a warm
        page cache), so a byte altered in place never turns into wrong query
        results; the Parquet files of a table get the same check when its
        first lazy frame is made. ``"deep"`` or True: everything
        ``nasbench-verify --deep`` checks (SHA-256 of every file, data
        invariants, index against tables; seconds). ``"none"`` or False: no
        content checks at all, for those who verified the copy themselves.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetNotFoundError
        The path does not exist.
    DatasetFormatError
        Not a dataset, or a format version this package does not read.
    DatasetCorruptError
        A data or index file is missing or damaged (the message names it and
        says what to do).
    ValueError
        ``verify`` is not one of the accepted values.
    """
    mode = _verify_mode(verify)
    root = resolve_dataset(path, cache_dir=cache_dir)
    if mode == "deep":
        from .verify import verify_dataset

        verify_dataset(root, deep=True).raise_if_failed()
    # A dataset replaced while being opened (nasbench-convert --overwrite renames a
    # new directory in) could pair the old manifest with the new index files. The
    # directory's identity before reading and after mapping tells; then open again.
    for _ in range(_OPEN_ATTEMPTS):
        before = _identity(root)
        try:
            manifest = read_manifest(root)
            _check_parquet_files(root, manifest)
            index = QueryIndex(root, manifest)  # headers, dtypes and shapes: the more specific messages
            if mode == "index":
                index_files = {f"{layout.INDEX_DIR}/{name}" for name in layout.INDEX_FILES.values()}
                rels = [rel for rel in manifest.files if rel in index_files]
                try:
                    _raise_if_crc_differs(root, manifest, rels, "queries would return wrong values")
                except DatasetError:
                    index.close()
                    raise
        except DatasetError:
            if _identity(root) == before:
                raise
            continue
        if _identity(root) == before:
            return Dataset(root, manifest, index, verify=mode)
        index.close()
    msg = (
        f"dataset {str(root)!r} was replaced {_OPEN_ATTEMPTS} times while being opened "
        f"(another process is converting into it); open it once that has finished"
    )
    raise DatasetCorruptError(msg)


def _identity(root: Path) -> tuple[int, int] | None:
    """(device, inode) of a directory; None when it is absent (mid-replacement)."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _cache_root_for(source: Path, cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        base = Path(cache_dir)
    else:
        beside = source.with_name(source.name + CACHE_SUFFIX)
        if os.access(source.parent, os.W_OK) or (beside / layout.MANIFEST_NAME).is_file():
            return beside
        env = os.environ.get(CACHE_ENV)
        base = Path(env) if env else Path.home() / ".cache" / "nasbench-arrow"
    key = hashlib.sha256(str(source.resolve()).encode("utf-8")).hexdigest()[:16]
    return base / f"{source.name}-{key}"


def _source_stat(source: Path) -> dict[str, int]:
    st = source.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cache_is_current(root: Path, source: Path) -> bool:
    """Whether a cached conversion was made from this very file.

    Fast path: the size and mtime recorded at conversion match. Otherwise the
    source's SHA-256 is compared with the manifest's (slow, once; the marker is
    then refreshed).
    """
    try:
        manifest = read_manifest(root)
    except (DatasetFormatError, DatasetCorruptError, DatasetNotFoundError):
        return False
    # A cache written by an older converter lacks index files this version reads:
    # it is ours to rebuild, not an error to show the user.
    if any(f"{layout.INDEX_DIR}/{name}" not in manifest.files for name in layout.INDEX_FILES.values()):
        return False
    stat = _source_stat(source)
    if manifest.source.get("size") != stat["size"]:
        return False
    marker = root / _SOURCE_MARKER
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == stat:
            return True
    except (OSError, ValueError):
        pass
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    if digest.hexdigest() != manifest.source.get("sha256"):
        return False
    _write_marker(root, stat)
    return True


def _write_marker(root: Path, stat: dict[str, int]) -> None:
    try:
        (root / _SOURCE_MARKER).write_text(json.dumps(stat), encoding="utf-8")
    except OSError:
        pass  # a read-only cache still works; the next open re-checks the checksum


def resolve_dataset(path: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the converted dataset directory for a directory, manifest or ``.tfrecord``.

    A ``.tfrecord`` (any regular file that is not a manifest) is converted once
    and the result reused by later calls:

    - into ``<file>.nasbench-arrow/`` beside it when its directory is writable;
    - else into ``$NASBENCH_ARROW_CACHE/<file name>-<key>/`` or
      ``~/.cache/nasbench-arrow/<file name>-<key>/`` (``cache_dir`` overrides
      the base directory).

    A cached copy is reused when it was made from a file of the same size and
    modification time (or, failing that, the same SHA-256); otherwise it is
    converted again. The converter writes into a temporary directory and
    renames it when complete, so an interrupted conversion never leaves a
    half dataset behind.

    Parameters
    ----------
    path : path
        Dataset directory, its ``manifest.json``, or an official ``.tfrecord``.
    cache_dir : path, optional
        Base directory for conversions of ``.tfrecord`` files.

    Returns
    -------
    Path
        A directory to pass to :func:`read_manifest`.

    Raises
    ------
    DatasetNotFoundError
        ``path`` does not exist.
    ConversionError
        The file is not a valid official tfrecord.
    """
    p = Path(path)
    if p.is_dir():
        return p
    if not p.exists():
        msg = (
            f"no dataset at {str(p)!r}: the path does not exist; pass a directory written by "
            f"`nasbench-convert` or an official .tfrecord file"
        )
        raise DatasetNotFoundError(msg)
    if p.name == layout.MANIFEST_NAME:
        return p.parent
    with open(p, "rb") as f:
        if f.read(4) == _PARQUET_MAGIC:
            msg = f"{str(p)!r} is a single Parquet file; pass the dataset directory that holds {layout.MANIFEST_NAME}"
            raise DatasetFormatError(msg)
    root = _cache_root_for(p, cache_dir)
    if root.exists() and _cache_is_current(root, p):
        return root
    _convert_into(p, root, overwrite=root.exists())
    return root


def _convert_into(source: Path, root: Path, *, overwrite: bool) -> None:
    from .converters import convert

    stat = _source_stat(source)
    root.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"nasbench-arrow: converting {source} once into {root} (later opens reuse it)",
        file=sys.stderr,
    )
    try:
        convert(source, root, overwrite=overwrite)
    except DatasetExistsError:
        # Another process finished the same conversion first; use it if it matches.
        if not _cache_is_current(root, source):
            raise
        return
    _write_marker(root, stat)


def _iter_hashes(index: QueryIndex, rows: np.ndarray, chunk: int = 1 << 16) -> Iterator[str]:
    """Decode the hashes of ``rows`` to str, a chunk at a time (no 400k-string list kept)."""
    for lo in range(0, rows.size, chunk):
        yield from index.cell_hash[rows[lo : lo + chunk]].astype("U32").tolist()
