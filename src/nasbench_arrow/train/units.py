"""The shard store and the unit of training, shared by ``nasbench-train`` and the Ray launcher.

A *unit* is one training run: a cell at one budget, as its ``repeat``-th run.
The *shard store* is ``OUT/part-<i>-of-<N>.tfrecord``: records already there are
counted per (cell, budget) to plan the runs still missing, a torn last record of
this process's own file is cut off, and each new record is appended under an
exclusive lock and made durable before the next one starts. Both the
single-process command line (:mod:`.cli`) and the Ray driver
(:mod:`.ray_launcher`) build on these, so either resumes the other's output.

Nothing here imports TensorFlow at import time: only :func:`train_unit` does,
when it is called.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NASBenchError, TFRecordError
from ..tfrecord import FOOTER_SIZE, HEADER_SIZE, TFRecordWriter, iter_payloads

if TYPE_CHECKING:  # the trainer imports TensorFlow; only its type is needed here
    from .trainer import TrainConfig

__all__ = [
    "CellToTrain",
    "WorkUnit",
    "append_record",
    "count_records",
    "locked_append",
    "plan_units",
    "shard_path",
    "train_unit",
    "unit_config",
    "unit_seed",
]


@dataclass(frozen=True)
class CellToTrain:
    """A pruned cell and its hash."""

    module_hash: str
    matrix: np.ndarray
    ops: tuple[str, ...]


@dataclass(frozen=True)
class WorkUnit:
    """One training run: a cell at one budget, as its ``repeat``-th run (0-based)."""

    cell: CellToTrain
    epochs: int
    repeat: int


# --------------------------------------------------------------------------- planning


def plan_units(
    cells: Iterable[CellToTrain], epochs: Sequence[int], repeats: int, done: Counter | None = None
) -> list[WorkUnit]:
    """Runs still to do: for each cell and budget, repeats ``done[(hash, epochs)]`` .. ``repeats - 1``."""
    done = done or Counter()
    units = []
    for cell in cells:
        for e in sorted({int(x) for x in epochs}):
            for r in range(done[(cell.module_hash, e)], repeats):
                units.append(WorkUnit(cell, e, r))
    return units


def shard_path(out: str | os.PathLike, index: int, count: int) -> Path:
    """``OUT/part-<index>-of-<count>.tfrecord`` (five digits each)."""
    return Path(out) / f"part-{index:05d}-of-{count:05d}.tfrecord"


# --------------------------------------------------------------------------- records on disk


def _is_torn_tail(path: Path, offset: int) -> bool:
    """Whether the bad record at ``offset`` is an incomplete last write (safe to cut off)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(offset)
        rest = f.read()
    if len(rest) < HEADER_SIZE or not any(rest):
        return True
    length = int.from_bytes(rest[:8], "little")
    from ..tfrecord import masked_crc32c

    if masked_crc32c(rest[:8]) != int.from_bytes(rest[8:12], "little"):
        return False  # a bad length field in a complete file: real corruption
    return offset + HEADER_SIZE + length + FOOTER_SIZE >= size


def count_records(
    out: str | os.PathLike, own: str | os.PathLike | None = None
) -> tuple[Counter, int]:
    """Count records per (module_hash, epochs) in ``OUT/*.tfrecord``.

    A torn last record in ``own`` (this process's shard file) is cut off; in any
    other file it is skipped, since another shard may be writing it right now.

    Returns
    -------
    (Counter, int)
        Counts, and the bytes cut from ``own`` (0 if none).

    Raises
    ------
    TFRecordError
        Corruption that is not a torn tail (a bad record with good ones after it).
    """
    from ..records import parse_payload

    counts: Counter = Counter()
    cut = 0
    own_path = Path(own).resolve() if own is not None else None
    for path in sorted(Path(out).glob("*.tfrecord")):
        try:
            for index, offset, payload in iter_payloads(path):
                row = parse_payload(
                    payload, record_index=index, byte_offset=offset, source=str(path)
                )
                counts[(row.module_hash, int(row.epochs))] += 1
        except TFRecordError as exc:
            offset = exc.byte_offset if exc.byte_offset is not None else 0
            if not _is_torn_tail(path, offset):
                msg = (
                    f"{exc}; this is not an interrupted write at the end of the file. Move "
                    f"{str(path)!r} aside (its good records can be recovered with nasbench-convert)"
                )
                raise TFRecordError(msg, source=str(path)) from exc
            if path.resolve() == own_path:
                cut = path.stat().st_size - offset
                os.truncate(path, offset)
    return counts, cut


