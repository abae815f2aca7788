"""Benchmark: enumerating the whole search space against the original's loop.

Run from the repository root::

    python benchmarks/bench_space.py            # prints a markdown table
    python benchmarks/bench_space.py --quick    # 6 vertices at most, for a smoke run

Measured in this one run:

* ``enumerate_cells()`` over the default space (7 vertices, 9 edges, 3 ops),
  every Cell consumed, with ``workers=1`` and ``workers=2``; and the
  ``nasbench-space`` path (``write_space``, Parquet). Each runs in a fresh
  interpreter so that its peak RSS (``getrusage``: the process itself, and the
  largest of its worker processes) is its own.
* The baseline: the original generator's per-graph loop (build the numpy
  matrix with ``np.fromfunction(gen_is_edge_fn(bits))``, ``is_full_dag``,
  ``num_edges``, then ``hash_module`` and a dict lookup for every labelling),
  timed on a fixed random sample of bitmasks and of labelled graphs for each
  vertex count and extrapolated with the exact counts of bitmasks and labelled
  graphs. The original's default ``verify_isomorphism`` check of every
  duplicate is left out (it only makes the original slower), so the ratio is a
  lower bound.

The table is printed and written to ``benchmarks/results/space.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from nasbench_arrow import graph
from nasbench_arrow.constants import AVAILABLE_OPS, MAX_EDGES, MAX_VERTICES
from nasbench_arrow.space import _full_dag_masks, _unique_block

RESULTS = Path(__file__).resolve().parent / "results" / "space.md"

# Runs in a fresh interpreter; prints one JSON line. Worker peaks come from
# /proc (VmHWM of each child, sampled): getrusage's RUSAGE_CHILDREN would report
# at least the parent's RSS at spawn time, which Linux carries across exec.
_CHILD = r"""
import json, os, resource, sys, tempfile, threading, time
from pathlib import Path
mode, max_vertices, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import numpy  # imported by the package anyway; counted in the baseline RSS
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
worker_hwm = {}
done = threading.Event()

def sample():
    me = os.getpid()
    while not done.wait(0.05):
        try:
            tids = os.listdir(f"/proc/{me}/task")
            kids = {int(k) for t in tids
                    for k in open(f"/proc/{me}/task/{t}/children").read().split()}
            for pid in kids:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        worker_hwm[pid] = max(worker_hwm.get(pid, 0), int(line.split()[1]))
        except OSError:
            pass

threading.Thread(target=sample, daemon=True).start()
from nasbench_arrow import space
cpu0 = os.times()
start = time.perf_counter()
if mode == "iter":
    n = 0
    for cell in space.enumerate_cells(max_vertices=max_vertices, workers=workers):
        n += 1
else:
    with tempfile.TemporaryDirectory() as d:
        n = space.write_space(Path(d) / "space.parquet", max_vertices, workers=workers)["num_cells"]
wall = time.perf_counter() - start
cpu1 = os.times()
done.set()
cpu = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4]))
print(json.dumps({
    "cells": n, "wall_s": wall, "cpu_s": cpu, "base_rss_kib": base,
    "self_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "worker_rss_kib": max(worker_hwm.values(), default=0),
    "load": os.getloadavg()[0],
}))
"""


def _measure(mode: str, max_vertices: int, workers: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(max_vertices), str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _reference_module():
    """The literal model of the original graph code kept with the tests, if present."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    if (tests / "reference_nasbench.py").is_file():
        sys.path.insert(0, str(tests))
        import reference_nasbench

        return reference_nasbench, "literal original (`tests/reference_nasbench.py`)"
    return graph, "`nasbench_arrow.graph` (no literal reference found)"


