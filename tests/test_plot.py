"""Pictures (the ``plot`` extra): each figure is a valid, non-empty PNG of the size asked for."""

from __future__ import annotations

import importlib.util
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
    fig = plot.accuracy_distribution(sample, metric="test_accuracy", stage="halfway", width=6, height=3)
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


def _boxes(fig) -> list[str]:
    """Vertex labels drawn (edges are empty-text annotations)."""
    return [t.get_text() for t in fig.axes[0].texts if t.get_text()]


@needs_matplotlib
def test_cell_drawing_from_spec_pair_and_hash(sample, tmp_path):
    """A cell draws from a ModelSpec, a (matrix, ops) pair, or a hash with the dataset; one box per vertex."""
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    fig = plot.cell(spec, width=4, height=4, dpi=50)
    assert _boxes(fig) == ["input", "conv 1x1", "conv 3x3", "conv 3x3", "conv 3x3", "max-pool 3x3", "output"]
    assert png_size(plot.save(fig, tmp_path / "spec.png")) == (200, 200)
    fig = plot.cell((INCEPTION_MATRIX, INCEPTION_OPS))
    assert len(_boxes(fig)) == 7
    h = sample.random_hashes(1, seed=4)[0]
    fig = plot.cell(h, sample)
    assert len(_boxes(fig)) == len(sample.fixed_statistics[h]["module_operations"])


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

    rows = [("a", s, q, 10.0 * q + s, 0.5 + 0.01 * q, 0.5, 0.5 + 0.01 * q, 0.49) for s in range(3) for q in range(1, 9)]
    rows += [("b", s, q, 12.0 * q, 0.6, 0.6, 0.6, 0.59) for s in range(2) for q in range(1, 9)]
    names = ["algorithm", "seed", "query", "time_spent", "validation_accuracy", "test_accuracy",
             "best_validation_accuracy", "best_test_accuracy"]  # fmt: skip
    summary = search.aggregate_trajectories(pl.DataFrame(rows, schema=names, orient="row"), num_points=20)
    fig = plot.trajectories(summary, width=8, height=3)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2
    assert png_size(plot.save(fig, tmp_path / "t.png")) == (800, 300)


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
    assert plot.main(["cell", str(sample_dataset_dir), str(tmp_path / "d.png"), "--cell", "f" * 32]) == 1
    assert "no cell 'ffff" in capsys.readouterr().err


def test_cli_missing_dataset_exits_1(tmp_path, capsys):
    """A path that is not a dataset exits 1 with the dataset error on stderr."""
    assert plot.main(["overview", str(tmp_path / "nope"), str(tmp_path / "o.png")]) == 1
    assert "nasbench-plot:" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_cli_usage_error_exits_2(capsys):
    """An unknown picture kind is a usage error (exit status 2)."""
    with pytest.raises(SystemExit) as exc:
        plot.main(["histogram", "x", "y.png"])
    assert exc.value.code == 2
