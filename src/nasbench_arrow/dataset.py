"""Reading a converted dataset: the query index and Polars lazy scans, of one generation.

Opening a dataset opens its directory once and reads everything relative to
that descriptor (``dir_fd``): ``manifest.json``, validated by the one manifest
validator (:func:`nasbench_arrow.manifest.validate_manifest`, shared with
``nasbench-verify``), the ``index/*.npy`` files and every Parquet file, which
stays open. So one object sees exactly one dataset generation for its whole
life: after ``nasbench-convert --overwrite`` renamed a new directory in (and
deleted the old one), an object opened before keeps answering every method
(queries, lazy frames, source order) from the files it opened. Lazy frames
reach those files through symbolic links to ``/proc/self/fd/<n>`` (Linux;
elsewhere they scan the dataset's paths).

The index arrays except ``run_metrics`` (about 50 MB for the full dataset)
are read into memory at open and their CRC32C checked on those very bytes
(``verify="none"`` skips the CRC): nothing done to the files later can change
or crash what is served. Rows of ``run_metrics`` (325 MB) are read with
``os.pread``, each read checked against the file's size and mtime at open,
so a file truncated or rewritten under a live reader is a typed
:class:`~nasbench_arrow.errors.DatasetCorruptError` rather than ``SIGBUS`` or
another dataset's numbers. Parquet is only read when a lazy frame is
collected; the footers and the CRC32C of a table's files are checked when the
first lazy frame of that table is asked for, and Polars is only imported then.

A dataset replaced while it is being opened is opened again, so a reader
opening during a replacement gets the newer dataset, whole.

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

import atexit
import collections
import contextlib
import errno
import functools
import hashlib
import json
import math
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
from .manifest import Manifest, open_regular, parse_json, read_manifest

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
# Written beside a cached conversion (``.<cache dir name>.source.json``, outside the
# dataset so that --overwrite never meets a file the manifest does not list): the
# identity of the source it came from, so a later open can reuse the cache without
# hashing gigabytes. Older versions wrote ``source-stat.json`` inside the dataset.
_SOURCE_MARKER = "source-stat.json"
_MARKER_SUFFIX = ".source.json"
# The content fingerprint of a source: its first and last MiB and 16 blocks of 64 KiB
# spread evenly between them (about 3 MB read, a few milliseconds with a warm cache).
_FP_EDGE = 1 << 20
_FP_BLOCK = 1 << 16
_FP_SAMPLES = 16

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
# One generation of a dataset directory, held open
# ---------------------------------------------------------------------------

# Released generations whose lazy frames may still be collected (``NASBench(p).runs()``
# drops the object at once): the newest few are kept, the oldest closed.
_RETIRED_KEEP = 8
_RETIRED: collections.deque = collections.deque()
_EXITING = False
_PROC_FD = "/proc/self/fd"
_FARM_PREFIX = "nasbench-arrow-pins-"
_SWEPT: list[bool] = []  # stale link directories are swept once per process


def _release(resources: dict) -> None:
    """Remove a generation's link directory (this process's only), then close its descriptors.

    In that order: a lazy frame collected later finds no link (an error) rather than a
    descriptor number reused by another file.
    """
    resources["closed"] = True
    farm = resources.get("farm")
    if farm and resources.get("pid") == os.getpid():
        try:
            import shutil  # here, not at import: most processes never make a link directory

            shutil.rmtree(farm, ignore_errors=True)
        except Exception:  # noqa: BLE001 - late in interpreter shutdown imports may fail; links are tiny
            pass
    resources["farm"] = None
    _close_all(resources["fds"])


def _retire(resources: dict) -> None:
    if _EXITING:
        _release(resources)
        return
    _RETIRED.append(resources)
    while len(_RETIRED) > _RETIRED_KEEP:
        _release(_RETIRED.popleft())


@atexit.register
def _release_retired() -> None:
    global _EXITING
    _EXITING = True
    while _RETIRED:
        _release(_RETIRED.popleft())


def _sweep_stale_farms(base: str) -> None:
    """Remove link directories left by processes that died without cleaning up (SIGKILL)."""
    import shutil

    try:
        names = [n for n in os.listdir(base) if n.startswith(_FARM_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_FARM_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass  # alive, or another user's


def _too_many_files(root: Path) -> str:
    return (
        f"cannot open dataset {str(root)!r}: the process has too many open files. An open dataset holds "
        "about 35 (its directory, Parquet files and run_metrics.npy; objects on the same unchanged files "
        "share them): drop unused objects of other datasets, or raise the limit (`ulimit -n`)"
    )


class _Generation:
    """One dataset directory as it was when opened: a descriptor of it and of each data file.

    ``nasbench-convert --overwrite`` renames a new directory over the old one
    and deletes the old one. Everything an object reads goes through these
    descriptors: the manifest and index files are opened relative to the
    directory descriptor (``dir_fd``), and each Parquet file is opened once, at
    open time, and kept open. Polars scans paths, so on Linux it is handed
    ``<tmp>/nasbench-arrow-pins-<pid>-*/runs/bucket=3/part-0.parquet``: symbolic
    links to ``/proc/self/fd/<n>`` of the kept descriptors, which reach the
    very files opened even after they were renamed or deleted. Elsewhere
    (no ``/proc``) lazy frames scan the dataset's paths.
    """

    def __init__(self, root: Path):
        self.root = root
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
        self.dir_fd = os.open(root, flags)
        st = os.fstat(self.dir_fd)
        self.identity = (st.st_dev, st.st_ino)
        self.files: dict[str, int] = {}
        self._resources = {"fds": [self.dir_fd], "farm": None, "pid": os.getpid(), "closed": False}
        self._finalizer = weakref.finalize(self, _retire, self._resources)

    def open(self, rel: str, *, keep: bool = True) -> int:
        """Descriptor of a regular file of this generation (``DatasetCorruptError`` when it is not one)."""
        if rel in self.files:
            return self.files[rel]
        try:
            fd = open_regular(rel, dir_fd=self.dir_fd)
        except FileNotFoundError:
            msg = f"dataset {str(self.root)!r} is incomplete: {rel} is listed in the manifest but missing; run `nasbench-verify {self.root}` and reconvert"
            raise DatasetCorruptError(msg) from None
        except ValueError as exc:
            msg = f"dataset {str(self.root)!r} is damaged: {rel} {exc}; reconvert the dataset"
            raise DatasetCorruptError(msg) from None
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise DatasetError(_too_many_files(self.root)) from exc
            msg = f"dataset {str(self.root)!r} is damaged: {rel} cannot be read ({exc.strerror or exc}); reconvert the dataset"
            raise DatasetCorruptError(msg) from exc
        if keep:
            self.files[rel] = fd
            self._resources["fds"].append(fd)
        return fd

    @property
    def closed(self) -> bool:
        """Whether the descriptors were released (by :meth:`close`)."""
        return self._resources["closed"]

    def replaced(self) -> bool:
        """Whether the dataset's path now names another directory (or none)."""
        return _identity(self.root) != self.identity

    def readable_path(self, rel: str) -> str:
        """A path that opens this generation's ``rel`` now (for pyarrow): its kept descriptor via /proc."""
        fd = self.files.get(rel)
        if fd is not None and os.path.isdir(_PROC_FD):
            return f"{_PROC_FD}/{fd}"
        return str(self.root / rel)

    def scan_paths(self, rels: list[str]) -> list[str]:
        """Paths for Polars that keep the hive layout (``bucket=x``) and reach the kept descriptors."""
        if not os.path.isdir(_PROC_FD) or any(rel not in self.files for rel in rels):
            return [str(self.root / rel) for rel in rels]
        import tempfile

        try:
            farm = self._resources["farm"]
            if farm is None:
                base = tempfile.gettempdir()
                if not _SWEPT:
                    _SWEPT.append(True)
                    _sweep_stale_farms(base)
                farm = self._resources["farm"] = tempfile.mkdtemp(prefix=f"{_FARM_PREFIX}{os.getpid()}-", dir=base)
            out = []
            for rel in rels:
                link = os.path.join(farm, rel)
                if not os.path.lexists(link):
                    os.makedirs(os.path.dirname(link), exist_ok=True)
                    os.symlink(f"{_PROC_FD}/{self.files[rel]}", link)
                out.append(link)
        except OSError:
            # No writable temporary directory: scan the dataset's own paths (the
            # one-generation guarantee then holds for queries, not for lazy frames).
            return [str(self.root / rel) for rel in rels]
        return out

    def close(self) -> None:
        """Release now (lazy frames made from it then fail to collect)."""
        self._finalizer.detach()
        _release(self._resources)


