"""The optimum of the dataset per budget, and regret of an incumbent against it.

nas_benchmarks measures a search by the *regret* of its incumbent (the best
configuration so far by validation error only):

- validation regret = the incumbent's observed validation error minus
  ``y_star_valid``, the lowest mean validation error of any cell;
- test regret = the incumbent's *mean test error at 108 epochs* (over its
  three repeats, whatever budget it was evaluated at) minus ``y_star_test``,
  the lowest mean test error of any cell at 108 epochs.

For the official file ``y_star_valid = 0.04944576819737756`` and
``y_star_test = 0.056824247042338016``; :func:`optimum` computes them (and
the same per budget) from any converted dataset with one lazy scan.

Test regret is never negative. Validation regret can be: one observed
repeat may beat the best *mean* (as in nas_benchmarks).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from ._table import FINAL, run_table

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["Optimum", "add_regret", "incumbent_positions", "optimum", "optimum_table"]

# Per opened index (weakly: the cache never keeps a dataset open, and a reopened or replaced
# dataset is scanned again).
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def optimum_table(nb: Any) -> pl.DataFrame:
    """Best mean validation and test accuracy per budget, and the cells, from a lazy scan of ``nb.runs()``.

    Returns
    -------
    pl.DataFrame
        One row per budget, ascending: ``epochs``,
        ``best_validation_accuracy`` (the highest mean over repeats of the
        final validation accuracy, fraction), ``best_validation_hash``,
        ``best_test_accuracy``, ``best_test_hash`` (each best separately;
        ties go to the smallest hash), ``y_star_valid`` and ``y_star_test``
        (1 - those, as nas_benchmarks states them).
    """
    import polars as pl

    key = nb.dataset.index
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    means = nb.runs().group_by("module_hash", "epochs").agg(
        pl.col("final_validation_accuracy").mean().alias("validation"),
        pl.col("final_test_accuracy").mean().alias("test"),
    )
    best_valid = (
        means.sort(["epochs", "validation", "module_hash"], descending=[False, True, False])
        .group_by("epochs", maintain_order=True)
        .first()
        .select("epochs", pl.col("validation").alias("best_validation_accuracy"), pl.col("module_hash").alias("best_validation_hash"))
    )
    best_test = (
        means.sort(["epochs", "test", "module_hash"], descending=[False, True, False])
        .group_by("epochs", maintain_order=True)
        .first()
        .select("epochs", pl.col("test").alias("best_test_accuracy"), pl.col("module_hash").alias("best_test_hash"))
    )
    table = (
        best_valid.join(best_test, on="epochs")
        .with_columns(
            (1 - pl.col("best_validation_accuracy")).alias("y_star_valid"),
            (1 - pl.col("best_test_accuracy")).alias("y_star_test"),
            pl.col("epochs").cast(pl.Int64),
        )
        .sort("epochs")
        .collect()
    )
    _CACHE[key] = table
    return table


class Optimum:
    """``y_star_valid`` / ``y_star_test`` of a dataset, as nas_benchmarks uses them (108 epochs).

    Parameters
    ----------
    y_star_valid, y_star_test : float
        Lowest mean validation and test error (fractions).
    """

    def __init__(self, y_star_valid: float, y_star_test: float):
        self.y_star_valid = float(y_star_valid)
        self.y_star_test = float(y_star_test)

    def __repr__(self) -> str:
        return f"Optimum(y_star_valid={self.y_star_valid!r}, y_star_test={self.y_star_test!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Optimum) and (self.y_star_valid, self.y_star_test) == (other.y_star_valid, other.y_star_test)

    def __hash__(self) -> int:
        return hash((self.y_star_valid, self.y_star_test))


def optimum(nb: Any, epochs: int = 108) -> Optimum:
    """The :class:`Optimum` of a dataset at a budget (default 108, the nas_benchmarks convention).

    Raises
    ------
    ValueError
        ``epochs`` is not one of the dataset's budgets.
    """
    table = optimum_table(nb)
    rows = table.filter(table["epochs"] == epochs)
    if rows.height != 1:
        msg = f"epochs must be one of {sorted(nb.valid_epochs)}, got {epochs!r}"
        raise ValueError(msg)
    return Optimum(rows["y_star_valid"][0], rows["y_star_test"][0])


def incumbent_positions(validation: np.ndarray) -> np.ndarray:
    """Position of the incumbent after each result: the first strictly best validation accuracy so far."""
    validation = np.asarray(validation, dtype=np.float64)
    n = validation.size
    if n == 0:
        return np.zeros(0, np.int64)
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(validation)[:-1]])
    improved = validation > best_before
    return np.maximum.accumulate(np.where(improved, np.arange(n), 0))


def add_regret(trace: pl.DataFrame, nb: Any, opt: Optimum | None = None) -> pl.DataFrame:
    """Add the incumbent and regret columns to one run's trace (rows in the order results arrived).

    Parameters
    ----------
    trace : pl.DataFrame
        Needs ``module_hash``, ``validation_accuracy`` and ``training_time``.
    nb : NASBench
        For the incumbents' mean test accuracy at 108 epochs.
    opt : Optimum, optional
        Default :func:`optimum` of ``nb``.

    Returns
    -------
    pl.DataFrame
        ``trace`` plus ``cost`` (training time charged so far, seconds),
        ``incumbent_hash``, ``incumbent_validation_accuracy``,
        ``incumbent_test_accuracy`` (its mean test accuracy at 108 epochs),
        ``validation_regret`` and ``test_regret`` (fractions).
    """
    import polars as pl

    opt = optimum(nb) if opt is None else opt
    table = run_table(nb)
    positions = incumbent_positions(trace["validation_accuracy"].to_numpy())
    hashes = trace["module_hash"].to_list()
    valid = trace["validation_accuracy"].to_numpy()
    mean_test: dict[str, float] = {}
    for p in np.unique(positions).tolist():
        h = hashes[p]
        if h not in mean_test:
            mean_test[h] = table.mean(table.row(h), 108, FINAL + 3)
    inc_hash = [hashes[p] for p in positions.tolist()]
    inc_valid = valid[positions] if len(positions) else np.zeros(0)
    inc_test = np.array([mean_test[h] for h in inc_hash], dtype=np.float64)
    return trace.with_columns(
        pl.Series("cost", np.cumsum(trace["training_time"].to_numpy()), dtype=pl.Float64),
        pl.Series("incumbent_hash", inc_hash, dtype=pl.String),
        pl.Series("incumbent_validation_accuracy", inc_valid, dtype=pl.Float64),
        pl.Series("incumbent_test_accuracy", inc_test, dtype=pl.Float64),
        pl.Series("validation_regret", (1 - inc_valid) - opt.y_star_valid, dtype=pl.Float64),
        pl.Series("test_regret", (1 - inc_test) - opt.y_star_test, dtype=pl.Float64),
    )
