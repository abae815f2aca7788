"""Pictures of the dataset and of search runs (the optional ``plot`` extra: matplotlib).

Every function returns a ``matplotlib.figure.Figure`` drawn with the Agg
renderer; nothing touches ``pyplot`` or the global backend, so this works on
headless machines and inside other programs. Save with :func:`save` (or
``fig.savefig``); the PNG is ``width * dpi`` by ``height * dpi`` pixels.

- :func:`overview`: trainable parameters against training time, coloured by
  mean validation accuracy, every cell (hexbin: fast for 423,624 cells);
- :func:`accuracy_distribution`: the accuracy of every run, one histogram per
  epoch budget;
- :func:`learning_curve`: one cell across the budgets: the start, halfway and
  final evaluation of each run, marked by budget (colour) and stage (marker);
- :func:`cell`: the cell's graph (ops as boxes, edges as arrows); see also
  ``ModelSpec.to_dot()`` / ``ModelSpec.visualize()`` (graphviz);
- :func:`trajectories`: search trajectories, mean and inter-quartile band
  (from :func:`nasbench_arrow.search.aggregate_trajectories`).

The command ``nasbench-plot {overview,accuracy,curve,cell} DATASET OUT.png``
draws the first four (:func:`main`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constants import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from .errors import NASBenchError, import_optional

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl
    from matplotlib.figure import Figure

__all__ = [
    "accuracy_distribution",
    "cell",
    "learning_curve",
    "main",
    "overview",
    "save",
    "trajectories",
]

_STAGES = ("start", "halfway", "final")
_STAGE_MARKERS = {"start": "o", "halfway": "s", "final": "^"}
_OP_STYLE = {  # short label, face colour
    INPUT: ("input", "#dddddd"),
    OUTPUT: ("output", "#dddddd"),
    CONV3X3: ("conv 3x3", "#8fbbd9"),
    CONV1X1: ("conv 1x1", "#9fd49f"),
    MAXPOOL3X3: ("max-pool 3x3", "#f4b183"),
}


def _figure(width: float, height: float, dpi: float, ncols: int = 1) -> tuple[Figure, Any]:
    """A Figure on the Agg canvas (no pyplot state), with ``ncols`` axes."""
    import_optional("matplotlib", "plot", "nasbench_arrow.plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width <= 0 or height <= 0 or dpi <= 0:
        msg = f"width, height and dpi must be positive, got {width!r}, {height!r}, {dpi!r}"
        raise ValueError(msg)
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, axes


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write a figure (PNG, SVG or PDF by the suffix) at its own size and dpi; parents are created.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi)
    return path


def overview(
    source: Any,
    *,
    epochs: int = 108,
    gridsize: int = 60,
    width: float = 8.0,
    height: float = 6.0,
    dpi: float = 100.0,
) -> Figure:
    """Trainable parameters against mean training time, coloured by mean validation accuracy.

    One hexagon per region of the plane, coloured by the mean (over the cells
    in it) of each cell's mean-over-repeats validation accuracy at ``epochs``.

    Parameters
    ----------
    source : NASBench, Dataset or path
    epochs : int, default 108
        Budget of the training time and accuracy.
    gridsize : int, default 60
        Hexagons across.
    width, height : float
        Inches; with ``dpi`` they give the pixel size.
    dpi : float, default 100
    """
    from .analysis import repeat_view

    view = (
        repeat_view(source, epochs)
        .select("trainable_parameters", "training_time", "validation_accuracy")
        .collect()
    )
    fig, ax = _figure(width, height, dpi)
    hb = ax.hexbin(
        view["trainable_parameters"].to_numpy(),
        view["training_time"].to_numpy(),
        C=view["validation_accuracy"].to_numpy(),
        reduce_C_function=_mean,
        gridsize=gridsize,
        xscale="log",
        cmap="viridis",
        mincnt=1,
    )
    fig.colorbar(hb, ax=ax, label=f"mean validation accuracy at {epochs} epochs")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel(f"mean training time at {epochs} epochs (s)")
    ax.set_title(f"NAS-Bench-101: {view.height:,} cells")
    return fig


def _mean(values):
    import numpy as np

    return float(np.mean(values))


def accuracy_distribution(
    source: Any,
    *,
    metric: str = "validation_accuracy",
    stage: str = "final",
    bins: int = 100,
    width: float = 8.0,
    height: float = 5.0,
    dpi: float = 100.0,
) -> Figure:
    """Histogram of one accuracy over every run, one curve per epoch budget.

    Parameters
    ----------
    source : NASBench, Dataset or path
    metric : {"validation_accuracy", "test_accuracy", "train_accuracy"}
    stage : {"final", "halfway", "start"}
    bins : int, default 100
        Bins over 0..1.
    width, height, dpi
        Figure size (inches) and resolution.
    """
    import numpy as np
    import polars as pl

    from .analysis import _frames

    if metric not in ("validation_accuracy", "test_accuracy", "train_accuracy"):
        msg = f"metric must be validation_accuracy, test_accuracy or train_accuracy, got {metric!r}"
        raise ValueError(msg)
    if stage not in _STAGES:
        msg = f"stage must be one of {list(_STAGES)}, got {stage!r}"
        raise ValueError(msg)
    _, runs = _frames(source)
    column = f"{stage}_{metric}"
    data = runs.select("epochs", column).collect()
    fig, ax = _figure(width, height, dpi)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for e in sorted(data["epochs"].unique().to_list()):
        values = data.filter(pl.col("epochs") == e)[column].to_numpy()
        ax.hist(values, bins=edges, histtype="step", linewidth=1.5, label=f"{e} epochs ({values.size:,} runs)")
    ax.set_yscale("log")
    ax.set_xlabel(f"{stage} {metric.replace('_', ' ')}")
    ax.set_ylabel("runs")
    ax.legend(loc="upper left")
    ax.set_title("Accuracy by epoch budget")
    return fig


def _resolve_hash(source: Any, cell_hash: str | None) -> str:
    """The given hash, or the best cell by mean validation accuracy at the largest budget."""
    import polars as pl

    from .analysis import _frames, top_k

    if cell_hash is not None:
        return cell_hash
    _, runs = _frames(source)
    largest = runs.select(pl.col("epochs").max()).collect().item()
    return top_k(source, "validation_accuracy", k=1, epochs=int(largest))["module_hash"].item()


def learning_curve(
    source: Any,
    cell_hash: str | None = None,
    *,
    metric: str = "validation_accuracy",
    width: float = 8.0,
    height: float = 5.0,
    dpi: float = 100.0,
) -> Figure:
    """One cell's accuracy against epochs trained, every run of every budget.

    Each run contributes three points, its start (epoch 0), halfway and final
    evaluation, joined by a thin line; colour says which budget's runs they
    come from, the marker which evaluation.

    Parameters
    ----------
    source : NASBench, Dataset or path
    cell_hash : str, optional
        Module hash; default the best cell by mean validation accuracy.
    metric : {"validation_accuracy", "test_accuracy", "train_accuracy"}
    width, height, dpi
        Figure size (inches) and resolution.

    Raises
    ------
    KeyError
        The dataset does not hold this hash.
    """
    from .analysis import _frames
    from .dataset import filter_hashes

    if metric not in ("validation_accuracy", "test_accuracy", "train_accuracy"):
        msg = f"metric must be validation_accuracy, test_accuracy or train_accuracy, got {metric!r}"
        raise ValueError(msg)
    fig, ax = _figure(width, height, dpi)
    from matplotlib.lines import Line2D

    h = _resolve_hash(source, cell_hash)
    _, runs = _frames(source)
    cols = [f"{s}_{m}" for s in _STAGES for m in ("current_epoch", metric)]
    data = filter_hashes(runs, [h]).select("epochs", "repeat", *cols).sort("epochs", "repeat").collect()
    if data.height == 0:
        raise KeyError(h)
    budgets = sorted(data["epochs"].unique().to_list())
    colours = {e: f"C{i}" for i, e in enumerate(budgets)}
    for e, r, *values in data.iter_rows():
        xs, ys = values[0::2], values[1::2]
        ax.plot(xs, ys, color=colours[e], linewidth=0.8, alpha=0.6)
        for stage, x, y in zip(_STAGES, xs, ys):
            ax.scatter([x], [y], color=colours[e], marker=_STAGE_MARKERS[stage], s=36, zorder=3)
    handles = [Line2D([], [], color=colours[e], marker="o", linestyle="-", label=f"{e}-epoch runs") for e in budgets]
    handles += [
        Line2D([], [], color="black", marker=_STAGE_MARKERS[s], linestyle="none", label=f"{s} evaluation")
        for s in _STAGES
    ]
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    ax.set_xscale("symlog", linthresh=2)
    ax.set_xlabel("epochs trained")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"cell {h}")
    ax.grid(True, alpha=0.3)
    return fig


def _layers(matrix) -> list[int]:
    """Longest-path depth of each vertex from the input (vertices are topologically ordered)."""
    n = len(matrix)
    depth = [0] * n
    for j in range(n):
        for i in range(j):
            if matrix[i][j]:
                depth[j] = max(depth[j], depth[i] + 1)
    return depth


def cell(
    spec_or_hash: Any,
    source: Any = None,
    *,
    width: float = 6.0,
    height: float = 6.0,
    dpi: float = 100.0,
) -> Figure:
    """Draw a cell: ops as boxes, layered top to bottom from input to output.

    Parameters
    ----------
    spec_or_hash : ModelSpec, (matrix, ops) or str
        The cell; a module hash needs ``source`` to look it up.
    source : NASBench, Dataset or path, optional
        Dataset to read a hash from.
    width, height, dpi
        Figure size (inches) and resolution.
    """
    matrix, ops, title = _cell_graph(spec_or_hash, source)
    fig, ax = _figure(width, height, dpi)
    depth = _layers(matrix)
    by_layer: dict[int, list[int]] = {}
    for v, d in enumerate(depth):
        by_layer.setdefault(d, []).append(v)
    pos = {}
    last = max(depth) if depth else 0
    for d, vs in by_layer.items():
        for k, v in enumerate(vs):
            pos[v] = ((k + 1) / (len(vs) + 1), 1.0 - (d + 0.5) / (last + 1))
    for i in range(len(ops)):
        for j in range(len(ops)):
            if matrix[i][j]:
                # Edges that skip a layer bend, so they do not run through the vertices between.
                bend = 0.25 if depth[j] - depth[i] > 1 else 0.0
                ax.annotate(
                    "",
                    xy=pos[j],
                    xytext=pos[i],
                    arrowprops={
                        "arrowstyle": "-|>",
                        "color": "#444444",
                        "shrinkA": 14,
                        "shrinkB": 14,
                        "connectionstyle": f"arc3,rad={bend}",
                    },
                )
    for v, op in enumerate(ops):
        label, colour = _OP_STYLE.get(op, (str(op), "#ffffff"))
        ax.text(
            *pos[v],
            label,
            ha="center",
            va="center",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#333333"},
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    ax.set_title(title, fontsize="small")
    return fig


def _cell_graph(spec_or_hash: Any, source: Any) -> tuple[list[list[int]], list[str], str]:
    """``(matrix, ops, title)`` of a spec, a (matrix, ops) pair or a hash in ``source``."""
    import numpy as np

    if isinstance(spec_or_hash, str):
        if source is None:
            msg = "drawing a cell by hash needs the dataset: pass source=nb (or a dataset path)"
            raise ValueError(msg)
        from .analysis import _frames
        from .dataset import filter_hashes

        cells, _ = _frames(source)
        row = filter_hashes(cells, [spec_or_hash]).select("num_vertices", "adjacency", "operations").collect()
        if row.height == 0:
            raise KeyError(spec_or_hash)
        v, bits, ops = row.row(0)
        return [[int(bits[i * v + j]) for j in range(v)] for i in range(v)], list(ops), f"cell {spec_or_hash}"
    if hasattr(spec_or_hash, "valid_spec"):
        if not spec_or_hash.valid_spec:
            msg = "cannot draw an invalid spec (its input does not reach its output)"
            raise ValueError(msg)
        matrix, ops = spec_or_hash.matrix, spec_or_hash.ops
    else:
        matrix, ops = spec_or_hash
    return np.asarray(matrix).astype(int).tolist(), list(ops), f"{len(ops)} vertices"


def trajectories(
    summary: pl.DataFrame,
    *,
    width: float = 12.0,
    height: float = 5.0,
    dpi: float = 100.0,
) -> Figure:
    """Search trajectories: best validation accuracy and its test accuracy against training time.

    Parameters
    ----------
    summary : pl.DataFrame
        From :func:`nasbench_arrow.search.aggregate_trajectories` (one or
        more algorithms): a line for the mean over seeds and a band for the
        inter-quartile range.
    width, height, dpi
        Figure size (inches) and resolution.
    """
    fig, axes = _figure(width, height, dpi, ncols=2)
    panels = (
        ("best_validation_accuracy", "best validation accuracy"),
        ("best_test_accuracy", "test accuracy of the best-validation cell"),
    )
    for ax, (metric, title) in zip(axes, panels):
        for i, (algorithm,) in enumerate(summary.select("algorithm").unique(maintain_order=True).iter_rows()):
            part = summary.filter(summary["algorithm"] == algorithm)
            t = part["time"].to_numpy()
            runs = int(part["runs"].max())
            ax.plot(t, part[f"{metric}_mean"].to_numpy(), color=f"C{i}", linewidth=2, label=f"{algorithm} ({runs} seeds)")
            ax.fill_between(
                t, part[f"{metric}_q25"].to_numpy(), part[f"{metric}_q75"].to_numpy(),
                color=f"C{i}", alpha=0.2, linewidth=0,
            )  # fmt: skip
        ax.set_xlabel("total training time spent (s)")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    return fig


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nasbench-plot",
        description="Draw a picture of a converted NAS-Bench-101 dataset into a PNG (needs the 'plot' extra).",
    )
    sub = p.add_subparsers(dest="kind", required=True, metavar="{overview,accuracy,curve,cell}")

    def common(name: str, help_: str, width: float, height: float) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("dataset", help="converted dataset directory (or official .tfrecord)")
        s.add_argument("out", help="image file to write (.png, .svg, .pdf)")
        s.add_argument("--width", type=float, default=width, help=f"inches (default {width:g})")
        s.add_argument("--height", type=float, default=height, help=f"inches (default {height:g})")
        s.add_argument("--dpi", type=float, default=100.0, help="dots per inch (default 100)")
        return s

    s = common("overview", "parameters vs training time, coloured by mean validation accuracy", 8, 6)
    s.add_argument("--epochs", type=int, default=108)
    s.add_argument("--gridsize", type=int, default=60)
    s = common("accuracy", "accuracy of every run, one histogram per epoch budget", 8, 5)
    s.add_argument("--metric", default="validation_accuracy")
    s.add_argument("--stage", default="final", choices=_STAGES)
    s = common("curve", "learning curve of one cell across the budgets", 8, 5)
    s.add_argument("--cell", help="module hash (default: best mean validation accuracy)")
    s.add_argument("--metric", default="validation_accuracy")
    s = common("cell", "draw one cell's graph", 6, 6)
    s.add_argument("--cell", help="module hash (default: best mean validation accuracy)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``nasbench-plot {overview,accuracy,curve,cell} DATASET OUT.png [options]``.

    Returns
    -------
    int
        0 on success, 1 when the dataset or the cell cannot be used (message
        on stderr), 2 for bad arguments (argparse).
    """
    args = _parser().parse_args(argv)
    size = {"width": args.width, "height": args.height, "dpi": args.dpi}
    try:
        from .dataset import open_dataset

        source = open_dataset(args.dataset)
        if args.kind == "overview":
            fig = overview(source, epochs=args.epochs, gridsize=args.gridsize, **size)
        elif args.kind == "accuracy":
            fig = accuracy_distribution(source, metric=args.metric, stage=args.stage, **size)
        elif args.kind == "curve":
            fig = learning_curve(source, args.cell, metric=args.metric, **size)
        else:
            fig = cell(_resolve_hash(source, args.cell), source, **size)
        path = save(fig, args.out)
    except KeyError as exc:
        print(f"nasbench-plot: the dataset has no cell {exc.args[0]!r}", file=sys.stderr)
        return 1
    except (NASBenchError, ValueError, OSError) as exc:
        print(f"nasbench-plot: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
