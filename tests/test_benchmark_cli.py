"""``nasbench-bench`` end to end on the built-in sample, the report statistics, and the Optuna adapter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from conftest import png_size
from nasbench_arrow.api import NASBench
from nasbench_arrow.benchmark import TRACE_COLUMNS, Simulator, cli, report


def nonblank_png(path) -> bool:
    """The PNG decodes to an image with more than one colour."""
    image = pytest.importorskip("matplotlib.image", reason="matplotlib not installed (plot extra)")
    pixels = image.imread(str(path))
    return pixels.ndim == 3 and float(pixels[..., :3].std()) > 0.01


def test_campaign_end_to_end_on_the_sample(sample_dataset_dir, tmp_path, capsys):
    """The CLI writes traces, curves, a summary and two valid, non-blank PNGs with one panel per worker count."""
    pytest.importorskip("matplotlib", reason="matplotlib not installed (plot extra)")
    out = tmp_path / "results"
    status = cli.main(
        [
            "--dataset", str(sample_dataset_dir), "--algorithms", "random,evolution,local,hyperband",
            "--workers", "1,3", "--seeds", "3", "--budget", "1e5", "--out", str(out), "--jobs", "1",
        ]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    for name in ("random", "evolution", "local", "hyperband"):
        assert name in printed
        for w in (1, 3):
            trace = pl.read_parquet(out / "traces" / f"{name}-w{w}" / "*.parquet")
            assert trace.columns == list(TRACE_COLUMNS)
            assert sorted(set(trace["seed"].to_list())) == [0, 1, 2]
            assert set(trace["n_workers"].to_list()) == {w}
            assert trace.group_by("seed").agg(pl.col("start").max())["start"].max() < 1e5
    # The summary's final regrets are those of the traces' last rows.
    for name in ("random", "local"):
        last = pl.read_parquet(out / "traces" / f"{name}-w3" / "*.parquet").sort("seed", "evaluation").group_by("seed").last()
        want = report.final_table(last.with_columns(pl.lit(0, dtype=pl.Int64).alias("evaluation")))["value"][0]
        row = pl.read_parquet(out / "summary.parquet").filter((pl.col("algorithm") == name) & (pl.col("n_workers") == 3))
        assert row["value"][0] == pytest.approx(want)
    summary = pl.read_parquet(out / "summary.parquet")
    assert summary.height == 8 and set(summary["n_workers"].to_list()) == {1, 3}
    assert (summary["low"] <= summary["value"]).all() and (summary["value"] <= summary["high"]).all()
    assert "| algorithm | workers |" in (out / "summary.md").read_text()
    for png in ("regret_test.png", "regret_validation.png"):
        width, height = png_size(out / png)
        assert width > 2 * height  # two panels side by side
        assert nonblank_png(out / png)


def test_campaign_in_parallel_equals_serial(sample_dataset_dir, tmp_path):
    """--jobs 2 (spawned processes) gives the same traces as --jobs 1: runs depend only on their seeds."""
    common = ["--dataset", str(sample_dataset_dir), "--algorithms", "random,local", "--workers", "2",
              "--seeds", "2", "--budget", "5e4", "--no-plot"]  # fmt: skip
    assert cli.main([*common, "--out", str(tmp_path / "a"), "--jobs", "1"]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "b"), "--jobs", "2"]) == 0
    for name in ("random-w2", "local-w2"):
        a = pl.read_parquet(tmp_path / "a" / "traces" / name / "*.parquet")
        b = pl.read_parquet(tmp_path / "b" / "traces" / name / "*.parquet")
        assert a.equals(b)
    assert pl.read_parquet(tmp_path / "a" / "summary.parquet").equals(pl.read_parquet(tmp_path / "b" / "summary.parquet"))
    assert pl.read_parquet(tmp_path / "a" / "curves.parquet").equals(pl.read_parquet(tmp_path / "b" / "curves.parquet"))
    # A rerun with fewer seeds into the same folder leaves no trace of the earlier seeds.
    one_seed = [*common, "--out", str(tmp_path / "a"), "--jobs", "1"]
    one_seed[one_seed.index("--seeds") + 1] = "1"
    assert cli.main(one_seed) == 0
    assert sorted(p.name for p in (tmp_path / "a" / "traces" / "random-w2").iterdir()) == ["seed-0000.parquet"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "/nonexistent/dataset"], "nasbench-bench: error:"),
        (["--algorithms", "nope"], "unknown algorithm 'nope'"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(sample_dataset_dir, tmp_path, args, message):
    """A missing dataset or an unknown algorithm: exit status 2 and one line, no traceback."""
    if "--dataset" not in args:
        args = ["--dataset", str(sample_dataset_dir), *args]
    proc = subprocess.run(
        [sys.executable, "-m", "nasbench_arrow.benchmark.cli", *args, "--seeds", "1", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_worker_list_is_a_usage_error(capsys):
    """--workers 0 is refused by the parser (status 2) with the reason."""
    with pytest.raises(SystemExit) as exc:
        cli.main(["--workers", "0"])
    assert exc.value.code == 2
    assert "positive integers" in capsys.readouterr().err


# ----------------------------------------------------------------------------- statistics


def test_iqm_is_the_mean_of_the_middle_half():
    """IQM of 8 values drops the 2 lowest and 2 highest (floor(n/4) each side)."""
    values = np.array([[100.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [-50.0]])
    assert report.statistic(values, "iqm", axis=0)[0] == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))
    assert report.statistic(values, "median", axis=0)[0] == 3.5


def test_curves_are_step_functions_of_each_run():
    """A run's value at t is its regret after its last result at or before t; before any result it is absent."""
    trace = pl.DataFrame(
        {
            "algorithm": ["x"] * 4,
            "n_workers": [1] * 4,
            "seed": [0, 0, 1, 1],
            "end": [1.0, 3.0, 2.0, 4.0],
            "test_regret": [0.5, 0.1, 0.4, 0.2],
        }
    )
    curve = report.curves(trace, max_time=4.0, num_points=5, stat="mean", n_boot=50)
    assert curve["time"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert curve["runs"].to_list() == [0, 1, 2, 2, 2]
    assert curve["value"].to_list()[1:] == pytest.approx([0.5, 0.45, 0.25, 0.15])
    assert np.isnan(curve["value"][0])


# ----------------------------------------------------------------------------- external optimizers


def test_optuna_plugs_in_through_the_adapter(sample_dataset_dir):
    """OptunaOptimizer (TPE over space A) runs in the simulator; every Optuna trial is told a value in [0, 1]."""
    pytest.importorskip("optuna", reason="optuna not installed (pip install 'nasbench-arrow[hpo]')")
    from nasbench_arrow.benchmark import OptunaOptimizer

    nb = NASBench(sample_dataset_dir, seed=0)
    opt = OptunaOptimizer(nb, seed=0, space="A")
    trace = Simulator(nb, n_workers=2, seed=0).run(opt, max_evaluations=25)
    assert trace.height == 25
    assert opt.invalid > 0  # most of space A is invalid or outside the 5-vertex sample: told 1.0 at no cost
    trials = opt.study.trials
    assert all(t.state.name == "COMPLETE" for t in trials)
    values = [t.value for t in trials]
    assert all(0.0 <= v <= 1.0 for v in values)
    told = sorted(1 - v for v in values if v < 1.0)
    assert told == sorted(trace["validation_accuracy"].to_list())
