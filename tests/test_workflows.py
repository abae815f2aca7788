"""Research workflows: constrained queries, exports, search plumbing and the example scripts.

Constrained queries and exports are checked against brute force over the
original-style reference loader (``tests/reference_loader.py``) reading the
same official-format file; the examples run end to end on the built-in sample.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import math
import random
import statistics
import sys

import numpy as np
import polars as pl
import pytest

from conftest import REPO_ROOT, png_size
from nasbench_arrow import analysis, export, search
from nasbench_arrow.api import NASBench
from nasbench_arrow.graph import hash_module
from nasbench_arrow.model_spec import ModelSpec
from reference_loader import OriginalStyleNASBench

METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


def _load_example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    path = REPO_ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference(converted_fixture):
    """The fixture file read the original way (brute-force source of truth)."""
    return OriginalStyleNASBench(converted_fixture.tfrecord)


@pytest.fixture(scope="module")
def nb(converted_fixture):
    """The facade over the converted fixture."""
    return NASBench(converted_fixture.root, seed=0)


def _brute_view(ref, epochs, reduce="mean", stage="final"):
    """hash -> dict of reduced metrics, computed in plain Python from the reference loader."""
    out = {}
    for h, by_epochs in ref.computed_statistics.items():
        runs = by_epochs.get(epochs)
        if not runs:
            continue
        if isinstance(reduce, int):
            runs = runs[reduce : reduce + 1]
        row = {
            "num_repeats": len(runs),
            "trainable_parameters": ref.fixed_statistics[h]["trainable_parameters"],
        }
        for m in METRICS:
            values = [r[f"{stage}_{m}"] for r in runs]
            fn = {"mean": statistics.fmean, "median": statistics.median, "min": min, "max": max}
            row[m] = fn["mean" if isinstance(reduce, int) else reduce](values)
            row[f"{m}_std"] = statistics.pstdev(values)
        out[h] = row
    return out


# --------------------------------------------------------------------------- repeat_view / top_k


@pytest.mark.parametrize("reduce", ["mean", "median", "min", "max", "repeat1", 2])
@pytest.mark.parametrize("epochs", [4, 108])
def test_repeat_view_matches_brute_force(nb, reference, reduce, epochs):
    """Each (cell, budget) row reduces the repeats exactly as plain Python does."""
    view = analysis.scan_repeat_view(nb, epochs, reduce=reduce).collect()
    how = int(reduce[6:]) if isinstance(reduce, str) and reduce.startswith("repeat") else reduce
    brute = _brute_view(reference, epochs, how)
    assert sorted(view["module_hash"].to_list()) == sorted(brute)
    for row in view.iter_rows(named=True):
        want = brute[row["module_hash"]]
        assert row["epochs"] == epochs
        assert row["num_repeats"] == want["num_repeats"]
        assert row["trainable_parameters"] == want["trainable_parameters"]
        for m in METRICS:
            assert row[m] == pytest.approx(want[m], rel=1e-12, abs=1e-12)
            if reduce == "mean":
                assert row[f"{m}_std"] == pytest.approx(want[f"{m}_std"], rel=1e-9, abs=1e-12)


def test_repeat_view_halfway_and_all_budgets(nb, reference):
    """``stop_halfway`` reads the halfway evaluation; ``epochs=None`` keeps every budget."""
    view = analysis.scan_repeat_view(nb, None, stop_halfway=True).collect()
    assert sorted(set(view["epochs"].to_list())) == [4, 12, 36, 108]
    brute = _brute_view(reference, 36, "mean", "halfway")
    for row in view.filter(pl.col("epochs") == 36).iter_rows(named=True):
        assert row["validation_accuracy"] == pytest.approx(
            brute[row["module_hash"]]["validation_accuracy"], rel=1e-12
        )


def test_repeat_view_accepts_path_and_dataset(nb, converted_fixture):
    """A dataset directory and an opened Dataset give the same view as the facade."""
    a = analysis.scan_repeat_view(nb).collect()
    b = analysis.scan_repeat_view(converted_fixture.root).collect()
    c = analysis.scan_repeat_view(nb.dataset).collect()
    assert a.equals(b) and a.equals(c)


class _ShuffledRuns:
    """A source whose runs frame comes in a shuffled row order (same rows)."""

    def __init__(self, nb, seed):
        self.nb, self.seed = nb, seed

    def cells(self):
        return self.nb.cells()

    def runs(self):
        return self.nb.runs().collect().sample(fraction=1.0, shuffle=True, seed=self.seed).lazy()


@pytest.mark.parametrize("reduce", ["mean", "median", "max", "repeat1"])
def test_repeat_view_is_bit_identical_whatever_the_row_order(nb, reduce):
    """Means and standard deviations do not depend on the order the scan yields rows in
    (regression: a multi-threaded group_by summed repeats in varying order, 1e-15 apart)."""
    a = analysis.scan_repeat_view(nb, None, reduce=reduce).collect()
    for seed in range(3):
        assert (
            analysis.scan_repeat_view(_ShuffledRuns(nb, seed), None, reduce=reduce)
            .collect()
            .equals(a)
        )


def test_repeat_view_mean_and_std_equal_numpy_in_repeat_order(nb):
    """The reductions are exactly numpy's mean and std (ddof=0) over the repeats in repeat order."""
    view = analysis.scan_repeat_view(nb, 108).collect()
    runs = nb.runs().filter(pl.col("epochs") == 108).sort("module_hash", "repeat").collect()
    groups = runs.group_by("module_hash", maintain_order=True).agg(pl.col("final_test_accuracy"))
    ref = {h: np.array(v) for h, v in groups.iter_rows()}
    for h, mean, std in view.select(
        "module_hash", "test_accuracy", "test_accuracy_std"
    ).iter_rows():
        assert mean == float(np.mean(ref[h])) and std == float(np.std(ref[h])), h


