"""Benchmark: the ``NASBench`` facade against an original-style in-memory loader.

One command::

    python benchmarks/bench_api.py            # full scale: all 423,624 cells x 4 budgets x 3 repeats
    python benchmarks/bench_api.py --small    # 10,000 cells, a quick run

The data: the real cells of the search space (``space.enumerate_cells``; with
``--small`` 10,000 cells from ``testing.sample_cells``), so that specs hash to
stored cells exactly as with the official file, with synthetic metrics
(``testing.write_fixture_tfrecord``) in the exact official tfrecord format,
converted with ``nasbench_arrow.converters.convert``. Both are generated once
and kept in ``benchmarks/_work/``.

The queries: 10,000 random cells of the dataset, each given as a spec in a
random vertex order (a random topological relabelling, so the stored order is
not reused and every spec must be hashed), built before timing.

Measured in the same run, each side in its own fresh child process:

* nasbench-arrow: open time (``from nasbench_arrow import api;
  api.NASBench(dir)``, import included, median of 5 processes, plus the
  process wall time with interpreter start-up); ``query`` latency p50/p90
  over the 10,000 specs (first time, hash caches cleared) and again (warm);
  peak RSS (``ru_maxrss``) right after opening and the 10,000 queries;
  ``query_many`` of the 10,000 specs (first time, canonical keys; specs seen
  before; hashes); open with ``verify="none"`` (no index CRC32C) for comparison;
  the first and later ``nb.runs()`` (the first checks the runs files' CRC32C); the mean final test accuracy per cell at 108 epochs with a
  Polars lazy scan and with ``summary()`` (memory-mapped index).
* original-style: ``tests/reference_loader.OriginalStyleNASBench`` (the
  original ``__init__``'s per-record work and nested dicts, the original
  ``query``): load time, peak RSS after loading and querying, ``query``
  p50/p90 over the same specs with the literal original ``ModelSpec`` and
  hash (``tests/reference_nasbench``) and with nasbench-arrow's faster
  ``ModelSpec`` (a stricter baseline), and the per-cell mean with a Python
  loop over its dicts. The headline ``query`` comparison is interleaved in
  this process, spec by spec, original-style then nasbench-arrow, so that
  both see the same machine load (the machine may be shared).

Prints a markdown table with targets and ratios; the full run also writes
``benchmarks/results/api.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
RESULTS = HERE / "results" / "api.md"
NUM_QUERIES = 10_000
SMALL_CELLS = 10_000


# ----------------------------------------------------------------------------- data


def _generate(tfrecord: Path, small: bool) -> None:
    from nasbench_arrow.testing import sample_cells, write_fixture_tfrecord

    t = time.perf_counter()
    if small:
        cells = sample_cells(SMALL_CELLS, seed=0)
    else:
        from nasbench_arrow.space import enumerate_cells

        cells = list(enumerate_cells())
    print(f"{len(cells):,} cells in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    partial = tfrecord.with_name(tfrecord.name + ".partial")
    info = write_fixture_tfrecord(partial, cells, seed=0, keep_records=False)
    os.replace(partial, tfrecord)
    print(f"wrote {tfrecord} ({info.num_records:,} records) in {time.perf_counter() - t:.1f} s", flush=True)


def prepare(small: bool) -> tuple[Path, Path, Path]:
    """Generate (once) the tfrecord, its conversion and the query specs; return their paths."""
    from nasbench_arrow.converters import convert

    from nasbench_arrow import layout
    from nasbench_arrow.manifest import read_manifest

    WORK.mkdir(parents=True, exist_ok=True)
    tag = "small" if small else "full"
    tfrecord = WORK / f"api_{tag}.tfrecord"
    root = WORK / f"api_{tag}.dataset"
    specs_file = WORK / f"api_{tag}_specs.pkl"
    if not tfrecord.exists():
        _generate(tfrecord, small)
    current = False
    if (root / "manifest.json").is_file():
        manifest = read_manifest(root)
        canon = f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_canon']}"
        # Reconvert a dataset written before the canonical index and CRC32C entries existed.
        current = (
            manifest.source.get("size") == tfrecord.stat().st_size
            and canon in manifest.files
            and "crc32c" in manifest.files[canon]
        )
    if not current:
        t = time.perf_counter()
        convert(tfrecord, root, overwrite=root.exists())
        print(f"converted into {root} in {time.perf_counter() - t:.1f} s", flush=True)
    if not specs_file.exists():
        _write_specs(root, specs_file)
    return tfrecord, root, specs_file


def _random_relabelling(matrix: np.ndarray, ops: list[str], rng: np.random.Generator):
    """The same cell in a random topological vertex order (input first, output last)."""
    v = matrix.shape[0]
    indegree = matrix.sum(axis=0).tolist()
    order = [0]
    ready = [w for w in range(1, v - 1) if indegree[w] == 0]
    for w in range(v):
        if matrix[0, w]:
            indegree[w] -= 1
            if indegree[w] == 0 and w != v - 1:
                ready.append(w)
    while ready:
        u = ready.pop(int(rng.integers(len(ready))))
        order.append(u)
        for w in range(v):
            if matrix[u, w]:
                indegree[w] -= 1
                if indegree[w] == 0 and w != v - 1:
                    ready.append(w)
    order.append(v - 1)
    perm = np.array(order)
    return matrix[np.ix_(perm, perm)].tolist(), [ops[i] for i in order]


def _write_specs(root: Path, specs_file: Path) -> None:
    from nasbench_arrow import api

    nb = api.NASBench(root, seed=0)
    rng = np.random.default_rng(1)
    hashes = nb.random_hashes(min(NUM_QUERIES, len(nb.fixed_statistics)), seed=1)
    while len(hashes) < NUM_QUERIES:  # a small dataset: repeat cells (new vertex orders)
        hashes += hashes[: NUM_QUERIES - len(hashes)]
    specs = []
    for h in hashes:
        fixed = nb.fixed_statistics[h]
        specs.append(_random_relabelling(fixed["module_adjacency"], fixed["module_operations"], rng))
    with open(specs_file, "wb") as f:
        pickle.dump({"hashes": hashes, "specs": specs}, f)


# ----------------------------------------------------------------------------- children

_OPEN = """
import time
t0 = time.perf_counter()
from nasbench_arrow import api
nb = api.NASBench({root!r}, verify={verify!r})
print(time.perf_counter() - t0)
"""

# Peak resident memory of this process image: VmHWM (ru_maxrss would include the
# parent's memory, which Linux carries over through fork + exec).
_PEAK_RSS = """
def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
"""

_OURS = _PEAK_RSS + """
import json, pickle, sys, time
import numpy as np
from nasbench_arrow import api, model_spec
nb = api.NASBench({root!r}, seed=0)
with open({specs!r}, "rb") as f:
    data = pickle.load(f)
