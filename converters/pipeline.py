"""The conversion pipeline: source tfrecord in, complete dataset directory out.

:func:`convert` runs the stages in order::

    read (tfrecord.iter_payload_blocks, CRC-checked)
      -> parse (batches.parse_block: vectorised fast path, exact fallback)
      -> spill by bucket (writer.SpillWriter, Arrow IPC)        phase 1, per part of the file
    sort + check + write Parquet per bucket (writer.write_bucket) phase 2, per bucket
    query index (writer.write_index, with canonical keys), manifest, rename   phase 3

Both cores are used: phase 1 splits the file into one part per worker (a
part starts at a verified record boundary found by scanning for a header
whose length CRC and payload CRC match; the previous part checks that its
own record chain lands exactly there, and otherwise simply reads on, so a
wrong guess costs time, never correctness); phase 2 hands the 16 buckets to
the same worker processes. The SHA-256 of the source is computed by a
thread of the main process while the workers parse.

Nothing is written to ``OUT_DIR`` until the dataset is complete: everything
goes to ``.<name>.nasbench-convert-tmp-<pid>`` beside it, which is renamed
into place at the end (and removed on any failure or interrupt). The temp
directory is ``flock``-ed while in use; one left by a killed conversion (dead
pid, unlocked) is removed by the next conversion into the same ``OUT_DIR``.

The source is opened once and every process reads that very file; any change
of it during the run is a :class:`~nasbench_arrow.errors.ConversionError`.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import multiprocessing
import os
import shutil
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nasbench_arrow import constants, layout
from nasbench_arrow._version import __version__
from nasbench_arrow.errors import ConversionError, DatasetExistsError, NASBenchError
from nasbench_arrow.manifest import Manifest, schema_as_list

__all__ = [
    "OLD_MARKER",
    "TMP_MARKER",
    "ConversionInterrupted",
    "OutOfSpaceError",
    "OutputError",
    "remove_stale_siblings",
    "Progress",
    "convert",
    "run_part",
]

#: Infix of the temporary directory a conversion writes into (beside OUT_DIR).
TMP_MARKER = ".nasbench-convert-tmp-"
#: Infix of the directory an overwritten dataset is moved to until the new one is in place.
OLD_MARKER = ".nasbench-convert-old-"

#: Files smaller than this are converted in-process: starting workers costs more.
PARALLEL_MIN_BYTES = 64 * 1024 * 1024
#: Default worker processes at most (each needs a few hundred MB at peak).
MAX_DEFAULT_WORKERS = 4
_SCAN_WINDOW = 1 << 20  # bytes searched for a record boundary after a split point
_HEADER = struct.Struct("<QI")


class OutputError(NASBenchError, OSError):
    """OUT_DIR (or the temporary directory beside it) cannot be created or written.

    An ``OSError`` (``errno`` kept) whose message names OUT_DIR and the
    problem in one line, without the internal temporary names.
    """

    def __init__(self, message: str, errno_: int | None = None):
        super().__init__(errno_, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OutOfSpaceError(OutputError):
    """The file system of OUT_DIR filled up during the conversion (ENOSPC / EDQUOT)."""


class ConversionInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during :func:`convert`; ``on_disk`` says what OUT_DIR holds now."""

    def __init__(self, on_disk: str):
        super().__init__(on_disk)
        self.on_disk = on_disk


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _sibling(out: Path, marker: str) -> Path:
    """``.<OUT_DIR name><marker><pid>`` beside OUT_DIR, shortened to fit the file name limit.

    A long OUT_DIR name keeps its start and gets ``~`` plus 8 hex digits of
    its SHA-1, so two long names that share a start still differ.
    """
    tail = f"{marker}{os.getpid()}"
    name = f".{out.name}{tail}"
    limit = _name_max(out.parent if out.parent.is_dir() else Path("."))
    if len(os.fsencode(name)) <= limit:
        return out.parent / name
    digest = hashlib.sha1(os.fsencode(out.name)).hexdigest()[:8]
    keep = out.name
    while keep and len(os.fsencode(f".{keep}~{digest}{tail}")) > limit:
        keep = keep[:-1]
    return out.parent / f".{keep}~{digest}{tail}"


def _sibling_prefixes(out: Path) -> tuple[str, ...]:
    """Name starts (up to the pid) of the temp and backup directories of conversions into ``out``."""
    prefixes = []
    for marker in (TMP_MARKER, OLD_MARKER):
        name = _sibling(out, marker).name
        prefixes.append(name[: len(name) - len(str(os.getpid()))])
    return tuple(prefixes)