# ---------------------------------------------------------------------------
# Reading index files: whole into memory, or row by row with pread
# ---------------------------------------------------------------------------

_CRC_BLOCK = 1 << 20  # bytes per read when computing the CRC32C of a file through its descriptor (fastest measured)
# Gathering rows with pread: rows closer than this are read in one call (a syscall costs
# about as much as copying a few KB), and no single read spans more than _GATHER_SPAN rows.
_GATHER_GAP = 64
_GATHER_SPAN = 1 << 16


def _damaged_message(root: Path, consequence: str, listed: str) -> str:
    return (
        f"dataset {str(root)!r} is damaged ({consequence}): {listed}. Run `nasbench-verify {root} --deep` "
        f"to list every problem, then reconvert it (`nasbench-convert SOURCE {root} --overwrite`) "
        f"or restore a good copy"
    )


def _crc32c(data) -> int:
    import crc32c

    return crc32c.crc32c(data)


def _fd_crc32c(fd: int) -> int:
    """CRC32C of a whole file through its descriptor (positional reads: the offset is not moved)."""
    import crc32c

    value, position = 0, 0
    buf = bytearray(_CRC_BLOCK)
    view = memoryview(buf)
    while n := os.preadv(fd, [buf], position):
        value = crc32c.crc32c(view[:n], value)
        position += n
    return value


