"""Benchmark: encodings, random-search evaluations and the default search campaign (issue 12 targets).

One command::

    python benchmarks/bench_harness.py                 # full scale: all 423,624 cells, the default campaign
    python benchmarks/bench_harness.py --seeds 4       # the campaign with fewer seeds (scaled to 50 in the table)
    python benchmarks/bench_harness.py --small         # the complete <= 5-vertex sample, seconds

The data: full scale reuses ``benchmarks/bench_api.py``'s generated dataset
(``benchmarks/_work/api_full.dataset``: the real 423,624 cells of the space,
synthetic metrics, official format), generating it first if absent;
``--small`` uses the built-in sample (``search.sample_dataset``, 2,532 cells).

Measured in this process, each against a baseline measured in the same run:

* encodings of every cell, per kind (``encodings.encode_dataset``; first
  call, including the fresh result array's page faults, and a second call),
  against the literal per-cell loops of the published definitions (the
  models in ``tests/test_encodings.py``) over 5,000 cells, scaled to all;
* 10,000 random-search evaluations through ``Simulator`` (one worker; colab
  sampler and uniform sampler), against a plain Python loop of
  ``SpecProposer.random_spec()`` + ``nb.query(spec, repeat=...)`` over
  10,000 queries (the colab's loop);
* the default campaign, ``nasbench-bench`` with random, evolution, local,
  hyperband x workers {1, 8} x seeds x 5e6 s, on every core
  (``run_campaign``, figures included), wall time (scaled linearly to 50
  seeds when ``--seeds`` is smaller), against the 60 s target.

Prints a markdown table (targets and ratios) with the machine's load
average; the full-scale run writes it to ``benchmarks/results/harness.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

NUM_EVALUATIONS = 10_000
LITERAL_CELLS = 5_000


def _dataset(small: bool) -> Path:
    if small:
        from nasbench_arrow.search import sample_dataset

        return sample_dataset(HERE / "_work" / "sample-cache")
    from bench_api import prepare

    return prepare(small=False)[1]


def _fmt(seconds: float) -> str:
    return f"{seconds:,.2f} s" if seconds >= 1 else f"{seconds * 1000:,.1f} ms"


def _ratio(ours: float, baseline: float) -> str:
    r = ours / baseline
    return f"{r:.2f}" if r >= 0.01 else f"1/{baseline / ours:,.0f}"


def bench_encodings(nb) -> list[tuple]:
    from nasbench_arrow import encodings
    from test_encodings import LITERAL, literal_pad, literal_path_encoding

    index = nb.dataset.index
    n = index.num_cells
    rows = np.linspace(0, n - 1, min(LITERAL_CELLS, n)).astype(int).tolist()
    cells = [index.cell(r)[:2] for r in rows]
    literal = dict(LITERAL)
    literal["trunc_path"] = lambda m, o: literal_path_encoding(m, o)[:40]
    out = []
    for kind in encodings.KINDS:
        t = time.perf_counter()
        X = encodings.encode_dataset(nb, kind)
        first = time.perf_counter() - t
        del X
        t = time.perf_counter()
        X = encodings.encode_dataset(nb, kind)
        second = time.perf_counter() - t
        t = time.perf_counter()
        for matrix, ops in cells:
            literal[kind](*literal_pad(matrix.tolist(), ops))
        per_cell = (time.perf_counter() - t) / len(cells)
        baseline = per_cell * n
        out.append((f"encode all {n:,} cells: `{kind}` {X.shape}", f"{_fmt(first)} (again: {_fmt(second)})",
                    f"{_fmt(baseline)} (literal loop, scaled)", _ratio(first, baseline), "<= 2 s"))  # fmt: skip
        del X
    return out


def bench_random_search(nb) -> list[tuple]:
    from nasbench_arrow.benchmark import RandomSearch, Simulator, optimum
    from nasbench_arrow.search import SpecProposer, is_complete_space

    opt = optimum(nb)
    _, largest = is_complete_space(nb)
    # Baseline: the colab's loop, one query per proposal.
    proposer = SpecProposer(nb, random.Random(0), num_vertices=largest)
    rng = random.Random(0)
    t = time.perf_counter()
    for _ in range(NUM_EVALUATIONS):
        nb.query(proposer.random_spec(), repeat=rng.randrange(3))
    baseline = time.perf_counter() - t
    out = []
    for sampler in ("colab", "uniform"):
        best = float("inf")
        for rep in range(2):
            search = RandomSearch(nb, seed=rep, sampler=sampler)
            sim = Simulator(nb, n_workers=1, seed=rep, opt=opt)
            t = time.perf_counter()
            trace = sim.run(search, max_evaluations=NUM_EVALUATIONS)
            best = min(best, time.perf_counter() - t)
        assert trace.height == NUM_EVALUATIONS
        out.append((f"{NUM_EVALUATIONS:,} random-search evaluations (Simulator, {sampler} sampler, trace included)",
                    _fmt(best), f"{_fmt(baseline)} (colab loop over `nb.query`)", _ratio(best, baseline), "<= 0.2 s"))  # fmt: skip
    return out


def _cpu() -> float:
    """User + system seconds of this process and its finished children."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_campaign(root: Path, seeds: int) -> tuple[list[tuple], str]:
    from nasbench_arrow.benchmark import cli

    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp, open(os.devnull, "w") as quiet:
        t, c = time.perf_counter(), _cpu()
        cli.run_campaign(str(root), list(cli.DEFAULT_ALGORITHMS), [1, 8], seeds, 5e6, Path(tmp) / "out", plot=True, stream=quiet, jobs=jobs)
        wall, cpu = time.perf_counter() - t, _cpu() - c
        summary = (Path(tmp) / "out" / "summary.md").read_text()
    scale = 50 / seeds
    label = "default campaign (random, evolution, local, hyperband x {1, 8} workers x 50 seeds x 5e6 s)"
    if seeds != 50:
        label += f", measured with {seeds} seeds and scaled"
    rows = [
        (label + ": wall", _fmt(wall * scale), "-", f"{wall * scale / 60:.2f} of the target", "<= 60 s"),
        (
            f"  CPU (all processes) / {jobs} cores: the wall time on an otherwise idle machine",
            _fmt(cpu * scale / jobs),
            f"CPU {_fmt(cpu * scale)}",
            f"{cpu * scale / jobs / 60:.2f} of the target",
            "<= 60 s",
        ),
    ]
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="the built-in 5-vertex sample instead of the full space")
    p.add_argument("--seeds", type=int, default=50, help="campaign seeds (default 50; fewer are scaled to 50)")
    p.add_argument("--skip-campaign", action="store_true")
    args = p.parse_args(argv)
    from nasbench_arrow.api import NASBench

    root = _dataset(args.small)
    nb = NASBench(root, seed=0)
    list(nb.hash_iterator())  # source order read once, as any later call finds it
    load_before = os.getloadavg()[0]
    rows = bench_encodings(nb) + bench_random_search(nb)
    summary = ""
    if not args.skip_campaign:
        campaign, summary = bench_campaign(root, args.seeds)
        rows += campaign
    lines = [
        "# Benchmarking harness (issue 12): encodings, random search, campaign",
        "",
        f"Data: `{root.name}` ({nb.dataset.index.num_cells:,} cells, {nb.dataset.index.num_runs:,} runs, synthetic metrics).",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (the machine is shared)."
        ),
        "",
        "| measure | nasbench-arrow | baseline (same run) | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows],
        "",
    ]
    if summary:
        lines += ["Campaign summary:", "", summary]
    report = "\n".join(lines)
    print(report)
    if not args.small:
        out = HERE / "results" / "harness.md"
        out.write_text(report, encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
