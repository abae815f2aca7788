"""Benchmark: a regularised-evolution run of 10,000 queries, nasbench-arrow vs an original-style loader.

One command::

    python benchmarks/bench_search.py            # full scale: every cell of the space, 4 budgets x 3 repeats
    python benchmarks/bench_search.py --small    # the complete <= 5-vertex space (2,532 cells), seconds

The data: full scale reuses ``benchmarks/bench_api.py``'s generated file and
conversion (``benchmarks/_work/api_full.tfrecord`` / ``api_full.dataset``: the
real 423,624 cells of the space with synthetic metrics in the exact official
format), generating them first if absent. The converter benchmark's file
(``bench_full_all``) cannot serve: its cells have random hashes, so no spec a
search proposes would be found. ``--small`` generates the complete space of
cells with at most 5 vertices into ``benchmarks/_work/search_v5.*``.

The run: ``examples/regularized_evolution.py``'s loop (population 50,
tournament 10, mutation rate 1.0, as the colab), seed 0, stopped after 10,000
queries, with the same proposals (``SpecProposer`` on ``random.Random("0:proposals")``)
on both sides. Each side runs in its own fresh child process:

* nasbench-arrow: ``api.NASBench(dir, seed=0)``: open time (import included),
  the loop's wall time, the time inside ``query`` alone, and peak RSS
  (``VmHWM``); then again with ``ledger=True`` (ledger overhead);
* original-style: ``tests/reference_loader.OriginalStyleNASBench(tfrecord,
  seed=0)`` (the original ``__init__``'s per-record work, everything in memory,
  the original ``query`` with the global ``random``): load time, loop, query
  time, peak RSS.

Both draw the same repeats (same seed, same call sequence), so the two
trajectories must be identical; the script checks it. Prints a markdown table
with ratios; the full-scale run also writes it to ``benchmarks/results/search.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
NUM_QUERIES = 10_000

sys.path.insert(0, str(HERE))


def prepare(small: bool) -> tuple[Path, Path, int]:
    """``(tfrecord, dataset dir, num_vertices)``, generated once."""
    if not small:
        from bench_api import prepare as prepare_api  # the full-scale real-cell data, shared

        tfrecord, root, _ = prepare_api(small=False)
        return tfrecord, root, 7

    from nasbench_arrow.converters import convert

    from nasbench_arrow.dataset import is_openable
    from nasbench_arrow.space import enumerate_cells
    from nasbench_arrow.testing import write_fixture_tfrecord

    WORK.mkdir(parents=True, exist_ok=True)
    tfrecord, root = WORK / "search_v5.tfrecord", WORK / "search_v5.dataset"
    if not tfrecord.exists():
        partial = tfrecord.with_name(tfrecord.name + ".partial")
        write_fixture_tfrecord(partial, enumerate_cells(max_vertices=5), seed=0, keep_records=False)
        os.replace(partial, tfrecord)
    if not is_openable(root):  # missing, or written by an older converter: convert (again)
        convert(tfrecord, root, overwrite=root.exists())
    return tfrecord, root, 5



# Peak resident memory of this process image (VmHWM; ru_maxrss would count the parent's through fork).
_COMMON = """
import importlib.util, json, random, sys, time
sys.path.insert(0, {tests!r})

def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

spec = importlib.util.spec_from_file_location("regularized_evolution", {example!r})
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
from nasbench_arrow import search

def run(nb):
    inner = [0]
    query = nb.query
    def timed(*args, **kwargs):
        t = time.perf_counter_ns()
        try:
            return query(*args, **kwargs)
        finally:
            inner[0] += time.perf_counter_ns() - t
    nb.query = timed
    proposer = search.SpecProposer(nb, random.Random("0:proposals"), num_vertices={num_vertices})
    t = time.perf_counter()
    rec = example.regularized_evolution(nb, proposer, budget=float("inf"), max_queries={queries})
    loop = time.perf_counter() - t
    return {{"loop": loop, "query": inner[0] / 1e9, "queries": len(rec), "rejected": proposer.rejected,
             "best": rec.best_valid, "test": rec.best_test, "times": rec.times}}