def test_lazy_and_eager_naming_rule(nb):
    """scan_* functions return LazyFrames; the older names are the same functions; questions are eager."""
    assert analysis.repeat_view is analysis.scan_repeat_view
    assert export.nni_trials is export.scan_nni_trials
    assert export.nni_intermediates is export.scan_nni_intermediates
    assert isinstance(analysis.scan_repeat_view(nb), pl.LazyFrame)
    assert isinstance(export.scan_nni_trials(nb), pl.LazyFrame)
    assert isinstance(export.scan_nni_intermediates(nb), pl.LazyFrame)
    assert isinstance(analysis.top_k(nb, k=2), pl.DataFrame)
    assert isinstance(analysis.pareto_front(nb), pl.DataFrame)


@pytest.mark.parametrize(
    ("metric", "max_params", "max_time", "reduce"),
    [
        ("validation_accuracy", None, None, "mean"),
        ("test_accuracy", 2_000_000, None, "mean"),
        ("validation_accuracy", None, 600.0, "repeat0"),
        ("validation_accuracy", 3_000_000, 700.0, "max"),
        ("training_time", 1_500_000, None, "mean"),
    ],
)
def test_top_k_under_limits_matches_brute_force(
    nb, reference, metric, max_params, max_time, reduce
):
    """top_k under a parameter and/or time limit returns the brute-force best cells, best first."""
    k = 7
    got = analysis.top_k(
        nb, metric, k=k, max_params=max_params, max_training_time=max_time, reduce=reduce
    )
    how = 0 if reduce == "repeat0" else reduce
    brute = _brute_view(reference, 108, how)
    eligible = [
        (h, row)
        for h, row in brute.items()
        if (max_params is None or row["trainable_parameters"] <= max_params)
        and (max_time is None or row["training_time"] <= max_time)
    ]
    sign = 1 if metric == "training_time" else -1
    eligible.sort(key=lambda hr: (sign * hr[1][metric], hr[0]))
    assert got["module_hash"].to_list() == [h for h, _ in eligible[:k]]
    assert got.height == min(k, len(eligible))
    for row in got.iter_rows(named=True):
        if max_params is not None:
            assert row["trainable_parameters"] <= max_params
        if max_time is not None:
            assert row["training_time"] <= max_time