def append_record(writer: TFRecordWriter, file, payload: bytes) -> None:
    """Append one record and make it durable before returning (flush + fsync)."""
    writer.write(payload)
    writer.flush()
    os.fsync(file.fileno())


@contextlib.contextmanager
def locked_append(path: Path):
    """Open ``path`` for appending, exclusively among cooperating processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "ab") as f:
        try:
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - no advisory locks on this platform
            pass
        except OSError:
            msg = (
                f"{str(path)!r} is being written by another nasbench-train (same --shard and --out)"
            )
            raise NASBenchError(msg) from None
        if new:  # make the new directory entry durable too
            with contextlib.suppress(OSError):
                fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        try:
            yield f
        finally:
            # A file this run created but never wrote to (every run failed, or an
            # error before the first record) is removed while still locked, so
            # no empty shard is left behind and no other writer can be racing.
            if new:
                with contextlib.suppress(OSError):
                    f.flush()
                    if os.fstat(f.fileno()).st_size == 0:
                        path.unlink()


# --------------------------------------------------------------------------- the unit of training


def unit_seed(base: int | None, unit: WorkUnit) -> int | None:
    """The seed of one run, derived from the base seed and the run's identity (``None`` stays ``None``).

    Every (cell, budget, repeat) gets its own seed, the same whichever process
    or Ray task trains it, so a resumed or redistributed run reproduces.
    """
    if base is None:
        return None
    key = f"{base}:{unit.cell.module_hash}:{unit.epochs}:{unit.repeat}".encode()
    return zlib.crc32(key) & 0x7FFFFFFF


def unit_config(config: TrainConfig, unit: WorkUnit) -> TrainConfig:
    """``config`` with its seed (if any) replaced by :func:`unit_seed` of ``unit``."""
    if config.seed is None:
        return config
    return replace(config, seed=unit_seed(config.seed, unit))


def train_unit(
    unit: WorkUnit,
    data: Any,
    config: TrainConfig,
    *,
    progress: Callable[[Any], None] | None = None,
) -> bytes:
    """Train one run with ``config`` (seeded per unit) and return its record payload.

    Parameters
    ----------
    unit : WorkUnit
        The cell (already pruned, or a full DAG) and budget (epochs).
    data : Cifar10
        From :func:`nasbench_arrow.train.data.load_cifar10`.
    config : TrainConfig
        The recipe; its ``seed``, if set, is the base seed of :func:`unit_seed`.
    progress : callable, optional
        Receives the trainer's :class:`~nasbench_arrow.train.trainer.Progress` events.

    Returns
    -------
    bytes
        One record in the official row format (:func:`nasbench_arrow.records.format_payload`).

    Raises
    ------
    TrainingAbortedError
        The run diverged on every attempt (no record).
    """
    # Deferred: TensorFlow loads only once there is training to do.
    from ..records import format_payload
    from .trainer import train_and_evaluate

    metrics = train_and_evaluate(
        unit.cell.matrix,
        data,
        unit.epochs,
        unit_config(config, unit),
        ops=list(unit.cell.ops),
        prune=False,  # pruned (or a full DAG) when loaded
        progress=progress,
    )
    return format_payload(
        unit.cell.module_hash, unit.epochs, unit.cell.matrix, list(unit.cell.ops), metrics
    )
