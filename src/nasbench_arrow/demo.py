"""End-to-end demo on a built-in sample: ``python -m nasbench_arrow.demo [OUT_DIR]``.

Runs the whole path without downloading anything:

1. writes a small ``.tfrecord`` in the exact official format (300 cells of the
   real search space x 4 budgets x 3 repeats, with *synthetic* metrics, see
   :mod:`nasbench_arrow.testing`);
2. converts it with :func:`nasbench_arrow.converters.convert`;
3. opens it with the drop-in :class:`nasbench_arrow.api.NASBench` and runs the
   original README's query, a batch query and a top-k;
4. runs a Polars aggregate over the lazy ``runs`` and ``cells`` tables.

``OUT_DIR`` (default ``./nasbench-arrow-demo``) keeps the sample and its
conversion; running again reuses both, so the command is idempotent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["DEFAULT_OUT_DIR", "SAMPLE_CELLS", "main"]

#: Where the demo writes when no OUT_DIR is given.
DEFAULT_OUT_DIR = "nasbench-arrow-demo"
#: Cells in the sample file (x 4 budgets x 3 repeats records).
SAMPLE_CELLS = 300


def _step(text: str) -> None:
    print(f"\n== {text}")


def _write_sample(path: Path) -> None:
    from .testing import sample_cells, write_fixture_tfrecord

    # Write beside and rename, so an interrupted run never leaves a half file to reuse.
    partial = path.with_name(path.name + ".partial")
    write_fixture_tfrecord(partial, sample_cells(SAMPLE_CELLS, seed=0), seed=0, keep_records=False)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status (0)."""
    parser = argparse.ArgumentParser(
        prog="python -m nasbench_arrow.demo",
        description="nasbench-arrow end to end on a built-in sample: generate -> convert -> open -> query -> Polars.",
    )
    parser.add_argument("out_dir", nargs="?", default=DEFAULT_OUT_DIR, help=f"working directory (default: ./{DEFAULT_OUT_DIR})")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = out / "sample.tfrecord"
    root = out / "sample-dataset"

    _step("1. A sample in the official NAS-Bench-101 tfrecord format")
    if sample.is_file():
        print(f"reusing {sample}")
    else:
        t = time.perf_counter()
        _write_sample(sample)
        print(f"wrote {sample} ({SAMPLE_CELLS} cells x 4 budgets x 3 repeats) in {time.perf_counter() - t:.1f} s")
    print(f"{sample.stat().st_size:,} bytes; metrics are synthetic (the real file is nasbench_full.tfrecord)")

    _step("2. Convert to partitioned Parquet + query index")
    from .converters import convert
    from .dataset import is_openable
    from .manifest import read_manifest

    if is_openable(root):
        manifest = read_manifest(root)
        print(f"reusing {root}")
    else:  # none yet, or written by an older nasbench-arrow: (re)convert
        t = time.perf_counter()
        manifest = convert(sample, root, overwrite=root.exists())
        print(f"converted into {root} in {time.perf_counter() - t:.1f} s")
    counts = manifest.counts
    print(f"{counts['records']:,} records -> {counts['cells']:,} cells, {counts['runs']:,} runs, budgets {counts['epochs']}")

    _step("3. Open it with the drop-in API")
    from . import api

    t = time.perf_counter()
    nasbench = api.NASBench(root, seed=0)
    print(f">>> nasbench = api.NASBench({str(root)!r}, seed=0)    # {1000 * (time.perf_counter() - t):.1f} ms")
    print(nasbench)

    _step("4. The original README's query (Inception-like cell)")
    spec = api.ModelSpec(
        matrix=[
            [0, 1, 1, 1, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        ops=[api.INPUT, api.CONV1X1, api.CONV3X3, api.CONV3X3, api.CONV3X3, api.MAXPOOL3X3, api.OUTPUT],
    )
    data = nasbench.query(spec)
    print(">>> data = nasbench.query(model_spec)")
    for key, value in data.items():
        shown = value.tolist() if hasattr(value, "tolist") else value
        print(f"  {key:21s} {shown}")
    print(f">>> nasbench.get_budget_counters()\n  {nasbench.get_budget_counters()}")
    _, computed = nasbench.get_metrics_from_spec(spec)
    print(">>> fixed, computed = nasbench.get_metrics_from_spec(model_spec)")
    for epochs in sorted(computed):
        accs = ", ".join(f"{r['final_validation_accuracy']:.4f}" for r in computed[epochs])
        print(f"  {epochs:3d} epochs: validation accuracy of the 3 repeats {accs}")

    import polars as pl

    with pl.Config(tbl_rows=12, tbl_cols=12, fmt_str_lengths=32, tbl_width_chars=160, float_precision=4):
        _step("5. Beyond the original: a vectorised batch query (mean over repeats)")
        hashes = nasbench.random_hashes(5, seed=0)
        print(">>> nasbench.query_many(nasbench.random_hashes(5, seed=0), repeat='mean')")
        print(
            nasbench.query_many(hashes, repeat="mean", count_budget=False).select(
                "module_hash", "trainable_parameters", "validation_accuracy", "validation_accuracy_std", "test_accuracy"
            )
        )

        _step("6. Top 3 cells by mean validation accuracy at 108 epochs")
        print(">>> nasbench.top_k('validation_accuracy', k=3)")
        print(nasbench.top_k("validation_accuracy", k=3).select("module_hash", "num_vertices", "trainable_parameters", "validation_accuracy", "test_accuracy"))

        _step("7. A Polars aggregate over the lazy Parquet tables")
        query = (
            nasbench.runs()
            .filter(pl.col("epochs") == 108)
            .group_by("module_hash")
            .agg(pl.col("final_test_accuracy").mean().alias("mean_test_accuracy"))
            .join(nasbench.cells().select("module_hash", "num_vertices"), on="module_hash")
            .group_by("num_vertices")
            .agg(
                pl.len().alias("cells"),
                pl.col("mean_test_accuracy").mean().alias("mean_test_accuracy"),
                pl.col("mean_test_accuracy").max().alias("best_test_accuracy"),
            )
            .sort("num_vertices")
        )
        print(
            ">>> (nasbench.runs().filter(pl.col('epochs') == 108)\n"
            "...   .group_by('module_hash').agg(pl.col('final_test_accuracy').mean().alias('mean_test_accuracy'))\n"
            "...   .join(nasbench.cells().select('module_hash', 'num_vertices'), on='module_hash')\n"
            "...   .group_by('num_vertices').agg(...).sort('num_vertices').collect())"
        )
        t = time.perf_counter()
        result = query.collect()
        elapsed = time.perf_counter() - t
        print(result)
        print(f"({1000 * elapsed:.0f} ms)")

    print(f"\ndone: the sample and its dataset stay in {out}/ (run again to reuse them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