def test_top_k_without_limits_equals_facade_top_k(nb):
    """Without limits, the lazy top_k agrees with ``NASBench.top_k`` (numpy over the index)."""
    ours = analysis.top_k(nb, "test_accuracy", k=10)
    theirs = nb.top_k("test_accuracy", k=10)
    assert ours["module_hash"].to_list() == theirs["module_hash"].to_list()
    assert np.allclose(
        ours["test_accuracy"].to_numpy(), theirs["test_accuracy"].to_numpy(), rtol=0, atol=1e-12
    )


def test_top_k_limit_nobody_meets_is_empty(nb):
    """A limit no cell meets gives an empty frame with the view's columns."""
    got = analysis.top_k(nb, max_params=1)
    assert got.height == 0
    assert "validation_accuracy" in got.columns


@pytest.mark.parametrize("bad", ["average", "repeat3", "repeatx", 3, -1, True])
def test_reduce_rejects_unknown_values(nb, bad):
    """An unknown ``reduce`` raises ValueError naming the allowed values."""
    with pytest.raises(ValueError, match="reduce must be one of"):
        analysis.scan_repeat_view(nb, reduce=bad)


def test_top_k_rejects_unknown_metric_and_source(nb):
    """Bad metric, k or source raise typed errors with the value given."""
    with pytest.raises(ValueError, match="'accuracy'"):
        analysis.top_k(nb, "accuracy")
    with pytest.raises(ValueError, match="k must be"):
        analysis.top_k(nb, k=-1)
    with pytest.raises(TypeError, match="source must be"):
        analysis.top_k(42)


def test_filters_are_pushed_into_the_scans(nb):
    """The budget filter reaches the runs scan and the size filter the cells scan (optimised plan)."""
    plan = analysis.scan_repeat_view(nb, 108, max_params=10**6).explain()
    scans = plan.split("Parquet SCAN")[1:]
    assert len(scans) == 2, plan
    runs = next(part for part in scans if "/runs/" in part.splitlines()[0])
    cells = next(part for part in scans if "/cells/" in part.splitlines()[0])
    assert 'SELECTION: col("epochs")' in runs, plan
    assert 'SELECTION: col("trainable_parameters")' in cells, plan


# --------------------------------------------------------------------------- pareto_front


def _brute_front(points):
    """Indices of non-dominated (x lower, y higher) points, O(n^2)."""
    keep = []
    for i, (xi, yi) in enumerate(points):
        dominated = any(
            (xj <= xi and yj >= yi and (xj < xi or yj > yi))
            for j, (xj, yj) in enumerate(points)
            if j != i
        )
        if not dominated:
            keep.append(i)
    return keep


@pytest.mark.parametrize("x", ["trainable_parameters", "training_time"])
@pytest.mark.parametrize("y", ["validation_accuracy", "test_accuracy"])
@pytest.mark.parametrize("epochs", [12, 108])
def test_pareto_front_matches_brute_force(nb, x, y, epochs):
    """The front is exactly the set of non-dominated cells of the view, sorted by cost."""
    view = analysis.scan_repeat_view(nb, epochs).collect()
    points = list(zip(view[x].to_list(), view[y].to_list()))
    want = sorted(view["module_hash"][i] for i in _brute_front(points))
    front = analysis.pareto_front(nb, x=x, y=y, epochs=epochs)
    assert sorted(front["module_hash"].to_list()) == want
    xs, ys = front[x].to_list(), front[y].to_list()
    assert xs == sorted(xs)
    assert all(b >= a for a, b in itertools.pairwise(ys))


def test_pareto_front_keeps_ties_on_the_sample(sample_dataset_dir):
    """On 2,532 cells (many share a parameter count) the front still equals brute force."""
    sample = NASBench(sample_dataset_dir)
    view = analysis.scan_repeat_view(sample, 108, reduce="repeat0").collect()
    points = list(
        zip(view["trainable_parameters"].to_list(), view["validation_accuracy"].to_list())
    )
    want = sorted(view["module_hash"][i] for i in _brute_front(points))
    front = analysis.pareto_front(sample, reduce="repeat0")
    assert sorted(front["module_hash"].to_list()) == want


