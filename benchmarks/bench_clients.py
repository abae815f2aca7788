"""Benchmark: loops that client code runs over the statistics dicts, against the original-style loader.

One command::

    python benchmarks/bench_clients.py            # full scale: 423,624 cells x 4 budgets x 3 repeats
    python benchmarks/bench_clients.py --small    # 10,000 cells, a quick run

The data is ``bench_api.py``'s (generated once into ``benchmarks/_work/``: the
real cells of the search space with synthetic metrics, official tfrecord
format, converted). The loops are the patterns of public client code:

* ``list(nb.hash_iterator())``, 20 calls;
* one pass ``for h in nb.hash_iterator(): nb.fixed_statistics[h]``, then the
  same pass again (entries built by then);
* the same over ``computed_statistics``;
* the "2 + 3" pattern: two ``fixed_statistics`` and three
  ``computed_statistics`` lookups per cell (adjacency, ops, the three repeats'
  accuracy at 108 epochs);
* ``get_metrics_from_hash`` (deep copies) over the first 50,000 cells.

nasbench-arrow runs each loop on a freshly opened object in a child process of
its own (so the first pass includes building the entries); the baseline is
``tests/reference_loader.OriginalStyleNASBench`` (the original's load into
plain dicts, its ``get_metrics_from_hash`` with ``copy.deepcopy``), loaded
once in this process; its load time is reported but not part of any loop.
Targets (issue 10): first pass <= 1.5x the original's loop, repeated pass and
``list(hash_iterator())`` <= 1.0x. Prints a markdown table; the full run also
writes ``benchmarks/results/clients.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "clients.md"
GET_METRICS_CELLS = 50_000

# Each loop as code run against `nb`: (name, code). The code is the same text for both sides.
LOOPS = {
    "hash_iterator": "for _ in range(20):\n    hashes = list(nb.hash_iterator())",
    "fixed": "for h in nb.hash_iterator():\n    x = nb.fixed_statistics[h]",
    "computed": "for h in nb.hash_iterator():\n    x = nb.computed_statistics[h]",
    "pattern_2_3": (
        "for h in nb.hash_iterator():\n"
        "    a = nb.fixed_statistics[h]['module_adjacency']\n"
        "    o = nb.fixed_statistics[h]['module_operations']\n"
        "    r0 = nb.computed_statistics[h][108][0]['final_validation_accuracy']\n"
        "    r1 = nb.computed_statistics[h][108][1]['final_validation_accuracy']\n"
        "    r2 = nb.computed_statistics[h][108][2]['final_test_accuracy']"
    ),
    "get_metrics": (
        f"for h in list(nb.hash_iterator())[:{GET_METRICS_CELLS}]:\n    f, c = nb.get_metrics_from_hash(h)"
    ),
}

_PEAK_RSS = """
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
"""

_CHILD = (
    _PEAK_RSS
    + """
import json, time
from nasbench_arrow import api
nb = api.NASBench({root!r}, seed=0)
open_rss = rss()
code = compile({code!r}, "loop", "exec")
times = []
for _ in range(2):
    t = time.perf_counter()
    exec(code, {{"nb": nb}})
    times.append(time.perf_counter() - t)
print(json.dumps({{"first": times[0], "again": times[1], "open_rss": open_rss, "rss": rss()}}))
"""
)


def run_ours(root: Path, name: str) -> dict:
    code = _CHILD.format(root=str(root), code=LOOPS[name])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_reference(nb, name: str) -> dict:
    code = compile(LOOPS[name], "loop", "exec")
    times = []
    for _ in range(2):
        t = time.perf_counter()
        exec(code, {"nb": nb})
        times.append(time.perf_counter() - t)
    return {"first": times[0], "again": times[1]}


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10,000 cells instead of 423,624")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(HERE), str(ROOT / "tests")]
    import bench_api
    from reference_loader import OriginalStyleNASBench

    tfrecord, root, _ = bench_api.prepare(args.small)
    ours = {}
    for name in LOOPS:
        ours[name] = run_ours(root, name)
        print(f"nasbench-arrow {name}: {ours[name]}", flush=True)
    t = time.perf_counter()
    reference = OriginalStyleNASBench(tfrecord)
    load = time.perf_counter() - t
    ref_rss = _rss()
    print(f"original-style load: {load:.1f} s, {ref_rss / 2**30:.2f} GiB", flush=True)
    theirs = {name: run_reference(reference, name) for name in LOOPS}
    cells = len(reference.fixed_statistics)

    lines = [
        f"# Client loops ({'small' if args.small else 'full'}: {cells:,} cells)",
        "",
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
        f"baseline load (not in any loop): {load:.1f} s, RSS {ref_rss / 2**30:.2f} GiB.",
        "",
        "| loop | nasbench-arrow first pass | original-style | ratio (target <= 1.5) "
        "| nasbench-arrow again | original-style again | ratio (target <= 1.0) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in LOOPS:
        o, r = ours[name], theirs[name]
        per = " (per call)" if name == "hash_iterator" else ""
        scale = 20 if name == "hash_iterator" else 1
        lines.append(
            f"| `{name}`{per} | {o['first'] / scale:.3f} s | {r['first'] / scale:.3f} s | {o['first'] / r['first']:.2f} "
            f"| {o['again'] / scale:.3f} s | {r['again'] / scale:.3f} s | {o['again'] / r['again']:.2f} |"
        )
    lines += [
        "",
        "| memory | nasbench-arrow | original-style |",
        "| --- | --- | --- |",
        f"| RSS after open (nothing touched) | {ours['fixed']['open_rss'] / 2**20:,.0f} MiB | {ref_rss / 2**20:,.0f} MiB |",
        f"| RSS after two passes over `computed_statistics` | {ours['computed']['rss'] / 2**20:,.0f} MiB | - |",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.small:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
