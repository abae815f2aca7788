"""``nasbench-train``: train cells with the dataset's recipe, append records to tfrecord shards.

Each finished (cell, budget, repeat) becomes one record in the official row format
(:func:`nasbench_arrow.records.format_payload`), appended to
``OUT/part-<i>-of-<N>.tfrecord`` and made durable (flush + fsync) before the next
one starts, so ``nasbench-convert`` reads the output as it reads the official file.

Resuming. At start the records already in ``OUT/*.tfrecord`` are counted per
(cell, budget); a (cell, budget) with ``k`` records has its first ``k`` repeats
done, and only the rest are trained. A killed run loses at most the run in flight:
a torn record at the end of this shard's own file is cut off (other shards' files
are only read, never changed).

Sharding. ``--shard i/N`` sorts the selected cells by hash and takes every N-th one
starting at the i-th; all budgets and repeats of a cell go to the same shard, so
each (cell, budget) has one writer and counting records stays exact. Any
scheduler that hands out an index works (SLURM ``$SLURM_ARRAY_TASK_ID``,
Kubernetes ``$JOB_COMPLETION_INDEX``); point every shard at the same ``--out``.

Examples
--------
One cell, 4 epochs, one repeat::

    nasbench-train --matrix '[[0,1,1],[0,0,1],[0,0,0]]' --ops '["input","conv3x3-bn-relu","output"]' \\
        --epochs 4 --repeats 1 --cifar cifar-10-python.tar.gz --out runs/

Shard 3 of 100 of the whole space at every budget::

    nasbench-train --all --epochs 4 12 36 108 --shard 3/100 --cifar cifar-10-python.tar.gz --out runs/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import (
    AVAILABLE_OPS,
    INPUT,
    NUM_MODULES_PER_STACK,
    NUM_REPEATS,
    NUM_STACKS,
    OUTPUT,
    STEM_FILTERS,
    VALID_EPOCHS,
)
from ..errors import NASBenchError, TFRecordError
from ..tfrecord import TFRecordWriter
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

__all__ = [
    "CellToTrain",
    "WorkUnit",
    "append_record",
    "count_records",
    "load_cells",
    "main",
    "parse_shard",
    "plan_units",
    "select_shard",
    "shard_path",
]

_PROG = "nasbench-train"


# --------------------------------------------------------------------------- cells


def _cell_from(matrix: Any, ops: Sequence[Any], module_hash: str | None = None) -> CellToTrain:
    """Prune (unless a trusted hash is given with a full-DAG cell) and hash a cell."""
    ops = list(ops)
    if ops and all(isinstance(o, (int, np.integer)) for o in ops):
        # The original's models_file labels interior vertices by index into available_ops.
        ops = [INPUT, *(AVAILABLE_OPS[int(o)] for o in ops[1:-1]), OUTPUT]
    m = np.asarray(matrix, dtype=np.int64)
    if module_hash is not None:
        return CellToTrain(module_hash, m, tuple(ops))
    from ..model_spec import ModelSpec

    spec = ModelSpec(m, ops)
    if getattr(spec, "valid_spec", True) is False or spec.matrix is None:
        msg = f"invalid cell (no path from input to output): matrix={m.tolist()}, ops={ops}"
        raise ValueError(msg)
    h = spec.hash_spec(list(AVAILABLE_OPS))
    return CellToTrain(h, np.asarray(spec.matrix, dtype=np.int64), tuple(spec.ops))


def _from_json_item(item: Any, key: str | None) -> CellToTrain:
    if isinstance(item, dict):
        matrix = item.get("matrix", item.get("module_adjacency"))
        ops = item.get("ops", item.get("module_operations"))
    elif isinstance(item, (list, tuple)) and len(item) == 2:
        matrix, ops = item
    else:
        matrix = ops = None
    if matrix is None or ops is None:
        where = f" (key {key!r})" if key else ""
        msg = (
            f"cannot read a cell from {item!r:.120}{where}: expected {{'matrix': ..., 'ops': ...}}, "
            "{'module_adjacency': ..., 'module_operations': ...} or [matrix, ops]"
        )
        raise ValueError(msg)
    return _cell_from(matrix, ops)


def _cells_from_parquet(path: Path, hashes: set[str] | None = None) -> list[CellToTrain]:
    """Cells of a ``nasbench-space`` Parquet file (or any with hash, matrix/adjacency, operations)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = set(table.column_names)
    if (
        "module_hash" not in names
        or "operations" not in names
        or not names & {"matrix", "adjacency"}
    ):
        msg = (
            f"{str(path)!r} has columns {sorted(names)}; expected module_hash, operations and "
            "matrix or adjacency (a file written by nasbench-space)"
        )
        raise ValueError(msg)
    if hashes is not None:
        table = table.filter(pc.is_in(table["module_hash"], value_set=pa.array(sorted(hashes))))
    cells = []
    for row in table.select(
        [n for n in ("module_hash", "matrix", "adjacency", "operations") if n in names]
    ).to_pylist():
        ops = row["operations"]
        if isinstance(ops, str):
            ops = ops.split(",")
        if row.get("matrix") is not None:
            matrix = row["matrix"]
        else:
            bits = row["adjacency"]
            v = round(len(bits) ** 0.5)
            matrix = np.array([int(b) for b in bits], dtype=np.int64).reshape(v, v)
        # The space file holds full DAGs (pruning is a no-op) with their original hash.
        cells.append(_cell_from(matrix, ops, row["module_hash"]))
    return cells