def test_pareto_front_rejects_bad_axes(nb):
    """Axes outside the allowed cost/accuracy columns raise ValueError."""
    with pytest.raises(ValueError, match="x must be"):
        analysis.pareto_front(nb, x="validation_accuracy")
    with pytest.raises(ValueError, match="y must be"):
        analysis.pareto_front(nb, y="training_time")


# --------------------------------------------------------------------------- exports


def test_naslib_export_round_trips_the_real_30_cells(converted_realdata, realdata, tmp_path):
    """The NASLib-style JSON of the 30 real NASLib cells equals NASLib's own file, value for value."""
    expected = json.loads((realdata / "naslib_nb101_dummy_30.json").read_text())
    out = tmp_path / "naslib.json"
    n = export.write_naslib_json(converted_realdata["only108"].root, out, hashes=list(expected))
    assert n == 30
    assert json.loads(out.read_text()) == expected


def test_naslib_export_equals_facade_statistics(nb, converted_fixture, tmp_path):
    """Every cell and budget of the fixture: the export holds ``get_metrics_from_hash`` exactly."""
    out = tmp_path / "all.json"
    n = export.write_naslib_json(converted_fixture.root, out)
    data = json.loads(out.read_text())
    assert n == len(data) == len(converted_fixture.info.hashes)
    for h, entry in data.items():
        fixed, computed = nb.get_metrics_from_hash(h)
        assert entry["module_adjacency"] == fixed["module_adjacency"].tolist()
        assert entry["module_operations"] == fixed["module_operations"]
        assert entry["trainable_parameters"] == fixed["trainable_parameters"]
        assert entry["computed"] == {str(e): runs for e, runs in computed.items()}


def test_naslib_budget_filter_and_in_memory_dict(nb):
    """``epochs=`` keeps only those budgets; ``to_naslib`` gives integer budget keys."""
    h = nb.random_hashes(3, seed=1)
    data = export.to_naslib(nb, epochs=[12, 108], hashes=h)
    assert sorted(data) == sorted(h)
    assert all(sorted(e["computed"]) == [12, 108] for e in data.values())
    assert all(len(runs) == 3 for e in data.values() for runs in e["computed"].values())


def test_nni_trials_layout_units_and_hash(nb, reference):
    """NNI trial rows: percent accuracies, parameters in millions, seconds, and an arch that hashes back."""
    trials = export.scan_nni_trials(nb).collect()
    assert tuple(trials.columns) == export.NNI_TRIAL_COLUMNS
    assert trials.height == sum(
        len(r) for e in reference.computed_statistics.values() for r in e.values()
    )
    for row in trials.head(40).iter_rows(named=True):
        run = reference.computed_statistics[row["hash"]][row["num_epochs"]][row["repeat"]]
        assert row["valid_acc"] == pytest.approx(run["final_validation_accuracy"] * 100, rel=1e-15)
        assert row["test_acc"] == pytest.approx(run["final_test_accuracy"] * 100, rel=1e-15)
        assert row["train_acc"] == pytest.approx(run["final_train_accuracy"] * 100, rel=1e-15)
        assert row["training_time"] == run["final_training_time"]
        params = reference.fixed_statistics[row["hash"]]["trainable_parameters"]
        assert row["parameters"] == pytest.approx(params / 1e6, rel=1e-15)
        arch = json.loads(row["arch"])
        v = row["num_vertices"]
        matrix = np.zeros((v, v), dtype=int)
        for i in range(1, v):
            matrix[arch[f"input{i}"], i] = 1
        ops = ["input"] + [arch[f"op{i}"] for i in range(1, v - 1)] + ["output"]
        labels = [-1] + [nb.config["available_ops"].index(o) for o in ops[1:-1]] + [-2]
        assert hash_module(matrix, labels) == row["hash"]


