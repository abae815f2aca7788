"""``nasbench-bench``: a multi-algorithm, multi-worker search campaign in one command.

::

    nasbench-bench --dataset nasbench_full/ --algorithms random,evolution,local,hyperband \\
        --workers 1,8 --seeds 50 --budget 5e6 --out results/

For every algorithm, worker count and seed ``s`` it runs
``Simulator(nb, n_workers, seed=s).run(optimizer(seed=OPTIMIZER_SEED_OFFSET + s), max_time=budget)``
(separate seeds, so the optimizer's and the simulator's generators are not
the same stream), in parallel over ``--jobs`` processes (default: every core),
and writes into ``--out``:

- ``traces/<algorithm>-w<N>/seed-<s>.parquet``: every evaluation of each
  run (:data:`~nasbench_arrow.benchmark.TRACE_COLUMNS`), written by the
  process that ran it (read them all with
  ``pl.scan_parquet("traces/<algorithm>-w<N>/*.parquet")``);
- ``curves.parquet``: test and validation regret against simulated
  wall-clock, median (or ``--stat iqm`` / ``mean``) over seeds with 95%
  bootstrap bands;
- ``regret_test.png`` and ``regret_validation.png``: those curves, one
  panel per worker count (``--log-x`` for a log time axis);
- ``summary.md`` / ``summary.parquet``: final regret per algorithm and
  worker count with its interval, also printed.

Without ``--dataset`` the built-in sample (every cell of at most 5
vertices, synthetic metrics; :func:`nasbench_arrow.search.sample_dataset`)
is used, so the command runs anywhere. Exit status 0 on success, 2 on a
usage or data error (the message says which), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NASBenchError

__all__ = ["DEFAULT_ALGORITHMS", "OPTIMIZER_SEED_OFFSET", "main", "run_campaign"]

DEFAULT_ALGORITHMS = ("random", "evolution", "local", "hyperband")
#: Optimizer seed = this + run seed; the simulator (repeats) uses the run seed itself.
OPTIMIZER_SEED_OFFSET = 1_000_000

_OPENED: dict[str, Any] = {}


def _open(dataset: str) -> Any:
    """The NASBench of a dataset, once per process."""
    nb = _OPENED.get(dataset)
    if nb is None:
        from ..api import NASBench

        nb = _OPENED[dataset] = NASBench(dataset)
    return nb


def _one_run(
    dataset: str,
    algorithm: str,
    n_workers: int,
    seed: int,
    budget: float,
    max_evaluations: int | None,
    synchronous: bool,
    opt: Any,
    out: str,
    times: Any,
) -> dict[str, Any]:
    """One (algorithm, workers, seed) run in a pool process.

    Writes its trace to ``out/traces/<name>-w<N>/seed-<s>.parquet`` and returns
    only what the summary needs (its regrets on the time grid, final regret,
    evaluation count), so the parent never holds the millions of trace rows.
    """
    import polars as pl

    from . import report
    from .optimizers import make_optimizer
    from .simulator import Simulator

    nb = _open(dataset)
    optimizer = make_optimizer(algorithm, nb, OPTIMIZER_SEED_OFFSET + seed, n_workers=n_workers, synchronous=synchronous)
    trace = Simulator(nb, n_workers=n_workers, seed=seed, opt=opt).run(optimizer, max_time=budget, max_evaluations=max_evaluations)
    name = _name(algorithm, synchronous)
    # The CLI names the algorithm, whatever the optimizer calls itself.
    trace = trace.with_columns(pl.lit(name).alias("algorithm"))
    folder = Path(out) / "traces" / f"{name}-w{n_workers}"
    folder.mkdir(parents=True, exist_ok=True)
    trace.write_parquet(folder / f"seed-{seed:04d}.parquet")
    return {
        "test_regret": report.on_grid(trace, times, metric="test_regret"),
        "validation_regret": report.on_grid(trace, times, metric="validation_regret"),
        "final": float(trace["test_regret"][-1]) if trace.height else float("nan"),
        "evaluations": trace.height,
    }


def _name(algorithm: str, synchronous: bool) -> str:
    return algorithm + ("-sync" if synchronous else "")


class _Progress:
    """A one-line progress bar on a stream (a line per 10% when it is not a terminal)."""

    def __init__(self, total: int, stream):
        self.total, self.stream = total, stream
        self.done = 0
        self.t0 = time.perf_counter()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last_decile = -1

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = int(width * self.done / self.total)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} runs, {elapsed:.1f} s, ETA {eta:.0f} s ({label})"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if self.done == self.total else ""))
            self.stream.flush()
        else:
            decile = 10 * self.done // self.total
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(line + "\n")


def run_campaign(
    dataset: str,
    algorithms: list[str],
    workers: list[int],
    seeds: int,
    budget: float,
    out: Path,
    *,
    jobs: int | None = None,
    max_evaluations: int | None = None,
    synchronous: bool = False,
    stat: str = "median",
    log_x: bool = False,
    plot: bool = True,
    stream=None,
) -> dict[str, Path]:
    """Run the campaign and write its outputs (see the module docstring); return the paths written.

    With ``jobs > 1`` the runs go to spawned processes: a script calling this
    needs the usual ``if __name__ == "__main__":`` guard.
    """
    import polars as pl

    from . import report
    from .optimizers import make_optimizer
    from .optimum import optimum

    stream = sys.stderr if stream is None else stream
    nb = _open(dataset)
    dataset = str(nb.root)  # a .tfrecord is converted once, here; the pool opens the conversion
    _OPENED[dataset] = nb
    for name in algorithms:  # fail before starting anything on a bad name or a missing extra
        make_optimizer(name, nb, 0, n_workers=max(workers), synchronous=synchronous)
    opt = optimum(nb)
    out.mkdir(parents=True, exist_ok=True)
    for a in algorithms:  # a rerun into the same folder must not leave seeds of an earlier run
        for w in workers:
            for stale in (out / "traces" / f"{_name(a, synchronous)}-w{w}").glob("seed-*.parquet"):
                stale.unlink()
    (out / "traces").mkdir(exist_ok=True)
    tasks = [(a, w, s) for a in algorithms for w in workers for s in range(seeds)]
    times = report.grid(budget, 200, log_x)
    progress = _Progress(len(tasks), stream)
    results: dict[tuple[str, int, int], dict[str, Any]] = {}
    jobs = jobs or os.cpu_count() or 1
    t0 = time.perf_counter()
    args = (budget, max_evaluations, synchronous, opt, str(out), times)
    if jobs == 1:
        for a, w, s in tasks:
            results[(a, w, s)] = _one_run(dataset, a, w, s, *args)
            progress.step(f"{a}, {w} workers, seed {s}")
    else:
        import multiprocessing

        # "spawn": Polars and the memory-mapped index are not fork-safe; each process re-opens the dataset.
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_one_run, dataset, a, w, s, *args): (a, w, s) for a, w, s in tasks}
            for future in as_completed(futures):
                a, w, s = futures[future]
                results[(a, w, s)] = future.result()
                progress.step(f"{a}, {w} workers, seed {s}")
    wall = time.perf_counter() - t0

    paths: dict[str, Path] = {"traces": out / "traces"}
    rng = np.random.default_rng(0)  # bootstrap resamples: the same summary for the same runs
    curve_frames, finals = [], []
    for a in algorithms:
        for w in workers:
            runs = [results[(a, w, s)] for s in range(seeds)]
            name = _name(a, synchronous)
            for metric in ("test_regret", "validation_regret"):
                data = np.stack([r[metric] for r in runs])
                curve = report.aggregate(name, w, times, data, stat=stat, rng=rng)
                curve_frames.append(curve.with_columns(pl.lit(metric).alias("metric")))
            finals.append(
                report.final_rows(
                    name, w, np.array([r["final"] for r in runs]), np.array([r["evaluations"] for r in runs]), stat=stat, rng=rng
                )
            )
    curves = pl.concat(curve_frames)
    paths["curves"] = out / "curves.parquet"
    curves.write_parquet(paths["curves"])
    table = pl.DataFrame(finals).sort(["n_workers", "value", "algorithm"])
    paths["summary"] = out / "summary.parquet"
    table.write_parquet(paths["summary"])
    text = (
        f"Campaign: {', '.join(algorithms)} x workers {workers} x {seeds} seeds x {budget:g} s simulated; "
        f"dataset {dataset}; {wall:.1f} s wall-clock on {jobs} process(es).\n\n"
        + report.markdown_table(table, metric="test_regret", stat=stat)
    )
    paths["summary.md"] = out / "summary.md"
    paths["summary.md"].write_text(text, encoding="utf-8")
    if plot:
        for metric, label, log_y in (("test_regret", "test regret", True), ("validation_regret", "validation regret", False)):
            part = curves.filter(pl.col("metric") == metric)
            fig = report.regret_figure(part, ylabel=label, stat=stat, log_x=log_x, log_y=log_y)
            paths[metric] = report.save(fig, out / f"regret_{metric.split('_')[0]}.png")
    print(text, file=sys.stdout)
    return paths


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        msg = f"expected comma-separated positive integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or min(values) < 1:
        msg = f"expected comma-separated positive integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return values


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nasbench-bench",
        description="Compare NAS algorithms on NAS-Bench-101 with simulated parallel workers: traces, regret figures, summary.",
    )
    p.add_argument("--dataset", help="converted dataset directory or official .tfrecord (default: the built-in sample)")
    p.add_argument(
        "--algorithms",
        default=",".join(DEFAULT_ALGORITHMS),
        help="comma-separated: random, random-uniform, evolution, local, successive-halving, hyperband, optuna "
        f"(default {','.join(DEFAULT_ALGORITHMS)})",
    )
    p.add_argument("--workers", type=_int_list, default=[1, 8], help="comma-separated worker counts (default 1,8)")
    p.add_argument("--seeds", type=int, default=50, help="runs per algorithm and worker count, seeds 0..N-1 (default 50)")
    p.add_argument("--budget", type=float, default=5e6, help="simulated wall-clock seconds per run (default 5e6)")
    p.add_argument("--max-evaluations", type=int, default=None, help="also stop a run after this many evaluations")
    p.add_argument("--out", default="bench-results", help="output directory (default ./bench-results)")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: every core)")
    p.add_argument("--sync", action="store_true", help="synchronous (batch) versions of the algorithms")
    p.add_argument("--stat", choices=("median", "iqm", "mean"), default="median", help="statistic over seeds (default median)")
    p.add_argument("--log-x", action="store_true", help="log-scaled time axis")
    p.add_argument("--no-plot", action="store_true", help="skip the PNGs (no matplotlib needed)")
    p.add_argument("--cache-dir", help="where the built-in sample is built (default ~/.cache/nasbench-arrow)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nasbench-bench``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if not algorithms:
        parser.error("--algorithms is empty")
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if not args.budget > 0 and args.max_evaluations is None:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    try:
        if args.dataset is None:
            from ..search import sample_dataset

            dataset = str(sample_dataset(args.cache_dir))
        else:
            dataset = args.dataset
        run_campaign(
            dataset,
            algorithms,
            args.workers,
            args.seeds,
            args.budget,
            Path(args.out),
            jobs=args.jobs,
            max_evaluations=args.max_evaluations,
            synchronous=args.sync,
            stat=args.stat,
            log_x=args.log_x,
            plot=not args.no_plot,
        )
    except (NASBenchError, ValueError, OSError) as exc:
        print(f"nasbench-bench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenProcessPool as exc:
        print(f"nasbench-bench: error: a worker process died ({exc}); try fewer --jobs (memory?)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
