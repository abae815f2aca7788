"""Trainable parameters of a NAS-Bench-101 network, counted without TensorFlow.

The count follows the network the dataset was trained with (``lib/model_builder.py``
and ``lib/base_ops.py`` of ``google-research/nasbench``)::

    stem      3x3 conv (no bias) + batch norm, 3 -> S channels
    stack 0   M modules at S channels
    stack 1   2x2 max-pool, M modules at 2S channels
    stack 2   2x2 max-pool, M modules at 4S channels
    head      global average pool, dense 4S -> L (+ bias)

Inside a module, every convolution is followed by batch norm, which has two
trainable vectors (gamma and beta) of the conv's output width; moving averages are
not trainable. A vertex fed by the module input gets a 1x1 projection to its own
width; a ``conv3x3``/``conv1x1`` vertex maps its width to itself; ``maxpool3x3`` has
no weights; the input is projected to the module width when it feeds the output.

:func:`trainable_parameters` gives exactly the ``trainable_parameters`` stored in
the dataset (checked on 1,031 real cells) and exactly what
:func:`nasbench_arrow.train.build_model` builds (checked on random cells), so the
converter can validate the dataset's field with no TensorFlow installed.

Example
-------
>>> from nasbench_arrow.params import trainable_parameters
>>> matrix = [[0, 1, 1, 1, 0, 1, 0],    # the Inception-like cell of the original README
...           [0, 0, 0, 0, 0, 0, 1],
...           [0, 0, 0, 0, 0, 0, 1],
...           [0, 0, 0, 0, 1, 0, 0],
...           [0, 0, 0, 0, 0, 0, 1],
...           [0, 0, 0, 0, 0, 0, 1],
...           [0, 0, 0, 0, 0, 0, 0]]
>>> ops = ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
...        "conv3x3-bn-relu", "maxpool3x3", "output"]
>>> trainable_parameters(matrix, ops, prune=False)
2694282
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .constants import (
    AVAILABLE_OPS,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAXPOOL3X3,
    NUM_LABELS,
    NUM_MODULES_PER_STACK,
    NUM_STACKS,
    OUTPUT,
    STEM_FILTERS,
)
from .errors import OutOfDomainError

__all__ = [
    "NUM_LABELS",
    "NUM_MODULES_PER_STACK",
    "NUM_STACKS",
    "STEM_FILTERS",
    "module_parameters",
    "trainable_parameters",
    "vertex_channels",
]

# NUM_LABELS, NUM_MODULES_PER_STACK, NUM_STACKS and STEM_FILTERS (the dataset's
# full-size network) are defined in constants and re-exported here, where they
# were first published.

#: Kernel side of each interior op's convolution; ``None``: no weights.
_KERNEL = {CONV3X3: 3, CONV1X1: 1, MAXPOOL3X3: None}


def vertex_channels(input_channels: int, output_channels: int, matrix: Any) -> list[int]:
    """Channels at every vertex of a module, as the original network assigns them.

    The output width is split as evenly as possible among the vertices that feed
    the output (the first ones in vertex order get the remainder, one channel each);
    every other interior vertex takes the largest width among its successors, so
    widths never grow along an edge and the concatenation adds up to the output.

    Parameters
    ----------
    input_channels : int
        Channels of the module input (vertex 0).
    output_channels : int
        Channels of the module output (last vertex).
    matrix : array-like of 0/1, shape (V, V)
        Upper-triangular adjacency of a *pruned* cell.

    Returns
    -------
    list of int
        ``V`` channel counts, input first, output last.

    Raises
    ------
    ValueError
        When the matrix is not a pruned cell (an interior vertex that reaches
        nothing, or an output with no interior predecessor while ``V > 2``).
    """
    m = np.asarray(matrix)
    n = int(m.shape[0])
    channels = [0] * n
    channels[0] = int(input_channels)
    channels[n - 1] = int(output_channels)
    if n == 2:
        return channels

    fan_in = int(m[1 : n - 1, n - 1].sum())
    if fan_in == 0:
        msg = (
            f"no interior vertex of this {n}-vertex matrix feeds the output; "
            "pass a pruned cell (ModelSpec(...).matrix)"
        )
        raise ValueError(msg)
    share, extra = divmod(int(output_channels), fan_in)
    for v in range(1, n - 1):
        if m[v, n - 1]:
            channels[v] = share + (1 if extra > 0 else 0)
            extra -= 1
    # Backwards, so every successor is final before its predecessors read it.
    for v in range(n - 3, 0, -1):
        if not m[v, n - 1]:
            channels[v] = max((channels[d] for d in range(v + 1, n - 1) if m[v, d]), default=0)
    for v in range(1, n - 1):
        if channels[v] <= 0:
            msg = (
                f"vertex {v} of this {n}-vertex matrix gets {channels[v]} channels "
                f"(module {input_channels} -> {output_channels} channels); it reaches no "
                "output, so the cell is not pruned: pass ModelSpec(...).matrix"
            )
            raise ValueError(msg)
    return channels


def _conv_bn(in_channels: int, out_channels: int, kernel: int) -> int:
    """Weights of a bias-free ``kernel x kernel`` conv plus batch norm's gamma and beta."""
    return kernel * kernel * in_channels * out_channels + 2 * out_channels