def test_nni_intermediates_two_rows_per_run(nb, reference, tmp_path):
    """Intermediate stats: halfway and final rows per run, current_epoch as stored; Parquet written."""
    inter = export.scan_nni_intermediates(nb, epochs=36).collect()
    assert tuple(inter.columns) == export.NNI_INTERMEDIATE_COLUMNS
    assert sorted(set(inter["current_epoch"].to_list())) == [18, 36]
    row = inter.row(0, named=True)
    run = reference.computed_statistics[row["hash"]][36][row["repeat"]]
    assert row["valid_acc"] == pytest.approx(run["halfway_validation_accuracy"] * 100, rel=1e-15)
    paths = export.write_nni_parquet(nb, tmp_path / "nni", epochs=108)
    assert (
        pl.read_parquet(paths["trials"]).height
        == 3 * pl.read_parquet(paths["trials"])["hash"].n_unique()
    )
    assert (
        pl.read_parquet(paths["intermediates"]).height
        == 2 * pl.read_parquet(paths["trials"]).height
    )


def test_write_nni_parquet_to_a_parquet_path_writes_files(nb, tmp_path):
    """``write_nni_parquet(nb, "nni.parquet")`` writes a file there (regression: it made a
    directory of that name), and the intermediates beside it."""
    paths = export.write_nni_parquet(nb, tmp_path / "nni.parquet", epochs=108)
    assert paths == {
        "trials": tmp_path / "nni.parquet",
        "intermediates": tmp_path / "nni_intermediates.parquet",
    }
    assert (tmp_path / "nni.parquet").is_file() and (
        tmp_path / "nni_intermediates.parquet"
    ).is_file()
    trials = pl.read_parquet(tmp_path / "nni.parquet")
    assert trials.equals(export.scan_nni_trials(nb, epochs=108).collect())
    (tmp_path / "adir.parquet").mkdir()
    with pytest.raises(IsADirectoryError):
        export.write_nni_parquet(nb, tmp_path / "adir.parquet")


# --------------------------------------------------------------------------- search plumbing


class _Counter:
    """Stand-in for NASBench's budget counters."""

    def __init__(self):
        self.spent = 0.0

    def get_budget_counters(self):
        return self.spent, 0


def test_trajectory_recorder_keeps_test_of_best_validation():
    """The best validation so far selects the model; its test accuracy is carried, never maximised."""
    nb = _Counter()
    rec = search.TrajectoryRecorder(nb)
    for t, v, te in [(10, 0.5, 0.9), (20, 0.7, 0.6), (30, 0.6, 0.99), (40, 0.7, 0.1)]:
        nb.spent = t
        rec.add({"validation_accuracy": v, "test_accuracy": te})
    df = rec.to_polars("x", 3)
    assert df["best_validation_accuracy"].to_list() == [0.5, 0.7, 0.7, 0.7]
    assert df["best_test_accuracy"].to_list() == [0.9, 0.6, 0.6, 0.6]
    assert df["query"].to_list() == [1, 2, 3, 4]
    assert df["seed"].to_list() == [3] * 4


def _runs_frame():
    rows = []
    for seed, pts in enumerate(
        [
            [(5, 0.5), (15, 0.7), (30, 0.8)],
            [(8, 0.6), (20, 0.65), (25, 0.9)],
            [(12, 0.4), (40, 0.95)],
        ]
    ):
        for q, (t, v) in enumerate(pts, 1):
            rows.append(("a", seed, q, float(t), v, v, v, v - 0.01))
    names = ["algorithm", "seed", "query", "time_spent", "validation_accuracy", "test_accuracy",
             "best_validation_accuracy", "best_test_accuracy"]  # fmt: skip
    return pl.DataFrame(rows, schema=names, orient="row")