def _read_all(root: Path, rel: str, fd: int) -> np.ndarray:
    """The whole file behind ``fd`` (its size from ``fstat``) as uint8, or DatasetCorruptError on a short read."""
    size = os.fstat(fd).st_size
    data = np.empty(size, dtype=np.uint8)  # not zero-filled: every byte is read into it
    view, done = memoryview(data), 0
    while done < size:
        n = os.preadv(fd, [view[done:]], done)
        if n == 0:
            msg = f"dataset {str(root)!r} is damaged: {rel} ended after {done:,} of {size:,} bytes while being read (truncated under the reader?); reopen it, or reconvert"
            raise DatasetCorruptError(msg)
        done += n
    return data


def _check_npy(root: Path, rel: str, source, dtype: str, shape: tuple, num_cells: int, num_runs: int) -> int:
    """Parse a .npy header (from bytes, or a descriptor) and check it against the contract; returns the data offset."""
    import io

    from numpy.lib import format as npformat

    name = rel.rsplit("/", 1)[-1]
    if isinstance(source, np.ndarray):
        head, size = source[: 1 << 16].tobytes(), source.size
    else:
        head, size = os.pread(source, 1 << 16, 0), os.fstat(source).st_size
    f = io.BytesIO(head)
    try:
        major, _minor = npformat.read_magic(f)
        reader = npformat.read_array_header_1_0 if major == 1 else npformat.read_array_header_2_0
        got_shape, fortran, got_dtype = reader(f)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        msg = f"dataset {str(root)!r} is damaged: index file {name} cannot be read ({exc}); reconvert the dataset"
        raise DatasetCorruptError(msg) from exc
    want = np.dtype(dtype)
    if got_dtype != want or tuple(got_shape) != shape or fortran:
        msg = (
            f"dataset {str(root)!r} is damaged: index file {name} holds {got_dtype.str} "
            f"{tuple(got_shape)}{' (Fortran order)' if fortran else ''}, expected {want.str} {shape} for the "
            f"manifest's {num_cells} cells and {num_runs} runs; reconvert the dataset"
        )
        raise DatasetCorruptError(msg)
    offset = f.tell()
    expected = offset + math.prod(shape) * want.itemsize
    if size != expected:
        msg = (
            f"dataset {str(root)!r} is damaged: index file {name} has {size:,} bytes, its header describes "
            f"{expected:,} (truncated or padded); reconvert the dataset"
        )
        raise DatasetCorruptError(msg)
    return offset


