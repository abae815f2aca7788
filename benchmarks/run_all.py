"""Run every benchmark in turn: ``python benchmarks/run_all.py [--small]``.

Each script measures nasbench-arrow against its baseline in the same run, prints
a markdown table with ratios, and writes it to ``benchmarks/results/<name>.md``.
``--small`` passes the scripts' quick mode (smaller generated data) where they
have one; the full run generates ~2.6 GB under ``benchmarks/_work/`` (reused on
later runs) and takes several minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# script -> the flag of its quick mode (None: it is quick already)
BENCHMARKS = {
    "bench_hash.py": None,
    "bench_space.py": "--quick",
    "bench_convert.py": "--small",
    "bench_api.py": "--small",
    "bench_clients.py": "--small",
    "bench_open.py": "--small",
    "bench_harness.py": "--small",
    "bench_search.py": "--small",
    "bench_train.py": None,  # needs the train extra; a few timed steps only
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="quick mode of each script")
    parser.add_argument("--only", nargs="*", default=None, help="run only these scripts (e.g. bench_api.py)")
    args = parser.parse_args(argv)
    failed = []
    for script, quick_flag in BENCHMARKS.items():
        if args.only and script not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script)]
        if args.small and quick_flag:
            cmd.append(quick_flag)
        print(f"\n### {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"({script}: exit {rc}, {time.perf_counter() - start:.1f} s)", flush=True)
        if rc:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