@pytest.mark.parametrize("interpolation", ["linear", "previous"])
def test_aggregate_trajectories_matches_numpy(interpolation):
    """Grid values per run (interpolated or step) then mean and quartiles over runs, NaN before a run starts."""
    df = _runs_frame()
    agg = search.aggregate_trajectories(df, max_time=40, num_points=9, interpolation=interpolation)
    grid = np.linspace(0, 40, 9)
    curves = []
    for run in df.partition_by("seed", as_dict=True, maintain_order=True).values():
        t, v = run["time_spent"].to_numpy(), run["best_validation_accuracy"].to_numpy()
        if interpolation == "linear":
            c = np.interp(grid, t, v, right=v[-1])
        else:
            c = np.array([v[t <= g][-1] if (t <= g).any() else np.nan for g in grid])
        c[grid < t[0]] = np.nan
        curves.append(c)
    curves = np.array(curves)
    assert agg["time"].to_list() == grid.tolist()
    assert agg["runs"].to_list() == (~np.isnan(curves)).sum(axis=0).tolist()
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(curves, axis=0)
            q25 = np.nanquantile(curves, 0.25, axis=0)
    np.testing.assert_allclose(
        agg["best_validation_accuracy_mean"].to_numpy(), mean, equal_nan=True
    )
    np.testing.assert_allclose(agg["best_validation_accuracy_q25"].to_numpy(), q25, equal_nan=True)


def test_aggregate_trajectories_rejects_bad_arguments():
    """Unknown interpolation, too few points and no rows raise ValueError."""
    df = _runs_frame()
    with pytest.raises(ValueError, match="interpolation"):
        search.aggregate_trajectories(df, interpolation="cubic")
    with pytest.raises(ValueError, match="num_points"):
        search.aggregate_trajectories(df, num_points=1)
    with pytest.raises(ValueError, match="no trajectories"):
        search.aggregate_trajectories(df.clear())


def test_spec_proposer_is_seeded_valid_and_leaves_global_random(complete_v4):
    """Same seed, same proposals; every proposal valid; the global random state is untouched."""
    nb = NASBench(complete_v4.root)
    state = random.getstate()
    hashes = []
    for _ in range(2):
        p = search.SpecProposer(nb, random.Random(7), num_vertices=4)
        specs = [p.random_spec() for _ in range(20)]
        specs += [p.mutate(s) for s in specs]
        assert all(nb.is_valid(s) for s in specs)
        hashes.append([nb.hash_spec(s) for s in specs])
    assert hashes[0] == hashes[1]
    assert random.getstate() == state


def test_spec_proposer_pads_small_cells_before_mutating(nb):
    """A stored 3-vertex cell mutates as a 7-vertex matrix (unconnected vertices added before the output)."""
    p = search.SpecProposer(nb, random.Random(0))
    small = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    child = p.mutate(small, mutation_rate=0.0)  # no change: padding alone must keep the cell
    assert child.original_matrix.shape == (7, 7)
    assert nb.hash_spec(child) == nb.hash_spec(small)


def test_spec_proposer_only_held_stays_in_the_dataset(sample_dataset_dir):
    """With ``only_held``, 6-vertex proposals on the <= 5-vertex sample are kept only when the sample holds them."""
    sample = NASBench(sample_dataset_dir)
    p = search.SpecProposer(sample, random.Random(1), num_vertices=6, only_held=True)
    specs = [p.random_spec() for _ in range(10)]
    specs += [p.mutate(s, mutation_rate=2.0) for s in specs for _ in range(5)]
    assert all(sample.hash_spec(s) in sample.fixed_statistics for s in specs)
    chain = ModelSpec(np.eye(6, k=1, dtype=int), ["input"] + ["conv3x3-bn-relu"] * 4 + ["output"])
    assert sample.is_valid(chain) and not p.acceptable(chain)


def test_search_on_a_partial_dataset_stays_in_it(converted_fixture):
    """On 80 random cells, random search and evolution only query held cells and always terminate."""
    rs, re_ = _load_example("random_search"), _load_example("regularized_evolution")
    held = set(converted_fixture.info.hashes)
    for run, kw in (
        (rs.random_search, {}),
        (re_.regularized_evolution, {"population_size": 5, "tournament_size": 2}),
    ):
        bench = NASBench(converted_fixture.root, seed=0, ledger=True)
        p = search.SpecProposer(bench, random.Random(2), only_held=True, max_tries=3)
        rec = run(bench, p, max_queries=40, **kw)
        assert len(rec) == 40
        assert set(bench.ledger.to_polars()["module_hash"].to_list()) <= held
    assert p.fallbacks > 0 and p.rejected >= 3 * p.fallbacks