def module_parameters(
    matrix: Any, ops: Sequence[str], input_channels: int, output_channels: int
) -> int:
    """Trainable parameters of one module (cell instance).

    Parameters
    ----------
    matrix : array-like of 0/1, shape (V, V)
        Pruned adjacency.
    ops : sequence of str
        ``V`` labels, ``input`` first and ``output`` last.
    input_channels, output_channels : int
        Width of the module's input and output.

    Returns
    -------
    int
        Parameter count.

    Raises
    ------
    OutOfDomainError
        For an interior op that is not one of ``AVAILABLE_OPS``.
    """
    m = np.asarray(matrix)
    n = int(m.shape[0])
    widths = vertex_channels(input_channels, output_channels, m)
    total = 0
    for t in range(1, n - 1):
        if m[0, t]:  # the module input is always projected, never truncated
            total += _conv_bn(input_channels, widths[t], 1)
        try:
            kernel = _KERNEL[ops[t]]
        except KeyError:
            msg = (
                f"unknown op {ops[t]!r} at vertex {t}; allowed interior ops: {list(AVAILABLE_OPS)}"
            )
            raise OutOfDomainError(msg) from None
        if kernel is not None:
            total += _conv_bn(widths[t], widths[t], kernel)
    if m[0, n - 1]:  # input -> output: projected to the full module width
        total += _conv_bn(input_channels, output_channels, 1)
    return total


def _pruned(spec: Any, ops: Sequence[str] | None, prune: bool) -> tuple[np.ndarray, list[str]]:
    """Normalise ``spec`` (ModelSpec, or matrix with ``ops``) to a pruned (matrix, ops)."""
    if ops is None:
        if not hasattr(spec, "matrix") or not hasattr(spec, "ops"):
            msg = (
                f"expected a ModelSpec (or a matrix and its ops), got {type(spec).__name__}; "
                "call trainable_parameters(spec) or trainable_parameters(matrix, ops)"
            )
            raise TypeError(msg)
        if getattr(spec, "valid_spec", True) is False or spec.matrix is None:
            msg = "invalid spec: after pruning it has no path from input to output"
            raise OutOfDomainError(msg)
        matrix, labels = spec.matrix, spec.ops
    elif prune:
        from .model_spec import ModelSpec  # deferred: only this path needs it

        return _pruned(ModelSpec(np.asarray(spec), list(ops)), None, prune)
    else:
        matrix, labels = spec, ops
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        msg = f"expected a square matrix of at least 2 vertices, got shape {m.shape}"
        raise ValueError(msg)
    labels = list(labels)
    if len(labels) != m.shape[0]:
        msg = f"got {len(labels)} ops for a {m.shape[0]}-vertex matrix; pass one label per vertex"
        raise ValueError(msg)
    if labels[0] != INPUT or labels[-1] != OUTPUT:
        msg = f"ops must start with {INPUT!r} and end with {OUTPUT!r}, got {labels!r}"
        raise OutOfDomainError(msg)
    return m, labels


def trainable_parameters(
    spec: Any,
    ops: Sequence[str] | None = None,
    *,
    prune: bool = True,
    stem_filters: int = STEM_FILTERS,
    num_stacks: int = NUM_STACKS,
    num_modules_per_stack: int = NUM_MODULES_PER_STACK,
    num_labels: int = NUM_LABELS,
) -> int:
    """Trainable parameters of the network built from a cell.

    Parameters
    ----------
    spec : ModelSpec or array-like
        A :class:`~nasbench_arrow.model_spec.ModelSpec` (already pruned), or an
        adjacency matrix when ``ops`` is given.
    ops : sequence of str, optional
        Vertex labels for a raw ``matrix``.
    prune : bool, default True
        With a raw matrix: prune it first through ``ModelSpec`` (as the dataset
        does). Pass ``False`` for a matrix that is already pruned, such as one
        read from the dataset, to skip that step.
    stem_filters, num_stacks, num_modules_per_stack, num_labels : int
        Network size; the defaults (128, 3, 3, 10) are those of the dataset.

    Returns
    -------
    int
        The count TensorFlow reports for all trainable variables: convolution
        kernels, batch-norm gamma and beta, the dense kernel and bias.

    Raises
    ------
    OutOfDomainError
        An invalid spec (no path from input to output) or an unknown op.
    ValueError
        A matrix that is not square, or ops of the wrong length.

    Examples
    --------
    >>> trainable_parameters([[0, 1], [0, 0]], ["input", "output"], prune=False)
    882570
    """
    matrix, labels = _pruned(spec, ops, prune)
    for name, value in (
        ("stem_filters", stem_filters),
        ("num_stacks", num_stacks),
        ("num_modules_per_stack", num_modules_per_stack),
        ("num_labels", num_labels),
    ):
        if int(value) != value or value < 1:
            msg = f"{name} must be a positive integer, got {value!r}"
            raise ValueError(msg)
    total = _conv_bn(3, stem_filters, 3)
    channels = stem_filters
    for stack in range(num_stacks):
        out_channels = stem_filters * 2**stack
        for _ in range(num_modules_per_stack):
            total += module_parameters(matrix, labels, channels, out_channels)
            channels = out_channels
    return int(total + channels * num_labels + num_labels)
