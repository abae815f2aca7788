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

# layout.STAGES and the accuracies of layout.METRICS, in the order the plots offer
# them (validation first, as the paper reports it). Spelled here rather than
# imported: layout loads pyarrow (150 ms), and `nasbench-plot --help` should not;
# tests/test_plot.py checks they name exactly layout's stages and accuracies.
_STAGES = ("start", "halfway", "final")
_ACCURACIES = ("validation_accuracy", "test_accuracy", "train_accuracy")
_ACCURACY_CHOICE = f"{', '.join(_ACCURACIES[:-1])} or {_ACCURACIES[-1]}"
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

    A path without a suffix gets ``.png`` (matplotlib would add it silently);
    the returned path is always the file written.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        A suffix matplotlib cannot write (the message lists those it can).
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    formats = fig.canvas.get_supported_filetypes()
    fmt = path.suffix[1:].lower()
    if fmt not in formats:
        known = ", ".join("." + f for f in sorted(formats))
        msg = (
            f"cannot write {str(path)!r}: unknown image format {path.suffix!r} (use one of {known})"
        )
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi, format=fmt)
    return path


def _dataset_of(source: Any):
    """The opened Dataset behind a NASBench, a Dataset or a path (None if there is none)."""
    if hasattr(source, "manifest") and hasattr(source, "epochs"):
        return source
    inner = getattr(source, "dataset", None)
    if inner is not None and hasattr(inner, "manifest"):
        return inner
    if isinstance(source, (str, os.PathLike)):
        from .dataset import open_dataset

        return open_dataset(source)
    return None


def budgets(source: Any) -> tuple[int, ...]:
    """The epoch budgets a dataset holds, ascending (from its manifest, else from the runs)."""
    ds = _dataset_of(source)
    if ds is not None:
        return tuple(sorted(int(e) for e in ds.epochs))
    import polars as pl

    from .analysis import _frames

    _, runs = _frames(source)
    return tuple(sorted(runs.select(pl.col("epochs").unique()).collect()["epochs"].to_list()))


def _check_budget(source: Any, epochs: int) -> None:
    """ValueError unless ``epochs`` is one of the dataset's budgets (an empty figure helps nobody)."""
    have = budgets(source)
    if int(epochs) not in have:
        msg = f"the dataset has no {epochs}-epoch runs; its budgets are {', '.join(map(str, have))} epochs"
        raise ValueError(msg)


