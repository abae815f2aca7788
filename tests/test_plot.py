"""Pictures (the ``plot`` extra): each figure is a valid, non-empty PNG of the size asked for."""

from __future__ import annotations

import importlib.util
import itertools
import sys

import pytest

from conftest import png_size
from nasbench_arrow import analysis, plot, search
from nasbench_arrow.errors import MissingDependencyError
from nasbench_arrow.model_spec import ModelSpec
from nasbench_arrow.testing import INCEPTION_HASH, INCEPTION_MATRIX, INCEPTION_OPS

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(
    not HAS_MATPLOTLIB, reason="matplotlib is not installed (pip install 'nasbench-arrow[plot]')"
)


@pytest.fixture(scope="module")
def sample(sample_dataset_dir):
    """The facade over the built-in sample."""
    from nasbench_arrow.api import NASBench

    return NASBench(sample_dataset_dir)


@needs_matplotlib
def test_overview_png_size(sample, tmp_path):
    """Overview (hexbin of all cells) saves at width*dpi x height*dpi pixels."""
    fig = plot.overview(sample, width=5, height=4, dpi=80)
    assert png_size(plot.save(fig, tmp_path / "o.png")) == (400, 320)


@needs_matplotlib
def test_accuracy_distribution_png_size(sample, tmp_path):
    """Accuracy histogram per budget, test accuracy at halfway."""
    fig = plot.accuracy_distribution(
        sample, metric="test_accuracy", stage="halfway", width=6, height=3
    )
    assert png_size(plot.save(fig, tmp_path / "a.png")) == (600, 300)


@needs_matplotlib
def test_learning_curve_of_a_given_and_the_default_cell(sample, tmp_path):
    """Learning curve for a named cell and, by default, the best cell; 12 runs x 3 evaluations drawn."""
    h = analysis.top_k(sample, k=3)["module_hash"][2]
    fig = plot.learning_curve(sample, h)
    ax = fig.axes[0]
    assert len(ax.collections) == 12 * 3  # one marker per run and evaluation stage
    assert h in ax.get_title()
    assert png_size(plot.save(fig, tmp_path / "c.png")) == (800, 500)
    default = plot.learning_curve(sample)
    assert analysis.top_k(sample, k=1)["module_hash"].item() in default.axes[0].get_title()


@needs_matplotlib
def test_learning_curve_unknown_cell_raises_key_error(sample):
    """A hash the dataset does not hold raises KeyError."""
    with pytest.raises(KeyError):
        plot.learning_curve(sample, "0" * 32)


@needs_matplotlib
def test_learning_curve_axis_ticks_and_ops_title(sample):
    """The epoch axis has ticks exactly at 0, the budgets and their halfway points, labelled with
    their values, on a monotone (square-root) scale; the title names the cell's ops."""
    h = analysis.top_k(sample, k=1)["module_hash"].item()
    ax = plot.learning_curve(sample, h).axes[0]
    expected = [0, 2, 4, 6, 12, 18, 36, 54, 108]
    assert list(ax.get_xticks()) == expected
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(e) for e in expected]
    assert ax.get_xscale() == "function"
    pixels = ax.transData.transform([(e, 0.5) for e in expected])[:, 0]
    assert all(
        b - a > 10 for a, b in itertools.pairwise(pixels)
    )  # distinct, in order, at least 10 px apart
    ops = sample.fixed_statistics[h]["module_operations"]
    short = {"conv3x3-bn-relu": "conv3x3", "conv1x1-bn-relu": "conv1x1", "maxpool3x3": "maxpool3x3"}
    assert (
        "ops: input -> " + ", ".join(short[o] for o in ops[1:-1]) + " -> output" in ax.get_title()
    )


