"""Train cells on a Ray cluster: one task per (cell, budget, repeat), records collected by the driver.

Needs the ``ray`` extra (``pip install 'nasbench-arrow[ray]'``) besides ``train``.
The driver loads CIFAR-10 once and puts it in Ray's object store (about 180 MB,
shared by every task on a node), plans the runs still missing from ``OUT`` exactly
as ``nasbench-train`` does, and keeps a bounded number of tasks in flight. Each
task builds and trains one model and returns its record; the driver appends the
records, one fsync each, to ``OUT/part-00000-of-00001.tfrecord`` as they finish.
A Ray run and a single-process run of ``nasbench-train`` are therefore
interchangeable, and either resumes the other.

Example
-------
>>> from nasbench_arrow.train.cli import load_cells                   # doctest: +SKIP
>>> from nasbench_arrow.train.ray_launcher import launch              # doctest: +SKIP
>>> cells = load_cells(list_file="cells.json")                        # doctest: +SKIP
>>> launch(cells, cifar="cifar-10-python.tar.gz", out="runs/",        # doctest: +SKIP
...        epochs=(4, 12, 36, 108), address="auto")

From the command line: ``nasbench-train --list cells.json --ray auto --out runs/ ...``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..constants import NUM_REPEATS, VALID_EPOCHS
from ..errors import import_optional
from .trainer import TrainConfig
from .units import (
    CellToTrain,
    WorkUnit,
    append_record,
    count_records,
    locked_append,
    plan_units,
    shard_path,
    train_unit,
)

__all__ = ["LaunchSummary", "launch"]


@dataclass(frozen=True)
class LaunchSummary:
    """What a launch did.

    Attributes
    ----------
    planned : int
        Runs that were missing from ``OUT`` at start.
    written : int
        Records appended.
    failed : int
        Runs that diverged on every attempt (no record; a rerun retries them).
    seconds : float
        Wall time of the launch.
    """

    planned: int
    written: int
    failed: int
    seconds: float


@dataclass(frozen=True)
class _Schedule:
    """How :func:`_run` schedules tasks: the arguments of :func:`launch` past the plan."""

    config: TrainConfig
    cifar: str | os.PathLike
    address: str | None
    num_gpus: float | None
    num_cpus: float
    max_in_flight: int | None
    init_kwargs: dict | None
    verbose: bool
    log: Callable[[str], None]


def _ray_task(unit: WorkUnit, config: TrainConfig, data, verbose: bool) -> bytes | None:
    """Ray task body: train one run and return its record (``None`` if it diverged)."""
    import tensorflow as tf

    # Several tasks may share a GPU (fractional num_gpus): do not grab it all.
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised in this worker
            pass
    from .trainer import TrainingAbortedError

    module_hash, epochs = unit.cell.module_hash, unit.epochs

    def progress(p):
        if verbose and p.event == "epoch":
            print(
                f"{module_hash[:8]} e{epochs}: epoch {p.epoch:.0f}/{p.epochs} loss {p.loss:.4f}",
                flush=True,
            )

    try:
        return train_unit(unit, data, config, progress=progress)
    except TrainingAbortedError as exc:
        print(f"{module_hash} e{epochs}: FAILED: {exc}", flush=True)
        return None


def launch(
    cells: Sequence[CellToTrain],
    *,
    cifar: str | os.PathLike,
    out: str | os.PathLike,
    epochs: Sequence[int] = (VALID_EPOCHS[-1],),
    repeats: int = NUM_REPEATS,
    config: TrainConfig | None = None,
    address: str | None = None,
    num_gpus: float | None = None,
    num_cpus: float = 1,
    max_in_flight: int | None = None,
    init_kwargs: dict | None = None,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> LaunchSummary:
    """Train the missing runs of ``cells`` on Ray and append their records to ``out``.

    Parameters
    ----------
    cells : sequence of CellToTrain
        From :func:`nasbench_arrow.train.cli.load_cells` (pruned, hashed).
    cifar : path
        ``cifar-10-python.tar.gz``, read by the driver only.
    out : path
        Output folder; records go to ``part-00000-of-00001.tfrecord``.
    epochs : sequence of int
        Budgets.
    repeats : int
        Runs per cell and budget.
    config : TrainConfig, optional
        Recipe (the dataset's by default). Its ``seed``, if set, is varied per task.
    address : str, optional
        Ray cluster address (``"auto"`` for a running cluster); ``None`` starts a
        local one unless Ray is already initialised.
    num_gpus : float, optional
        GPUs per task; default 1 when the cluster has GPUs, else 0.
    num_cpus : float
        CPUs per task.
    max_in_flight : int, optional
        Tasks submitted but not collected; default twice the task slots.
    init_kwargs : dict, optional
        Extra ``ray.init`` arguments (e.g. ``num_cpus`` for a local cluster).
    verbose : bool
        Print per-epoch progress from the tasks (Ray forwards it to the driver).
    log : callable
        Where the driver's progress lines go.

    Returns
    -------
    LaunchSummary
    """
    ray = import_optional("ray", "ray", "The Ray launcher (nasbench_arrow.train.ray_launcher)")
    start = time.perf_counter()
    config = config or TrainConfig()
    own = shard_path(out, 0, 1)
    # Lock before scanning: only the holder may cut a torn tail off this file.
    with locked_append(own) as f:
        done, cut = count_records(out, own)
        if cut:
            log(f"cut a torn {cut}-byte record from the end of {own} (an interrupted run)")
        units = plan_units(cells, epochs, repeats, done)
        log(
            f"ray launcher: {len(units)} runs to do ({len(cells)} cells x {len(set(epochs))} "
            f"budgets x {repeats} repeats)"
        )
        if not units:
            return LaunchSummary(0, 0, 0, time.perf_counter() - start)
        schedule = _Schedule(
            config=config,
            cifar=cifar,
            address=address,
            num_gpus=num_gpus,
            num_cpus=num_cpus,
            max_in_flight=max_in_flight,
            init_kwargs=init_kwargs,
            verbose=verbose,
            log=log,
        )
        written, failed = _run(ray, units, f, schedule)
    return LaunchSummary(len(units), written, failed, time.perf_counter() - start)


def _run(ray, units: list[WorkUnit], f, schedule: _Schedule) -> tuple[int, int]:
    """Submit ``units`` as tasks, keep ``max_in_flight`` pending, append results to ``f``.

    Returns
    -------
    (int, int)
        Records written, runs failed.
    """
    from ..tfrecord import TFRecordWriter
    from .data import load_cifar10

    config, log = schedule.config, schedule.log
    num_gpus, num_cpus = schedule.num_gpus, schedule.num_cpus
    max_in_flight = schedule.max_in_flight
    if not ray.is_initialized():
        ray.init(address=schedule.address, **(schedule.init_kwargs or {}))
    resources = ray.cluster_resources()
    if num_gpus is None:
        num_gpus = 1.0 if resources.get("GPU", 0) > 0 else 0.0
    if max_in_flight is None:
        slots = (
            resources.get("GPU", 0) / num_gpus
            if num_gpus
            else resources.get("CPU", 1) / max(num_cpus, 1e-9)
        )
        max_in_flight = max(2, int(2 * slots))
    task = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus, max_retries=2)(_ray_task)
    data_ref = ray.put(load_cifar10(schedule.cifar))

    pending: dict = {}
    queue = list(units)
    queue.reverse()  # pop() from the end takes units in plan order
    written = failed = 0
    writer = TFRecordWriter(f)
    while queue or pending:
        while queue and len(pending) < max_in_flight:
            u = queue.pop()
            # The per-unit seed is derived by train_unit inside the task.
            ref = task.remote(u, config, data_ref, schedule.verbose)
            pending[ref] = u
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            u = pending.pop(ref)
            try:
                payload = ray.get(ref)
            except ray.exceptions.RayError as exc:  # a worker crash after Ray's retries
                payload = None
                log(f"{u.cell.module_hash} e{u.epochs} r{u.repeat}: task failed: {exc}")
            if payload is None:
                failed += 1
                continue
            append_record(writer, f, payload)
            written += 1
            log(
                f"ray launcher: {written + failed}/{len(units)} {u.cell.module_hash[:8]} "
                f"e{u.epochs} r{u.repeat} written"
            )
    writer.flush()
    return written, failed
