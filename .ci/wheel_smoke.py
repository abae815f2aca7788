"""Smoke test of an installed (non-editable) nasbench-arrow wheel; run by .ci/run.

Usage: ``VENV/bin/python .ci/wheel_smoke.py REPO`` from an empty directory, in a
venv holding the wheel and its core dependencies only (no extras). Exits 1 with
one line per failed check.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.resources
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIST = "nasbench-arrow"
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def main() -> int:
    repo = Path(sys.argv[1]).resolve()
    bindir = Path(sys.executable).parent

    # The package comes from site-packages, not from the checkout (no editable finder).
    pkg = importlib.import_module("nasbench_arrow")
    where = Path(pkg.__file__).resolve()
    check(repo not in where.parents, f"nasbench_arrow imported from the install ({where.parent})")
    conv = importlib.import_module("nasbench_arrow.converters")
    check(
        Path(conv.__file__).resolve().parent == where.parent / "converters",
        "nasbench_arrow.converters ships inside the package (package-dir mapping)",
    )
    check(callable(getattr(conv, "convert", None)), "nasbench_arrow.converters.convert exists")
    check(
        importlib.resources.files("nasbench_arrow").joinpath("py.typed").is_file(),
        "py.typed is installed",
    )
    dist = md.distribution(DIST)
    check(
        dist.metadata.get("License-Expression") == "Apache-2.0",
        "License-Expression: Apache-2.0 (PEP 639)",
    )
    check(
        any(str(f).endswith("licenses/LICENSE") for f in dist.files or ()),
        "LICENSE in the wheel's dist-info",
    )

    # Every console script the wheel declares is installed and answers --help
    # quickly, without the optional extras (TensorFlow, matplotlib, Ray).
    scripts = sorted(ep.name for ep in dist.entry_points if ep.group == "console_scripts")
    check(len(scripts) >= 7, f"console scripts declared: {', '.join(scripts)}")
    for name in scripts:
        exe = bindir / name
        if not exe.is_file():
            check(False, f"{name} installed in {bindir}")
            continue
        t = time.perf_counter()
        proc = subprocess.run(
            [str(exe), "--help"], check=False, capture_output=True, text=True, timeout=120
        )
        took = time.perf_counter() - t
        check(
            proc.returncode == 0 and "usage:" in proc.stdout and not proc.stderr.strip(),
            f"{name} --help exits 0 with usage and no stderr ({took:.1f} s)",
        )

    # Without TensorFlow, training says how to install it, in one line.
    if "nasbench-train" in scripts:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [str(bindir / "nasbench-train"), "--matrix", "[[0,1],[0,0]]", "--ops", '["input","output"]',
                 "--epochs", "4", "--cifar", os.path.join(tmp, "cifar"), "--out", os.path.join(tmp, "runs")],
                check=False, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            lines = proc.stderr.strip().splitlines()
            check(
                proc.returncode == 2
                and len(lines) == 1
                and "pip install 'nasbench-arrow[train]'" in lines[0],
                f"nasbench-train without TensorFlow: one-line install hint (exit {proc.returncode}: {lines[-1:]})",
            )

    # The README's demo, end to end, on the built-in sample.
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "nasbench_arrow.demo", os.path.join(tmp, "demo")],
            check=False, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        check(
            proc.returncode == 0,
            f"python -m nasbench_arrow.demo exits 0 ({time.perf_counter() - t:.1f} s)",
        )
        if proc.returncode:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")

    if failures:
        print(f"wheel smoke test: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