@needs_matplotlib
def test_overview_names_per_bin_mean_and_the_source(sample):
    """The colour bar says it is a per-hexagon mean; the figure names its data file and that it is
    not a published file."""
    fig = plot.overview(sample)
    labels = [a.get_ylabel() for a in fig.axes]
    assert any("mean over the hexagon's cells" in label for label in labels)
    foot = fig.get_supxlabel()
    assert "sample.tfrecord" in foot and "not a published NAS-Bench-101 file" in foot


@needs_matplotlib
def test_overview_refuses_a_budget_the_data_lacks(converted_fixture_108, tmp_path, capsys):
    """--epochs 12 on a 108-only dataset: exit 1 naming the budgets, no (empty) figure written."""
    out = tmp_path / "o.png"
    assert plot.main(["overview", str(converted_fixture_108.root), str(out), "--epochs", "12"]) == 1
    err = capsys.readouterr().err
    assert "no 12-epoch runs" in err and "108" in err
    assert not out.exists()
    with pytest.raises(ValueError, match="no 36-epoch runs"):
        plot.overview(converted_fixture_108.root, epochs=36)


@needs_matplotlib
def test_accuracy_histogram_log_axis_label_and_zoom(sample):
    """The y axes say they are logarithmic; the second panel shows 0.80-0.95."""
    fig = plot.accuracy_distribution(sample)
    assert len(fig.axes) == 2
    assert all(ax.get_yscale() == "log" and "log scale" in ax.get_ylabel() for ax in fig.axes)
    assert fig.axes[0].get_xlim() == (0.0, 1.0)
    assert fig.axes[1].get_xlim() == pytest.approx((0.80, 0.95))
    assert len(plot.accuracy_distribution(sample, zoom=None).axes) == 1


def _boxes(fig) -> list[str]:
    """Vertex labels drawn (edges are empty-text annotations)."""
    return [t.get_text() for t in fig.axes[0].texts if t.get_text()]


@needs_matplotlib
def test_cell_drawing_from_spec_pair_and_hash(sample, tmp_path):
    """A cell draws from a ModelSpec, a (matrix, ops) pair, or a hash with the dataset; one box per vertex."""
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    fig = plot.cell(spec, width=4, height=4, dpi=50)
    assert _boxes(fig) == [
        "input",
        "conv 1x1",
        "conv 3x3",
        "conv 3x3",
        "conv 3x3",
        "max-pool 3x3",
        "output",
    ]
    assert png_size(plot.save(fig, tmp_path / "spec.png")) == (200, 200)
    fig = plot.cell((INCEPTION_MATRIX, INCEPTION_OPS))
    assert len(_boxes(fig)) == 7
    h = sample.random_hashes(1, seed=4)[0]
    fig = plot.cell(h, sample)
    assert len(_boxes(fig)) == len(sample.fixed_statistics[h]["module_operations"])