def _source_label(source: Any) -> str:
    """``data: <source file> (published or not)`` for a figure's footnote."""
    ds = _dataset_of(source)
    if ds is None:
        return "data: in-memory frames"
    src = ds.manifest.source or {}
    name = src.get("name") or str(ds.root)
    published = src.get("published")
    kind = f"the published {published}" if published else "not a published NAS-Bench-101 file"
    return f"data: {name} ({kind})"


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
    in it) of each cell's mean-over-repeats validation accuracy at ``epochs``;
    the colour bar says so, and a footnote names the data source (its file
    name, and whether it is a published NAS-Bench-101 file).

    Parameters
    ----------
    source : NASBench, Dataset or path
    epochs : int, default 108
        Budget of the training time and accuracy; one the dataset has.
    gridsize : int, default 60
        Hexagons across.
    width, height : float
        Inches; with ``dpi`` they give the pixel size.
    dpi : float, default 100

    Raises
    ------
    ValueError
        ``epochs`` is not one of the dataset's budgets.
    """
    from .analysis import scan_repeat_view

    _check_budget(source, epochs)
    view = (
        scan_repeat_view(source, epochs)
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
    fig.colorbar(
        hb,
        ax=ax,
        label=f"mean over the hexagon's cells of the validation accuracy\n(each cell: mean of its repeats, {epochs} epochs)",
    )
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(f"mean training time at {epochs} epochs (s)")
    ax.set_title(
        f"NAS-Bench-101: {view.height:,} cells; colour: per-hexagon mean validation accuracy"
    )
    # supxlabel, not fig.text: constrained layout keeps room for it below the axis label.
    fig.supxlabel(_source_label(source), x=0.01, ha="left", fontsize="x-small", color="#555555")
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
    zoom: tuple[float, float] | None = (0.80, 0.95),
    width: float = 8.0,
    height: float = 5.0,
    dpi: float = 100.0,
) -> Figure:
    """Histogram of one accuracy over every run, one curve per epoch budget.

    Two panels: the whole range 0-1 (where the runs that failed to train sit
    near 0.1), and ``zoom`` (by default 0.80-0.95, where most runs of the
    real data are) with the same number of bins over that narrower range.
    The y axes are logarithmic (runs per bin), and labelled so.

    Parameters
    ----------
    source : NASBench, Dataset or path
    metric : {"validation_accuracy", "test_accuracy", "train_accuracy"}
    stage : {"final", "halfway", "start"}
    bins : int, default 100
        Bins per panel.
    zoom : (float, float) or None, default (0.80, 0.95)
        Accuracy range of the second panel; None draws the whole range only.
    width, height, dpi
        Figure size (inches) and resolution.
    """
    import numpy as np
    import polars as pl

    from .analysis import _frames

    if metric not in _ACCURACIES:
        msg = f"metric must be {_ACCURACY_CHOICE}, got {metric!r}"
        raise ValueError(msg)
    if stage not in _STAGES:
        msg = f"stage must be one of {list(_STAGES)}, got {stage!r}"
        raise ValueError(msg)
    if zoom is not None and not (0.0 <= zoom[0] < zoom[1] <= 1.0):
        msg = f"zoom must be (low, high) with 0 <= low < high <= 1, got {zoom!r}"
        raise ValueError(msg)
    _, runs = _frames(source)
    column = f"{stage}_{metric}"
    data = runs.select("epochs", column).collect()
    fig, axes = _figure(width, height, dpi, ncols=1 if zoom is None else 2)
    panels = [(axes if zoom is None else axes[0], (0.0, 1.0))]
    if zoom is not None:
        panels.append((axes[1], tuple(zoom)))
    label = f"{stage} {metric.replace('_', ' ')}"
    for ax, (lo, hi) in panels:
        edges = np.linspace(lo, hi, bins + 1)
        for i, e in enumerate(sorted(data["epochs"].unique().to_list())):
            values = data.filter(pl.col("epochs") == e)[column].to_numpy()
            inside = int(((values >= lo) & (values <= hi)).sum())
            ax.hist(
                values, bins=edges, histtype="step", linewidth=1.5, color=f"C{i}",
                label=f"{e} epochs ({inside:,} of {values.size:,} runs)" if (lo, hi) != (0.0, 1.0) else f"{e} epochs ({values.size:,} runs)",
            )  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel(label)
        ax.set_ylabel("runs per bin (log scale)")
        ax.legend(loc="upper left" if (lo, hi) == (0.0, 1.0) else "best", fontsize="x-small")
        ax.grid(True, which="major", alpha=0.3)
    panels[0][0].set_title(f"{label}: all runs, by epoch budget")
    if zoom is not None:
        panels[1][0].set_title(f"zoom: {zoom[0]:.2f}-{zoom[1]:.2f}")
    fig.supxlabel(_source_label(source), x=0.01, ha="left", fontsize="x-small", color="#555555")
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

    if metric not in _ACCURACIES:
        msg = f"metric must be {_ACCURACY_CHOICE}, got {metric!r}"
        raise ValueError(msg)
    fig, ax = _figure(width, height, dpi)
    from matplotlib.lines import Line2D

    h = _resolve_hash(source, cell_hash)
    _, runs = _frames(source)
    cols = [f"{s}_{m}" for s in _STAGES for m in ("current_epoch", metric)]
    data = (
        filter_hashes(runs, [h])
        .select("epochs", "repeat", *cols)
        .sort("epochs", "repeat")
        .collect()
    )
    if data.height == 0:
        raise KeyError(h)
    budgets_ = sorted(data["epochs"].unique().to_list())
    colours = {e: f"C{i}" for i, e in enumerate(budgets_)}
    for e, r, *values in data.iter_rows():
        xs, ys = values[0::2], values[1::2]
        ax.plot(xs, ys, color=colours[e], linewidth=0.8, alpha=0.6)
        for stage, x, y in zip(_STAGES, xs, ys):
            ax.scatter([x], [y], color=colours[e], marker=_STAGE_MARKERS[stage], s=36, zorder=3)
    handles = [
        Line2D([], [], color=colours[e], marker="o", linestyle="-", label=f"{e}-epoch runs")
        for e in budgets_
    ]
    handles += [
        Line2D(
            [],
            [],
            color="black",
            marker=_STAGE_MARKERS[s],
            linestyle="none",
            label=f"{s} evaluation",
        )
        for s in _STAGES
    ]
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    # A square-root axis: epoch 0 (the start evaluation) has a place, unlike on
    # a log axis, and 2/4/6 stay apart, unlike on a linear one. Every tick is
    # an epoch count at which the dataset evaluates (budgets and halfway points),
    # labelled with its value, so a point is read exactly where it is drawn.
    import numpy as np

    ax.set_xscale("function", functions=(np.sqrt, np.square))
    ticks = sorted({0, *budgets_, *(e // 2 for e in budgets_)})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlim(0, max(ticks) * 1.04)
    ax.minorticks_off()
    ax.set_xlabel(
        "epochs trained (square-root scale; ticks at the budgets and their halfway points)"
    )
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"cell {h}\n{_ops_text(source, h)}", fontsize="medium")
    ax.grid(True, alpha=0.3)
    return fig


def _ops_text(source: Any, h: str) -> str:
    """The cell's interior ops in vertex order, e.g. ``ops: conv3x3, conv1x1, maxpool3x3``."""
    from .analysis import _frames
    from .dataset import filter_hashes

    cells, _ = _frames(source)
    row = filter_hashes(cells, [h]).select("operations").collect()
    if row.height == 0:
        return ""
    short = {CONV3X3: "conv3x3", CONV1X1: "conv1x1", MAXPOOL3X3: "maxpool3x3"}
    ops = list(row.item())
    return "ops: input -> " + ", ".join(short.get(o, o) for o in ops[1:-1]) + " -> output"


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
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    half_w = {v: _half_width(_OP_STYLE.get(op, (str(op), ""))[0]) for v, op in enumerate(ops)}
    routes = _route_edges(matrix, pos, half_w)
    for points in routes.values():
        codes = [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4]
        ax.add_patch(
            FancyArrowPatch(
                path=MplPath(points, codes),
                arrowstyle="-|>",
                mutation_scale=14,
                color="#444444",
                linewidth=1.2,
                zorder=1,
            )
        )
    for v, op in enumerate(ops):
        label, colour = _OP_STYLE.get(op, (str(op), "#ffffff"))
        ax.text(
            *pos[v],
            label,
            ha="center",
            va="center",
            zorder=2,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#333333"},
        )
    xs = [x for pts in routes.values() for x, _ in pts] + [x for x, _ in pos.values()]
    ax.set_xlim(min(0.0, min(xs) - 0.05), max(1.0, max(xs) + 0.05))
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    ax.set_title(title, fontsize="small")
    return fig