class _RunRows:
    """``index/run_metrics.npy`` read with ``os.pread``: indexes like the ``(runs, 8)`` float64 array.

    Supports ``rows[i]``, ``rows[a:b]``, ``rows[array]`` and each with a
    second index for the columns (``rows[positions, 4:8]``); every result is
    a fresh array. After reading, the file's size and modification time are
    compared with those at open: a file truncated (``cp``/``rsync --inplace``
    over a live copy) or rewritten since raises :class:`DatasetCorruptError`
    instead of returning a short read, other bytes, or dying of ``SIGBUS``
    as a memory mapping would. (A write makes its bytes visible only after
    updating the modification time, so a read that saw new bytes is caught.)
    """

    ndim = 2
    dtype = np.dtype("<f8")

    def __init__(self, root: Path, rel: str, generation: _Generation, offset: int, shape: tuple[int, int]):
        # Holding the generation keeps the descriptor open (and its number ours) while this lives.
        self._generation = generation
        fd = generation.files[rel]
        self._root, self._rel, self._fd, self._offset = root, rel, fd, offset
        self.shape = shape
        self._width = shape[1]
        self._row = shape[1] * 8
        st = os.fstat(fd)
        self._stamp = (st.st_size, st.st_mtime_ns)

    def __len__(self) -> int:
        return self.shape[0]

    def _changed(self, detail: str) -> DatasetCorruptError:
        msg = (
            f"dataset {str(self._root)!r}: {self._rel} {detail} since the dataset was opened (truncated or "
            "rewritten in place, e.g. cp or rsync --inplace over a live copy); open the dataset again "
            "once the copy is complete"
        )
        return DatasetCorruptError(msg)

    def _check_unchanged(self) -> None:
        st = os.fstat(self._fd)
        if (st.st_size, st.st_mtime_ns) != self._stamp:
            raise self._changed(f"changed ({self._stamp[0]:,} -> {st.st_size:,} bytes)")

    def _pread(self, start: int, stop: int) -> bytes:
        if self._generation.closed:
            msg = f"dataset {str(self._root)!r} was closed; open it again to read {self._rel}"
            raise DatasetError(msg)
        want = (stop - start) * self._row
        try:
            data = os.pread(self._fd, want, self._offset + start * self._row)
        except OSError as exc:
            raise self._changed(f"cannot be read ({exc.strerror or exc})") from exc
        if len(data) != want:
            raise self._changed(f"ended early (read {len(data):,} of {want:,} bytes)")
        return data

    def read_bytes(self, start: int, stop: int) -> bytes:
        """The raw little-endian doubles of rows ``start:stop`` (checked, see the class docstring)."""
        data = self._pread(start, stop)
        self._check_unchanged()
        return data

    def _rows(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.zeros((0, self._width), self.dtype)
        return np.frombuffer(self.read_bytes(start, stop), self.dtype).reshape(-1, self._width).copy()

    def _gather(self, flat: np.ndarray) -> np.ndarray:
        """Rows at arbitrary positions: sorted, grouped into nearby spans, one pread per span."""
        k = flat.size
        if k == 0:
            return np.zeros((0, self._width), self.dtype)
        ordered = k == 1 or bool((flat[1:] >= flat[:-1]).all())
        order = None if ordered else np.argsort(flat, kind="stable")
        srt = flat if order is None else flat[order]
        cut = np.flatnonzero((np.diff(srt) > _GATHER_GAP) | (srt[1:] // _GATHER_SPAN != srt[:-1] // _GATHER_SPAN)) + 1
        first = np.concatenate([[0], cut])
        last = np.concatenate([cut, [k]])
        lo, hi = srt[first], srt[last - 1] + 1
        buf = b"".join([self._pread(a, b) for a, b in zip(lo.tolist(), hi.tolist())])
        self._check_unchanged()
        rows = np.frombuffer(buf, self.dtype).reshape(-1, self._width)
        base = np.concatenate([[0], np.cumsum(hi - lo)[:-1]])
        group = np.repeat(np.arange(lo.size), last - first)
        values = rows[base[group] + (srt - lo[group])]
        if order is None:
            return values
        out = np.empty_like(values)
        out[order] = values
        return out

    def __getitem__(self, key):
        rows, cols = key if isinstance(key, tuple) and len(key) == 2 else (key, slice(None))
        n = self.shape[0]
        if isinstance(rows, (int, np.integer)):
            r = int(rows) + (n if rows < 0 else 0)
            if not 0 <= r < n:
                msg = f"index {int(rows)} is out of bounds for axis 0 with size {n}"
                raise IndexError(msg)
            return self._rows(r, r + 1)[0][cols]
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step == 1:
                return self._rows(start, max(start, stop))[:, cols]
            rows = np.arange(start, stop, step)
        positions = np.asarray(rows)
        if positions.dtype == bool:
            positions = np.flatnonzero(positions)
        if positions.dtype.kind not in "iu":
            msg = f"run rows must be integers, got {positions.dtype}"
            raise IndexError(msg)
        flat = positions.reshape(-1).astype(np.int64)
        flat = np.where(flat < 0, flat + n, flat)
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            msg = f"run rows out of bounds for axis 0 with size {n}"
            raise IndexError(msg)
        return self._gather(flat).reshape(*positions.shape, self._width)[..., cols]

    def __array__(self, dtype=None, copy=None):
        whole = self._rows(0, self.shape[0])
        return whole if dtype is None else whole.astype(dtype)


# ---------------------------------------------------------------------------
# The query index
# ---------------------------------------------------------------------------


class QueryIndex:
    """The ``index/*.npy`` arrays of a dataset: in memory, except ``run_metrics`` (read with ``pread``).

    Cells are ordered by module hash; runs by (module hash, epochs, repeat), so
    the runs of cell ``i`` are rows ``run_start[i]:run_start[i + 1]``.

    Parameters
    ----------
    root : path
        Dataset directory.
    manifest : Manifest
        Its manifest, already read; gives the expected cell and run counts.
    generation : _Generation, optional
        The open directory to read from (one is opened when omitted).
    check_crc : bool, default False
        Compare each file's CRC32C with the manifest (on the bytes kept in
        memory; ``run_metrics`` streamed through its descriptor).

    Raises
    ------
    DatasetCorruptError
        An index file is missing, not a regular file, unreadable, has another
        dtype, shape or size than the manifest's counts imply, or (with
        ``check_crc``) other bytes than the converter wrote.

    Attributes
    ----------
    num_cells, num_runs : int
    cell_hash : np.ndarray
        ``(num_cells,)`` ``|S32`` ASCII hex hashes, sorted (read-only, in memory).
    cell_num_vertices, cell_adjacency, cell_ops, cell_params, run_start, run_epochs : np.ndarray
        See ``layout.INDEX_FILES`` (read-only, in memory).
    run_metrics : _RunRows
        ``(num_runs, 8)`` float64 read on demand with ``pread``; indexes like
        an array (``run_metrics[rows, 4:8]``) and returns fresh arrays;
        columns are ``layout.INDEX_RUN_COLUMNS`` (seconds and fractions 0-1).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        manifest: Manifest,
        *,
        generation: _Generation | None = None,
        check_crc: bool = False,
    ):
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
        self._generation = generation if generation is not None else _Generation(root)
        sizes = {"cells": num_cells, "cells+1": num_cells + 1, "runs": num_runs}
        crc_problems = []
        for name, (dtype, shape_spec) in _INDEX_SPEC.items():
            rel = f"{layout.INDEX_DIR}/{layout.INDEX_FILES[name]}"
            expected_shape = tuple(sizes[s] if isinstance(s, str) else s for s in shape_spec)
            want_crc = manifest.files.get(rel, {}).get("crc32c") if check_crc else None
            if name in _PREAD:
                # The largest array (325 MB for the full dataset) stays on disk: its rows are
                # read with os.pread, each read checked against the file's size and mtime at
                # open, so a file truncated or rewritten under a live reader is a typed error,
                # never SIGBUS (which a mapping would give) and never another dataset's values.
                fd = self._generation.open(rel)
                offset = _check_npy(root, rel, fd, dtype, expected_shape, num_cells, num_runs)
                if want_crc is not None:
                    got = _fd_crc32c(fd)
                    if got != want_crc:
                        crc_problems.append((rel, got, want_crc))
                setattr(self, name, _RunRows(root, rel, self._generation, offset, expected_shape))
                continue
            # The other arrays (about 50 MB in all for the full dataset) are copied into
            # memory at open: the bytes checked against the CRC32C are the bytes served, and
            # nothing a later truncation or in-place copy does to the file can reach them.
            fd = self._generation.open(rel, keep=False)
            try:
                data = _read_all(root, rel, fd)
            finally:
                os.close(fd)
            offset = _check_npy(root, rel, data, dtype, expected_shape, num_cells, num_runs)
            if want_crc is not None:
                got = _crc32c(data)
                if got != want_crc:
                    crc_problems.append((rel, got, want_crc))
            array = np.frombuffer(data, dtype=np.dtype(dtype), count=math.prod(expected_shape), offset=offset)
            array = array.reshape(expected_shape)
            array.flags.writeable = False
            setattr(self, name, array)
        #: Whether the CRC32C of every index file was checked at open (verify="index").
        self._crc_checked = check_crc and not crc_problems
        if crc_problems:
            listed = "; ".join(
                f"{rel}: CRC32C is {got:#010x}, the manifest says {want:#010x}: the file was altered"
                for rel, got, want in crc_problems
            )
            raise DatasetCorruptError(_damaged_message(root, "queries would return wrong values", listed))
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
        return _RUN_ROW.unpack(self.run_metrics.read_bytes(run, run + 1))

    def run_block(self, start: int, stop: int) -> list[tuple[float, ...]]:
        """:meth:`run_values` of runs ``start:stop``."""
        return list(_RUN_ROW.iter_unpack(self.run_metrics.read_bytes(start, stop)))

    def close(self) -> None:
        """Close the file descriptors now (the in-memory arrays stay usable; run rows do not; see :meth:`Dataset.close`)."""
        self._generation.close()

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
        record_index = self.record_index()
        if self.num_cells == 0:
            return np.zeros(0, np.int64), []
        first_record = np.minimum.reduceat(record_index, self.run_start[:-1])
        order = np.argsort(first_record, kind="stable")
        budgets = {int(e): int(record_index[self.run_epochs == e].min()) for e in np.unique(self.run_epochs)}
        return order.astype(np.int64), sorted(budgets, key=budgets.__getitem__)

    def record_index(self) -> np.ndarray:
        """Position of every run's record in the source file (run order), int64.

        Read from the runs table's ``record_index`` column on first use (about
        40 MB for the full dataset) and kept.
        """
        cached = self.__dict__.get("_record_index")
        if cached is None:
            cached = self._record_index = _read_record_index(self.root, self.num_runs, self._generation)
        return cached

    def leading_record_index(self, count: int) -> np.ndarray:
        """``record_index()[:count]``, read from the first row groups of the first runs file only.

        For the file order of the first cell's runs (a few milliseconds)
        without reading the whole column.
        """
        cached = self.__dict__.get("_record_index")
        if cached is not None:
            return cached[:count]
        import pyarrow.parquet as pq

        for bucket in layout.BUCKETS:
            rel = layout.data_file(layout.RUNS_DIR, bucket)
            if rel not in self._generation.files:
                continue
            try:
                parquet = pq.ParquetFile(self._generation.readable_path(rel), page_checksum_verification=True)
                parts, have = [], 0
                for group in range(parquet.num_row_groups):
                    if have >= count:
                        break
                    column = parquet.read_row_group(group, columns=["record_index"]).column(0).to_numpy()
                    parts.append(column)
                    have += column.size
            except Exception as exc:  # pyarrow raises several types for damaged files
                msg = f"dataset {str(self.root)!r} is damaged: {rel} cannot be read ({exc}); reconvert the dataset"
                raise DatasetCorruptError(msg) from exc
            found = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            if found.size < count:
                break
            return found[:count].astype(np.int64, copy=False)
        return self.record_index()[:count]


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


def _read_record_index(root: Path, num_runs: int, generation: _Generation | None = None) -> np.ndarray:
    """The runs table's ``record_index`` column in run order (bucket by bucket), from ``generation``'s files."""
    import pyarrow.parquet as pq

    parts = []
    for bucket in layout.BUCKETS:
        rel = layout.data_file(layout.RUNS_DIR, bucket)
        if generation is not None:
            if rel not in generation.files:
                continue
            path = generation.readable_path(rel)
        else:
            path = root / rel
            if not path.exists():
                continue
        try:
            column = pq.ParquetFile(path, page_checksum_verification=True).read(columns=["record_index"]).column(0)
        except Exception as exc:  # pyarrow raises several types for damaged files
            msg = f"dataset {str(root)!r} is damaged: {rel} cannot be read ({exc}); reconvert the dataset"
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
    bad = []
    for rel, info in manifest.files.items():
        if not rel.startswith(table + "/"):
            continue
        try:
            fd = open_regular(root / rel)
        except (OSError, ValueError) as exc:
            msg = f"dataset {str(root)!r} is damaged: {rel} cannot be read ({exc}); reconvert the dataset"
            raise DatasetCorruptError(msg) from exc
        try:
            got = _fd_crc32c(fd)
        finally:
            os.close(fd)
        if got != info["crc32c"]:
            bad.append(f"{rel}: CRC32C is {got:#010x}, the manifest says {info['crc32c']:#010x}: the file was altered")
    if bad:
        raise DatasetCorruptError(_damaged_message(root, f"the {table} table would give wrong values", "; ".join(bad)))
    _TABLES_CHECKED.add(key)


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

    Use :func:`open_dataset` to make one. Every method reads the directory
    generation that was opened (see :class:`_Generation`): after
    ``nasbench-convert --overwrite`` replaced the dataset, this object keeps
    answering from the files it opened (on Linux; elsewhere lazy frames read
    the dataset's paths), so queries and lazy frames never mix two datasets.

    Attributes
    ----------
    root : Path
    manifest : Manifest
    index : QueryIndex
    """

    def __init__(
        self,
        root: Path,
        manifest: Manifest,
        index: QueryIndex,
        *,
        verify: str = "index",
        generation: _Generation | None = None,
    ):
        self.root = root
        self.manifest = manifest
        self.index = index
        #: The ``verify`` mode it was opened with; "none" also skips the CRC32C of the tables at the first scan.
        self.verify = verify
        self._generation = generation if generation is not None else index._generation
        self._checked_tables: set[str] = set()

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
        import polars as pl

        gen = self._generation
        rels = [rel for rel in _layout_table_files(table) if rel in self.manifest.files]
        if not rels:
            msg = f"dataset {str(self.root)!r} has no {table} files; reconvert the dataset"
            raise DatasetCorruptError(msg)
        if table not in self._checked_tables:
            _check_footers(self.root, rels, gen.readable_path)
            # Files already checked in this process (the same inodes, sizes and mtimes) are not
            # hashed again by every object opened on the dataset.
            stamps = tuple((rel, *_stamp(gen.files[rel])) for rel in rels)
            if self.verify != "none" and stamps not in _TABLES_CHECKED:
                # Polars decodes a Parquet page with a flipped byte into other numbers without
                # an error, so a lazy frame is only handed out over the converter's bytes: the
                # very descriptors the scan will read through (about 60 ms per GB, warm cache).
                bad = [
                    (rel, got, self.manifest.files[rel]["crc32c"])
                    for rel in rels
                    if (got := _fd_crc32c(gen.files[rel])) != self.manifest.files[rel]["crc32c"]
                ]
                if bad:
                    listed = "; ".join(
                        f"{rel}: CRC32C is {got:#010x}, the manifest says {want:#010x}: the file was altered"
                        for rel, got, want in bad
                    )
                    raise DatasetCorruptError(_damaged_message(self.root, f"the {table} table would give wrong values", listed))
                _TABLES_CHECKED.add(stamps)
            self._checked_tables.add(table)
        return pl.scan_parquet(
            gen.scan_paths(rels),
            hive_partitioning=True,
            # Bucket values "0".."f" must stay strings, not be parsed as numbers or dates.
            hive_schema={layout.BUCKET_COLUMN: pl.String},
            try_parse_hive_dates=False,
        )

    def close(self) -> None:
        """Release the open files now (normally done when the last object using them is dropped).

        Objects opened on the same unchanged files share them (see :func:`open_dataset`):
        after ``close`` their run reads raise :class:`DatasetError` and their lazy frames
        fail to collect. Opening again gives a fresh set.
        """
        self._generation.close()

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, cells={self.index.num_cells}, runs={self.index.num_runs}, epochs={list(self.epochs)})"


def _stamp(fd: int) -> tuple[int, int, int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _layout_table_files(table: str) -> list[str]:
    return [layout.data_file(table, b) for b in layout.BUCKETS]


def _check_footers(root: Path, rels: list[str], path_of) -> None:
    """Parse each Parquet footer (about 1 ms a file): a damaged one would surface at collect as a Polars error."""
    import pyarrow.parquet as pq

    for rel in rels:
        try:
            pq.read_metadata(path_of(rel))
        except Exception as exc:  # pyarrow raises several types for damaged files
            msg = (
                f"dataset {str(root)!r} is damaged: {rel} has an unreadable "
                f"Parquet footer ({exc}); run `nasbench-verify {root}` and reconvert"
            )
            raise DatasetCorruptError(msg) from exc


def _check_parquet_files(root: Path, manifest: Manifest, generation: _Generation) -> None:
    """Open every Parquet file of the generation (kept open) and check its magic bytes at both ends.

    Catches truncation and files replaced by something else without reading
    data; a flipped byte inside a file is caught by the CRC32C checks (index at
    open, tables at their first scan) or ``nasbench-verify --deep``.
    """
    for rel, info in manifest.files.items():
        if not rel.endswith(".parquet"):
            continue
        fd = generation.open(rel)
        size = os.fstat(fd).st_size
        if size != info["size"]:
            msg = f"dataset {str(root)!r} is damaged: {rel} has {size} bytes, the manifest says {info['size']}; run `nasbench-verify {root}` and reconvert"
            raise DatasetCorruptError(msg)
        try:
            head, tail = os.pread(fd, 4, 0), os.pread(fd, 4, max(size - 4, 0))
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
        Bound to the directory generation it opened (see the module docstring).
        Opening the same unchanged files again in this process (same inodes,
        sizes and modification times) shares the first open's in-memory index
        and descriptors.

    Raises
    ------
    DatasetNotFoundError
        The path does not exist.
    DatasetFormatError
        Not a dataset, a manifest the validator refuses (the message names
        each field), a non-regular file (FIFO, device), or a format version
        this package does not read.
    DatasetCorruptError
        A data or index file is missing or damaged (the message names it and
        says what to do).
    ValueError
        ``verify`` is not one of the accepted values.
    """
    mode = _verify_mode(verify)
    root = resolve_dataset(path, cache_dir=cache_dir)
    # Everything is read relative to one open descriptor of the directory, so the manifest,
    # the index and the Parquet files are always of one generation, even while
    # nasbench-convert --overwrite renames a new directory in. A generation replaced while
    # being opened is opened again (the newest wins; its old files may be deleted under
    # this open); the last attempt returns the consistent generation it holds.
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            generation = _Generation(root)
        except FileNotFoundError:
            if attempt + 1 < _OPEN_ATTEMPTS:
                continue  # mid-replacement: the path is absent for an instant
            msg = f"no dataset at {str(root)!r}: the path does not exist; convert a tfrecord with `nasbench-convert SOURCE {root}`"
            raise DatasetNotFoundError(msg) from None
        except NotADirectoryError:
            msg = f"{str(root)!r} is not a dataset directory; pass the directory written by nasbench-convert"
            raise DatasetFormatError(msg) from None
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                raise DatasetError(_too_many_files(root)) from exc
            msg = f"{str(root)!r} cannot be opened ({exc.strerror or exc}); check its permissions"
            raise DatasetFormatError(msg) from exc
        try:
            if mode == "deep":
                from .verify import verify_dataset

                verify_dataset(root, deep=True).raise_if_failed()
            manifest = read_manifest(root, dir_fd=generation.dir_fd)
            key = _files_key(generation, manifest)
            shared = _SHARED.get(key) if key is not None else None
            index = shared() if shared is not None else None
            if index is not None and not index._generation.closed and (mode != "index" or index._crc_checked):
                # The same files (inodes, sizes, mtimes) are open in this process already:
                # share their arrays and descriptors instead of holding another copy. The
                # shared generation is never closed here: other objects use it.
                generation.close()
                generation = index._generation
                if generation.replaced() and attempt + 1 < _OPEN_ATTEMPTS:
                    continue
                return Dataset(root, manifest, index, verify=mode, generation=generation)
            else:
                _check_parquet_files(root, manifest, generation)
                # Headers, dtypes, shapes and (mode "index") the CRC32C of the bytes that are served.
                index = QueryIndex(root, manifest, generation=generation, check_crc=mode == "index")
        except DatasetError:
            if generation.replaced() and attempt + 1 < _OPEN_ATTEMPTS:
                generation.close()
                continue
            generation.close()
            raise
        if generation.replaced() and attempt + 1 < _OPEN_ATTEMPTS:
            generation.close()
            continue
        if key is not None:
            _SHARED[key] = weakref.ref(index, functools.partial(_forget_shared, key))
        return Dataset(root, manifest, index, verify=mode, generation=generation)
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


# Query indexes open in this process, by the identity of their files, so that opening the
# same unchanged dataset again (many NASBench objects, one per thread or per call) shares one
# copy of the in-memory arrays (about 50 MB for the full dataset) and one set of descriptors.
_SHARED: dict[tuple, weakref.ref] = {}


def _forget_shared(key: tuple, ref: weakref.ref) -> None:
    if _SHARED.get(key) is ref:  # not a newer index opened under the same key
        del _SHARED[key]


def _files_key(generation: _Generation, manifest: Manifest) -> tuple | None:
    """(directory identity, (path, inode, size, mtime) of every listed file), or None when one cannot be examined."""
    stamps = []
    for rel in sorted(manifest.files):
        try:
            st = os.stat(rel, dir_fd=generation.dir_fd)
        except OSError:
            return None
        stamps.append((rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return generation.identity, tuple(stamps)


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


def _fingerprint(source: Path) -> str:
    """SHA-256 (hex) of the size and of sampled regions of a file: the first and last MiB and 16 spread blocks.

    Cheap (about 3 MB read whatever the file's size) and different for any
    other file unless every sampled byte agrees. Used with the ``stat``
    identity in :func:`_cache_is_current`.
    """
    fd = open_regular(source)
    try:
        size = os.fstat(fd).st_size
        h = hashlib.sha256(size.to_bytes(8, "little"))
        offsets = [0, max(size - _FP_EDGE, 0)]
        span = max(size - 2 * _FP_EDGE - _FP_BLOCK, 0)
        offsets[1:1] = [_FP_EDGE + span * i // (_FP_SAMPLES - 1) for i in range(_FP_SAMPLES)] if span else []
        for i, offset in enumerate(offsets):
            length = _FP_EDGE if i in (0, len(offsets) - 1) else _FP_BLOCK
            h.update(offset.to_bytes(8, "little"))
            h.update(os.pread(fd, length, offset))
    finally:
        os.close(fd)
    return h.hexdigest()


def _source_stat(source: Path) -> dict[str, Any]:
    """What identifies a source file without reading it all: ``stat`` fields and the content fingerprint.

    ``ctime_ns`` changes on every write, ``utime`` (restoring an mtime with
    ``touch -d``, ``rsync -t``, ``cp -p``, ``curl -R``) and rename onto the
    name, and no user tool can set it back; ``ino``/``dev`` change when another
    file is moved in.
    """
    st = os.stat(source)
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "ino": st.st_ino,
        "dev": st.st_dev,
        "fingerprint": _fingerprint(source),
    }


def _marker_path(root: Path) -> Path:
    return root.parent / f".{root.name}{_MARKER_SUFFIX}"


def _cache_is_current(root: Path, source: Path) -> bool:
    """Whether a cached conversion was made from this very file.

    1. The marker beside the cache names this dataset (its source SHA-256)
       and the same size, mtime, ctime, inode and content fingerprint:
       current, after reading about 3 MB.
    2. The fingerprint differs: another file (e.g. replaced by one of the same
       size with its mtime restored): not current, nothing more read.
    3. Otherwise (the stat identity changed, say a copy or a ``chmod``, or no
       marker yet): the source's SHA-256 is compared with the manifest's
       (slow, once; the marker is then refreshed).

    Not detected: a change that keeps size, mtime, ctime and inode and leaves
    every sampled region alone, which needs writes that bypass the file system
    (a raw block device, a clock set back by root) or a file system without a
    real ctime (FAT; there every change outside the ~3 MB sampled is missed).
    """
    # The marker of older versions sat inside the dataset, where a reconversion
    # (--overwrite) would refuse it as a file the manifest does not list.
    with contextlib.suppress(OSError):
        (root / _SOURCE_MARKER).unlink()
    try:
        manifest = read_manifest(root)
    except (DatasetFormatError, DatasetCorruptError, DatasetNotFoundError):
        return False
    # A cache written by an older converter lacks index files this version reads:
    # it is ours to rebuild, not an error to show the user.
    if any(f"{layout.INDEX_DIR}/{name}" not in manifest.files for name in layout.INDEX_FILES.values()):
        return False
    current = _source_stat(source)
    if manifest.source.get("size") != current["size"]:
        return False
    recorded = _read_marker(root)
    if recorded.get("source_sha256") == manifest.source.get("sha256"):
        if recorded.get("fingerprint") not in (None, current["fingerprint"]):
            return False
        if all(recorded.get(k) == v for k, v in current.items()):
            return True
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    if digest.hexdigest() != manifest.source.get("sha256"):
        return False
    _write_marker(root, current)
    return True


def _read_marker(root: Path) -> dict:
    """The marker beside ``root`` (empty when absent or unreadable)."""
    try:
        fd = open_regular(_marker_path(root))
    except (OSError, ValueError):
        return {}
    try:
        value = parse_json(os.read(fd, 1 << 16))
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    return value if isinstance(value, dict) else {}


def _write_marker(root: Path, stat: dict[str, Any]) -> None:
    """Record the source identity (from :func:`_source_stat`, taken before converting) beside ``root``."""
    try:
        manifest = read_manifest(root)
    except DatasetError:
        return
    doc = dict(stat, source_sha256=manifest.source.get("sha256"))
    marker = _marker_path(root)
    tmp = marker.with_name(marker.name + f".tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return  # a read-only place still works; the next open re-checks the checksum


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
    try:
        fd = open_regular(p)
    except ValueError as exc:
        # Never read: a FIFO would block, /dev/zero never ends, /dev/null is no dataset.
        msg = f"{str(p)!r} {exc}: pass a dataset directory written by `nasbench-convert` or an official .tfrecord file"
        raise DatasetFormatError(msg) from None
    except OSError as exc:
        msg = f"{str(p)!r} cannot be read ({exc.strerror or exc}); check its permissions"
        raise DatasetFormatError(msg) from exc
    try:
        head = os.pread(fd, 4, 0)
    finally:
        os.close(fd)
    if head == _PARQUET_MAGIC:
        msg = f"{str(p)!r} is a single Parquet file; pass the dataset directory that holds {layout.MANIFEST_NAME}"
        raise DatasetFormatError(msg)
    root = _cache_root_for(p, cache_dir)
    if root.exists() and _cache_is_current(root, p):
        return root
    from .autoconvert import conversion_lock

    root.parent.mkdir(parents=True, exist_ok=True)
    with conversion_lock(p):
        # Another process may have converted it while this one waited for the lock.
        if root.exists() and _cache_is_current(root, p):
            return root
        _convert_into(p, root, overwrite=root.exists())
    return root


def _convert_into(source: Path, root: Path, *, overwrite: bool) -> None:
    """Convert ``source`` into ``root`` in a child interpreter (see :mod:`nasbench_arrow.autoconvert`)."""
    from .autoconvert import convert_in_child

    stat = _source_stat(source)
    print(
        f"nasbench-arrow: converting {source} once into {root} (later opens reuse it)",
        file=sys.stderr,
    )
    try:
        convert_in_child(source, root, overwrite=overwrite)
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
