"""Aggregate simulator traces over seeds: curves with bootstrap bands, final-regret table, figures.

Statistics over seeds (at each time of a common grid):

- ``"median"``;
- ``"iqm"``: the inter-quartile mean (mean of the middle 50% of the runs,
  ``floor(n/4)`` cut at each end, as rliable), robust and more efficient
  than the median (Agarwal et al. 2021);
- ``"mean"``.

Confidence bands are percentile bootstrap intervals over seeds (runs
resampled with replacement, ``n_boot`` times, seeded). A run's value at time
``t`` is its regret after the last result told at or before ``t`` (a step
function: what the search holds at that moment); before its first result a
run has no value and is left out of the statistic there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import import_optional

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    from matplotlib.figure import Figure

__all__ = [
    "STATISTICS",
    "aggregate",
    "curves",
    "final_rows",
    "final_table",
    "grid",
    "markdown_table",
    "on_grid",
    "regret_figure",
    "save",
    "statistic",
]

STATISTICS = ("median", "iqm", "mean")


def statistic(values: np.ndarray, kind: str, axis: int = -1) -> np.ndarray:
    """Median, inter-quartile mean or mean along ``axis`` (NaN-free input)."""
    if kind == "median":
        return np.median(values, axis=axis)
    if kind == "mean":
        return np.mean(values, axis=axis)
    if kind == "iqm":
        values = np.sort(values, axis=axis)
        n = values.shape[axis]
        cut = n // 4
        kept = np.take(values, np.arange(cut, n - cut), axis=axis)
        return np.mean(kept, axis=axis)
    msg = f"statistic must be one of {list(STATISTICS)}, got {kind!r}"
    raise ValueError(msg)


def _bootstrap(values: np.ndarray, kind: str, n_boot: int, confidence: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of ``statistic`` over axis 0 (runs) of ``(runs, points)``."""
    n = values.shape[0]
    picks = rng.integers(0, n, size=(n_boot, n))
    resampled = values[picks]  # (n_boot, runs, points)
    stats = statistic(resampled, kind, axis=1)
    alpha = (1 - confidence) / 2
    return np.quantile(stats, alpha, axis=0), np.quantile(stats, 1 - alpha, axis=0)


def _grid(max_time: float, num_points: int, log_x: bool, first: float) -> np.ndarray:
    if log_x:
        return np.geomspace(max(first, max_time * 1e-4), max_time, num_points)
    return np.linspace(0.0, max_time, num_points)