def _original_style_estimate(
    max_vertices: int, mask_sample: int, graph_sample: int, verify_sample: int, seed: int
) -> tuple[list[dict], str]:
    """Per vertex count: sampled cost of the original loop's parts, extrapolated."""
    ref, ref_name = _reference_module()
    rng = random.Random(seed)
    num_ops = len(AVAILABLE_OPS)
    rows = []
    for v in range(2, max_vertices + 1):
        nbits = v * (v - 1) // 2
        num_masks = 1 << nbits
        valid = _full_dag_masks(v, MAX_EDGES)
        block = _unique_block(v, MAX_EDGES, num_ops)
        num_graphs = int(valid.size) * num_ops ** (v - 2)
        num_unique = int(block.masks.size)

        # 1. Per bitmask: build the matrix, test it (the original's first loop).
        masks = list(range(num_masks))
        if num_masks > mask_sample:
            masks = rng.sample(masks, mask_sample)
        start = time.perf_counter()
        for bits in masks:
            matrix = np.fromfunction(ref.gen_is_edge_fn(bits), (v, v), dtype=np.int8)
            if not ref.is_full_dag(matrix) or ref.num_edges(matrix) > MAX_EDGES:
                continue
        per_mask = (time.perf_counter() - start) / len(masks)

        # 2. Per labelled full DAG: hash_module and the bucket lookup.
        labelings = list(itertools.product(range(num_ops), repeat=v - 2))
        pairs = [(int(m), lab) for m in valid.tolist() for lab in labelings]
        if len(pairs) > graph_sample:
            pairs = rng.sample(pairs, graph_sample)
        matrices = {m: graph.bits_to_matrix(m, v) for m, _ in pairs}
        per_graph = {}
        for name, hash_module in (("ref", ref.hash_module), ("fast", graph.hash_module)):
            buckets: dict[str, tuple] = {}
            start = time.perf_counter()
            for m, lab in pairs:
                labeling = [-1, *lab, -2]
                fingerprint = hash_module(matrices[m], labeling)
                if fingerprint not in buckets:
                    buckets[fingerprint] = (matrices[m].tolist(), labeling)
            per_graph[name] = (time.perf_counter() - start) / len(pairs)

        # 3. Per duplicate: the original's default verify_isomorphism check of
        # the duplicate against its bucket's graph. Duplicates are sampled as
        # upper-triangular renumberings of random representatives.
        per_check = 0.0
        checks = []
        if num_graphs > num_unique and verify_sample:
            tries = 0
            while len(checks) < verify_sample and tries < 100_000:
                tries += 1
                i = rng.randrange(num_unique)
                rep = graph.bits_to_matrix(int(block.masks[i]), v)
                lab = [-1, *labelings[int(block.labelings[i])], -2]
                interior = rng.sample(range(1, v - 1), v - 2)
                perm = [0, *interior, v - 1]
                dup, dup_lab = graph.permute_graph(rep, lab, perm)
                dup = np.asarray(dup, dtype=np.int8)
                if graph.is_upper_triangular(dup) and not (
                    np.array_equal(dup, rep) and dup_lab == lab
                ):
                    checks.append(((dup.tolist(), dup_lab), (rep.tolist(), lab)))
            start = time.perf_counter()
            for dup_graph, rep_graph in checks:
                if not ref.is_isomorphic(dup_graph, rep_graph):
                    msg = "sampled duplicate is not isomorphic to its representative"
                    raise AssertionError(msg)
            per_check = (time.perf_counter() - start) / max(len(checks), 1)
        loop = num_masks * per_mask + num_graphs * per_graph["ref"]
        rows.append(
            {
                "vertices": v,
                "bitmasks": num_masks,
                "graphs": num_graphs,
                "unique": num_unique,
                "us_per_bitmask": per_mask * 1e6,
                "us_per_graph": per_graph["ref"] * 1e6,
                "us_per_graph_fast": per_graph["fast"] * 1e6,
                "ms_per_check": per_check * 1e3,
                "checks": len(checks),
                "estimate_s": loop,
                "estimate_fast_s": num_masks * per_mask + num_graphs * per_graph["fast"],
                "estimate_verify_s": loop + (num_graphs - num_unique) * per_check,
            }
        )
    return rows, ref_name


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds:,.0f} ({seconds / 3600:,.1f} h)"
    return f"{seconds:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 vertices at most (smoke run)")
    parser.add_argument("--mask-sample", type=int, default=20_000, help="bitmasks per V")
    parser.add_argument("--graph-sample", type=int, default=2_000, help="labelled graphs per V")
    parser.add_argument("--verify-sample", type=int, default=20, help="isomorphism checks per V")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {RESULTS}")
    args = parser.parse_args(argv)
    max_vertices = 6 if args.quick else MAX_VERTICES

    runs = [
        ("`enumerate_cells()`, workers=1", _measure("iter", max_vertices, 1)),
        ("`enumerate_cells()`, workers=2", _measure("iter", max_vertices, 2)),
        (
            "`nasbench-space OUT.parquet` (`write_space`), workers=2",
            _measure("write", max_vertices, 2),
        ),
    ]
    per_v, ref_name = _original_style_estimate(
        max_vertices, args.mask_sample, args.graph_sample, args.verify_sample, args.seed
    )
    baseline = sum(r["estimate_s"] for r in per_v)
    verified = sum(r["estimate_verify_s"] for r in per_v)
    fast_loop = sum(r["estimate_fast_s"] for r in per_v)
    cells = runs[0][1]["cells"]

    lines = [
        (
            f"# Enumerating the search space ({max_vertices} vertices, {MAX_EDGES} edges, "
            f"{len(AVAILABLE_OPS)} ops: {cells:,} cells)"
        ),
        "",
        (
            f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"numpy {np.__version__}, {platform.platform()}; {time.strftime('%Y-%m-%d')}. "
            "Command: `python benchmarks/bench_space.py`."
        ),
        "",
        (
            "| run | wall (s) | CPU (s) | peak RSS, process (MiB) | peak RSS, helper (MiB) "
            "| speed-up vs original loop | vs original with its isomorphism check |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in runs:
        worker = _mib(r["worker_rss_kib"]) if r["worker_rss_kib"] else "-"
        lines.append(
            f"| {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {_mib(r['self_rss_kib'])} "
            f"| {worker} | {baseline / r['wall_s']:,.0f}x | {verified / r['wall_s']:,.0f}x |"
        )
    lines += [
        (
            f"| original loop, {ref_name}, `verify_isomorphism=False` (estimate) "
            f"| {_duration(baseline)} | | | | 1x | |"
        ),
        (
            f"| original loop, {ref_name}, `verify_isomorphism=True`, its default (estimate) "
            f"| {_duration(verified)} | | | | | 1x |"
        ),
        (
            f"| original loop with our fast `graph.hash_module` (estimate) "
            f"| {_duration(fast_loop)} | | | | {baseline / fast_loop:,.1f}x | |"
        ),
        "",
        (
            f"Peak RSS of a fresh interpreter with numpy imported: "
            f"{_mib(runs[0][1]['base_rss_kib'])} MiB. CPU: user + system seconds of the "
            "process and its helper. Wall times suffer when other jobs share the machine; "
            "1-minute load average after each run: "
            + ", ".join(f"{r['load']:.1f}" for _, r in runs)
            + "."
        ),
        "",
        (
            "Estimates: for each vertex count, the original's per-bitmask work (matrix via "
            "`np.fromfunction(gen_is_edge_fn(bits))`, `is_full_dag`, `num_edges`), its "
            "per-labelled-graph work (`hash_module` + bucket lookup) and its per-duplicate "
            "`is_isomorphic` check were timed on fixed random samples (up to "
            f"{args.mask_sample:,} bitmasks, {args.graph_sample:,} labelled graphs and "
            f"{args.verify_sample} duplicates; seed {args.seed}) and multiplied by the exact "
            "counts:"
        ),
        "",
        (
            "| V | bitmasks | labelled full DAGs | unique | µs / bitmask | µs / hash (literal) "
            "| µs / hash (fast) | ms / isomorphism check | loop (s) | loop + checks (s) |"
        ),
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in per_v:
        lines.append(
            f"| {r['vertices']} | {r['bitmasks']:,} | {r['graphs']:,} | {r['unique']:,} "
            f"| {r['us_per_bitmask']:.1f} | {r['us_per_graph']:.1f} "
            f"| {r['us_per_graph_fast']:.1f} | {r['ms_per_check']:.2f} "
            f"| {_duration(r['estimate_s'])} | {_duration(r['estimate_verify_s'])} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write and not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