@pytest.mark.parametrize(
    ("matrix", "ops"),
    [
        # v2 -> v5 skips v3 and v4, all in one column (drawn through them before).
        ([[0, 1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 1, 0, 0],
          [0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
         ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"]),
        (INCEPTION_MATRIX, INCEPTION_OPS),
    ],
)  # fmt: skip
def test_cell_edges_avoid_other_boxes_and_arrowheads_are_apart(matrix, ops):
    """Every edge's drawn course stays out of the boxes of the vertices it does not connect, and
    no two arrowheads end at the same point."""
    spec = ModelSpec(matrix, ops)
    m = spec.matrix.tolist()
    depth = plot._layers(m)
    by_layer = {}
    for v, d in enumerate(depth):
        by_layer.setdefault(d, []).append(v)
    last = max(depth)
    pos = {
        v: ((k + 1) / (len(vs) + 1), 1.0 - (d + 0.5) / (last + 1))
        for d, vs in by_layer.items()
        for k, v in enumerate(vs)
    }
    half_w = {v: plot._half_width(plot._OP_STYLE[o][0]) for v, o in enumerate(spec.ops)}
    routes = plot._route_edges(m, pos, half_w)
    assert sorted(routes) == sorted((i, j) for i in range(len(m)) for j in range(len(m)) if m[i][j])
    for (i, j), points in routes.items():
        assert not plot._hits_a_box(points, pos, half_w, (i, j)), (i, j)
    ends = [tuple(round(c, 6) for c in points[-1]) for points in routes.values()]
    assert len(set(ends)) == len(ends)


@needs_matplotlib
def test_cell_edges_avoid_boxes_on_many_real_cells(sample):
    """The routing holds for every 7-vertex cell among 300 of the sample."""
    for h in sample.random_hashes(300, seed=0):
        fixed = sample.fixed_statistics[h]
        m = fixed["module_adjacency"].tolist()
        if len(m) < 6:
            continue
        depth = plot._layers(m)
        by_layer = {}
        for v, d in enumerate(depth):
            by_layer.setdefault(d, []).append(v)
        last = max(depth)
        pos = {
            v: ((k + 1) / (len(vs) + 1), 1.0 - (d + 0.5) / (last + 1))
            for d, vs in by_layer.items()
            for k, v in enumerate(vs)
        }
        half_w = {
            v: plot._half_width(plot._OP_STYLE[o][0])
            for v, o in enumerate(fixed["module_operations"])
        }
        for (i, j), points in plot._route_edges(m, pos, half_w).items():
            assert not plot._hits_a_box(points, pos, half_w, (i, j)), (h, i, j)


def test_cell_drawing_argument_errors(sample):
    """A hash without a dataset, or an invalid spec, raises ValueError (no matplotlib needed to check)."""
    with pytest.raises(ValueError, match="needs the dataset"):
        plot.cell(INCEPTION_HASH)
    with pytest.raises(ValueError, match="invalid spec"):
        plot.cell(ModelSpec([[0, 0], [0, 0]], ["input", "output"]))


@needs_matplotlib
def test_trajectories_png(tmp_path):
    """The search-trajectory figure (two panels, mean line and IQR band per algorithm)."""
    import polars as pl

    rows = [
        ("a", s, q, 10.0 * q + s, 0.5 + 0.01 * q, 0.5, 0.5 + 0.01 * q, 0.49)
        for s in range(3)
        for q in range(1, 9)
    ]
    rows += [("b", s, q, 12.0 * q, 0.6, 0.6, 0.6, 0.59) for s in range(2) for q in range(1, 9)]
    names = ["algorithm", "seed", "query", "time_spent", "validation_accuracy", "test_accuracy",
             "best_validation_accuracy", "best_test_accuracy"]  # fmt: skip
    summary = search.aggregate_trajectories(
        pl.DataFrame(rows, schema=names, orient="row"), num_points=20
    )
    fig = plot.trajectories(summary, width=8, height=3)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2
    assert png_size(plot.save(fig, tmp_path / "t.png")) == (800, 300)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("inter-quartile range" in t for t in legend)  # the band is explained
    assert fig.axes[0].get_xscale() == "linear"
    assert all(ax.get_xscale() == "log" for ax in plot.trajectories(summary, log_x=True).axes)


@needs_matplotlib
def test_bad_sizes_and_metrics_raise(sample):
    """Non-positive sizes and unknown metrics or stages raise ValueError."""
    with pytest.raises(ValueError, match="positive"):
        plot.overview(sample, width=0)
    with pytest.raises(ValueError, match="metric"):
        plot.accuracy_distribution(sample, metric="loss")
    with pytest.raises(ValueError, match="stage"):
        plot.accuracy_distribution(sample, stage="middle")


def test_missing_matplotlib_gives_install_hint(sample, monkeypatch):
    """Without matplotlib a plot raises MissingDependencyError with the pip install line."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'nasbench-arrow\[plot\]'"):
        plot.cell((INCEPTION_MATRIX, INCEPTION_OPS))


# --------------------------------------------------------------------------- CLI


@needs_matplotlib
@pytest.mark.parametrize(
    ("argv", "size"),
    [
        (["overview", "--epochs", "36"], (800, 600)),
        (["accuracy", "--metric", "test_accuracy"], (800, 500)),
        (["curve", "--width", "4", "--height", "3", "--dpi", "50"], (200, 150)),
        (["cell"], (600, 600)),
    ],
)
def test_cli_writes_png_of_expected_size(sample_dataset_dir, tmp_path, capsys, argv, size):
    """``nasbench-plot KIND DATASET OUT.png`` exits 0 and writes the PNG."""
    out = tmp_path / "deep" / "x.png"
    kind, *options = argv
    assert plot.main([kind, str(sample_dataset_dir), str(out), *options]) == 0
    assert png_size(out) == size
    assert str(out) in capsys.readouterr().out


@needs_matplotlib
def test_cli_cell_by_hash_and_unknown_hash(sample_dataset_dir, sample, tmp_path, capsys):
    """``--cell HASH`` draws that cell; an unknown hash exits 1 with a message."""
    h = sample.random_hashes(1, seed=2)[0]
    assert plot.main(["curve", str(sample_dataset_dir), str(tmp_path / "c.png"), "--cell", h]) == 0
    assert (
        plot.main(["cell", str(sample_dataset_dir), str(tmp_path / "d.png"), "--cell", "f" * 32])
        == 1
    )
    assert "no cell 'ffff" in capsys.readouterr().err


def test_cli_missing_dataset_exits_1(tmp_path, capsys):
    """A path that is not a dataset exits 1 with the dataset error on stderr."""
    assert plot.main(["overview", str(tmp_path / "nope"), str(tmp_path / "o.png")]) == 1
    assert "nasbench-plot:" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


@needs_matplotlib
def test_cli_names_the_file_it_wrote(sample_dataset_dir, tmp_path, capsys):
    """``OUT`` without a suffix: x.png is written and ``wrote`` names x.png; an unknown suffix exits 1."""
    assert plot.main(["cell", str(sample_dataset_dir), str(tmp_path / "x")]) == 0
    assert (tmp_path / "x.png").is_file() and not (tmp_path / "x").exists()
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'x.png'}"
    assert plot.main(["cell", str(sample_dataset_dir), str(tmp_path / "y.v1")]) == 1
    assert "unknown image format '.v1'" in capsys.readouterr().err
    assert list(tmp_path.glob("y*")) == []


def test_cli_text_file_is_refused_before_any_conversion(tmp_path, capsys):
    """A text file is named as not a dataset nor a TFRecord; nothing says "converting", no cache dir."""
    notes = tmp_path / "notes.txt"
    notes.write_text("some notes\nmore notes\n")
    assert plot.main(["overview", str(notes), str(tmp_path / "o.png")]) == 1
    captured = capsys.readouterr()
    assert "converting" not in captured.err + captured.out
    assert "neither a converted dataset directory nor a TFRecord file" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_cli_help_documents_every_option():
    """Every option of every picture kind (--epochs, --gridsize, --metric included) has help text."""
    import argparse

    parser = plot._parser()
    kinds = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(kinds) == {"overview", "accuracy", "curve", "cell"}
    for kind, sub in kinds.items():
        for action in sub._actions:
            assert action.help and action.help.strip(), (kind, action.option_strings or action.dest)


def test_cli_usage_error_exits_2(capsys):
    """An unknown picture kind is a usage error (exit status 2)."""
    with pytest.raises(SystemExit) as exc:
        plot.main(["histogram", "x", "y.png"])
    assert exc.value.code == 2


def test_plot_stage_and_accuracy_names_are_layouts():
    """plot spells the stages and accuracies it offers (to stay light to import); they are
    exactly layout's STAGES and the accuracies of layout.METRICS."""
    from nasbench_arrow import layout, plot

    assert plot._STAGES == layout.STAGES
    assert sorted(plot._ACCURACIES) == sorted(m for m in layout.METRICS if m.endswith("_accuracy"))
    assert len(set(plot._ACCURACIES)) == len(plot._ACCURACIES)
