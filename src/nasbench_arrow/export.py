"""Export the runs in the layouts other NAS tools read.

Two named formats, both built from the Parquet tables (no pickle anywhere):

``naslib`` (:func:`to_naslib`, :func:`write_naslib_json`)
    The nested per-cell layout of NASLib's NAS-Bench-101 data (as in its test
    asset ``nb101_dummy``), written as JSON::

        {"<module_hash>": {
            "module_adjacency": [[0, 1, ...], ...],      # V x V, as stored
            "module_operations": ["input", ..., "output"],
            "trainable_parameters": 2694282,
            "computed": {"108": [                          # budget (str key in JSON)
                {"halfway_training_time": ..., "halfway_train_accuracy": ...,
                 "halfway_validation_accuracy": ..., "halfway_test_accuracy": ...,
                 "final_training_time": ..., "final_train_accuracy": ...,
                 "final_validation_accuracy": ..., "final_test_accuracy": ...},
                ...]}}}                                     # one dict per repeat, repeat order

    Times in seconds, accuracies as fractions 0-1: exactly the values of
    ``NASBench.get_metrics_from_hash``.

``nni`` (:func:`scan_nni_trials`, :func:`scan_nni_intermediates`, :func:`write_nni_parquet`)
    Flat tables with the column names and units of NNI's NAS-Bench-101
    benchmark database (``Nb101TrialConfig`` + ``Nb101TrialStats`` joined, and
    ``Nb101IntermediateStats``): accuracies in percent (0-100), ``parameters``
    in millions, ``arch`` the NNI architecture dict (``op1``.., ``input1``..)
    as a JSON string. ``training_time`` is in seconds as NNI's schema
    documents (NNI's own ``db_gen`` multiplies it by 60; we do not). A
    ``repeat`` column (0-based, source order) is added so rows can be joined
    back; NNI has no such column.

Lazy or eager (the rule of :mod:`nasbench_arrow.analysis`): ``scan_*`` functions
return a ``pl.LazyFrame``; ``nni_trials`` and ``nni_intermediates`` are their
older names (aliases, also lazy). ``to_naslib`` returns a dict, ``write_*`` write
files.

Example
-------
>>> from nasbench_arrow import export                          # doctest: +SKIP
>>> export.write_naslib_json("out/", "nb101.json", epochs=[108])  # doctest: +SKIP
>>> export.scan_nni_trials("out/").collect()                    # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import layout
from .analysis import _frames

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = [
    "NASLIB_METRICS",
    "NNI_INTERMEDIATE_COLUMNS",
    "NNI_TRIAL_COLUMNS",
    "iter_naslib",
    "nni_intermediates",
    "nni_trials",
    "scan_nni_intermediates",
    "scan_nni_trials",
    "to_naslib",
    "write_naslib_json",
    "write_nni_parquet",
]

#: Keys of one repeat's dict in the NASLib layout, in its order (= the original's computed stats).
NASLIB_METRICS: tuple[str, ...] = layout.INDEX_RUN_COLUMNS
#: Columns of :func:`scan_nni_trials`.
NNI_TRIAL_COLUMNS: tuple[str, ...] = (
    "arch", "num_vertices", "hash", "num_epochs", "repeat",
    "train_acc", "valid_acc", "test_acc", "parameters", "training_time",
)  # fmt: skip
#: Columns of :func:`scan_nni_intermediates`.
NNI_INTERMEDIATE_COLUMNS: tuple[str, ...] = (
    "hash", "num_epochs", "repeat", "current_epoch",
    "train_acc", "valid_acc", "test_acc", "training_time",
)  # fmt: skip


def _normalise_epochs(epochs: int | Iterable[int] | None) -> list[int] | None:
    if epochs is None:
        return None
    if isinstance(epochs, int):
        return [epochs]
    return [int(e) for e in epochs]


def _selected(
    source: Any, epochs: int | Iterable[int] | None, hashes: str | Iterable[str] | None
) -> tuple[pl.LazyFrame, pl.LazyFrame, list[str]]:
    """Cells and runs frames filtered to the budgets and hashes, and the buckets to visit."""
    import polars as pl

    from .dataset import filter_hashes

    cells, runs = _frames(source)
    wanted = _normalise_epochs(epochs)
    if wanted is not None:
        runs = runs.filter(pl.col("epochs").is_in(wanted))
    buckets = list(layout.BUCKETS)
    if hashes is not None:
        hashes = [hashes] if isinstance(hashes, str) else list(hashes)
        cells, runs = filter_hashes(cells, hashes), filter_hashes(runs, hashes)
        buckets = sorted({layout.bucket_of(h) for h in hashes if h})
    return cells, runs, buckets


def iter_naslib(
    source: Any,
    *,
    epochs: int | Iterable[int] | None = None,
    hashes: str | Iterable[str] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(module_hash, entry)`` in the NASLib layout, by hash, one bucket in memory at a time.

    Parameters
    ----------
    source : NASBench, Dataset or path
        The dataset.
    epochs : int or iterable of int, optional
        Budgets to include (default: all in the dataset). Integer keys here;
        JSON turns them into strings.
    hashes : str or iterable of str, optional
        Cells to include (default: all).
    """
    import polars as pl

    cells, runs, buckets = _selected(source, epochs, hashes)
    metric_cols = list(NASLIB_METRICS)
    for bucket in buckets:
        in_bucket = pl.col(layout.BUCKET_COLUMN) == bucket
        c = (
            cells.filter(in_bucket)
            .select(
                "module_hash", "num_vertices", "adjacency", "operations", "trainable_parameters"
            )
            .sort("module_hash")
            .collect()
        )
        if c.height == 0:
            continue
        r = (
            runs.filter(in_bucket)
            .select("module_hash", "epochs", "repeat", *metric_cols)
            .sort("module_hash", "epochs", "repeat")
            .collect()
        )
        computed: dict[str, dict[int, list[dict[str, float]]]] = {}
        for h, e, *values in r.select("module_hash", "epochs", *metric_cols).iter_rows():
            computed.setdefault(h, {}).setdefault(e, []).append(dict(zip(metric_cols, values)))
        for h, v, adjacency, ops, params in c.iter_rows():
            bits = [int(b) for b in adjacency]
            yield (
                h,
                {
                    "module_adjacency": [bits[i * v : (i + 1) * v] for i in range(v)],
                    "module_operations": list(ops),
                    "trainable_parameters": int(params),
                    "computed": computed.get(h, {}),
                },
            )