def _lock_directory(path: Path) -> int | None:
    """Hold an exclusive ``flock`` on a directory (a conversion's temp dir) for this process.

    Returns the descriptor (close it to release), or None where flock is not available.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return True
    return True


def remove_stale_siblings(out: Path) -> list[str]:
    """Delete temp and backup directories left beside ``out`` by killed conversions.

    A conversion holds a ``flock`` on its temp directory for its whole run
    (and is a live process here); a directory named for ``out`` whose pid is
    not alive and that nobody holds locked is left over from a kill (SIGKILL,
    the OOM killer) and is removed, so kills do not pile up copies of the
    data beside the dataset. Returns the names removed.
    """
    removed = []
    parent = out.parent
    if not parent.is_dir():
        return removed
    prefixes = _sibling_prefixes(out)
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        prefix = next((p for p in prefixes if entry.name.startswith(p)), None)
        pid = entry.name[len(prefix) :] if prefix is not None else ""
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        fd = _lock_directory(Path(entry.path))
        if fd is None:
            continue  # in use (locked), or no locks here: leave it
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed


class _DeferInterrupts:
    """Hold Ctrl-C and SIGTERM back during a step that must not be cut (the final rename).

    Only in the main thread (where Python runs signal handlers). A signal
    that arrives meanwhile is delivered, through the handler that was in
    place, as soon as the step is over.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.pending: list[int] = []
        self.saved = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self._SIGNALS:
                self.saved[sig] = signal.signal(sig, lambda signum, _f: self.pending.append(signum))
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        for signum in self.pending[:1]:
            handler = self.saved[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


@dataclass(frozen=True)
class Progress:
    """A progress report, passed to the ``progress`` callback of :func:`convert`.

    Attributes
    ----------
    phase : str
        ``"read"`` (parsing the source), ``"write"`` (sorting and writing the
        buckets), ``"index"`` (query index and manifest) or ``"done"``.
    records : int
        Records parsed so far.
    bytes_done, bytes_total : int
        Source bytes parsed so far, and the source size.
    buckets_done : int
        Buckets written (of 16).
    elapsed : float
        Seconds since the conversion started.
    """

    phase: str
    records: int
    bytes_done: int
    bytes_total: int
    buckets_done: int
    elapsed: float


# ----------------------------------------------------------------------------- shared state

# In a worker: [abort flag, records of part 0, bytes of part 0, records of part 1, ...].
_SHARED = None


def _die_with_parent(parent: int) -> None:
    """Make this worker process end when the converter (``parent``) ends, even by SIGKILL.

    Linux: the kernel sends SIGKILL to this process when the parent dies
    (``prctl(PR_SET_PDEATHSIG)``). Everywhere: a daemon thread checks every
    half second that the parent is still ours and exits otherwise (the
    fallback where prctl is missing, and a guard for the moment before it was
    set).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog alone
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watchdog() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watchdog, name="nasbench-convert-watchdog", daemon=True).start()


def _keep_heap_memory() -> None:
    """Let glibc reuse freed heap memory for the workers' large numpy temporaries.

    Each 16 MiB block allocates and frees arrays of a few MB; by default glibc
    hands every one of them to the kernel and back (mmap/munmap, then a page
    fault per 4 KiB touched), which cost several seconds of system time per
    full conversion. Raising the mmap and trim thresholds (to glibc's maximum
    of 32 MiB, and 64 MiB) keeps that memory in the process. Worker processes
    only; a no-op where mallopt is missing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


def _init_worker(shared, parent: int | None = None) -> None:
    global _SHARED
    _SHARED = shared
    _keep_heap_memory()
    if parent is not None:
        _die_with_parent(parent)
    # Ctrl-C goes to the whole process group; the parent decides and tells
    # the workers to stop through the abort flag.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One Polars thread per worker: the workers already fill the cores.
    os.environ.setdefault("POLARS_MAX_THREADS", "1")


def _aborted(shared) -> bool:
    return shared is not None and shared[0] != 0


# ----------------------------------------------------------------------------- phase 1


class _SourceChanged(ConversionError):
    """The source file changed (size, contents or identity) while it was being converted."""


def _changed(name: str, what: str) -> ConversionError:
    msg = (
        f"source {name!r} changed while it was being converted ({what}); nothing was written "
        "to OUT_DIR: convert again once the file is complete and no longer being written"
    )
    return _SourceChanged(msg, source=name)


def _identity(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What must stay the same for the source to count as unchanged: file, size, mtime, ctime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _describe_change(before: tuple, after: tuple, name: str | None = None) -> str:
    if before[:2] != after[:2]:
        return "it is now another file"
    if before[2] != after[2]:
        return f"its size went from {before[2]:,} to {after[2]:,} bytes"
    if name is not None:
        try:
            st = os.stat(name)
        except OSError:
            return "it was renamed or deleted"
        if (st.st_dev, st.st_ino) != before[:2]:
            return "its name now refers to another file"
    if before[3] != after[3]:
        return "it was written to"
    return "its status changed (e.g. a modification time set back, or a rename)"


def _pread_exact(fd: int, n: int, offset: int, name: str) -> bytes:
    """``n`` bytes at ``offset`` of the open source, or a typed error when fewer are there."""
    data = os.pread(fd, n, offset)
    if len(data) != n:
        raise _changed(name, f"fewer bytes at offset {offset:,} than when it was opened")
    return data


def _find_record_start(source: int | str, offset: int, size: int, name: str | None = None) -> int | None:
    """First offset >= ``offset`` where a record with valid length and payload CRCs starts.

    ``source`` is the open file descriptor of the source (or its path);
    ``size`` its size when it was opened. Bytes missing below ``size`` mean
    the file shrank: a typed ConversionError, never a ``struct.error``.
    """
    from nasbench_arrow.tfrecord import masked_crc32c

    if isinstance(source, str):
        fd = os.open(source, os.O_RDONLY)
        try:
            return _find_record_start(fd, offset, size, source if name is None else name)
        finally:
            os.close(fd)
    name = "source" if name is None else name
    window = _pread_exact(source, min(_SCAN_WINDOW, max(size - offset, 0)), offset, name)
    for p in range(max(len(window) - 12, 0)):
        length, length_crc = _HEADER.unpack_from(window, p)
        if masked_crc32c(window[p : p + 8]) != length_crc:
            continue
        end = offset + p + 12 + length + 4
        if end > size:
            continue
        body = _pread_exact(source, length + 4, offset + p + 12, name)
        (payload_crc,) = struct.unpack_from("<I", body, length)
        if masked_crc32c(memoryview(body)[:length]) == payload_crc:
            return offset + p
    return None


def _plan_parts(source: int | str, size: int, parts: int, name: str | None = None) -> list[tuple[int, int | None]]:
    """Split the file into up to ``parts`` (start, stop) ranges at record boundaries."""
    starts = [0]
    for k in range(1, parts):
        found = _find_record_start(source, size * k // parts, size, name)
        if found is not None and found > starts[-1]:
            starts.append(found)
    return [(s, starts[i + 1] if i + 1 < len(starts) else None) for i, s in enumerate(starts)]


def _open_source(path: str, identity: tuple | None, name: str):
    """Open the source for reading and check that it is the very file the parent opened.

    ``path`` is normally ``/proc/<parent pid>/fd/<n>`` (Linux), which opens
    the parent's file even after the name was given to another file;
    elsewhere it is the file name, and the identity check catches a swap.
    """
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the caller)
    except OSError:
        if path == name or not path.startswith("/proc/"):
            raise
        # /proc/<pid>/fd not openable here (a sandbox): by name, and the
        # identity check below tells whether it is still the same file.
        f = open(name, "rb", buffering=0)  # noqa: SIM115
    if identity is not None:
        now = _identity(os.fstat(f.fileno()))
        if now[:2] != identity[:2] or now[2] != identity[2]:
            f.close()
            raise _changed(name, _describe_change(identity, now))
    return f


def run_part(
    path: str,
    part: int,
    start: int,
    stop: int | None,
    spill_dir: str,
    *,
    block_size: int,
    verify_crc: bool,
    shared=None,
    identity: tuple | None = None,
    name: str | None = None,
) -> dict:
    """Phase 1 for one part of the file: read, parse, spill by bucket.

    Reads records from byte ``start`` until the record starting exactly at
    ``stop``; if the record chain does not land on ``stop`` it reads on to
    the end of the file (``overran``). Record indexes count from the part's
    first record; the caller rebases them.

    ``path`` is what to open (see :func:`_open_source`), ``identity`` what
    :func:`_identity` gave for the parent's open file (checked at open and
    at the end: a different file, size, mtime or ctime is an error), ``name``
    the source's name for messages.

    Returns
    -------
    dict
        ``records``, ``end`` (byte offset where the part ended), ``overran``,
        ``epochs`` (sorted list), ``spill`` ({bucket: path}), ``fast``/``exact``
        record counts, ``error`` (a ConversionError or None), ``aborted``.
    """
    from nasbench_arrow.tfrecord import PayloadBlock, iter_payload_blocks

    from .batches import parse_block
    from .writer import SpillWriter

    shared = _SHARED if shared is None else shared
    writer = SpillWriter(spill_dir)
    stats: dict[str, int] = {}
    cpu0 = time.process_time()
    records = 0
    epochs: set[int] = set()
    # Budgets in the order this part first meets them (the original API's valid_epochs
    # is a set filled in file order, and its iteration order follows that order).
    epochs_order: list[int] = []
    end = None
    overran = False
    error = None
    aborted = False
    name = path if name is None else name
    try:
        with _open_source(path, identity, name) as f:
            f.seek(start)
            for block in iter_payload_blocks(f, verify_crc=verify_crc, block_size=block_size):
                if _aborted(shared):
                    aborted = True
                    break
                done = False
                if stop is not None and not overran:
                    offs = block.byte_offsets
                    k = int(np.searchsorted(offs, stop))
                    if k < len(offs):
                        if offs[k] == stop:
                            block = PayloadBlock(
                                block.data, block.offsets[: k + 1], block.first_index, offs[:k]
                            )
                            done = True
                        else:
                            overran = True  # not a real boundary: read on to the end
                if len(block.byte_offsets):
                    cols = parse_block(block, source=name, stats=stats)
                    writer.write(cols)
                    records += len(block.byte_offsets)
                    seen, first = np.unique(cols["epochs"], return_index=True)
                    for e in seen[np.argsort(first)].tolist():
                        if e not in epochs:
                            epochs_order.append(e)
                    epochs.update(seen.tolist())
                    if shared is not None:
                        shared[1 + 2 * part] = records
                        last = int(block.byte_offsets[-1])
                        shared[2 + 2 * part] = last - start
                if done:
                    end = stop
                    break
            else:
                end = os.fstat(f.fileno()).st_size
            if identity is not None:
                now = _identity(os.fstat(f.fileno()))
                if now != identity:
                    raise _changed(name, _describe_change(identity, now))
    except ConversionError as exc:
        error = exc
        if exc.source == path and name != path:
            # Framing errors name the file they read: the parent's /proc path.
            error = type(exc)(
                exc.reason, source=name, record_index=exc.record_index, byte_offset=exc.byte_offset
            )
    finally:
        spill = writer.close()
    return {
        "part": part,
        "start": start,
        "records": records,
        "end": end,
        "overran": overran,
        "epochs": sorted(epochs),
        "epochs_order": epochs_order,
        "spill": spill,
        "fast": stats.get("fast", 0),
        "exact": stats.get("exact", 0),
        "error": error,
        "aborted": aborted,
        "cpu": time.process_time() - cpu0,
        "bucket_rows": writer.rows.tolist(),
    }


def _rebase(error: ConversionError, base: int) -> ConversionError:
    """The same error with its record index counted from the start of the file."""
    if base == 0 or error.record_index is None:
        return error
    new = type(error)(
        error.reason,
        source=error.source,
        record_index=error.record_index + base,
        byte_offset=error.byte_offset,
    )
    new.__cause__ = error.__cause__
    return new


class _Hasher(threading.Thread):
    """Size and SHA-256 of the source, computed beside the parsing (hashlib drops the GIL).

    Reads the parent's open file descriptor, so the bytes hashed are those of
    the file the workers read (they open the same file, see :func:`_open_source`).
    """

    def __init__(self, fd: int):
        super().__init__(name="nasbench-convert-sha256", daemon=True)
        self.fd = fd
        self.size = 0
        self.sha256 = None
        self.error: Exception | None = None
        self.stop = False

    def run(self) -> None:
        try:
            h = hashlib.sha256()
            chunk = 8 << 20
            while not self.stop:
                data = os.pread(self.fd, chunk, self.size)
                if not data:
                    break
                h.update(data)
                self.size += len(data)
            if not self.stop:
                self.sha256 = h.hexdigest()
        except Exception as exc:  # noqa: BLE001 (handed to the main thread, which re-raises it)
            self.error = exc


# ----------------------------------------------------------------------------- target handling


def _exists_error(api: str, cli: str) -> DatasetExistsError:
    """A DatasetExistsError whose message speaks Python; ``cli_message`` speaks command line."""
    exc = DatasetExistsError(api)
    exc.cli_message = cli
    return exc


def _dataset_entries() -> frozenset[str]:
    """Relative POSIX paths a converted dataset consists of (files and their directories)."""
    files = {layout.MANIFEST_NAME}
    for table in (layout.CELLS_DIR, layout.RUNS_DIR):
        files.add(table)
        for b in layout.BUCKETS:
            rel = layout.data_file(table, b)
            files.add(rel)
            files.add(rel.rsplit("/", 1)[0])
    files.add(layout.INDEX_DIR)
    files |= {f"{layout.INDEX_DIR}/{name}" for name in layout.INDEX_FILES.values()}
    return frozenset(files)


def _foreign_entries(out: Path, source_id: tuple[int, int] | None) -> tuple[list[str], bool]:
    """Entries of ``out`` that are not part of a dataset; and whether the source is inside it."""
    ours = _dataset_entries()
    foreign: list[str] = []
    has_source = False
    for dirpath, dirnames, filenames in os.walk(out):
        rel_dir = Path(dirpath).relative_to(out).as_posix()
        for entry in [*dirnames, *filenames]:
            rel = entry if rel_dir == "." else f"{rel_dir}/{entry}"
            try:
                st = os.lstat(os.path.join(dirpath, entry))
            except OSError:
                continue
            if source_id is not None and (st.st_dev, st.st_ino) == source_id:
                has_source = True
            if rel not in ours:
                foreign.append(rel)
                if entry in dirnames:
                    dirnames.remove(entry)  # all of it is foreign; the source may be inside
                    for sub, _d, names in os.walk(os.path.join(dirpath, entry)):
                        for n in names:
                            try:
                                st = os.lstat(os.path.join(sub, n))
                            except OSError:
                                continue
                            if source_id is not None and (st.st_dev, st.st_ino) == source_id:
                                has_source = True
    return sorted(foreign), has_source


def _names(entries: list[str], limit: int = 5) -> str:
    shown = ", ".join(entries[:limit])
    return shown + (f" and {len(entries) - limit} more" if len(entries) > limit else "")


def _check_target(
    out: Path,
    overwrite: bool,
    delete_foreign: bool = False,
    source_id: tuple[int, int] | None = None,
) -> None:
    """Refuse an existing OUT_DIR unless it may be replaced.

    It may when it is an empty directory, or when ``overwrite`` is set and it
    is a dataset holding nothing but dataset files (or ``delete_foreign`` is
    set as well). A directory holding the source itself is never replaced.
    """
    if not os.path.lexists(out):
        return
    where = str(out)
    if out.is_dir() and not out.is_symlink():
        if not any(out.iterdir()):
            return  # an empty directory is replaced without asking
        is_dataset = (out / layout.MANIFEST_NAME).is_file()
        if not is_dataset:
            msg = (
                f"output directory {where!r} already exists and is not a nasbench-arrow dataset "
                f"(no {layout.MANIFEST_NAME}), so it is never replaced; choose another OUT_DIR "
                "(a new or empty directory)"
            )
            raise _exists_error(msg, msg)
        if not overwrite:
            raise _exists_error(
                f"output directory {where!r} already holds a converted dataset; pass "
                "overwrite=True to replace it, or choose another OUT_DIR",
                f"output directory {where!r} already holds a converted dataset; add --overwrite "
                "to replace it, or choose another OUT_DIR",
            )
        foreign, has_source = _foreign_entries(out, source_id)
        if has_source:
            msg = (
                f"refusing to replace {where!r}: the source file is inside it and would be "
                "deleted with the old dataset; move the source out of OUT_DIR, or choose "
                "another OUT_DIR"
            )
            raise _exists_error(msg, msg)
        if foreign and not delete_foreign:
            what = f"{len(foreign)} entr{'y' if len(foreign) == 1 else 'ies'}"
            head = (
                f"refusing to replace {where!r}: it holds {what} that the dataset does not "
                f"list ({_names(foreign)}); move them out"
            )
            raise _exists_error(
                head + ", or pass delete_foreign=True to delete them with the old dataset",
                head + ", or add --delete-foreign to delete them with the old dataset",
            )
        return
    msg = f"output path {where!r} exists and is not a directory; choose another OUT_DIR"
    raise _exists_error(msg, msg)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where that is not available (another OS, an old C library,
    a file system without support); the caller then falls back to two renames.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _install(
    tmp: Path,
    out: Path,
    overwrite: bool,
    delete_foreign: bool = False,
    source_id: tuple[int, int] | None = None,
) -> None:
    """Put the finished ``tmp`` at ``out``; an old dataset goes only once the new one is there.

    Replacing a dataset swaps the two directories atomically where the OS can
    (so a reader or a kill at any moment finds a complete dataset at ``out``,
    old or new); elsewhere the old one is renamed aside first.
    """
    from .writer import fsync_path

    parent = out.parent
    old = _sibling(out, OLD_MARKER)
    if os.path.lexists(out):
        # It may have appeared, or gained files, while we converted.
        _check_target(out, overwrite, delete_foreign, source_id)
        if out.is_dir() and any(out.iterdir()):
            if _exchange(tmp, out):
                # ``tmp`` now holds the old dataset: name it so, then delete it.
                os.rename(tmp, old)
                fsync_path(parent)
                shutil.rmtree(old, ignore_errors=True)
                return
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)
                raise
            fsync_path(parent)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.rename(tmp, out)  # atomic; replaces an empty directory
    fsync_path(parent)


def _is_out_of_space(exc: BaseException) -> bool:
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    # pyarrow's IO errors carry the errno only in their text.
    return "No space left on device" in text or "Disk quota exceeded" in text


def _out_of_space(exc: BaseException, tmp: Path, out: Path, size: int) -> OutOfSpaceError | None:
    """The one-line error for a full disk, naming the file and the free space needed; else None."""
    if not _is_out_of_space(exc):
        return None
    filename = getattr(exc, "filename", None)
    if filename:
        try:
            what = Path(filename).relative_to(tmp).as_posix()
            if what.startswith("_work/"):
                what = f"the converter's scratch file {what}"
            else:
                what = f"{what} of the new dataset"
        except ValueError:
            what = str(filename)
    else:
        what = "the new dataset"
    try:
        free = shutil.disk_usage(out.parent).free
    except OSError:
        free = None
    # Peak use: the spilled records (~0.45 x the source) plus the dataset (~0.3 x).
    need = int(0.8 * size) + (16 << 20)
    have = f"; {free / 1e6:,.0f} MB are free now" if free is not None else ""
    msg = (
        f"no space left on the device of {str(out.parent)!r} while writing {what}: a conversion "
        f"of this source needs about {need / 1e6:,.0f} MB free there{have}; the partial output "
        "was removed and OUT_DIR left as it was"
    )
    return OutOfSpaceError(msg, errno.ENOSPC)


def _fsync_tree(root: Path) -> None:
    from .writer import fsync_path

    for dirpath, _dirnames, _files in os.walk(root, topdown=False):
        fsync_path(dirpath)


# ----------------------------------------------------------------------------- convert


def _default_workers(size: int) -> int:
    if size < PARALLEL_MIN_BYTES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


def _published_name(sha256: str) -> str | None:
    f = constants.PUBLISHED_FILES.get(sha256)
    return f.name if f is not None else None


def _source_warnings(name: str, records: int, sha256: str) -> list[str]:
    """Say so when a file looks official (name or record count) but its checksum differs."""
    if sha256 in constants.PUBLISHED_FILES:
        return []
    notes = []
    for f in constants.PUBLISHED_FILES.values():
        if name == f.name or records == f.num_records:
            why = "name" if name == f.name else f"record count ({records:,})"
            notes.append(
                f"the source has the {why} of the official {f.name} but its SHA256 {sha256} "
                f"differs from the published {f.sha256}: it is not the published file "
                "(modified or damaged copy?)"
            )
    return notes


def convert(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    quiet: bool = True,
    progress: Callable[[Progress], None] | None = None,
    expected_sha256: str | None = None,
    allow_incomplete: bool = False,
    workers: int | None = None,
    block_size: int | None = None,
    verify_crc: bool = True,
    delete_foreign: bool = False,
) -> Manifest:
    """Convert an official NAS-Bench-101 tfrecord into a nasbench-arrow dataset.

    Parameters
    ----------
    source : path
        ``nasbench_full.tfrecord``, ``nasbench_only108.tfrecord`` or any file
        in their format (budgets are detected from the data).
    out_dir : path
        Dataset directory to create. Must not exist (an empty directory is
        fine) unless ``overwrite``.
    overwrite : bool
        Replace an existing dataset at ``out_dir``. The old one stays intact
        until the new one is complete and renamed into place; a non-empty
        directory that is not a dataset is never replaced, nor one that holds
        entries the dataset does not consist of (unless ``delete_foreign``)
        or the source itself (never).
    quiet : bool
        When False and no ``progress`` callback is given, draw a progress
        line on stderr.
    progress : callable, optional
        Called with a :class:`Progress` about every 0.2 s.
    expected_sha256 : str, optional
        Fail unless the source's SHA-256 (hex) is this.
    allow_incomplete : bool
        Accept hashes that lack a budget or have fewer than 3 repeats of
        one (more than 3 is always an error).
    workers : int, optional
        Worker processes. Default: 1 for files under 64 MiB, else the number
        of usable CPUs (at most 4). 1 converts in this process.
    block_size : int, optional
        Bytes read at a time (default 16 MiB).
    verify_crc : bool
        Check the CRCs of every record (default; the official files have them).
    delete_foreign : bool
        With ``overwrite``: also delete entries of the old ``out_dir`` that
        are not part of the dataset (a notes file, an extra folder). The
        source is never deleted: a source inside ``out_dir`` is refused.

    Returns
    -------
    Manifest
        The manifest written into ``out_dir``.

    Raises
    ------
    FileNotFoundError
        ``source`` does not exist.
    ConversionError
        Bad source data (with record index and byte offset: framing, JSON,
        protobuf, a non-DAG or unpruned cell, a stored hash that is not its
        graph's exact NAS-Bench-101 hash, ...), a checksum that differs from
        ``expected_sha256``, or a source that changed while it was read.
        ``out_dir`` is left as it was.
    DatasetExistsError
        ``out_dir`` exists and may not be replaced (see ``overwrite``); its
        ``cli_message`` attribute words the same for the command line.
    OutputError
        ``out_dir`` cannot be created; :class:`OutOfSpaceError` when the disk
        fills up (the message names the file and the space needed).
    ConversionInterrupted
        Ctrl-C or SIGTERM (a ``KeyboardInterrupt``); ``on_disk`` says what
        ``out_dir`` holds (the final swap is never cut).

    Examples
    --------
    >>> from nasbench_arrow.converters import convert
    >>> manifest = convert("nasbench_only108.tfrecord", "nb108/")  # doctest: +SKIP
    >>> manifest.counts["cells"], manifest.epochs                 # doctest: +SKIP
    (423624, (108,))
    """
    from nasbench_arrow.tfrecord import DEFAULT_BLOCK_SIZE

    t0 = time.perf_counter()
    block_size = DEFAULT_BLOCK_SIZE if block_size is None else block_size
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        msg = f"block_size must be a positive int (bytes), got {block_size!r}"
        raise ValueError(msg)
    if expected_sha256 is not None:
        expected_sha256 = str(expected_sha256).strip().lower()
        if len(expected_sha256) != 64 or any(c not in "0123456789abcdef" for c in expected_sha256):
            msg = f"expected_sha256 must be 64 hex digits, got {expected_sha256!r}"
            raise ValueError(msg)
    src = Path(os.fspath(source))
    if not src.is_file():
        what = "does not exist" if not src.exists() else "is not a regular file"
        msg = f"source {str(src)!r} {what}; pass the official .tfrecord file"
        raise FileNotFoundError(msg)
    out = Path(os.path.abspath(os.fspath(out_dir)))
    st_src = src.stat()
    _check_target(out, overwrite, delete_foreign, (st_src.st_dev, st_src.st_ino))
    # The source is opened once: the hasher reads this descriptor and every
    # worker opens the very same file through it, so the bytes checksummed,
    # the bytes framed and the size recorded are the same bytes. Any change
    # of the file during the run (size, mtime, ctime, identity) is an error.
    fd = os.open(src, os.O_RDONLY)
    try:
        st0 = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    identity = _identity(st0)
    size = st0.st_size
    name = str(src)
    proc_path = f"/proc/{os.getpid()}/fd/{fd}"
    open_path = proc_path if os.path.exists(proc_path) else name
    try:
        return _convert_open(
            src, out, fd, identity, open_path, t0,
            overwrite=overwrite, quiet=quiet, progress=progress,
            expected_sha256=expected_sha256, allow_incomplete=allow_incomplete,
            workers=workers, block_size=block_size, verify_crc=verify_crc,
            delete_foreign=delete_foreign,
        )
    finally:
        os.close(fd)


def _check_unchanged(fd: int, identity: tuple, name: str) -> None:
    now = _identity(os.fstat(fd))
    if now != identity:
        raise _changed(name, _describe_change(identity, now, name))


def _convert_open(
    src: Path,
    out: Path,
    fd: int,
    identity: tuple,
    open_path: str,
    t0: float,
    *,
    overwrite,
    quiet,
    progress,
    expected_sha256,
    allow_incomplete,
    workers,
    block_size,
    verify_crc,
    delete_foreign,
) -> Manifest:
    """:func:`convert` once the source is open (``fd``) and the arguments are checked."""
    size = identity[2]
    name = str(src)
    if workers is None:
        workers = _default_workers(size)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        msg = f"workers must be a positive int, got {workers!r}"
        raise ValueError(msg)
    if progress is None and not quiet:
        from .cli import ProgressLine

        progress = ProgressLine()

    tmp = _sibling(out, TMP_MARKER)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_siblings(out)
        if os.path.lexists(tmp):
            shutil.rmtree(tmp)
        tmp.mkdir()
        tmp_lock = _lock_directory(tmp)  # marks it in use (see remove_stale_siblings)
    except OSError as exc:
        why = exc.strerror or str(exc)
        msg = (
            f"cannot create the output directory {str(out)!r}: {str(out.parent)!r} does not "
            f"accept a new directory ({why}); choose an OUT_DIR on a writable file system"
        )
        raise OutputError(msg, exc.errno) from None
    work = tmp / "_work"
    installed = False
    hasher = _Hasher(fd)
    pool = None
    shared = None
    try:
        hasher.start()
        plan = _plan_parts(fd, size, workers, name) if workers > 1 else [(0, None)]
        if workers > 1:
            ctx = multiprocessing.get_context("spawn")
            shared = ctx.RawArray("q", 1 + 2 * len(plan))
            pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(shared, os.getpid()),
            )
        else:
            shared = [0] * (1 + 2 * len(plan))

        def report(phase: str, buckets: int = 0) -> None:
            if progress is None:
                return
            records = sum(shared[1 + 2 * k] for k in range(len(plan)))
            done = sum(shared[2 + 2 * k] for k in range(len(plan)))
            if phase != "read":
                done = size
            progress(Progress(phase, records, done, size, buckets, time.perf_counter() - t0))

        # ---- phase 1: parse and spill
        results = _phase1(
            open_path, plan, work, pool, shared, block_size, verify_crc, report, identity, name
        )
        t1 = time.perf_counter()
        # A change of the source explains any framing error it caused: say so first.
        _check_unchanged(fd, identity, name)
        changed = [r["error"] for r in results if isinstance(r["error"], _SourceChanged)]
        if changed:
            raise changed[0]
        valid = [results[0]]
        for k in range(1, len(results)):
            prev = valid[-1]
            if prev["error"] is not None or prev["end"] != results[k]["start"]:
                break
            valid.append(results[k])
        bases = np.concatenate([[0], np.cumsum([r["records"] for r in valid])]).tolist()
        for r, base in zip(valid, bases):
            if r["error"] is not None:
                raise _rebase(r["error"], base)
        records = int(bases[-1])
        if valid[-1]["end"] != size:
            raise _changed(name, f"it ended at byte {valid[-1]['end']:,} instead of {size:,}")
        epochs_all = sorted(set().union(*(r["epochs"] for r in valid)))
        epochs_in_file_order: list[int] = []
        for r in valid:  # parts are in file order
            epochs_in_file_order += [e for e in r.get("epochs_order", []) if e not in epochs_in_file_order]
        if records == 0:
            msg = f"source {str(src)!r} holds no records; nothing to convert"
            raise ConversionError(msg, source=str(src))

        hasher.join()
        if hasher.error is not None:
            raise hasher.error
        if hasher.size != size:
            raise _changed(name, f"{hasher.size:,} bytes were checksummed of {size:,}")
        sha256 = hasher.sha256
        if expected_sha256 is not None and sha256 != expected_sha256:
            msg = (
                f"source SHA256 is {sha256}, expected {expected_sha256}: the file differs from "
                "the one asked for (incomplete download or another file)"
            )
            raise ConversionError(msg, source=str(src))
        source_info = {
            "name": src.name,
            "size": size,
            "sha256": sha256,
            "published": _published_name(sha256),
        }
        base_meta = {
            "format": layout.FORMAT_NAME,
            "format_version": layout.FORMAT_VERSION,
            "converter_version": __version__,
            "source": source_info,
            "counts": {"records": records, "epochs": epochs_all},
        }

        # ---- phase 2: per bucket. Runs per bucket are known now, so each
        # bucket writes its rows of the (large) run index in place.
        from .writer import create_run_index

        create_run_index(tmp, records)
        bucket_rows = np.sum([r["bucket_rows"] for r in valid], axis=0)
        offsets = np.concatenate([[0], np.cumsum(bucket_rows)]).tolist()
        tasks = []
        for b in range(len(layout.BUCKETS)):
            inputs = [(r["spill"][b], base) for r, base in zip(valid, bases) if b in r["spill"]]
            tasks.append((b, inputs, int(offsets[b])))
        buckets = _phase2(
            tasks, tmp, work, pool, epochs_all, allow_incomplete, base_meta, str(src), report
        )
        if pool is not None:
            pool.shutdown(wait=True)
            pool = None
        t2 = time.perf_counter()

        # ---- phase 3: index, manifest, rename
        report("index", len(buckets))
        from .writer import write_index

        ncells = sum(b["cells"] for b in buckets)
        nruns = sum(b["runs"] for b in buckets)
        files = {}
        for b in buckets:
            files.update(b["files"])
        files.update(write_index(tmp, buckets, ncells, nruns))
        shutil.rmtree(work)
        complete = all(b["complete"] for b in buckets)
        counts = {
            "records": records,
            "cells": ncells,
            "runs": nruns,
            "epochs": epochs_all,
            "epochs_in_file_order": epochs_in_file_order,
            "repeats": max(b["max_repeats"] for b in buckets),
            "complete": complete,
        }
        extra = {
            "conversion": {
                "seconds": round(time.perf_counter() - t0, 3),
                "phase_seconds": {
                    "read": round(t1 - t0, 3),
                    "write": round(t2 - t1, 3),
                    "index": round(time.perf_counter() - t2, 3),
                },
                "workers": workers,
                # CPU seconds spent in the parts and buckets (all processes), a
                # measure that does not depend on how busy the machine is.
                "cpu_seconds": {
                    "read": round(sum(r["cpu"] for r in results), 3),
                    "write": round(sum(b["cpu"] for b in buckets), 3),
                    # Of "write": the graph and exact-hash check of every cell.
                    "cell_check": round(sum(b["cpu_cell_check"] for b in buckets), 3),
                },
                "parts": len(valid),
                "fast_path_records": sum(r["fast"] for r in valid),
                "exact_path_records": sum(r["exact"] for r in valid),
                "allow_incomplete": allow_incomplete,
            }
        }
        notes = _source_warnings(src.name, records, sha256)
        from .writer import canonical_duplicates

        duplicates = canonical_duplicates(tmp)
        if duplicates:
            # Isomorphic cells stored under different hashes: impossible in the
            # official files. Queries stay exact (readers hash specs whose
            # canonical key is shared), so this is a note, not an error.
            extra["index"] = {"canonical_duplicates": duplicates}
            notes.append(
                f"{duplicates} stored cells are isomorphic to another stored cell (same canonical key, "
                "different module hashes); query_many resolves specs of these cells by hashing"
            )
        if notes:
            extra["warnings"] = notes
        manifest = Manifest(
            format_version=layout.FORMAT_VERSION,
            converter_version=__version__,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            source=source_info,
            counts=counts,
            files=dict(sorted(files.items())),
            schema={
                layout.CELLS_DIR: schema_as_list(layout.CELLS_SCHEMA),
                layout.RUNS_DIR: schema_as_list(layout.RUNS_SCHEMA),
            },
            extra=extra,
        )
        manifest.write(tmp)
        _fsync_tree(tmp)
        # Last look: every byte has been read, so a change from here on cannot matter.
        _check_unchanged(fd, identity, name)
        with _DeferInterrupts():
            _install(tmp, out, overwrite, delete_foreign, (identity[0], identity[1]))
            installed = True
        report("done", len(buckets))
        return manifest
    except KeyboardInterrupt as exc:
        if shared is not None:
            shared[0] = 1
        if isinstance(exc, ConversionInterrupted):
            raise
        if installed:
            on_disk = (
                f"{str(out)!r} holds the new dataset: the conversion had finished when it was "
                "interrupted"
            )
        elif overwrite and os.path.isdir(out):
            on_disk = f"{str(out)!r} still holds the old dataset, unchanged"
        else:
            on_disk = f"{str(out)!r} was left as it was"
        raise ConversionInterrupted(on_disk) from None
    except OSError as exc:
        if shared is not None:
            shared[0] = 1
        space = _out_of_space(exc, tmp, out, size)
        if space is not None:
            raise space from None
        raise
    except BaseException:
        if shared is not None:
            shared[0] = 1
        raise
    finally:
        hasher.stop = True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if hasher.ident is not None:  # started
            hasher.join()
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        if tmp_lock is not None:
            os.close(tmp_lock)
        if progress is not None and hasattr(progress, "close"):
            progress.close()