"""

# Two runs of each loop (the machine is shared: the faster one is reported); each run
# starts from a fresh NASBench(seed=0) (empty hash cache) or a re-seeded global random,
# so both draw the same repeats.
_OURS = """
t = time.perf_counter()
from nasbench_arrow import api
nb = api.NASBench({root!r}, seed=0)
out = {{"open": time.perf_counter() - t, "rss_open": peak_rss()}}
out["plain"] = run(nb)
out["plain2"] = run(api.NASBench({root!r}, seed=0))
out["rss"] = peak_rss()
out["ledger"] = run(api.NASBench({root!r}, seed=0, ledger=True))
nb = api.NASBench({root!r}, seed=0, ledger=True)
out["ledger2"] = run(nb)
out["ledger_rows"] = len(nb.ledger)
out["ledger_repeated"] = nb.ledger.num_repeated
out["rss_end"] = peak_rss()
print(json.dumps(out))
"""

_REFERENCE = """
import reference_loader
t = time.perf_counter()
nb = reference_loader.OriginalStyleNASBench({tfrecord!r}, seed=0)
out = {{"open": time.perf_counter() - t, "rss_open": peak_rss()}}
out["plain"] = run(nb)
random.seed(0)  # the original seeds the global random in __init__; do it again for the second run
out["plain2"] = run(nb)
out["rss"] = peak_rss()
print(json.dumps(out))
"""


def _best(side: dict, key: str) -> dict:
    """The faster of the two runs of a loop (``key`` and ``key + "2"``), after checking they agree."""
    a, b = side[key], side[key + "2"]
    if any(a[k] != b[k] for k in ("best", "test", "times")):
        raise SystemExit(f"the two {key} runs differ: the search is not reproducible")
    return min(a, b, key=lambda r: r["loop"])


def _child(code: str) -> tuple[dict, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def _fmt_s(seconds: float) -> str:
    return f"{seconds:,.2f} s" if seconds >= 1 else f"{seconds * 1000:,.1f} ms"


def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def _ratio(ours: float, theirs: float) -> str:
    if not theirs:
        return "-"
    r = ours / theirs
    return f"{r:.2f}" if r >= 0.01 else f"1/{theirs / ours:,.0f}"


def run(small: bool) -> str:
    tfrecord, root, num_vertices = prepare(small)
    fmt = {
        "tests": str(ROOT / "tests"),
        "example": str(ROOT / "examples" / "regularized_evolution.py"),
        "num_vertices": num_vertices,
        "queries": NUM_QUERIES,
        "root": str(root),
        "tfrecord": str(tfrecord),
    }
    print(f"nasbench-arrow on {root} ...", flush=True)
    ours, ours_wall = _child((_COMMON + _OURS).format(**fmt))
    print(f"original-style loader on {tfrecord} ...", flush=True)
    ref, ref_wall = _child((_COMMON + _REFERENCE).format(**fmt))

    o, r, ol = _best(ours, "plain"), _best(ref, "plain"), _best(ours, "ledger")
    same = all(o[k] == r[k] for k in ("best", "test", "times"))
    same_ledger = all(ol[k] == r[k] for k in ("best", "test", "times"))
    rows = [
        ("open / load (import included for ours)", _fmt_s(ours["open"]), _fmt_s(ref["open"]), _ratio(ours["open"], ref["open"])),
        (f"search loop, {o['queries']:,} queries", _fmt_s(o["loop"]), _fmt_s(r["loop"]), _ratio(o["loop"], r["loop"])),
        ("  of which inside `query`", _fmt_s(o["query"]), _fmt_s(r["query"]), _ratio(o["query"], r["query"])),
        ("  per query (inside `query`)", f"{o['query'] / o['queries'] * 1e6:,.1f} µs",
         f"{r['query'] / r['queries'] * 1e6:,.1f} µs", _ratio(o["query"], r["query"])),
        ("search loop with `ledger=True`", _fmt_s(ol["loop"]), "-", _ratio(ol["loop"], r["loop"])),
        ("open + loop", _fmt_s(ours["open"] + o["loop"]), _fmt_s(ref["open"] + r["loop"]),
         _ratio(ours["open"] + o["loop"], ref["open"] + r["loop"])),
        ("child process wall time (all its runs)", _fmt_s(ours_wall), _fmt_s(ref_wall), _ratio(ours_wall, ref_wall)),
        ("peak RSS after open", _mb(ours["rss_open"]), _mb(ref["rss_open"]), _ratio(ours["rss_open"], ref["rss_open"])),
        ("peak RSS after the search", _mb(ours["rss"]), _mb(ref["rss"]), _ratio(ours["rss"], ref["rss"])),
    ]  # fmt: skip
    scale = "complete <= 5-vertex space (2,532 cells)" if small else "every cell of the space (423,624), 4 budgets x 3 repeats"
    lines = [
        f"# Regularised evolution, {NUM_QUERIES:,} queries: nasbench-arrow vs original-style loader",
        "",
        (
            f"Data: {scale}, synthetic metrics, official tfrecord format; `{tfrecord.name}` "
            f"({tfrecord.stat().st_size / 2**20:,.0f} MB) and its conversion. Population 50, tournament 10, "
            f"mutation rate 1.0, seed 0; {o['rejected']:,} invalid proposals redrawn. Each loop ran twice "
            "(ours: 4 loops, 2 with the ledger); the faster run is shown."
        ),
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "| measure | nasbench-arrow | original-style | ratio |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        (
            f"Identical trajectories (best validation, its test accuracy, time spent at each of the "
            f"{o['queries']:,} queries): {'yes' if same and same_ledger else 'NO'}. "
            f"Ledger: {ours['ledger_rows']:,} rows, {ours['ledger_repeated']:,} queries of a cell already "
            "queried (charged again, as the original charges them)."
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="the complete <= 5-vertex space instead of the full one")
    args = p.parse_args(argv)
    report = run(args.small)
    print(report)
    if not args.small:  # only the full-scale run is the recorded result
        out = HERE / "results" / "search.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report, encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