def test_is_complete_space(complete_v4, nb):
    """The enumerated 4-vertex space is complete; a random sample of cells is not."""
    assert search.is_complete_space(NASBench(complete_v4.root)) == (True, 4)
    assert search.is_complete_space(nb)[0] is False


def test_sample_dataset_is_the_complete_small_space(sample_dataset_dir):
    """The built-in sample holds every cell with at most 5 vertices, all budgets, 3 repeats, and is reused."""
    sample = NASBench(sample_dataset_dir)
    assert search.is_complete_space(sample) == (True, 5)
    assert sample.valid_epochs == {4, 12, 36, 108}
    assert sample.dataset.index.num_runs == 2532 * 12
    assert search.sample_dataset(sample_dataset_dir.parent) == sample_dataset_dir


def test_sample_dataset_rejects_bad_size(tmp_path):
    """``max_vertices`` outside 2..7 raises ValueError before building anything."""
    with pytest.raises(ValueError, match="max_vertices"):
        search.sample_dataset(tmp_path, max_vertices=8)
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- examples


def _has_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("random_search", []),
        ("regularized_evolution", ["--population-size", "10", "--tournament-size", "3"]),
    ],
)
def test_example_runs_on_the_builtin_sample(sample_dataset_dir, tmp_path, capsys, name, extra):
    """Each example runs in one call on the sample and writes trajectories, summary, ledger (and a PNG)."""
    module = _load_example(name)
    out = tmp_path / "out"
    argv = [
        "--dataset",
        str(sample_dataset_dir),
        "--seeds",
        "3",
        "--budget",
        "3e4",
        "--out",
        str(out),
        *extra,
    ]
    if not _has_matplotlib():
        argv.append("--no-plot")
    assert module.main(argv) == 0
    traj = pl.read_parquet(out / f"{name}_trajectories.parquet")
    ledger = pl.read_parquet(out / f"{name}_ledger.parquet")
    summary = pl.read_parquet(out / f"{name}_summary.parquet")
    assert sorted(traj["seed"].unique().to_list()) == [0, 1, 2]
    assert ledger.height == traj.height
    for run in traj.partition_by("seed", as_dict=True).values():
        times = run["time_spent"].to_list()
        assert times == sorted(times) and times[-1] > 3e4 >= times[-2]
        best = run["best_validation_accuracy"].to_list()
        assert best == list(np.maximum.accumulate(run["validation_accuracy"].to_numpy()))
    assert summary["time"].max() == 3e4
    assert summary.filter(pl.col("time") == 3e4)["runs"].item() == 3
    if _has_matplotlib():
        assert png_size(out / f"{name}.png") == (1200, 500)
    assert "best validation" in capsys.readouterr().out


def test_example_results_are_reproducible(sample_dataset_dir, tmp_path):
    """The same seeds give the same trajectories (repeats and proposals are seeded per run)."""
    module = _load_example("regularized_evolution")
    frames = []
    for i in range(2):
        out = tmp_path / str(i)
        argv = ["--dataset", str(sample_dataset_dir), "--seeds", "2", "--budget", "2e4", "--out", str(out),
                "--population-size", "8", "--tournament-size", "2", "--no-plot"]  # fmt: skip
        module.main(argv)
        frames.append(pl.read_parquet(out / "regularized_evolution_trajectories.parquet"))
    assert frames[0].equals(frames[1])


def test_regularized_evolution_same_trajectory_on_original_style_loader(complete_v4):
    """The example's loop gives the identical trajectory on NASBench and on the original-style loader."""
    module = _load_example("regularized_evolution")
    kw = {"budget": 4e4, "population_size": 10, "tournament_size": 3}
    results = []
    for loader in (
        lambda: NASBench(complete_v4.root, seed=5),
        lambda: OriginalStyleNASBench(complete_v4.tfrecord, seed=5),
    ):
        bench = loader()
        proposer = search.SpecProposer(bench, random.Random("5:proposals"), num_vertices=4)
        rec = module.regularized_evolution(bench, proposer, **kw)
        results.append(rec.to_polars("re", 5))
    assert results[0].equals(results[1])
    assert results[0].height > 10


