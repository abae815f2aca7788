"""Questions about the whole search space, answered with Polars lazy frames.

Each function builds one lazy query over the dataset's Parquet tables
(``runs`` and ``cells``) and collects it once, so Polars pushes the filters
(the budget, the repeat, a parameter limit) and the column selection down into
the Parquet scan: only the columns named are read, and row groups whose
statistics exclude the filter are skipped.

- :func:`scan_repeat_view` (also under its older name ``repeat_view``): one
  row per (cell, budget), the metrics of one evaluation stage reduced over the
  repeats (mean and standard deviation, or one repeat), joined with the cell's
  size, as a LazyFrame. The other functions build on it.
- :func:`top_k`: the best cells by a metric, under a parameter and/or
  training-time limit.
- :func:`pareto_front`: the cells no other cell beats on both cost (parameters
  or training time, lower is better) and accuracy (higher is better).

Every function takes ``source``: a :class:`~nasbench_arrow.api.NASBench`, an
opened :class:`~nasbench_arrow.dataset.Dataset`, or a dataset directory.

Lazy or eager: the Polars naming habit
--------------------------------------
A function whose name starts with ``scan_`` returns a ``pl.LazyFrame`` (like
``pl.scan_parquet``): nothing is read until you ``.collect()``, so you can add
filters and selections that reach the Parquet scan. Every other function
answers a question and returns a collected ``pl.DataFrame`` (``top_k``,
``pareto_front``, ``NASBench.summary``, ``NASBench.query_many``). The same rule
holds in :mod:`nasbench_arrow.export` (``scan_nni_trials``,
``scan_nni_intermediates``). The facade's table accessors ``NASBench.cells()``
and ``.runs()`` (and ``Dataset.scan_cells()`` / ``.scan_runs()``) are lazy too.
The older names ``repeat_view``, ``nni_trials`` and ``nni_intermediates``
remain as aliases of the ``scan_`` functions (still lazy), so existing code
keeps working.

Determinism: reductions over the repeats are computed per (cell, budget) from
the repeats in repeat order, so the same data gives bit-identical floats on
every call, whatever the thread scheduling of the scan.

Example
-------
>>> from nasbench_arrow import NASBench, analysis                      # doctest: +SKIP
>>> nb = NASBench("out/")                                             # doctest: +SKIP
>>> analysis.top_k(nb, "validation_accuracy", k=5, max_params=1_000_000)  # doctest: +SKIP
>>> analysis.pareto_front(nb, x="training_time", y="test_accuracy")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .constants import NUM_REPEATS

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["METRICS", "REDUCTIONS", "pareto_front", "repeat_view", "scan_repeat_view", "top_k"]

#: Metrics of one evaluation, as named in a query result (times in seconds, accuracies 0-1).
METRICS: tuple[str, ...] = (
    "training_time",
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
)
#: Ways to reduce the repeats of a (cell, budget); also ``"repeat0"``, ``"repeat1"``, ... or an int.
REDUCTIONS: tuple[str, ...] = ("mean", "median", "min", "max")
# Cell columns carried along in every view.
_CELL_COLUMNS = ("module_hash", "num_vertices", "num_edges", "trainable_parameters")


def _frames(source: Any) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """``(cells, runs)`` lazy frames of a NASBench, a Dataset or a dataset directory."""
    from . import dataset as _dataset

    if callable(getattr(source, "runs", None)) and callable(getattr(source, "cells", None)):
        return source.cells(), source.runs()
    if callable(getattr(source, "scan_runs", None)):
        return source.scan_cells(), source.scan_runs()
    if isinstance(source, (str, os.PathLike)):
        root = _dataset.resolve_dataset(source)
        return _dataset.scan_cells(root), _dataset.scan_runs(root)
    msg = (
        f"source must be a NASBench, a Dataset or a dataset directory, got {type(source).__name__}"
    )
    raise TypeError(msg)


def _check_reduce(reduce: str | int) -> int | str:
    """``reduce`` as a repeat number (int) or one of :data:`REDUCTIONS`."""
    if isinstance(reduce, bool):
        pass
    elif isinstance(reduce, int) and 0 <= reduce < NUM_REPEATS:
        return reduce
    elif isinstance(reduce, str):
        if reduce in REDUCTIONS:
            return reduce
        if reduce.startswith("repeat") and reduce[6:].isdigit() and int(reduce[6:]) < NUM_REPEATS:
            return int(reduce[6:])
    msg = (
        f"reduce must be one of {list(REDUCTIONS)}, 'repeat0'..'repeat{NUM_REPEATS - 1}' "
        f"or an int 0..{NUM_REPEATS - 1}, got {reduce!r}"
    )
    raise ValueError(msg)


def _check_metric(name: str, allowed: tuple[str, ...], what: str) -> str:
    if name not in allowed:
        msg = f"{what} must be one of {list(allowed)}, got {name!r}"
        raise ValueError(msg)
    return name


def scan_repeat_view(
    source: Any,
    epochs: int | None = 108,
    *,
    reduce: str | int = "mean",
    stop_halfway: bool = False,
    max_params: int | None = None,
) -> pl.LazyFrame:
    """One row per (cell, budget): the metrics of one stage reduced over the repeats.

    Parameters
    ----------
    source : NASBench, Dataset or path
        The dataset.
    epochs : int or None, default 108
        Keep this budget only (pushed down into the scan); None keeps all budgets.
    reduce : {"mean", "median", "min", "max"}, "repeat<k>" or int, default "mean"
        How the repeats are combined; ``"repeat0"`` (or ``0``) takes repeat 0
        only, as a search that always trains once would see it.
    stop_halfway : bool, default False
        Use the evaluation at half the budget instead of the final one.
    max_params : int, optional
        Keep cells with at most this many trainable parameters (a filter on
        the cells scan, applied before the join).

    Returns
    -------
    pl.LazyFrame
        ``module_hash``, ``epochs``, ``num_repeats`` (runs reduced), the
        :data:`METRICS` (seconds; fractions 0-1), with ``reduce="mean"`` also
        ``<metric>_std`` (population standard deviation, ``ddof=0``, as
        ``NASBench.summary``), then ``num_vertices``, ``num_edges``,
        ``trainable_parameters``. Sorted by ``module_hash``, ``epochs``.

    Examples
    --------
    >>> view = scan_repeat_view(nb, 108).collect()      # doctest: +SKIP
    >>> view.select("module_hash", "validation_accuracy", "validation_accuracy_std")  # doctest: +SKIP
    """
    import polars as pl

    how = _check_reduce(reduce)
    cells, runs = _frames(source)
    stage = "halfway" if stop_halfway else "final"
    columns = {m: f"{stage}_{m}" for m in METRICS}
    if epochs is not None:
        runs = runs.filter(pl.col("epochs") == int(epochs))
    if isinstance(how, int):
        runs = runs.filter(pl.col("repeat") == how)
    runs = runs.select("module_hash", "epochs", "repeat", *columns.values())
    # Deterministic floats: a multi-threaded group_by may add a group's values
    # in any order (1e-15 differences between identical calls). So each group
    # first gathers its values as a list in repeat order, and the mean and the
    # standard deviation are computed per list, always in that order.
    gathered = [pl.len().cast(pl.Int64).alias("num_repeats")]
    gathered += [pl.col(col).sort_by("repeat").alias(name) for name, col in columns.items()]
    per_cell = runs.group_by("module_hash", "epochs").agg(gathered)
    reduced = []
    for name in columns:
        values = pl.col(name).list
        if how == "mean" or isinstance(how, int):
            reduced.append(_ordered_mean(name).alias(name))
        elif how == "median":
            reduced.append(values.median().alias(name))
        elif how == "min":
            reduced.append(values.min().alias(name))
        else:
            reduced.append(values.max().alias(name))
    if how == "mean":
        reduced += [_ordered_std(name).alias(f"{name}_std") for name in columns]
    per_cell = per_cell.with_columns(reduced)
    size = cells.select(*_CELL_COLUMNS)
    if max_params is not None:
        size = size.filter(pl.col("trainable_parameters") <= int(max_params))
    return (
        per_cell.join(size, on="module_hash", how="inner")
        .with_columns(
            pl.col("epochs").cast(pl.Int64), pl.col("trainable_parameters").cast(pl.Int64)
        )
        .sort("module_hash", "epochs")
    )


def _ordered_mean(name: str):
    """Mean of a list column, summed left to right (fixed order: bit-reproducible)."""
    import polars as pl

    return pl.col(name).list.eval(pl.element().cum_sum()).list.last() / pl.col(name).list.len()


def _ordered_std(name: str):
    """Population standard deviation (ddof=0) of a list column, in a fixed order.

    ``sqrt(sum((x - mean)^2) / n)``, both sums left to right: the two-pass
    formula, as numerically careful as Polars' own, and bit-reproducible.
    """
    import polars as pl

    n = pl.col(name).list.len()
    mean = _ordered_mean(name)
    centred = pl.col(name).list.eval(pl.element()) - mean  # broadcast per row
    return (centred.list.eval((pl.element() * pl.element()).cum_sum()).list.last() / n).sqrt()


#: Older name of :func:`scan_repeat_view` (lazy as well); kept for existing code.
repeat_view = scan_repeat_view


def top_k(
    source: Any,
    metric: str = "validation_accuracy",
    k: int = 10,
    epochs: int = 108,
    *,
    max_params: int | None = None,
    max_training_time: float | None = None,
    reduce: str | int = "mean",
    stop_halfway: bool = False,
    descending: bool | None = None,
) -> pl.DataFrame:
    """The ``k`` best cells by a metric, optionally under a size or time limit.

    Parameters
    ----------
    source : NASBench, Dataset or path
        The dataset.
    metric : {"validation_accuracy", "test_accuracy", "train_accuracy", "training_time"}
        What to rank by, after reducing the repeats.
    k : int, default 10
        Rows returned (fewer when fewer cells meet the limits).
    epochs : int, default 108
        Budget.
    max_params : int, optional
        Keep cells with at most this many trainable parameters (pushed down
        into the scan of the cells table).
    max_training_time : float, optional
        Keep cells whose reduced training time at this budget is at most this
        many seconds.
    reduce : see :func:`scan_repeat_view`
    stop_halfway : bool, default False
        Rank by the evaluation at half the budget.
    descending : bool, optional
        Default: highest first for accuracies, lowest first for training time.

    Returns
    -------
    pl.DataFrame
        Rows of :func:`scan_repeat_view`, best first; ties broken by ``module_hash``.

    Examples
    --------
    >>> top_k(nb, "test_accuracy", k=3, max_params=800_000, max_training_time=1_500)  # doctest: +SKIP
    """
    import polars as pl

    _check_metric(metric, METRICS, "metric")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        msg = f"k must be a non-negative int, got {k!r}"
        raise ValueError(msg)
    if descending is None:
        descending = metric != "training_time"
    view = scan_repeat_view(
        source, epochs, reduce=reduce, stop_halfway=stop_halfway, max_params=max_params
    )
    if max_training_time is not None:
        view = view.filter(pl.col("training_time") <= max_training_time)
    return view.sort([metric, "module_hash"], descending=[descending, False]).head(k).collect()


def pareto_front(
    source: Any,
    x: str = "trainable_parameters",
    y: str = "validation_accuracy",
    epochs: int = 108,
    *,
    reduce: str | int = "mean",
    stop_halfway: bool = False,
) -> pl.DataFrame:
    """The cells that no other cell beats on both cost ``x`` (lower) and accuracy ``y`` (higher).

    A cell is on the front when no other cell has ``x <=`` and ``y >=`` with
    at least one strict; cells tied on both are all kept.

    Parameters
    ----------
    source : NASBench, Dataset or path
        The dataset.
    x : {"trainable_parameters", "training_time"}, default "trainable_parameters"
        Cost, lower is better (training time reduced over repeats, seconds).
    y : {"validation_accuracy", "test_accuracy", "train_accuracy"}, default "validation_accuracy"
        Accuracy, higher is better (reduced over repeats, fraction 0-1).
    epochs : int, default 108
        Budget.
    reduce : see :func:`scan_repeat_view`
    stop_halfway : bool, default False
        Use the evaluation at half the budget.

    Returns
    -------
    pl.DataFrame
        Rows of :func:`scan_repeat_view` on the front, by ``x`` ascending (so ``y``
        ascending too), ties by ``module_hash``.

    Examples
    --------
    >>> front = pareto_front(nb, x="training_time", y="test_accuracy")  # doctest: +SKIP
    """
    import polars as pl

    _check_metric(x, ("trainable_parameters", "training_time"), "x")
    _check_metric(y, ("validation_accuracy", "test_accuracy", "train_accuracy"), "y")
    view = scan_repeat_view(source, epochs, reduce=reduce, stop_halfway=stop_halfway)
    # Per distinct x: the best y there, and the best y at any strictly smaller x.
    # A point survives when it is the best at its x and beats everything cheaper.
    levels = (
        view.group_by(x)
        .agg(pl.col(y).max().alias("_best_here"))
        .sort(x)
        .with_columns(pl.col("_best_here").cum_max().shift(1).alias("_best_cheaper"))
    )
    return (
        view.join(levels, on=x, how="inner")
        .filter(
            (pl.col(y) == pl.col("_best_here"))
            & (pl.col("_best_cheaper").is_null() | (pl.col(y) > pl.col("_best_cheaper")))
        )
        .drop("_best_here", "_best_cheaper")
        .sort([x, "module_hash"])
        .collect()
    )