specs = [api.ModelSpec(np.array(m, dtype=np.int64), ops) for m, ops in data["specs"]]
model_spec._cached_hash.cache_clear()
pc = time.perf_counter_ns
cold = []
for s in specs:
    t = pc(); nb.query(s); cold.append(pc() - t)
rss = peak_rss()
warm = []
for s in specs:
    t = pc(); nb.query(s); warm.append(pc() - t)
out = {{"cold": cold, "warm": warm, "rss": rss}}
t = time.perf_counter(); import polars as pl; out["import_polars"] = time.perf_counter() - t
t = time.perf_counter(); nb.runs(); out["first_runs_frame"] = time.perf_counter() - t
t = time.perf_counter(); nb.runs(); out["next_runs_frame"] = time.perf_counter() - t
hashes = data["hashes"]


def median_of_3(run):
    times = []
    for _ in range(3):
        t = time.perf_counter(); result = run(); times.append(time.perf_counter() - t)
    return sorted(times)[1], result


def many_cold():
    fresh = api.NASBench({root!r}, seed=0)
    model_spec._cached_hash.cache_clear()
    t = time.perf_counter(); df = fresh.query_many(specs); elapsed = time.perf_counter() - t
    assert df.height == len(specs) and df["test_accuracy"].null_count() == 0
    return elapsed


out["many_cold"] = sorted(many_cold() for _ in range(3))[1]
out["many_warm"], _ = median_of_3(lambda: nb.query_many(specs, count_budget=False))
out["many_hashes"], _ = median_of_3(lambda: nb.query_many(hashes, count_budget=False))
out["agg_polars"], agg = median_of_3(
    lambda: nb.runs().filter(pl.col("epochs") == 108).group_by("module_hash")
    .agg(pl.col("final_test_accuracy").mean()).collect()
)
out["agg_cells"] = agg.height
out["agg_summary"], summary = median_of_3(lambda: nb.summary(108))
out["agg_check"] = float(abs(agg.sort("module_hash")["final_test_accuracy"].to_numpy()
                             - summary["test_accuracy"].to_numpy()).max())
out["rss_end"] = peak_rss()
print(json.dumps(out))
"""

_REFERENCE = _PEAK_RSS + """
import json, pickle, sys, time
sys.path.insert(0, {tests!r})
import numpy as np
import reference_loader, reference_nasbench
from nasbench_arrow import model_spec
t = time.perf_counter()
ref = reference_loader.OriginalStyleNASBench({tfrecord!r}, seed=0)
out = {{"load": time.perf_counter() - t, "rss_load": peak_rss()}}
with open({specs!r}, "rb") as f:
    data = pickle.load(f)