def test_random_search_stops_at_max_queries(complete_v4):
    """``max_queries`` ends a run early; the budget counters were reset at its start."""
    module = _load_example("random_search")
    bench = NASBench(complete_v4.root, seed=1)
    bench.training_time_spent = 1e9
    rec = module.random_search(
        bench, search.SpecProposer(bench, random.Random(0), num_vertices=4), max_queries=5
    )
    assert len(rec) == 5
    assert math.isclose(rec.times[-1], bench.get_budget_counters()[0])


def test_regularized_evolution_rejects_bad_tournament(complete_v4):
    """A tournament larger than the population raises ValueError."""
    module = _load_example("regularized_evolution")
    bench = NASBench(complete_v4.root)
    with pytest.raises(ValueError, match="tournament_size"):
        module.regularized_evolution(bench, search.SpecProposer(bench, random.Random(0), num_vertices=4),
                                     population_size=3, tournament_size=5)  # fmt: skip


def test_examples_run_as_scripts(sample_dataset_dir, tmp_path):
    """``python examples/random_search.py --dataset ...`` works as a command (fresh process)."""
    import subprocess

    out = tmp_path / "cli"
    cmd = [sys.executable, str(REPO_ROOT / "examples" / "random_search.py"), "--dataset", str(sample_dataset_dir),
           "--seeds", "2", "--budget", "1e4", "--out", str(out), "--no-plot"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (out / "random_search_trajectories.parquet").is_file()


@pytest.mark.parametrize("module", ["analysis", "export", "ledger", "plot", "search"])
def test_workflow_modules_export_what_they_define(module):
    """Each workflow module's ``__all__`` lists names that exist, and only public ones."""
    mod = importlib.import_module(f"nasbench_arrow.{module}")
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert not name.startswith("_")
        assert getattr(mod, name) is not None


# --------------------------------------------------------------------------- sampling: colab vs uniform


class _SpaceOnly:
    """The original API's validity check over the whole space, without a dataset."""

    def __init__(self):
        from nasbench_arrow.constants import default_config

        self.config = default_config()

    def is_valid(self, spec):
        return bool(spec.valid_spec) and int(np.sum(spec.matrix)) <= self.config["max_edges"]


def test_colab_sampler_draws_small_cells_far_more_than_their_share():
    """The colab's random_spec (what the docs now say): ~30% of its draws are the 7 cells with 2 or
    3 vertices, and under 2% have 7 vertices (85% of the space)."""
    proposer = search.SpecProposer(_SpaceOnly(), random.Random(0))
    sizes = [len(proposer.random_spec().ops) for _ in range(3000)]
    small = sum(v <= 3 for v in sizes) / len(sizes)
    assert 0.25 < small < 0.35
    assert sum(v == 7 for v in sizes) / len(sizes) < 0.02


def test_uniform_sampling_follows_the_dataset(sample_dataset_dir):
    """sampling="uniform" draws every held cell with equal probability: vertex counts follow the
    dataset's (2,441 of the sample's 2,532 cells have 5 vertices), unlike the colab's way."""
    nb = NASBench(sample_dataset_dir)
    uniform = search.SpecProposer(nb, random.Random(1), num_vertices=5, sampling="uniform")
    colab = search.SpecProposer(nb, random.Random(1), num_vertices=5)
    u = [len(uniform.random_spec().ops) for _ in range(2000)]
    c = [len(colab.random_spec().ops) for _ in range(2000)]
    assert abs(sum(v == 5 for v in u) / len(u) - 2441 / 2532) < 0.03
    assert sum(v == 5 for v in c) / len(c) < 0.8
    assert all(
        uniform.random_spec().hash_spec(nb.config["available_ops"]) in nb.fixed_statistics
        for _ in range(50)
    )
    with pytest.raises(ValueError, match="sampling"):
        search.SpecProposer(nb, random.Random(0), sampling="even")