def to_naslib(
    source: Any,
    *,
    epochs: int | Iterable[int] | None = None,
    hashes: str | Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The NASLib layout as one dict (see the module docstring); mind the size for the full dataset.

    Parameters are those of :func:`iter_naslib`.
    """
    return dict(iter_naslib(source, epochs=epochs, hashes=hashes))


def write_naslib_json(
    source: Any,
    path: str | os.PathLike,
    *,
    epochs: int | Iterable[int] | None = None,
    hashes: str | Iterable[str] | None = None,
) -> int:
    """Write the NASLib layout to a JSON file, streaming (one bucket in memory at a time).

    Floats are written with Python's shortest round-trip repr, so reading the
    file back gives the dataset's float64 values exactly.

    Parameters
    ----------
    source : NASBench, Dataset or path
    path : path
        JSON file to create (parents created; written to ``path.tmp`` and renamed).
    epochs, hashes
        See :func:`iter_naslib`.

    Returns
    -------
    int
        Number of cells written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("{")
        for h, entry in iter_naslib(source, epochs=epochs, hashes=hashes):
            f.write(", " if count else "")
            f.write(f"{json.dumps(h)}: {json.dumps(entry)}")
            count += 1
        f.write("}\n")
    os.replace(tmp, path)
    return count


def _nni_arch(adjacency: str, num_vertices: int, operations: list[str]) -> str:
    """NNI's architecture dict for one cell, as JSON: ``op<i>`` labels and ``input<i>`` predecessors."""
    v = num_vertices
    arch: dict[str, Any] = {f"op{i}": operations[i] for i in range(1, v - 1)}
    for i in range(1, v):
        arch[f"input{i}"] = [k for k in range(i) if adjacency[k * v + i] == "1"]
    return json.dumps(arch)


def scan_nni_trials(source: Any, *, epochs: int | Iterable[int] | None = None) -> pl.LazyFrame:
    """One row per run in NNI's NAS-Bench-101 trial layout (config and stats joined).

    Parameters
    ----------
    source : NASBench, Dataset or path
    epochs : int or iterable of int, optional
        Budgets to include (default: all).

    Returns
    -------
    pl.LazyFrame
        :data:`NNI_TRIAL_COLUMNS`: ``arch`` (JSON str), ``num_vertices``,
        ``hash``, ``num_epochs``, ``repeat`` (ours), ``train_acc``,
        ``valid_acc``, ``test_acc`` (percent 0-100, final evaluation),
        ``parameters`` (millions), ``training_time`` (seconds), sorted by
        hash, budget, repeat.
    """
    import polars as pl

    cells, runs, _ = _selected(source, epochs, None)
    c = cells.select("module_hash", "num_vertices", "adjacency", "operations").collect()
    arch = [
        _nni_arch(a, v, ops)
        for v, a, ops in c.select("num_vertices", "adjacency", "operations").iter_rows()
    ]
    configs = c.select(
        pl.Series("arch", arch, dtype=pl.String),
        pl.col("num_vertices").cast(pl.Int64),
        pl.col("module_hash").alias("hash"),
    ).lazy()
    params = cells.select(pl.col("module_hash").alias("hash"), "trainable_parameters")
    return (
        runs.select(
            pl.col("module_hash").alias("hash"),
            pl.col("epochs").cast(pl.Int64).alias("num_epochs"),
            pl.col("repeat").cast(pl.Int64),
            (pl.col("final_train_accuracy") * 100).alias("train_acc"),
            (pl.col("final_validation_accuracy") * 100).alias("valid_acc"),
            (pl.col("final_test_accuracy") * 100).alias("test_acc"),
            pl.col("final_training_time").alias("training_time"),
        )
        .join(configs, on="hash", how="inner")
        .join(params, on="hash", how="inner")
        .with_columns((pl.col("trainable_parameters") / 1e6).alias("parameters"))
        .select(NNI_TRIAL_COLUMNS)
        .sort("hash", "num_epochs", "repeat")
    )


def scan_nni_intermediates(
    source: Any, *, epochs: int | Iterable[int] | None = None
) -> pl.LazyFrame:
    """Two rows per run (halfway and final evaluation) in NNI's intermediate-stats layout.

    Returns
    -------
    pl.LazyFrame
        :data:`NNI_INTERMEDIATE_COLUMNS`: ``hash``, ``num_epochs``, ``repeat``
        (ours), ``current_epoch`` (epochs trained at the evaluation),
        ``train_acc``, ``valid_acc``, ``test_acc`` (percent 0-100),
        ``training_time`` (seconds up to the evaluation), sorted by hash,
        budget, repeat, current epoch.
    """
    import polars as pl

    _, runs, _ = _selected(source, epochs, None)
    stages = [
        runs.select(
            pl.col("module_hash").alias("hash"),
            pl.col("epochs").cast(pl.Int64).alias("num_epochs"),
            pl.col("repeat").cast(pl.Int64),
            pl.col(f"{stage}_current_epoch").cast(pl.Int64).alias("current_epoch"),
            (pl.col(f"{stage}_train_accuracy") * 100).alias("train_acc"),
            (pl.col(f"{stage}_validation_accuracy") * 100).alias("valid_acc"),
            (pl.col(f"{stage}_test_accuracy") * 100).alias("test_acc"),
            pl.col(f"{stage}_training_time").alias("training_time"),
        )
        for stage in ("halfway", "final")
    ]
    return pl.concat(stages).sort("hash", "num_epochs", "repeat", "current_epoch")


#: Older names of :func:`scan_nni_trials` / :func:`scan_nni_intermediates` (lazy as well).
nni_trials = scan_nni_trials
nni_intermediates = scan_nni_intermediates


def write_nni_parquet(
    source: Any, out: str | os.PathLike, *, epochs: int | Iterable[int] | None = None
) -> dict[str, Path]:
    """Write :func:`scan_nni_trials` and :func:`scan_nni_intermediates` as Parquet files.

    Parameters
    ----------
    source : NASBench, Dataset or path
    out : path
        A path ending in ``.parquet`` is a file: the trials go there and the
        intermediates beside it as ``<stem>_intermediates.parquet`` (so
        ``write_nni_parquet(nb, "nni.parquet")`` writes ``nni.parquet`` and
        ``nni_intermediates.parquet``). Any other path is a folder (created)
        that receives ``nni_trials.parquet`` and ``nni_intermediates.parquet``.
    epochs : int or iterable of int, optional
        Budgets to include (default: all).

    Returns
    -------
    dict
        ``{"trials": path, "intermediates": path}``.

    Raises
    ------
    IsADirectoryError
        ``out`` ends in ``.parquet`` but is an existing directory.
    """
    out = Path(out)
    if out.suffix.lower() == ".parquet":
        if out.is_dir():
            msg = f"{str(out)!r} is a directory; give a new file path ending in .parquet, or a folder without the suffix"
            raise IsADirectoryError(msg)
        out.parent.mkdir(parents=True, exist_ok=True)
        paths = {"trials": out, "intermediates": out.with_name(f"{out.stem}_intermediates.parquet")}
    else:
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "trials": out / "nni_trials.parquet",
            "intermediates": out / "nni_intermediates.parquet",
        }
    scan_nni_trials(source, epochs=epochs).sink_parquet(paths["trials"])
    scan_nni_intermediates(source, epochs=epochs).sink_parquet(paths["intermediates"])
    return paths
