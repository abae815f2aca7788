"""Benchmark: cell hash and ModelSpec construction against the literal reference.

Run::

    /work/venv/bin/python benchmarks/bench_hash.py [--cells N]

Times, per call and in microseconds, on the same distinct cells in one run:

* ``hash_spec`` cold (cache cleared, every cell hashed once) and cached (again);
* ``hash_rows`` (the pure-Python core, no cache, no spec);
* ``ModelSpec(matrix, ops)`` from nested lists and from numpy arrays;

and the same operations of ``tests/reference_nasbench.py`` (a literal numpy model
of the original ``nasbench`` code). Prints a markdown table with p50/p90 and the
reference/ours ratio, and writes it to ``benchmarks/results/hash.md``.

Cells: the 1,000 real cells of ``../shared/realdata`` (when present) plus random
distinct 7-vertex cells of the NAS-Bench space (<= 9 edges); all hashes distinct,
so the cold pass never hits the cache.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the literal reference lives with the tests

import reference_nasbench as ref
from nasbench_arrow import model_spec as model_spec_module
from nasbench_arrow.constants import AVAILABLE_OPS, INPUT, MAX_EDGES, OUTPUT
from nasbench_arrow.graph import hash_rows, is_full_dag
from nasbench_arrow.model_spec import ModelSpec

RESULTS = ROOT / "benchmarks" / "results" / "hash.md"


def _real_cells() -> list[tuple[list, list]]:
    env = os.environ.get("NASBENCH_REALDATA")
    folder = Path(env) if env else ROOT.parent / "shared" / "realdata"
    path = folder / "vis_first1000_by_hash.json"
    if not path.is_file():
        return []
    return [(c["matrix"], c["ops"]) for c in json.loads(path.read_text())]


def _random_cells(count: int, exclude: set[str], seed: int = 0) -> list[tuple[list, list]]:
    """Random distinct 7-vertex cells of the space: full DAGs (nothing to prune), <= 9 edges.

    Seven-vertex cells are 85% of the space (359,082 of 423,624).
    """
    rng = random.Random(seed)
    slots = [(i, j) for j in range(7) for i in range(j)]
    cells = []
    seen = set(exclude)
    while len(cells) < count:
        matrix = [[0] * 7 for _ in range(7)]
        for i, j in rng.sample(slots, rng.randint(6, MAX_EDGES)):
            matrix[i][j] = 1
        if not is_full_dag(matrix):
            continue
        ops = [INPUT, *(rng.choice(AVAILABLE_OPS) for _ in range(5)), OUTPUT]
        key = ModelSpec(matrix, ops).hash_spec(AVAILABLE_OPS)
        if key not in seen:
            seen.add(key)
            cells.append((matrix, ops))
    return cells


def _time_each(func, items) -> np.ndarray:
    """Latency of func(item) for every item, in microseconds."""
    timer = time.perf_counter_ns
    out = np.empty(len(items))
    gc.disable()
    try:
        for k, item in enumerate(items):
            start = timer()
            func(item)
            out[k] = timer() - start
    finally:
        gc.enable()
    return out / 1000.0


def _row(name: str, ours: np.ndarray, theirs: np.ndarray | None) -> str:
    p50, p90 = np.percentile(ours, [50, 90])
    if theirs is None:
        return f"| {name} | {p50:.2f} | {p90:.2f} | | | |"
    r50, r90 = np.percentile(theirs, [50, 90])
    return f"| {name} | {p50:.2f} | {p90:.2f} | {r50:.1f} | {r90:.1f} | {r50 / p50:.1f}x |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cells", type=int, default=3000, help="distinct cells to time (default 3000)"
    )
    args = parser.parse_args(argv)

    cells = _real_cells()[: args.cells]
    known = {ModelSpec(m, ops).hash_spec(AVAILABLE_OPS) for m, ops in cells}
    cells += _random_cells(max(0, args.cells - len(cells)), known)
    canonical = list(AVAILABLE_OPS)
    arrays = [(np.array(m), ops) for m, ops in cells]

    # Construction (also warms imports and the op-index cache).
    build_lists = _time_each(lambda c: ModelSpec(c[0], c[1]), cells)
    build_lists_ref = _time_each(lambda c: ref.ModelSpec(c[0], list(c[1])), cells)
    build_arrays = _time_each(lambda c: ModelSpec(c[0], c[1]), arrays)
    build_arrays_ref = _time_each(lambda c: ref.ModelSpec(c[0], list(c[1])), arrays)

    specs = [ModelSpec(m, ops) for m, ops in cells]
    ref_specs = [ref.ModelSpec(m, list(ops)) for m, ops in cells]
    distinct = len({s.hash_spec(AVAILABLE_OPS) for s in specs})

    model_spec_module._cached_hash.cache_clear()
    cold = _time_each(lambda s: s.hash_spec(AVAILABLE_OPS), specs)
    cached = _time_each(lambda s: s.hash_spec(AVAILABLE_OPS), specs)
    reference = _time_each(lambda s: s.hash_spec(canonical), ref_specs)

    rows_labels = [
        (s.matrix.tolist(), [-1, *[AVAILABLE_OPS.index(op) for op in s.ops[1:-1]], -2])
        for s in specs
    ]
    core = _time_each(lambda rl: hash_rows(rl[0], rl[1]), rows_labels)

    def query_path(c):
        return ModelSpec(c[0], c[1]).hash_spec(AVAILABLE_OPS)

    def query_path_ref(c):
        return ref.ModelSpec(c[0], list(c[1])).hash_spec(canonical)

    model_spec_module._cached_hash.cache_clear()
    spec_and_hash_cold = _time_each(query_path, cells)
    spec_and_hash_cached = _time_each(query_path, cells)
    spec_and_hash_ref = _time_each(query_path_ref, cells)

    lines = [
        (
            f"Cell hash and ModelSpec, {len(cells)} cells ({distinct} distinct hashes), "
            f"latency per call in microseconds (us)."
        ),
        "",
        "| operation | ours p50 | ours p90 | reference p50 | reference p90 | speed-up (p50) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        _row("`hash_spec`, cold (cache cleared, each cell once)", cold, reference),
        _row("`hash_spec`, cached (same cells again)", cached, reference),
        _row("`hash_rows` (pure-Python core, no cache)", core, reference),
        _row("`ModelSpec(...)` from nested lists", build_lists, build_lists_ref),
        _row("`ModelSpec(...)` from numpy arrays", build_arrays, build_arrays_ref),
        _row("`ModelSpec(...)` + `hash_spec`, cold", spec_and_hash_cold, spec_and_hash_ref),
        _row("`ModelSpec(...)` + `hash_spec`, cached", spec_and_hash_cached, spec_and_hash_ref),
        "",
        (
            "Reference: `tests/reference_nasbench.py`, a literal numpy model of the original "
            "`nasbench` code (`graph_util.hash_module`, `ModelSpec` with deepcopy/np.delete), "
            "timed in the same run on the same cells."
        ),
        "",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"numpy {np.__version__}; {time.strftime('%Y-%m-%d')}."
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("# Benchmark: hash\n\n`python benchmarks/bench_hash.py`\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
