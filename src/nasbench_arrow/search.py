"""Plumbing for benchmarking search algorithms on the tabular benchmark.

The algorithms themselves live in ``examples/`` (random search and regularised
evolution, as in the original colab); this module holds what they share:

- :class:`SpecProposer`: random and mutated specs drawn the colab's way (edges
  and ops uniformly, mutation rates per edge and per op) from a private
  ``random.Random``, so a run is reproducible from its seed and never touches
  the global random state;
- :class:`TrajectoryRecorder`: the best validation accuracy so far and the
  test accuracy of that model, against the training time charged, one row per
  query;
- :func:`aggregate_trajectories`: mean and inter-quartile range over seeds on
  a common time grid (the colab's figure);
- :func:`sample_dataset`: the built-in sample, a complete small search space
  (every cell with at most 5 vertices, 2,532 cells) with synthetic metrics,
  converted once into a cache directory;
- :func:`example_parser` / :func:`run_example`: the command line every
  example has (``--dataset``, ``--seeds``, ``--budget``, ``--out``) and the
  loop over seeds that writes the Parquet files and the PNG.

Time budget
-----------
As in the colab, a run stops the first time the training time charged by the
queries (``nb.get_budget_counters()[0]``, seconds) exceeds the budget; the
query that crosses it counts. The colab's budget is 5e6 s (about 58 days of
training) per run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .constants import CELLS_BY_VERTEX_COUNT, INPUT, MAX_VERTICES, OUTPUT

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

    from .model_spec import ModelSpec

__all__ = [
    "COLAB_BUDGET",
    "SAMPLE_MAX_VERTICES",
    "SpecProposer",
    "TrajectoryRecorder",
    "aggregate_trajectories",
    "example_parser",
    "is_complete_space",
    "run_example",
    "sample_dataset",
]

#: Training-time budget per run in the original colab, seconds.
COLAB_BUDGET = 5e6
#: The built-in sample holds every cell with at most this many vertices.
SAMPLE_MAX_VERTICES = 5


# --------------------------------------------------------------------------- proposals


class SpecProposer:
    """Random and mutated cells, drawn as the original colab draws them.

    Parameters
    ----------
    nb : NASBench or any object with the original API
        Used for ``is_valid``, ``config['available_ops']`` and, when
        ``only_held`` is set, to check that the dataset holds the cell.
    rng : random.Random
        Source of every random choice (keep it apart from the one
        ``nb.query`` draws repeats from).
    num_vertices : int, optional
        Size of the matrices drawn (the colab's ``NUM_VERTICES``); default
        ``nb.config['module_vertices']`` (7).
    only_held : bool, default False
        For a dataset that is not a complete search space (a random sample of
        cells): :meth:`random_spec` draws uniformly among the cells the
        dataset holds, and :meth:`mutate` rejects children it does not hold
        (a hash per proposal); after ``max_tries`` rejected children in a row
        it returns a random held cell instead, so a search always goes on.
    max_tries : int, default 1000
        See ``only_held``.
    sampling : {"colab", "uniform"}, default "colab"
        How :meth:`random_spec` draws. ``"colab"``: a random matrix and random
        ops, redrawn until valid, exactly as the original colab (and so not
        uniform over cells: on the full space about 30% of its draws are the
        single 2-vertex cell or one of the six 3-vertex cells, and fewer than
        1% are 7-vertex cells, which make up 85% of the space). ``"uniform"``:
        every cell the dataset holds is equally likely (as
        ``NASBench.random_specs``). :meth:`mutate` is the colab's either way.

    Attributes
    ----------
    rejected : int
        Proposals redrawn because they were invalid (or not held).
    fallbacks : int
        Mutations replaced by a random held cell (``only_held`` only).
    """

    def __init__(
        self,
        nb: Any,
        rng: random.Random,
        *,
        num_vertices: int | None = None,
        only_held: bool = False,
        max_tries: int = 1000,
        sampling: str = "colab",
    ):
        from .model_spec import ModelSpec

        if sampling not in ("colab", "uniform"):
            msg = f"sampling must be 'colab' or 'uniform', got {sampling!r}"
            raise ValueError(msg)
        self.sampling = sampling
        self._spec_class = ModelSpec
        self.nb = nb
        self.rng = rng
        self.num_vertices = int(num_vertices or nb.config["module_vertices"])
        if not 2 <= self.num_vertices <= nb.config["module_vertices"]:
            msg = f"num_vertices must be in 2..{nb.config['module_vertices']}, got {num_vertices!r}"
            raise ValueError(msg)
        self.ops = list(nb.config["available_ops"])
        self.only_held = only_held
        self.max_tries = max_tries
        self.rejected = 0
        self.fallbacks = 0
        self._held: list[str] | None = None  # hashes of the dataset, listed on first need
        n = self.num_vertices
        self._edges = [(i, j) for i in range(n - 1) for j in range(i + 1, n)]

    def acceptable(self, spec: ModelSpec) -> bool:
        """Whether a proposal is in the space (and held by the dataset when ``only_held``)."""
        if not self.nb.is_valid(spec):
            return False
        if self.only_held:
            return spec.hash_spec(self.ops) in self.nb.fixed_statistics
        return True

    def random_spec(self) -> ModelSpec:
        """A random valid cell, drawn the colab's way (default) or uniformly over the dataset's cells.

        The colab's way: each upper-triangular edge of a ``num_vertices`` matrix
        with probability 1/2 and each interior op uniform, redrawn until the
        pruned cell is valid. That is uniform over *matrices*, not over cells:
        most matrices prune to a small cell, so on the full space about 30% of
        the draws are the single 2-vertex cell (9.5%) or one of the six 3-vertex
        cells (20%), and 0.3% are 7-vertex cells, although those are 85% of the
        423,624 cells (40,000 draws, seed 0).

        With ``sampling="uniform"`` or ``only_held``: a cell drawn uniformly
        among those the dataset holds.
        """
        rng, n = self.rng, self.num_vertices
        if self.only_held or self.sampling == "uniform":
            return self._random_held()
        while True:
            matrix = np.zeros((n, n), dtype=np.int64)
            bits = rng.getrandbits(len(self._edges))
            for k, (i, j) in enumerate(self._edges):
                if bits >> k & 1:
                    matrix[i, j] = 1
            ops = [INPUT] + [rng.choice(self.ops) for _ in range(n - 2)] + [OUTPUT]
            spec = self._spec_class(matrix, ops)
            if self.acceptable(spec):
                return spec
            self.rejected += 1

    def mutate(self, spec: ModelSpec, mutation_rate: float = 1.0) -> ModelSpec:
        """A valid mutation of ``spec`` (of its unpruned matrix, as the colab does).

        Each upper-triangular edge flips with probability ``mutation_rate / V``
        (V flips expected for rate 1; most are pruned away), each interior op
        is resampled among the other ops with probability
        ``mutation_rate / (V - 2)``; redrawn until valid. A smaller stored cell
        is first padded to ``V`` vertices with unconnected interior vertices.
        With ``only_held``, see the class docstring for the fallback.
        """
        rng, n = self.rng, self.num_vertices
        base_matrix, base_ops = _padded(
            np.asarray(spec.original_matrix), list(spec.original_ops), n, self.ops[0]
        )
        edge_p = mutation_rate / n
        op_p = mutation_rate / (n - 2)
        for _ in range(self.max_tries) if self.only_held else itertools.count():
            matrix = base_matrix.copy()
            ops = list(base_ops)
            for i, j in self._edges:
                if rng.random() < edge_p:
                    matrix[i, j] = 1 - matrix[i, j]
            for v in range(1, n - 1):
                if rng.random() < op_p:
                    ops[v] = rng.choice([o for o in self.ops if o != ops[v]])
            new = self._spec_class(matrix, ops)
            if self.acceptable(new):
                return new
            self.rejected += 1
        self.fallbacks += 1
        return self._random_held()

    def _random_held(self) -> ModelSpec:
        if self._held is None:
            self._held = list(self.nb.hash_iterator())
        fixed = self.nb.fixed_statistics[self.rng.choice(self._held)]
        return self._spec_class(fixed["module_adjacency"], fixed["module_operations"])


def _padded(
    matrix: np.ndarray, ops: list[str], n: int, filler: str
) -> tuple[np.ndarray, list[str]]:
    """Insert unconnected interior vertices before the output until there are ``n``."""
    v = matrix.shape[0]
    if v >= n:
        return matrix.astype(np.int64, copy=True), ops
    out = np.zeros((n, n), dtype=np.int64)
    out[: v - 1, : v - 1] = matrix[: v - 1, : v - 1]
    out[: v - 1, n - 1] = matrix[: v - 1, v - 1]
    return out, ops[:-1] + [filler] * (n - v) + [ops[-1]]


def is_complete_space(nb: Any) -> tuple[bool, int]:
    """Whether the dataset holds every cell with up to its largest vertex count.

    Returns
    -------
    (bool, int)
        Completeness, and the largest vertex count (the ``num_vertices`` a
        search should draw with).
    """
    counts = nb.cells().group_by("num_vertices").len().collect()
    held = dict(zip(counts["num_vertices"].to_list(), counts["len"].to_list()))
    largest = max(held) if held else 2
    complete = all(held.get(v, 0) == CELLS_BY_VERTEX_COUNT[v] for v in range(2, largest + 1))
    return complete, largest


# --------------------------------------------------------------------------- trajectories


class TrajectoryRecorder:
    """Best-so-far validation accuracy, and the test accuracy of that model, per query.

    Selection uses validation accuracy only; test accuracy is carried along
    for comparing trajectories, as in the colab.

    Parameters
    ----------
    nb : NASBench or any object with ``get_budget_counters``
    """

    def __init__(self, nb: Any):
        self.nb = nb
        self.times: list[float] = []
        self.valid: list[float] = []
        self.test: list[float] = []
        self.best_valid: list[float] = []
        self.best_test: list[float] = []

    def add(self, data: dict[str, Any]) -> float:
        """Record one query result; return the training time spent so far (seconds)."""
        spent = float(self.nb.get_budget_counters()[0])
        v, t = float(data["validation_accuracy"]), float(data["test_accuracy"])
        if not self.best_valid or v > self.best_valid[-1]:
            self.best_valid.append(v)
            self.best_test.append(t)
        else:
            self.best_valid.append(self.best_valid[-1])
            self.best_test.append(self.best_test[-1])
        self.times.append(spent)
        self.valid.append(v)
        self.test.append(t)
        return spent

    def __len__(self) -> int:
        return len(self.times)

    def to_polars(self, algorithm: str, seed: int) -> pl.DataFrame:
        """One row per query: ``algorithm``, ``seed``, ``query`` (1-based), ``time_spent``
        (seconds), ``validation_accuracy``, ``test_accuracy`` (of this query),
        ``best_validation_accuracy``, ``best_test_accuracy`` (test accuracy of the best-validation model)."""
        import polars as pl

        n = len(self.times)
        return pl.DataFrame(
            {
                "algorithm": pl.Series([algorithm] * n, dtype=pl.String),
                "seed": pl.Series([seed] * n, dtype=pl.Int64),
                "query": pl.Series(range(1, n + 1), dtype=pl.Int64),
                "time_spent": pl.Series(self.times, dtype=pl.Float64),
                "validation_accuracy": pl.Series(self.valid, dtype=pl.Float64),
                "test_accuracy": pl.Series(self.test, dtype=pl.Float64),
                "best_validation_accuracy": pl.Series(self.best_valid, dtype=pl.Float64),
                "best_test_accuracy": pl.Series(self.best_test, dtype=pl.Float64),
            }
        )


def aggregate_trajectories(
    trajectories: pl.DataFrame,
    *,
    max_time: float | None = None,
    num_points: int = 201,
    interpolation: str = "linear",
) -> pl.DataFrame:
    """Mean and inter-quartile range over seeds on a common grid of training time.

    Parameters
    ----------
    trajectories : pl.DataFrame
        Rows of :meth:`TrajectoryRecorder.to_polars` (any number of
        algorithms and seeds).
    max_time : float, optional
        End of the grid, seconds (default: the smallest final ``time_spent``
        over the runs, so every run covers the whole grid).
    num_points : int, default 201
        Grid points from 0 to ``max_time``.
    interpolation : {"linear", "previous"}, default "linear"
        ``"linear"`` interpolates between the queries around a grid time, as
        the colab does; ``"previous"`` takes the last query at or before it
        (what a search actually holds at that time). Before a run's first
        query its value is NaN and it is left out of the statistics.

    Returns
    -------
    pl.DataFrame
        ``algorithm``, ``time`` (seconds), ``runs`` (runs with a value), and
        ``{best_validation_accuracy,best_test_accuracy}_{mean,q25,q75}``
        (quartiles by linear interpolation between order statistics).
    """
    import polars as pl

    if interpolation not in ("linear", "previous"):
        msg = f"interpolation must be 'linear' or 'previous', got {interpolation!r}"
        raise ValueError(msg)
    if num_points < 2:
        msg = f"num_points must be at least 2, got {num_points!r}"
        raise ValueError(msg)
    metrics = ("best_validation_accuracy", "best_test_accuracy")
    runs = trajectories.sort("algorithm", "seed", "query").partition_by(
        ["algorithm", "seed"], as_dict=True, maintain_order=True
    )
    if not runs:
        msg = "no trajectories to aggregate"
        raise ValueError(msg)
    if max_time is None:
        max_time = min(float(r["time_spent"].max()) for r in runs.values())
    grid = np.linspace(0.0, float(max_time), num_points)

    by_algorithm: dict[str, list[np.ndarray]] = {}
    for (algorithm, _seed), run in runs.items():
        times = run["time_spent"].to_numpy()
        curves = []
        for m in metrics:
            values = run[m].to_numpy()
            if interpolation == "linear":
                curve = np.interp(grid, times, values, left=np.nan, right=values[-1])
                # Before the first query nothing is known, also at grid points np.interp fills.
                curve[grid < times[0]] = np.nan
            else:
                pos = np.searchsorted(times, grid, side="right") - 1
                curve = np.where(pos >= 0, values[np.clip(pos, 0, None)], np.nan)
            curves.append(curve)
        by_algorithm.setdefault(algorithm, []).append(np.stack(curves))

    frames = []
    for algorithm, stacks in by_algorithm.items():
        data = np.stack(stacks)  # (runs, metrics, grid)
        have = ~np.isnan(data[:, 0, :])
        columns: dict[str, Any] = {
            "algorithm": [algorithm] * grid.size,
            "time": grid,
            "runs": have.sum(axis=0).astype(np.int64),
        }
        for k, m in enumerate(metrics):
            values = data[:, k, :]
            with np.errstate(invalid="ignore"), _quiet_nan_warnings():
                columns[f"{m}_mean"] = np.nanmean(values, axis=0)
                columns[f"{m}_q25"] = np.nanquantile(values, 0.25, axis=0)
                columns[f"{m}_q75"] = np.nanquantile(values, 0.75, axis=0)
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames)


class _quiet_nan_warnings:
    """Silence numpy's 'Mean of empty slice' where a grid point has no run yet (NaN is the answer)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


# --------------------------------------------------------------------------- built-in sample


def _cache_base(cache_dir: str | os.PathLike | None) -> Path:
    from .dataset import CACHE_ENV

    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "nasbench-arrow"


def sample_dataset(
    cache_dir: str | os.PathLike | None = None,
    *,
    max_vertices: int = SAMPLE_MAX_VERTICES,
    seed: int = 0,
) -> Path:
    """The built-in sample: every cell with at most ``max_vertices`` vertices, converted once.

    The cells are the real ones of the search space (real hashes, the stored
    vertex order of the original generator); the metrics are synthetic
    (:mod:`nasbench_arrow.testing`), at all four budgets, three repeats. Being
    a complete space up to ``max_vertices``, every valid spec of that size is
    in it, so the colab's algorithms run on it unchanged with
    ``NUM_VERTICES = max_vertices``.

    Parameters
    ----------
    cache_dir : path, optional
        Base directory (default ``$NASBENCH_ARROW_CACHE`` or
        ``~/.cache/nasbench-arrow``); the dataset goes into
        ``sample-v<max_vertices>-s<seed>/`` below it and is reused later.
    max_vertices : int, default 5
        2..7 (5: 2,532 cells, 30,384 runs, about 2 s to build; 7 is the whole
        space, 423,624 cells, minutes).
    seed : int, default 0
        Seed of the synthetic metrics.

    Returns
    -------
    pathlib.Path
        The dataset directory.
    """
    import tempfile

    from .converters import convert
    from .errors import DatasetExistsError
    from .layout import FORMAT_VERSION, MANIFEST_NAME
    from .space import enumerate_cells
    from .testing import write_fixture_tfrecord

    if (
        isinstance(max_vertices, bool)
        or not isinstance(max_vertices, int)
        or not 2 <= max_vertices <= MAX_VERTICES
    ):
        msg = f"max_vertices must be an int in 2..{MAX_VERTICES}, got {max_vertices!r}"
        raise ValueError(msg)
    base = _cache_base(cache_dir)
    root = base / f"sample-v{max_vertices}-s{seed}-f{FORMAT_VERSION}"
    if (root / MANIFEST_NAME).is_file():
        return root
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=".sample-") as tmp:
        source = Path(tmp) / "sample.tfrecord"
        write_fixture_tfrecord(
            source, enumerate_cells(max_vertices=max_vertices), seed=seed, keep_records=False
        )
        try:
            convert(source, root)
        except DatasetExistsError:
            pass  # another process built it meanwhile
    return root