def curves(
    traces: pl.DataFrame,
    *,
    metric: str = "test_regret",
    time: str = "end",
    max_time: float | None = None,
    num_points: int = 200,
    log_x: bool = False,
    stat: str = "median",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pl.DataFrame:
    """Regret over time per algorithm and worker count: a statistic over seeds with a bootstrap band.

    Parameters
    ----------
    traces : pl.DataFrame
        Rows of :meth:`Simulator.run` for any algorithms, worker counts and seeds.
    metric : str, default "test_regret"
        Column to aggregate (``validation_regret`` too).
    time : {"end", "cost"}, default "end"
        Simulated wall-clock (``end``) or training time charged (``cost``), seconds.
    max_time : float, optional
        End of the grid (default: the largest time in the traces).
    num_points : int, default 200
    log_x : bool, default False
        Log-spaced grid (from 1e-4 of ``max_time`` or the first result).
    stat : {"median", "iqm", "mean"}, default "median"
    n_boot, confidence, seed
        Bootstrap resamples, interval level, generator seed.

    Returns
    -------
    pl.DataFrame
        ``algorithm``, ``n_workers``, ``time``, ``runs`` (with a value),
        ``value``, ``low``, ``high``.
    """
    import polars as pl

    if stat not in STATISTICS:
        msg = f"stat must be one of {list(STATISTICS)}, got {stat!r}"
        raise ValueError(msg)
    if traces.height == 0:
        msg = "no traces to aggregate"
        raise ValueError(msg)
    max_time = float(traces[time].max()) if max_time is None else float(max_time)
    first = float(traces[time].min())
    times = _grid(max_time, num_points, log_x, max(first, 1e-9))
    rng = np.random.default_rng(seed)
    frames = []
    groups = traces.sort("algorithm", "n_workers", "seed", time).partition_by(
        ["algorithm", "n_workers"], as_dict=True, maintain_order=True
    )
    for (algorithm, n_workers), group in groups.items():
        runs = [on_grid(run, times, metric=metric, time=time) for run in group.partition_by("seed", maintain_order=True)]
        frames.append(aggregate(algorithm, n_workers, times, np.stack(runs), stat=stat, n_boot=n_boot, confidence=confidence, rng=rng))
    return pl.concat(frames)


def grid(max_time: float, num_points: int = 200, log_x: bool = False, first: float | None = None) -> np.ndarray:
    """The time grid of :func:`curves`: linear from 0, or log-spaced from ``first`` (default 1e-4 of the end)."""
    return _grid(float(max_time), num_points, log_x, max(first if first is not None else 0.0, 1e-9))


def on_grid(run: pl.DataFrame, times: np.ndarray, *, metric: str = "test_regret", time: str = "end") -> np.ndarray:
    """One run's ``metric`` at each grid time: its value after the last result at or before it (NaN before any)."""
    run = run.sort(time, maintain_order=True)
    t = run[time].to_numpy()
    v = run[metric].to_numpy()
    pos = np.searchsorted(t, times, side="right") - 1
    return np.where(pos >= 0, v[np.clip(pos, 0, None)], np.nan)


def aggregate(
    algorithm: str,
    n_workers: int,
    times: np.ndarray,
    data: np.ndarray,
    *,
    stat: str = "median",
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
) -> pl.DataFrame:
    """Statistic and bootstrap band over runs of ``(runs, points)`` values on a grid (rows of :func:`curves`)."""
    import polars as pl

    rng = np.random.default_rng(0) if rng is None else rng
    have = ~np.isnan(data)
    value = np.full(times.size, np.nan)
    low = np.full(times.size, np.nan)
    high = np.full(times.size, np.nan)
    complete = have.all(axis=0)
    if complete.any():
        block = data[:, complete]
        value[complete] = statistic(block, stat, axis=0)
        low[complete], high[complete] = _bootstrap(block, stat, n_boot, confidence, rng)
    for j in np.flatnonzero(~complete & have.any(axis=0)).tolist():  # some runs have no result yet
        col = data[have[:, j], j][:, None]
        value[j] = statistic(col, stat, axis=0)[0]
        lo, hi = _bootstrap(col, stat, n_boot, confidence, rng)
        low[j], high[j] = lo[0], hi[0]
    return pl.DataFrame(
        {
            "algorithm": [algorithm] * times.size,
            "n_workers": pl.Series([n_workers] * times.size, dtype=pl.Int64),
            "time": times,
            "runs": have.sum(axis=0).astype(np.int64),
            "value": value,
            "low": low,
            "high": high,
        }
    )


def final_rows(
    algorithm: str, n_workers: int, finals: np.ndarray, evaluations: np.ndarray, *, stat: str = "median",
    n_boot: int = 1000, confidence: float = 0.95, rng: np.random.Generator | None = None,
) -> dict:
    """One row of :func:`final_table` from each run's final value and evaluation count."""
    rng = np.random.default_rng(0) if rng is None else rng
    values = np.asarray(finals, dtype=np.float64)[:, None]
    lo, hi = _bootstrap(values, stat, n_boot, confidence, rng)
    return {
        "algorithm": algorithm,
        "n_workers": int(n_workers),
        "seeds": len(values),
        "evaluations": float(np.mean(evaluations)),
        "value": float(statistic(values, stat, axis=0)[0]),
        "low": float(lo[0]),
        "high": float(hi[0]),
    }  # fmt: skip


def final_table(
    traces: pl.DataFrame,
    *,
    metric: str = "test_regret",
    stat: str = "median",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pl.DataFrame:
    """Final regret per algorithm and worker count, with a bootstrap interval over seeds.

    Returns
    -------
    pl.DataFrame
        ``algorithm``, ``n_workers``, ``seeds``, ``evaluations`` (mean per
        run), ``value``, ``low``, ``high`` (of ``metric`` at each run's last
        result), sorted by worker count then value.
    """
    import polars as pl

    rng = np.random.default_rng(seed)
    last = traces.sort("evaluation").group_by("algorithm", "n_workers", "seed", maintain_order=True).agg(
        pl.col(metric).last().alias("final"), pl.len().alias("evaluations")
    )
    rows = [
        final_rows(algorithm, n_workers, group["final"].to_numpy(), group["evaluations"].to_numpy(),
                   stat=stat, n_boot=n_boot, confidence=confidence, rng=rng)
        for (algorithm, n_workers), group in last.sort("algorithm", "n_workers", "seed").partition_by(
            ["algorithm", "n_workers"], as_dict=True, maintain_order=True
        ).items()
    ]  # fmt: skip
    return pl.DataFrame(rows).sort(["n_workers", "value", "algorithm"])


def regret_figure(
    curve: pl.DataFrame,
    *,
    ylabel: str = "test regret",
    stat: str = "median",
    log_x: bool = False,
    log_y: bool = True,
    width_per_panel: float = 5.5,
    height: float = 4.5,
    dpi: float = 100.0,
) -> Figure:
    """One panel per worker count: each algorithm's curve and its bootstrap band (from :func:`curves`)."""
    import_optional("matplotlib", "plot", "nasbench-bench figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    workers = sorted(set(curve["n_workers"].to_list()))
    fig = Figure(figsize=(width_per_panel * len(workers), height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(workers), squeeze=False)[0]
    algorithms = list(dict.fromkeys(curve["algorithm"].to_list()))
    for ax, n in zip(axes, workers):
        for i, algorithm in enumerate(algorithms):
            part = curve.filter((curve["n_workers"] == n) & (curve["algorithm"] == algorithm))
            if part.height == 0:
                continue
            t = part["time"].to_numpy()
            value = part["value"].to_numpy()
            if log_y:  # a regret of 0 (the optimum found) cannot be drawn on a log axis
                value = np.where(value > 0, value, np.nan)
            ax.plot(t, value, color=f"C{i}", linewidth=2, label=f"{algorithm} ({int(part['runs'].max())} seeds)")
            ax.fill_between(t, part["low"].to_numpy(), part["high"].to_numpy(), color=f"C{i}", alpha=0.2, linewidth=0)
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("simulated wall-clock time (s)")
        ax.set_ylabel(f"{ylabel} ({stat}, 95% bootstrap CI)")
        ax.set_title(f"{n} worker{'s' if n != 1 else ''}")
        ax.grid(True, alpha=0.3, which="both")
        ax.legend(loc="upper right")
    return fig


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write a figure (format by suffix); parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi)
    return path


def markdown_table(table: pl.DataFrame, *, metric: str, stat: str) -> str:
    """The :func:`final_table` as a markdown table."""
    lines = [
        f"| algorithm | workers | seeds | evaluations per run | final {metric} ({stat}) | 95% CI |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in table.iter_rows(named=True):
        lines.append(
            f"| {r['algorithm']} | {r['n_workers']} | {r['seeds']} | {r['evaluations']:,.0f} | "
            f"{r['value']:.5f} | [{r['low']:.5f}, {r['high']:.5f}] |"
        )
    return "\n".join(lines) + "\n"