def _phase1(
    path, plan, work, pool, shared, block_size, verify_crc, report, identity, name
) -> list[dict]:
    """Run phase 1 over the planned parts; return their results in part order."""
    kwargs = {
        "block_size": block_size,
        "verify_crc": verify_crc,
        "identity": identity,
        "name": name,
    }
    if pool is None:
        results = []
        for k, (start, stop) in enumerate(plan):
            # In-process: report after each block through a tiny shim.
            results.append(
                run_part(
                    path,
                    k,
                    start,
                    stop,
                    str(work / f"part-{k}"),
                    shared=_Reporting(shared, report),
                    **kwargs,
                )
            )
        return results
    futures = {
        pool.submit(run_part, path, k, start, stop, str(work / f"part-{k}"), **kwargs): k
        for k, (start, stop) in enumerate(plan)
    }
    results: dict[int, dict] = {}
    pending = set(futures)
    while pending:
        finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        for fut in finished:
            r = fut.result()
            results[futures[fut]] = r
            # An error in the first part is final: stop the others early.
            if r["error"] is not None and r["part"] == 0:
                shared[0] = 1
        report("read")
    return [results[k] for k in range(len(plan))]


class _Reporting:
    """A list-like progress counter that calls ``report`` when the byte count moves."""

    def __init__(self, shared, report):
        self._shared = shared
        self._report = report
        self._last = 0.0

    def __getitem__(self, i):
        return self._shared[i]

    def __setitem__(self, i, value):
        self._shared[i] = value
        now = time.perf_counter()
        if i % 2 == 0 and now - self._last > 0.2:
            self._last = now
            self._report("read")


def _phase2(
    tasks, root, work, pool, epochs_all, allow_incomplete, meta, source, report
) -> list[dict]:
    """Write every bucket; raise the error of the earliest bad record, if any."""
    from .writer import write_bucket

    kwargs = {
        "epochs_all": epochs_all,
        "allow_incomplete": allow_incomplete,
        "metadata": meta,
        "source": source,
    }
    results: dict[int, dict] = {}
    errors: list[ConversionError] = []
    if pool is None:
        for b, inputs, offset in tasks:
            try:
                results[b] = write_bucket(
                    b, inputs, str(root), str(work / "index"), run_offset=offset, **kwargs
                )
            except ConversionError as exc:
                errors.append(exc)
            report("write", len(results))
    else:
        futures = {
            pool.submit(
                write_bucket, b, inputs, str(root), str(work / "index"), run_offset=offset, **kwargs
            ): b
            for b, inputs, offset in tasks
        }
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    results[futures[fut]] = fut.result()
                except ConversionError as exc:
                    errors.append(exc)
            report("write", len(results))
    if errors:
        raise min(errors, key=lambda e: (e.record_index is None, e.record_index or 0))
    return [results[b] for b in range(len(tasks))]