# --------------------------------------------------------------------------- example runner


def example_parser(
    description: str, *, default_budget: float = COLAB_BUDGET
) -> argparse.ArgumentParser:
    """The options every search example takes; add algorithm options to the returned parser."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--dataset",
        help="converted dataset directory or official .tfrecord (default: the built-in sample)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=10,
        help="independent runs, seeds 0..N-1 (default 10, as the colab)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=default_budget,
        help=f"training time per run, seconds (default {default_budget:g}, as the colab)",
    )
    p.add_argument(
        "--max-queries", type=int, default=None, help="also stop a run after this many queries"
    )
    p.add_argument(
        "--out", default="search-results", help="output directory (default ./search-results)"
    )
    p.add_argument(
        "--cache-dir", help="where the built-in sample is built (default ~/.cache/nasbench-arrow)"
    )
    p.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    p.add_argument("--log-x", action="store_true", help="logarithmic time axis in the PNG")
    p.add_argument(
        "--sampling",
        choices=["colab", "uniform"],
        default="colab",
        help="random cells the colab's way (random matrices kept when valid: small cells are drawn far "
        "more often than their share) or uniformly over the dataset's cells (default colab)",
    )
    return p


def run_example(
    name: str,
    algorithm: Callable[..., TrajectoryRecorder],
    args: argparse.Namespace,
    algorithm_kwargs: dict[str, Any] | None = None,
    *,
    stream=None,
) -> dict[str, Path]:
    """Run ``algorithm`` once per seed and write the results.

    For seed ``s``: opens ``NASBench(dataset, seed=s, rng="private", ledger=True)``
    (repeats drawn from its own generator), builds a :class:`SpecProposer` on
    ``random.Random(f"{s}:proposals")``, and calls
    ``algorithm(nb, proposer, budget=..., max_queries=..., **algorithm_kwargs)``.

    Writes into ``args.out``: ``<name>_trajectories.parquet`` (one row per
    query, all seeds), ``<name>_summary.parquet`` (:func:`aggregate_trajectories`),
    ``<name>_ledger.parquet`` (the query ledgers with a ``seed`` column) and,
    unless ``--no-plot``, ``<name>.png``.

    Returns
    -------
    dict
        ``{"trajectories", "summary", "ledger"[, "plot"]}`` -> path.
    """
    import polars as pl

    from .api import NASBench

    stream = sys.stdout if stream is None else stream
    dataset = args.dataset or sample_dataset(args.cache_dir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames, ledgers = [], []
    shape: tuple[bool, int] | None = None
    for seed in range(args.seeds):
        nb = NASBench(dataset, seed=seed, rng="private", ledger=True)
        if shape is None:
            shape = is_complete_space(nb)
        complete, largest = shape
        proposer = SpecProposer(
            nb,
            random.Random(f"{seed}:proposals"),
            num_vertices=largest,
            only_held=not complete,
            sampling=getattr(args, "sampling", "colab"),
        )
        recorder = algorithm(
            nb,
            proposer,
            budget=args.budget,
            max_queries=args.max_queries,
            **(algorithm_kwargs or {}),
        )
        frames.append(recorder.to_polars(name, seed))
        ledgers.append(
            nb.ledger.to_polars().with_columns(pl.lit(seed, dtype=pl.Int64).alias("seed"))
        )
        print(
            f"{name} seed {seed}: {len(recorder)} queries, {recorder.times[-1]:.0f} s charged, "
            f"best validation {recorder.best_valid[-1]:.4f} (test {recorder.best_test[-1]:.4f}), "
            f"{nb.ledger.num_repeated} repeated cells",
            file=stream,
        )
    trajectories = pl.concat(frames)
    summary = aggregate_trajectories(trajectories, max_time=args.budget)
    paths = {
        "trajectories": out / f"{name}_trajectories.parquet",
        "summary": out / f"{name}_summary.parquet",
        "ledger": out / f"{name}_ledger.parquet",
    }
    trajectories.write_parquet(paths["trajectories"])
    summary.write_parquet(paths["summary"])
    pl.concat(ledgers).write_parquet(paths["ledger"])
    if not args.no_plot:
        from . import plot

        fig = plot.trajectories(summary, log_x=getattr(args, "log_x", False))
        paths["plot"] = plot.save(fig, out / f"{name}.png")
    for key, path in paths.items():
        print(f"wrote {key}: {path}", file=stream)
    return paths