def load_cells(
    *,
    matrix: str | None = None,
    ops: str | None = None,
    hashes: Sequence[str] | None = None,
    cells_file: str | os.PathLike | None = None,
    list_file: str | os.PathLike | None = None,
    all_cells: bool = False,
) -> list[CellToTrain]:
    """Resolve the CLI's cell selection into unique cells sorted by hash.

    Parameters
    ----------
    matrix, ops : str
        JSON of one cell's adjacency matrix and labels (pruned and hashed here).
    hashes : sequence of str
        Module hashes to look up in ``cells_file`` (a ``nasbench-space`` Parquet file).
    list_file : path
        ``.json`` (a list of cells, or a dict hash -> cell, including the original
        ``models_file`` format with integer labels) or ``.parquet`` (as ``cells_file``).
    all_cells : bool
        The whole enumerated space (423,624 cells).

    Returns
    -------
    list of CellToTrain
        Unique by hash, sorted by hash.
    """
    chosen = sum(
        x is not None and x is not False for x in (matrix, hashes, list_file, all_cells or None)
    )
    if chosen != 1:
        msg = "choose exactly one of --matrix/--ops, --hash (with --cells), --list, --all"
        raise ValueError(msg)
    cells: list[CellToTrain] = []
    if matrix is not None:
        if ops is None:
            msg = "--matrix needs --ops (a JSON list of labels, input first and output last)"
            raise ValueError(msg)
        cells = [_cell_from(json.loads(matrix), json.loads(ops))]
    elif hashes is not None:
        if cells_file is None:
            msg = "--hash needs --cells SPACE.parquet (write it with: nasbench-space SPACE.parquet)"
            raise ValueError(msg)
        wanted = {h.strip().lower() for h in hashes}
        cells = _cells_from_parquet(Path(cells_file), wanted)
        missing = wanted - {c.module_hash for c in cells}
        if missing:
            msg = f"hashes not in {str(cells_file)!r}: {sorted(missing)}"
            raise ValueError(msg)
    elif list_file is not None:
        path = Path(list_file)
        if path.exists() and not path.is_file():  # never read a FIFO (blocks) or a device (endless)
            msg = f"{str(path)!r} is not a regular file; pass a JSON or Parquet list of cells"
            raise ValueError(msg)
        if path.suffix.lower() == ".parquet":
            cells = _cells_from_parquet(path)
        else:
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                cells = [_from_json_item(v, k) for k, v in data.items()]
            elif isinstance(data, list):
                cells = [_from_json_item(v, None) for v in data]
            else:
                msg = f"{str(path)!r}: expected a JSON list or object of cells, got {type(data).__name__}"
                raise ValueError(msg)
    else:
        from ..space import enumerate_cells

        cells = [
            CellToTrain(c.module_hash, np.asarray(c.matrix, dtype=np.int64), tuple(c.ops))
            for c in enumerate_cells()
        ]
    unique = {c.module_hash: c for c in cells}
    return [unique[h] for h in sorted(unique)]