# Size of a vertex box in axes units at the default 10 pt font on a 6-inch
# figure: half-width per label character plus padding, and half-height. Used
# to keep edges clear of the boxes they do not connect.
_CHAR_W = 0.0068
_PAD_W = 0.012
_BOX_H = 0.04


def _half_width(label: str) -> float:
    return _CHAR_W * len(label) + _PAD_W


def _bezier(points, n: int = 40):
    """``n + 1`` points along a cubic Bezier curve given by 4 control points."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    out = []
    for k in range(n + 1):
        t = k / n
        a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
        out.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
    return out


def _hits_a_box(points, pos, half_w, skip: tuple[int, int]) -> bool:
    """Whether a curve passes through the box of any vertex other than its own two ends."""
    curve = _bezier(points)
    for v, (vx, vy) in pos.items():
        if v in skip:
            continue
        if any(abs(x - vx) < half_w[v] and abs(y - vy) < _BOX_H for x, y in curve):
            return True
    return False


def _route_edges(matrix, pos, half_w) -> dict[tuple[int, int], list[tuple[float, float]]]:
    """Cubic Bezier control points of every edge, in axes units.

    An edge whose straight course is clear leaves the bottom of its source box
    and enters the top of its target box; the edges at one box side are spread
    along it (sorted by the other end's x), so two arrowheads never meet at one
    point. An edge whose straight course would cross another vertex's box (an
    edge that skips layers, e.g. v2 -> v5 past v3 and v4) leaves from the side
    of its source box and is routed around the boxes in between, on the side
    with fewer such edges, further out until it is clear, into the side of its
    target box.
    """
    n = len(matrix)
    edges = [(i, j) for i in range(n) for j in range(n) if matrix[i][j]]

    def straight_course(i, j):
        (xi, yi), (xj, yj) = pos[i], pos[j]
        return [(xi, yi - _BOX_H), (xj, yj + _BOX_H)]

    def clear(i, j):
        (x0, y0), (x3, y3) = straight_course(i, j)
        pts = [
            (x0, y0),
            (x0 + (x3 - x0) / 3, y0 + (y3 - y0) / 3),
            (x0 + 2 * (x3 - x0) / 3, y0 + 2 * (y3 - y0) / 3),
            (x3, y3),
        ]
        return not _hits_a_box(pts, pos, half_w, (i, j))

    direct = [e for e in edges if clear(*e)]
    around = [e for e in edges if e not in direct]
    outs = {i: sorted((j for a, j in direct if a == i), key=lambda j: pos[j][0]) for i in range(n)}
    ins = {j: sorted((i for i, b in direct if b == j), key=lambda i: pos[i][0]) for j in range(n)}

    def spread(k: int, count: int, v: int) -> float:
        return (k - (count - 1) / 2) * min(0.03, 1.6 * half_w[v] / max(count, 1))

    routes: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for i, j in direct:
        (xi, yi), (xj, yj) = pos[i], pos[j]
        start = (xi + spread(outs[i].index(j), len(outs[i]), i), yi - _BOX_H)
        end = (xj + spread(ins[j].index(i), len(ins[j]), j), yj + _BOX_H)
        routes[(i, j)] = [start, (start[0] + (end[0] - start[0]) / 3, start[1] + (end[1] - start[1]) / 3),
                          (start[0] + 2 * (end[0] - start[0]) / 3, start[1] + 2 * (end[1] - start[1]) / 3), end]  # fmt: skip
    # Around the side: shorter detours first, so longer ones go further out.
    used = {"left": 0, "right": 0}
    at_side: dict[tuple[int, str], int] = {}  # (vertex, side) -> routed edges there so far
    for i, j in sorted(around, key=lambda e: (pos[e[0]][1] - pos[e[1]][1], e)):
        (xi, yi), (xj, yj) = pos[i], pos[j]
        between = [v for v, (x, y) in pos.items() if v not in (i, j) and yj < y < yi]
        lo = min([pos[v][0] - half_w[v] for v in between] + [xi - half_w[i], xj - half_w[j]])
        hi = max([pos[v][0] + half_w[v] for v in between] + [xi + half_w[i], xj + half_w[j]])
        # The side the edge already leans to (its ends against the boxes in between);
        # a vertical edge takes the side with fewer detours so far.
        centre = sum(pos[v][0] for v in between) / len(between) if between else 0.5
        lean = (xi + xj) / 2 - centre
        if abs(lean) > 0.01:
            side = "left" if lean < 0 else "right"
        else:
            side = "left" if used["left"] <= used["right"] else "right"
        sign = -1 if side == "left" else 1
        ki, kj = at_side.get((i, side), 0), at_side.get((j, side), 0)
        start = (xi + sign * half_w[i], yi - 0.45 * _BOX_H * ki)
        end = (xj + sign * half_w[j], yj + 0.45 * _BOX_H * kj)
        for extra in range(16):
            edge_x = (lo if side == "left" else hi) + sign * (
                0.06 + 0.05 * used[side] + 0.03 * extra
            )
            # A cubic reaches 3/4 of the way to its control points' x: aim beyond edge_x.
            wx = start[0] + (edge_x - start[0]) * 4 / 3
            points = [start, (wx, start[1]), (wx, end[1]), end]
            if not _hits_a_box(points, pos, half_w, (i, j)):
                break
        used[side] += 1
        at_side[(i, side)] = ki + 1
        at_side[(j, side)] = kj + 1
        routes[(i, j)] = points
    return routes


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
        row = (
            filter_hashes(cells, [spec_or_hash])
            .select("num_vertices", "adjacency", "operations")
            .collect()
        )
        if row.height == 0:
            raise KeyError(spec_or_hash)
        v, bits, ops = row.row(0)
        return (
            [[int(bits[i * v + j]) for j in range(v)] for i in range(v)],
            list(ops),
            f"cell {spec_or_hash}",
        )
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
    log_x: bool = False,
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
        inter-quartile range (both in the legend).
    log_x : bool, default False
        Logarithmic time axis: the early part of a search, where most of the
        improvement happens, gets as much room as the rest.
    width, height, dpi
        Figure size (inches) and resolution.
    """
    from matplotlib.patches import Patch

    fig, axes = _figure(width, height, dpi, ncols=2)
    panels = (
        ("best_validation_accuracy", "best validation accuracy"),
        ("best_test_accuracy", "test accuracy of the best-validation cell"),
    )
    for ax, (metric, title) in zip(axes, panels):
        for i, (algorithm,) in enumerate(
            summary.select("algorithm").unique(maintain_order=True).iter_rows()
        ):
            part = summary.filter(summary["algorithm"] == algorithm)
            t = part["time"].to_numpy()
            runs = int(part["runs"].max())
            ax.plot(
                t,
                part[f"{metric}_mean"].to_numpy(),
                color=f"C{i}",
                linewidth=2,
                label=f"{algorithm} ({runs} seeds)",
            )
            ax.fill_between(
                t, part[f"{metric}_q25"].to_numpy(), part[f"{metric}_q75"].to_numpy(),
                color=f"C{i}", alpha=0.2, linewidth=0,
            )  # fmt: skip
        ax.set_xlabel("total training time spent (s" + (", log scale)" if log_x else ")"))
        if log_x:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.set_xscale("log")
            # Plain numbers at 1, 2, 5 x 10^k seconds instead of "2 x 10^1" minor labels.
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(
                FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}")
            )
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        band = Patch(
            facecolor="#888888",
            alpha=0.35,
            linewidth=0,
            label="band: inter-quartile range over seeds (25th-75th percentile)",
        )
        line_note = "line: mean over seeds"
        ax.legend(
            handles=[*handles, band],
            loc="best",
            fontsize="small",
            title=line_note,
            title_fontsize="small",
        )
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

    metrics = _ACCURACIES
    s = common(
        "overview", "parameters vs training time, coloured by mean validation accuracy", 8, 6
    )
    s.add_argument(
        "--epochs", type=int, default=108,
        help="budget whose training time and accuracy are drawn; must be one the dataset has (default 108)",
    )  # fmt: skip
    s.add_argument(
        "--gridsize", type=int, default=60,
        help="hexagons across the parameter axis; larger means finer bins (default 60)",
    )  # fmt: skip
    s = common("accuracy", "accuracy of every run, one histogram per epoch budget", 8, 5)
    s.add_argument(
        "--metric", default="validation_accuracy", choices=metrics,
        help="which accuracy to histogram (default validation_accuracy)",
    )  # fmt: skip
    s.add_argument(
        "--stage",
        default="final",
        choices=_STAGES,
        help="which evaluation of each run (default final)",
    )
    s = common("curve", "learning curve of one cell across the budgets", 8, 5)
    s.add_argument("--cell", help="module hash (default: best mean validation accuracy)")
    s.add_argument(
        "--metric", default="validation_accuracy", choices=metrics,
        help="accuracy on the y axis (default validation_accuracy)",
    )  # fmt: skip
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
        source = _open_for_plot(args.dataset)
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


def _open_for_plot(path: str) -> Any:
    """Open a dataset directory or an official ``.tfrecord``; refuse anything else up front.

    Checked before opening, so that a text file (or another non-TFRecord file)
    is named as such instead of first being announced as "converting ... once".
    """
    from .dataset import open_dataset
    from .errors import DatasetFormatError, DatasetNotFoundError

    p = Path(path)
    if not p.exists():
        msg = f"{path!r} does not exist: give a dataset directory written by nasbench-convert, or an official .tfrecord"
        raise DatasetNotFoundError(msg)
    if p.is_file() and p.name != "manifest.json" and not _is_tfrecord(p):
        msg = (
            f"{path!r} is neither a converted dataset directory nor a TFRecord file (its first bytes "
            "are not TFRecord framing); give a directory written by nasbench-convert or an official .tfrecord"
        )
        raise DatasetFormatError(msg)
    return open_dataset(p)


def _is_tfrecord(path: Path) -> bool:
    """Whether the file starts with a TFRecord record header (length + its masked CRC32C)."""
    from .tfrecord import masked_crc32c

    with open(path, "rb") as f:
        head = f.read(12)
    return len(head) == 12 and masked_crc32c(head[:8]) == int.from_bytes(head[8:12], "little")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
