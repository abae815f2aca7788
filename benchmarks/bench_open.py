"""Benchmark: open time of a converted dataset in a fresh process, import included (target <= 0.3 s).

One command::

    python benchmarks/bench_open.py                # the full dataset of bench_api (generated once)
    python benchmarks/bench_open.py --small        # bench_api's 10,000-cell dataset
    python benchmarks/bench_open.py --dataset DIR  # any converted dataset

Each sample is a fresh ``python`` process that runs ``from nasbench_arrow
import api; api.NASBench(DIR)`` and reports the seconds of the import, of the
open, and its peak RSS. Default checks (``verify="index"``: manifest
validation, every file opened, the index arrays read into memory and their
CRC32C checked, ``run_metrics`` CRC32C streamed) and ``verify="none"`` are
interleaved, sample by sample, so both see the same machine load; the medians
are printed as a markdown table. The interpreter's own start-up (about 20 ms)
is not part of the figure, as in ``bench_api.py``. Children run with bytecode
caching on, as an installed package does, even where ``PYTHONDONTWRITEBYTECODE``
is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_S = 0.3

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from nasbench_arrow import api
t1 = time.perf_counter()
nb = api.NASBench(sys.argv[1], verify=sys.argv[2])
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "total": t2 - t0,
                  "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024}))
"""


def _sample(root: Path, verify: str) -> dict:
    # As after `pip install` (which compiles the package): with bytecode. An environment
    # that sets PYTHONDONTWRITEBYTECODE would otherwise compile every module at every
    # start (about 60 ms here); the cache goes under _work/, outside the source tree.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(HERE / "_work" / "pycache"))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), verify], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="a converted dataset (default: bench_api's)")
    parser.add_argument("--small", action="store_true", help="bench_api's small dataset")
    parser.add_argument("--repeats", type=int, default=9, help="fresh processes per mode (default 9)")
    args = parser.parse_args(argv)
    root = args.dataset
    if root is None:
        sys.path.insert(0, str(HERE))
        import bench_api

        _tfrecord, root, _specs = bench_api.prepare(args.small)
    _sample(root, "index")  # warm the page cache: the figure is the open, not the disk
    samples: dict[str, list[dict]] = {"index": [], "none": []}
    for _ in range(args.repeats):
        for mode in samples:
            samples[mode].append(_sample(root, mode))
    manifest = json.loads((root / "manifest.json").read_text())
    size = sum(f["size"] for f in manifest["files"].values())
    lines = [
        f"dataset {root.name}: {manifest['counts']['cells']:,} cells, {manifest['counts']['runs']:,} runs, "
        f"{size / 1e6:.1f} MB; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end",
        "",
        "| verify | import (s) | open (s) | import + open, wall (s) | CPU of the process (s) | peak RSS (MB) | target ≤ 0.3 s |",
        "|---|---|---|---|---|---|---|",
    ]
    ok = True
    for mode, rows in samples.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        target = ("yes" if med["total"] <= TARGET_S else "NO") if mode == "index" else "-"
        ok &= mode != "index" or med["total"] <= TARGET_S
        lines.append(
            f"| {mode} | {med['import']:.3f} | {med['open']:.3f} | {med['total']:.3f} | {med['cpu']:.3f} | "
            f"{med['rss_mb']:.0f} | {target} |"
        )
    lines.append(f"\nMedians of {args.repeats} fresh processes per mode, interleaved. CPU includes interpreter start-up.")
    print("\n".join(lines))
    if args.dataset is None and not args.small:
        (HERE / "results" / "open.md").write_text("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