pc = time.perf_counter_ns
# The original-style loader with nasbench-arrow's fast ModelSpec: a stricter baseline.
specs = [model_spec.ModelSpec(np.array(m, dtype=np.int64), ops) for m, ops in data["specs"]]
model_spec._cached_hash.cache_clear()
out["fast_spec"] = []
for s in specs:
    t = pc(); ref.query(s); out["fast_spec"].append(pc() - t)
del specs
out["rss"] = peak_rss()  # before nasbench-arrow is opened in this process
# Interleaved, spec by spec: the original-style query (literal original ModelSpec and hash)
# and nasbench-arrow's, so both see the same machine load.
from nasbench_arrow import api
nb = api.NASBench({root!r}, seed=0)
originals = [reference_nasbench.ModelSpec(np.array(m, dtype=np.int64), ops) for m, ops in data["specs"]]
ours = [api.ModelSpec(np.array(m, dtype=np.int64), ops) for m, ops in data["specs"]]
model_spec._cached_hash.cache_clear()
lat_original, lat_ours = [], []
for a, b in zip(originals, ours):
    t = pc(); ref.query(a); lat_original.append(pc() - t)
    t = pc(); nb.query(b); lat_ours.append(pc() - t)
out["original"], out["ours_interleaved"] = lat_original, lat_ours
del originals, ours
t = time.perf_counter()
means = {{h: float(np.mean([r["final_test_accuracy"] for r in stats[108]])) for h, stats in ref.computed_statistics.items() if 108 in stats}}
out["agg"] = time.perf_counter() - t
print(json.dumps(out))
"""


def _child(code: str) -> tuple[dict | float, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


# ----------------------------------------------------------------------------- report


def _pct(values_ns: list[int], q: float) -> float:
    return float(np.percentile(np.asarray(values_ns) / 1000.0, q))  # microseconds


def _fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    return f"{seconds * 1000:,.1f} ms"


def _ratio(ours: float, theirs: float | None) -> str:
    if not theirs:
        return "-"
    r = ours / theirs
    return f"{r:.2f}" if r >= 0.01 else f"1/{theirs / ours:,.0f}"


def run(small: bool, skip_reference: bool) -> str:
    tfrecord, root, specs_file = prepare(small)
    from nasbench_arrow.manifest import read_manifest

    counts = read_manifest(root).counts
    opens, walls, opens_unchecked = [], [], []
    for _ in range(5):  # alternated, so both see the same machine load
        seconds, wall = _child(_OPEN.format(root=str(root), verify="index"))
        opens.append(seconds)
        walls.append(wall)
        seconds, _ = _child(_OPEN.format(root=str(root), verify="none"))
        opens_unchecked.append(seconds)
    print(f"open: {statistics.median(opens):.3f} s (process wall {statistics.median(walls):.3f} s)", flush=True)
    ours, _ = _child(_OURS.format(root=str(root), specs=str(specs_file)))
    print(f"query p50 {_pct(ours['cold'], 50):.1f} us", flush=True)
    ref = None
    if not skip_reference:
        ref, _ = _child(
            _REFERENCE.format(tests=str(ROOT / "tests"), tfrecord=str(tfrecord), specs=str(specs_file), root=str(root))
        )
        print(f"original-style load {ref['load']:.1f} s", flush=True)

    rows = []

    def row(name, target, value, baseline, met, fmt):
        rows.append((name, target, fmt(value), fmt(baseline) if baseline is not None else "-", _ratio(value, baseline), met))

    def us(x):
        return f"{x:,.1f} µs"

    def mb(x):
        return f"{x / 1e6:,.0f} MB"

    open_s = statistics.median(opens)
    row("open: `api.NASBench(dir)` in a fresh process, import included (median of 5)", "≤ 1 s", open_s,
        ref["load"] if ref else None, "yes" if open_s <= 1 else "NO", _fmt_s)
    row("… the same, whole process wall time (interpreter start-up included)", "-", statistics.median(walls),
        None, "", _fmt_s)
    row("… the same with `verify=\"none\"` (no CRC32C of the index; the default checks it)", "-",
        statistics.median(opens_unchecked), None, "", _fmt_s)
    # With the reference run, the headline latencies are the interleaved ones (same load for both).
    lat = ref["ours_interleaved"] if ref else ours["cold"]
    p50 = _pct(lat, 50)
    ref_p50 = _pct(ref["original"], 50) if ref else None
    row("`query` p50, 10,000 random valid specs (random vertex order, first time; interleaved with the original-style)",
        "≤ ½ original-style p50", p50, ref_p50, ("yes" if p50 <= 0.5 * ref_p50 else "NO") if ref else "", us)
    row("`query` p90, same specs", "-", _pct(lat, 90), _pct(ref["original"], 90) if ref else None, "", us)
    if ref:
        fast50 = _pct(ref["fast_spec"], 50)
        row("`query` p50 vs original-style loader using nasbench-arrow's fast ModelSpec", "-", p50, fast50,
            "yes" if p50 <= 0.5 * fast50 else "no", us)
    row("`query` p50 in the RSS process (first time, not interleaved)", "-", _pct(ours["cold"], 50), ref_p50, "", us)
    row("`query` p50, same specs again (hash cache warm)", "-", _pct(ours["warm"], 50),
        ref_p50, "", us)
    many = ours["many_cold"]
    row("`query_many` of 10,000 specs, first time (canonical keys, no hashing)", "≤ 100 ms", many, None,
        "yes" if many <= 0.1 else "NO", _fmt_s)
    row("`query_many` of the 10,000 specs seen before (hash cache warm)", "≤ 100 ms", ours["many_warm"], None,
        "yes" if ours["many_warm"] <= 0.1 else "NO", _fmt_s)
    row("`query_many` of 10,000 hashes", "≤ 100 ms", ours["many_hashes"], None,
        "yes" if ours["many_hashes"] <= 0.1 else "NO", _fmt_s)
    row("first `nb.runs()` lazy frame of a process (footers + CRC32C of the runs files)", "-",
        ours["first_runs_frame"], None, "", _fmt_s)
    row("… later `nb.runs()` calls", "-", ours["next_runs_frame"], None, "", _fmt_s)
    agg = ours["agg_polars"]
    row(f"mean final test accuracy per cell at 108 epochs ({ours['agg_cells']:,} cells), Polars lazy scan",
        "≤ 1 s", agg, ref["agg"] if ref else None, "yes" if agg <= 1 else "NO", _fmt_s)
    row("… the same with `nb.summary(108)` (memory-mapped index, numpy)", "≤ 1 s", ours["agg_summary"],
        ref["agg"] if ref else None, "yes" if ours["agg_summary"] <= 1 else "NO", _fmt_s)
    row("peak RSS after opening + 10,000 queries (fresh process)", "≤ 500 MB", ours["rss"],
        ref["rss"] if ref else None, "yes" if ours["rss"] <= 500e6 else "NO", mb)

    scale = "--small: " + f"{SMALL_CELLS:,} sampled cells" if small else "the full space"
    lines = [
        "# NASBench facade benchmark",
        "",
        (
            f"Command: `python benchmarks/bench_api.py{' --small' if small else ''}` on {platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}."
        ),
        "",
        (
            f"Data: {scale}, {counts['cells']:,} cells x {len(counts['epochs'])} budgets x 3 repeats = "
            f"{counts['runs']:,} runs ({tfrecord.stat().st_size / 1e6:,.0f} MB tfrecord in the official format, "
            "real cells and hashes, synthetic metrics), converted with `nasbench_arrow.converters.convert`. "
            "Queries: 10,000 random cells of the dataset, each as a spec in a random vertex order. "
            "Each side runs in its own fresh child process in this same run; the original-style baseline is "
            "`tests/reference_loader.OriginalStyleNASBench` (the original `__init__`'s per-record work and dicts, "
            "the original `query`) with the literal original `ModelSpec`/hash of `tests/reference_nasbench.py`. "
            "Ratio = nasbench-arrow / original-style (lower is better)."
        ),
        "",
        "| measurement | target | nasbench-arrow | original-style | ratio | met |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | {f} |" for a, b, c, d, e, f in rows]
    notes = [
        (
            f"The original-style side: load {_fmt_s(ref['load'])} and peak RSS {mb(ref['rss_load'])} right after "
            "loading (the open row compares our open with that load)."
        )
        if ref
        else "Original-style side skipped.",
        f"Polars and summary() agree to {ours['agg_check']:.1e} (max abs difference of the per-cell means).",
        (
            f"`query_many` timings exclude the one-time `import polars` of a session "
            f"({_fmt_s(ours['import_polars'])} here; `open` and `query` never import it). A first-time "
            "`query_many` matches the specs to cells by exact canonical isomorphism keys computed with numpy "
            "(`layout.canonical_keys`), not by the per-spec MD5 hash that `query` uses (the `query` p50 above); "
            "specs seen before come from the cache and hashes need no matching."
        ),
        "`query_many`, the Polars aggregate and `summary()`: median of 3 runs.",
    ]
    lines += ["", *[f"- {note}" for note in notes], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help=f"{SMALL_CELLS:,} cells instead of 423,624")
    parser.add_argument("--skip-reference", action="store_true", help="do not run the original-style loader")
    args = parser.parse_args(argv)
    report = run(args.small, args.skip_reference)
    print(report)
    if not args.small:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