# --------------------------------------------------------------------------- sharding


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/N"`` (0 <= i < N)."""
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        i = n = -1
    if not 0 <= i < n:
        msg = f"--shard must be i/N with 0 <= i < N (e.g. 0/4), got {text!r}"
        raise ValueError(msg)
    return i, n


def select_shard(cells: Sequence[CellToTrain], index: int, count: int) -> list[CellToTrain]:
    """The cells of shard ``index`` of ``count``: every ``count``-th cell in hash order."""
    ordered = sorted(cells, key=lambda c: c.module_hash)
    return ordered[index::count]


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Train NAS-Bench-101 cells with the dataset's recipe (TensorFlow 2) and append one "
            "record per (cell, budget, repeat) to OUT/part-i-of-N.tfrecord, in the official format."
        ),
    )
    sel = p.add_argument_group("cells (choose one)")
    sel.add_argument("--matrix", help="JSON adjacency matrix of one cell, e.g. '[[0,1],[0,0]]'")
    sel.add_argument("--ops", help='JSON labels of that cell, e.g. \'["input","output"]\'')
    sel.add_argument(
        "--hash",
        nargs="+",
        dest="hashes",
        metavar="HASH",
        help="module hashes to look up in --cells",
    )
    sel.add_argument(
        "--cells", metavar="SPACE.parquet", help="cells file written by nasbench-space"
    )
    sel.add_argument(
        "--list", dest="list_file", metavar="FILE", help="JSON or Parquet file of cells"
    )
    sel.add_argument(
        "--all", dest="all_cells", action="store_true", help="the whole enumerated space"
    )
    p.add_argument(
        "--cifar", help="cifar-10-python.tar.gz (or its unpacked folder); never downloaded"
    )
    p.add_argument("--out", required=True, help="output folder for the tfrecord shards")
    p.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=[VALID_EPOCHS[-1]],
        help="budgets in epochs (default 108)",
    )
    p.add_argument(
        "--repeats", type=int, default=NUM_REPEATS, help="runs per cell and budget (default 3)"
    )
    p.add_argument("--shard", default="0/1", help="this worker's share, i/N (default 0/1)")
    p.add_argument(
        "--mixed-precision",
        nargs="?",
        const="float16",
        choices=["float16", "bfloat16"],
        help="compute in float16 (default when given) or bfloat16; GPU only in practice",
    )
    p.add_argument("--xla", action="store_true", help="compile the training step with XLA")
    p.add_argument(
        "--data-format", default="channels_last", choices=["channels_last", "channels_first"]
    )
    p.add_argument("--seed", type=int, help="base seed; each run gets its own derived seed")
    recipe = p.add_argument_group("recipe (changing these no longer reproduces the dataset)")
    recipe.add_argument("--batch-size", type=int, default=256)
    recipe.add_argument("--learning-rate", type=float, default=0.1)
    recipe.add_argument(
        "--lr-scale",
        type=float,
        default=2.0,
        help="the original's tpu_num_shards factor (default 2: peak rate 0.2)",
    )
    recipe.add_argument("--stem-filters", type=int, default=STEM_FILTERS)
    recipe.add_argument("--num-stacks", type=int, default=NUM_STACKS)
    recipe.add_argument("--num-modules-per-stack", type=int, default=NUM_MODULES_PER_STACK)
    dist = p.add_argument_group("Ray (the `ray` extra)")
    dist.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run one Ray task per (cell, budget, repeat): 'local' (default when given) starts a "
        "local cluster, 'auto' or host:port joins a running one",
    )
    dist.add_argument(
        "--gpus-per-task", type=float, help="default 1 when the cluster has GPUs, else 0"
    )
    dist.add_argument("--cpus-per-task", type=float, default=1.0)
    p.add_argument(
        "--dry-run", action="store_true", help="list the runs this shard would do, then exit"
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    return p


def _log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nasbench-train``.

    Returns
    -------
    int
        0 when every planned run was written, 1 when some run failed (diverged on
        every attempt; rerun to retry it), 2 for invalid arguments or inputs.
    """
    args = _parser().parse_args(argv)
    try:
        index, count = parse_shard(args.shard)
        if args.repeats < 1 or any(e < 1 for e in args.epochs):
            msg = f"--repeats and --epochs must be positive, got {args.repeats} and {args.epochs}"
            raise ValueError(msg)
        cells = load_cells(
            matrix=args.matrix,
            ops=args.ops,
            hashes=args.hashes,
            cells_file=args.cells,
            list_file=args.list_file,
            all_cells=args.all_cells,
        )
    except (ValueError, OSError, NASBenchError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2

    if args.ray is not None and not args.dry_run:
        return _run_ray(args, cells, index, count)

    mine = select_shard(cells, index, count)
    own = shard_path(args.out, index, count)
    if args.dry_run:  # read-only: no lock, nothing cut
        try:
            done, _ = count_records(args.out) if Path(args.out).is_dir() else (Counter(), 0)
        except (TFRecordError, NASBenchError) as exc:
            print(f"{_PROG}: {exc}", file=sys.stderr)
            return 2
        units = _plan(args, cells, mine, index, count, done)
        for u in units:
            print(f"{u.cell.module_hash}\t{u.epochs}\t{u.repeat}")
        return 0
    if args.cifar is None:
        print(f"{_PROG}: --cifar PATH is required to train", file=sys.stderr)
        return 2
    try:
        # TensorFlow and CIFAR-10 are checked before the shard file is opened, so
        # a missing dependency or a wrong --cifar leaves nothing behind in OUT.
        from .data import check_cifar10, load_cifar10

        _require_tensorflow(import_now=False)  # cheap: is it installed at all?
        check_cifar10(args.cifar)  # a wrong path fails before TensorFlow's slow import
        _require_tensorflow()
        data = load_cifar10(args.cifar)
        # Lock before scanning: only the holder may cut a torn tail off this file.
        with locked_append(own) as f:
            done, cut = count_records(args.out, own)
            if cut:
                _log(
                    f"{_PROG}: cut a torn {cut}-byte record from the end of {own} (an interrupted run)"
                )
            units = _plan(args, cells, mine, index, count, done)
            return _train_units(args, units, own, f, f"[{index}/{count}]", data) if units else 0
    except (ValueError, OSError, NASBenchError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2


def _require_tensorflow(*, import_now: bool = True) -> None:
    """Import TensorFlow now (MissingDependencyError with the install hint if absent).

    With ``import_now=False`` only look whether it is installed (no import: milliseconds).
    """
    from ..errors import import_optional

    if not import_now:
        import importlib.util

        try:
            found = importlib.util.find_spec("tensorflow") is not None
        except (ImportError, ValueError):  # a broken install, or blocked in sys.modules
            found = False
        if found:
            return

    # TensorFlow's C++ INFO lines (oneDNN, CPU features; printed twice by TF 2.x)
    # drown the trainer's own progress; warnings and errors still show. Setting
    # TF_CPP_MIN_LOG_LEVEL=0 yourself brings them back.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    import_optional("tensorflow", "train", "Training cells (nasbench-train)")


def _plan(args, cells, mine, index, count, done) -> list[WorkUnit]:
    units = plan_units(mine, args.epochs, args.repeats, done)
    total = len(mine) * len(set(args.epochs)) * args.repeats
    _log(
        f"{_PROG}: shard {index}/{count}: {len(mine)} of {len(cells)} cells, {total} runs, "
        f"{total - len(units)} already in {args.out}, {len(units)} to do"
    )
    return units


def _train_units(args, units: list[WorkUnit], own: Path, f, prefix: str, data) -> int:
    """Train ``units`` in order on ``data`` (Cifar10), appending each record to ``f`` (the locked ``own`` file)."""
    # Deferred: TensorFlow loads only once there is training to do.
    import tensorflow as tf

    from .trainer import TrainingAbortedError

    config = _config(args)
    gpus = tf.config.list_physical_devices("GPU")
    where = "GPU " + ", ".join(g.name for g in gpus) if gpus else "CPU"
    _log(f"{_PROG}: TensorFlow {tf.__version__} on {where}")

    failed = 0
    writer = TFRecordWriter(f)
    for n, unit in enumerate(units, 1):
        tag = (
            f"{prefix} {n}/{len(units)} {unit.cell.module_hash[:8]} "
            f"e{unit.epochs} r{unit.repeat + 1}/{args.repeats}"
        )

        def progress(p, tag=tag):
            if args.quiet:
                return
            if p.event == "epoch":
                _log(
                    f"{tag}: epoch {p.epoch:.0f}/{p.epochs} step {p.step}/{p.total_steps} "
                    f"loss {p.loss:.4f} lr {p.learning_rate:.4f} train {p.training_time:.1f} s"
                )
            else:
                ev = p.evaluation
                _log(
                    f"{tag}: eval at epoch {ev.current_epoch:g}: train {ev.train_accuracy:.4f} "
                    f"valid {ev.validation_accuracy:.4f} test {ev.test_accuracy:.4f}"
                )

        start = time.perf_counter()
        try:
            payload = train_unit(unit, data, config, progress=progress)
        except TrainingAbortedError as exc:
            failed += 1
            _log(f"{tag}: FAILED: {exc}")
            continue
        append_record(writer, f, payload)
        _log(f"{tag}: wrote record to {own} ({time.perf_counter() - start:.1f} s)")
    writer.flush()
    return 1 if failed else 0


def _config(args):
    from .trainer import TrainConfig

    return TrainConfig(
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_scale=args.lr_scale,
        stem_filters=args.stem_filters,
        num_stacks=args.num_stacks,
        num_modules_per_stack=args.num_modules_per_stack,
        data_format=args.data_format,
        mixed_precision=args.mixed_precision,
        jit_compile=args.xla,
        seed=args.seed,
    )


def _run_ray(args, cells, index, count) -> int:
    if count != 1:
        print(f"{_PROG}: --ray schedules every run itself; drop --shard", file=sys.stderr)
        return 2
    if args.cifar is None:
        print(f"{_PROG}: --cifar PATH is required to train", file=sys.stderr)
        return 2
    try:
        from .data import check_cifar10

        _require_tensorflow(import_now=False)
        check_cifar10(args.cifar)  # before Ray starts: a wrong path fails in a second
        _require_tensorflow()
        from .ray_launcher import launch

        summary = launch(
            cells,
            cifar=args.cifar,
            out=args.out,
            epochs=args.epochs,
            repeats=args.repeats,
            config=_config(args),
            address=None if args.ray == "local" else args.ray,
            num_gpus=args.gpus_per_task,
            num_cpus=args.cpus_per_task,
            verbose=not args.quiet,
            log=_log,
        )
    except (ValueError, OSError, NASBenchError) as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    _log(
        f"{_PROG}: ray: {summary.written} of {summary.planned} runs written, {summary.failed} failed, "
        f"{summary.seconds:.1f} s"
    )
    return 1 if summary.failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
