"""Test data in the official NAS-Bench-101 format.

Tests, benchmarks and the demo need ``.tfrecord`` files that look exactly
like the published ones (same framing, same JSON layout, same protobuf
bytes), since the official files cannot be downloaded everywhere. This
module writes them:

- :func:`write_fixture_tfrecord`: records for chosen cells with synthetic,
  plausible metrics, deterministic for a seed, with every expected value
  returned in a :class:`FixtureInfo`;
- :func:`sample_cells`: distinct valid cells of the default space (random
  DAGs, pruned, deduplicated by hash) without enumerating the space.

(Files holding the real published values of the project's test data folder
are written by ``tests/realdata_loader.py``, which knows that folder's file
names; it builds on :func:`synthetic_values`, :func:`quantize_accuracy` and
:func:`record_values` here.)

Synthetic metrics
-----------------
Deterministic from ``seed`` and the set of cells (not their order). Each
cell gets a quality and a speed; per budget and repeat:

- accuracies are float32 multiples of 1/9984 (the evaluation sets are 39
  batches of 256 images), as every published value is; validation accuracy
  grows with the budget towards ``0.75 + 0.195 * quality`` (<= 0.945), test
  accuracy sits slightly below it, train accuracy above (1.0 for long runs);
  the start-of-training evaluation is near chance (0.1);
- ``current_epoch`` is 0, ``epochs / 2`` and ``epochs``; ``training_time``
  (seconds, float32 values as published) is 0 at the start, then grows
  linearly with the epochs, ``final`` about twice ``halfway``;
- ``total_time`` (a double, seconds) is the final training time plus 230 to
  330 s of evaluation and start-up overhead (the published records show
  244 s and 324 s);
- ``trainable_parameters`` is the exact count of the network
  (:func:`nasbench_arrow.params.trainable_parameters`), the same for every
  record of a cell.

Example
-------
>>> from nasbench_arrow.testing import sample_cells, write_fixture_tfrecord
>>> info = write_fixture_tfrecord(tmp_path / "mini.tfrecord", sample_cells(20))  # doctest: +SKIP
>>> info.num_records                                                          # doctest: +SKIP
240
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .constants import (
    AVAILABLE_OPS,
    CELLS_BY_VERTEX_COUNT,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAX_EDGES,
    MAX_VERTICES,
    MAXPOOL3X3,
    NUM_REPEATS,
    NUM_UNIQUE_CELLS,
    OUTPUT,
    VALID_EPOCHS,
)
from .layout import METRICS, STAGES
from .records import EvaluationData, ModelMetrics, encode_metrics_values
from .tfrecord import TFRecordWriter

__all__ = [
    "ACCURACY_DENOMINATOR",
    "INCEPTION_HASH",
    "INCEPTION_MATRIX",
    "INCEPTION_OPS",
    "INCEPTION_STORED_MATRIX",
    "INCEPTION_STORED_OPS",
    "ExpectedRecord",
    "FixtureInfo",
    "quantize_accuracy",
    "record_values",
    "sample_cells",
    "synthetic_values",
    "write_fixture_tfrecord",
]

#: Images per evaluation set that the accuracies count (39 batches of 256):
#: every published accuracy is a float32 multiple of 1/9984.
ACCURACY_DENOMINATOR = 9984

#: The Inception-like cell of the original README, as a user writes it.
INCEPTION_MATRIX = (
    (0, 1, 1, 1, 0, 1, 0),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 1, 0, 0),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 0),
)
INCEPTION_OPS = (INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT)
#: The same cell in the vertex order the official dataset stores it.
INCEPTION_STORED_MATRIX = (
    (0, 1, 1, 1, 1, 0, 0),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 1, 0),
    (0, 0, 0, 0, 0, 0, 1),
    (0, 0, 0, 0, 0, 0, 0),
)
INCEPTION_STORED_OPS = (INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, CONV3X3, CONV3X3, OUTPUT)
INCEPTION_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"

_CHUNK_CELLS = 1024  # cells per batch of synthetic values: fixed, so results are reproducible


class ExpectedRecord(NamedTuple):
    """What one record of a written file holds.

    Attributes
    ----------
    record_index : int
        0-based position in the file.
    module_hash : str
    epochs : int
    repeat : int
        0-based, numbered in file order among the records of ``(module_hash, epochs)``.
    adjacency : str
        The stored 0/1 matrix string.
    operations : str
        The stored comma-separated labels.
    values : tuple
        The 17 values of :func:`nasbench_arrow.records.decode_metrics_values`.
    source : str
        ``"synthetic"``, ``"published"`` (halfway and final values published,
        start evaluation and ``total_time`` synthetic) or ``"genuine"`` (the
        record's bytes are those of the official file).
    """

    record_index: int
    module_hash: str
    epochs: int
    repeat: int
    adjacency: str
    operations: str
    values: tuple
    source: str = "synthetic"

    @property
    def metrics(self) -> ModelMetrics:
        """The values as a :class:`~nasbench_arrow.records.ModelMetrics`."""
        v = self.values
        return ModelMetrics(tuple(EvaluationData(*v[i : i + 5]) for i in (0, 5, 10)), v[15], v[16])

    def stat(self, stage: str, metric: str) -> float:
        """One value, e.g. ``stat("final", "test_accuracy")`` (stages: start, halfway, final)."""
        # The 17 flat values (records.decode_metrics_values): the METRICS of each of
        # the STAGES in turn, then trainable_parameters and total_time.
        return self.values[len(METRICS) * STAGES.index(stage) + METRICS.index(metric)]


@dataclass
class FixtureInfo:
    """A written file and everything it holds.

    Attributes
    ----------
    path : pathlib.Path
    num_records : int
    hashes : tuple of str
        The cells' hashes, sorted.
    epochs : tuple of int
        Budgets written for every cell, ascending.
    repeats : int
        Records per (cell, budget).
    cells : dict
        hash -> ``(matrix, ops)`` as stored: ``numpy.ndarray`` int8 and list of str.
    trainable_parameters : dict
        hash -> int.
    records : list of ExpectedRecord or None
        Every record in file order (None when written with ``keep_records=False``).
    variants : dict
        hash -> list of ``(matrix, ops)``: the same cell in other vertex
        orders (same hash, not written), when asked for.
    """

    path: Path
    num_records: int
    hashes: tuple[str, ...]
    epochs: tuple[int, ...]
    repeats: int
    cells: dict[str, tuple[np.ndarray, list[str]]]
    trainable_parameters: dict[str, int]
    records: list[ExpectedRecord] | None = None
    variants: dict[str, list[tuple[np.ndarray, list[str]]]] = field(default_factory=dict)

    def expected(self, module_hash: str, epochs: int, repeat: int) -> ExpectedRecord:
        """The record of ``(module_hash, epochs, repeat)``.

        Raises
        ------
        KeyError
            No such record, or the records were not kept.
        """
        if self.records is None:
            msg = "records were not kept (written with keep_records=False)"
            raise KeyError(msg)
        index = self.__dict__.get("_index")
        if index is None:
            index = {(r.module_hash, r.epochs, r.repeat): r for r in self.records}
            self.__dict__["_index"] = index
        return index[(module_hash, epochs, repeat)]

    def runs(self, module_hash: str, epochs: int) -> list[ExpectedRecord]:
        """The repeats of ``(module_hash, epochs)``, in repeat order."""
        return [self.expected(module_hash, epochs, r) for r in range(self.repeats)]


# --------------------------------------------------------------------------- cells


class _Cell(NamedTuple):
    module_hash: str
    matrix: np.ndarray  # int8
    ops: list[str]
    adjacency: str
    operations: str


def _hash_and_prune(matrix, ops) -> tuple[str, np.ndarray, list[str]]:
    """Prune a cell, check its labels, hash it."""
    from .model_spec import ModelSpec

    spec = ModelSpec(np.asarray(matrix), list(ops))
    if not spec.valid_spec:
        msg = f"cell is not valid (the input does not reach the output): {np.asarray(matrix).tolist()}"
        raise ValueError(msg)
    pruned_ops = list(spec.ops)
    if pruned_ops[0] != INPUT or pruned_ops[-1] != OUTPUT:
        msg = f"ops must start with {INPUT!r} and end with {OUTPUT!r}, got {pruned_ops}"
        raise ValueError(msg)
    for op in pruned_ops[1:-1]:
        if op not in AVAILABLE_OPS:
            msg = f"unknown operation {op!r}; interior ops must be one of {list(AVAILABLE_OPS)}"
            raise ValueError(msg)
    return spec.hash_spec(list(AVAILABLE_OPS)), np.asarray(spec.matrix, dtype=np.int8), pruned_ops


def _normalise_cell(cell) -> _Cell:
    """A ModelSpec, a Cell of nasbench_arrow.space, or ``(matrix, ops)`` -> _Cell."""
    if hasattr(cell, "matrix") and hasattr(cell, "ops"):
        matrix, ops = cell.matrix, cell.ops
        if matrix is None:
            msg = "cell is an invalid ModelSpec (the input does not reach the output)"
            raise ValueError(msg)
    else:
        try:
            matrix, ops = cell
        except (TypeError, ValueError):
            msg = f"each cell must be a ModelSpec or a (matrix, ops) pair, got {cell!r}"
            raise TypeError(msg) from None
    module_hash, pruned, pruned_ops = _hash_and_prune(matrix, ops)
    adjacency = "".join("1" if b else "0" for b in pruned.ravel().tolist())
    return _Cell(module_hash, pruned, pruned_ops, adjacency, ",".join(pruned_ops))


def _interior_variants(cell: _Cell, rng: np.random.Generator, limit: int) -> list:
    """Up to ``limit`` other vertex orders of the cell (input first, output last, DAG order)."""
    n = len(cell.ops)
    m = cell.matrix
    found = []
    seen = {(cell.adjacency, cell.operations)}
    for interior in itertools.permutations(range(1, n - 1)):
        perm = np.array((0, *interior, n - 1))  # old vertex v becomes perm[v]
        new = np.zeros_like(m)
        new[np.ix_(perm, perm)] = m
        if np.any(np.tril(new)):
            continue  # not upper triangular: not a topological order
        ops = [""] * n
        for v, p in enumerate(perm.tolist()):
            ops[p] = cell.ops[v]
        key = ("".join(map(str, new.ravel().tolist())), ",".join(ops))
        if key not in seen:
            seen.add(key)
            found.append((new, ops))
    if len(found) > limit:
        chosen = sorted(rng.choice(len(found), size=limit, replace=False).tolist())
        found = [found[i] for i in chosen]
    return found


def _make_cell(matrix: np.ndarray, ops: list[str], module_hash: str):
    from .space import Cell

    matrix = np.array(matrix, dtype=np.int8)
    matrix.setflags(write=False)
    return Cell(module_hash, matrix, list(ops), len(ops), int(matrix.sum()))


def _random_full_dag(rng: np.random.Generator, v: int) -> np.ndarray | None:
    """A random upper-triangular DAG on ``v`` vertices where every vertex lies on an
    input -> output path (so pruning keeps all of them), or None if it drew more
    than 9 edges.

    Each interior vertex gets an edge from an earlier vertex and one to a later
    vertex; then extra random edges up to a random total of at most 9.
    """
    m = np.zeros((v, v), dtype=np.int8)
    if v == 2:
        m[0, 1] = 1
        return m
    for i in range(1, v - 1):
        m[rng.integers(0, i), i] = 1
        m[i, rng.integers(i + 1, v)] = 1
    edges = int(m.sum())
    if edges > MAX_EDGES:
        return None
    free = np.argwhere(np.triu(m == 0, k=1))
    extra = int(rng.integers(0, min(MAX_EDGES - edges, len(free)) + 1))
    if extra:
        for i, j in free[rng.choice(len(free), size=extra, replace=False)]:
            m[i, j] = 1
    return m


def sample_cells(n: int, seed: int = 0) -> list:
    """Return ``n`` distinct valid cells of the default space, without enumerating it.

    The first two are the single cell with 2 vertices (input -> output) and
    the Inception-like cell of the original README (in the vertex order the
    dataset stores it); the rest are random DAGs on 3 to 7 vertices with
    random ops, pruned, kept when they have at most 9 edges, deduplicated by
    hash. Larger cells are drawn more often (the space is mostly 7-vertex
    cells), smaller ones until exhausted (3 vertices: 6 cells).

    Parameters
    ----------
    n : int
        Number of cells, 0 to 423,624 (draws slow down as ``n`` approaches
        the size of the space; keep it to a few tens of thousands).
    seed : int, default 0
        Same seed, same cells in the same order.

    Returns
    -------
    list of nasbench_arrow.space.Cell
        Distinct by ``module_hash``; matrices int8, pruned (full DAGs).

    Examples
    --------
    >>> cells = sample_cells(10)
    >>> len({c.module_hash for c in cells}), cells[0].num_vertices
    (10, 2)
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= NUM_UNIQUE_CELLS:
        msg = f"n must be an int from 0 to {NUM_UNIQUE_CELLS}, got {n!r}"
        raise ValueError(msg)
    from .model_spec import ModelSpec

    canonical = list(AVAILABLE_OPS)
    rng = np.random.default_rng(seed)
    cells: list = []
    seen: set[str] = set()
    per_size = dict.fromkeys(CELLS_BY_VERTEX_COUNT, 0)
    for matrix, ops in (
        ([[0, 1], [0, 0]], [INPUT, OUTPUT]),
        (INCEPTION_STORED_MATRIX, INCEPTION_STORED_OPS),
    ):
        if len(cells) < n:
            module_hash, pruned, pruned_ops = _hash_and_prune(matrix, ops)
            cells.append(_make_cell(pruned, pruned_ops, module_hash))
            seen.add(module_hash)
            per_size[len(pruned_ops)] += 1
    # Larger cells are drawn more often; a size leaves the draw once exhausted.
    sizes = list(range(3, MAX_VERTICES + 1))
    weights = {v: float(v - 2) ** 3 for v in sizes}
    failures = 0
    while len(cells) < n:
        open_sizes = [v for v in sizes if per_size[v] < CELLS_BY_VERTEX_COUNT[v]]
        w = np.array([weights[v] for v in open_sizes])
        v = int(rng.choice(open_sizes, p=w / w.sum()))
        upper = _random_full_dag(rng, v)
        if upper is None:
            failures += 1
            continue
        interior = [AVAILABLE_OPS[i] for i in rng.integers(0, len(AVAILABLE_OPS), v - 2)]
        ops = [INPUT, *interior, OUTPUT]
        spec = ModelSpec(upper, ops)
        if spec.valid_spec and int(spec.matrix.sum()) <= MAX_EDGES:
            module_hash = spec.hash_spec(canonical)
            if module_hash not in seen:
                seen.add(module_hash)
                per_size[len(spec.ops)] += 1
                cells.append(_make_cell(spec.matrix, spec.ops, module_hash))
                failures = 0
                continue
        failures += 1
        if failures > 100_000:
            msg = f"could not draw {n} distinct cells (found {len(cells)}); ask for fewer"
            raise RuntimeError(msg)
    return cells


# --------------------------------------------------------------------------- metrics


def quantize_accuracy(x: np.ndarray) -> np.ndarray:
    """Round accuracies (fractions 0-1) to float32 multiples of 1/9984, returned as float64.

    Every published accuracy is such a multiple (:data:`ACCURACY_DENOMINATOR`).
    """
    k = np.clip(np.rint(x * ACCURACY_DENOMINATOR), 0, ACCURACY_DENOMINATOR)
    return (k / ACCURACY_DENOMINATOR).astype(np.float32).astype(np.float64)


def synthetic_values(
    num_cells: int,
    epochs: Sequence[int],
    repeats: int,
    params: Sequence[int],
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw plausible metrics for a batch of cells (see the module docstring).

    Parameters
    ----------
    num_cells : int
    epochs : sequence of int
        Budgets.
    repeats : int
        Runs per (cell, budget).
    params : sequence of int
        Trainable parameters per cell (scales the training time).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float64, shape ``(num_cells, len(epochs), repeats, 17)``: the flat
        values of :func:`nasbench_arrow.records.decode_metrics_values`
        (``trainable_parameters`` at index 15 as a float).
    """
    c, b, r = num_cells, len(epochs), repeats
    ep = np.asarray(epochs, dtype=np.float64)[None, :, None]
    quality = rng.beta(5.0, 2.0, size=(c, 1, 1))
    ceiling = 0.75 + 0.195 * quality
    p = np.asarray(params, dtype=np.float64).reshape(c, 1, 1)
    seconds_per_epoch = (4.0 + p / 1.5e6) * rng.uniform(0.9, 1.1, size=(c, 1, 1))

    out = np.empty((c, b, r, 17), dtype=np.float64)
    shape = (c, b, r)
    # Start of training: chance level.
    out[..., 0] = 0.0
    out[..., 1] = 0.0
    for j in (2, 3, 4):
        out[..., j] = quantize_accuracy(rng.normal(0.1, 0.004, size=shape))
    # Final validation accuracy approaches the cell's ceiling with the budget;
    # halfway sits well below it (the learning rate decays over the whole budget).
    final_val = np.clip(
        ceiling * (1.0 - 0.85 * np.exp(-ep / 7.0)) + rng.normal(0.0, 0.012, size=shape), 0.08, 0.96
    )
    half_val = np.clip(
        final_val * (0.88 - 0.6 * np.exp(-ep / 12.0)) + rng.normal(0.0, 0.03, size=shape),
        0.08,
        0.96,
    )
    final_time = (seconds_per_epoch * ep * rng.uniform(0.98, 1.02, size=shape)).astype(np.float32)
    half_time = (final_time * rng.uniform(0.495, 0.505, size=shape)).astype(np.float32)
    for stage, e, val, seconds in (
        (1, ep / 2.0, half_val, half_time),
        (2, ep, final_val, final_time),
    ):
        base = 5 * stage
        out[..., base + 0] = np.broadcast_to(e, shape)
        out[..., base + 1] = seconds.astype(np.float64)
        train = np.minimum(1.0, val + 0.01 + 0.1 * (1.0 - np.exp(-e / 15.0)))
        out[..., base + 2] = quantize_accuracy(train)
        out[..., base + 3] = quantize_accuracy(val)
        out[..., base + 4] = quantize_accuracy(val - np.abs(rng.normal(0.005, 0.004, size=shape)))
    out[..., 15] = np.broadcast_to(p, shape)
    out[..., 16] = out[..., 11] + rng.uniform(230.0, 330.0, size=shape)
    return out


def record_values(row: np.ndarray) -> tuple:
    """One run of :func:`synthetic_values` (17 floats) as the value tuple of a record.

    The layout of :func:`nasbench_arrow.records.decode_metrics_values`, with
    ``trainable_parameters`` (position 15) an int, as the records store it.
    """
    values = row.tolist()
    values[15] = int(values[15])
    return tuple(values)


def _payload(cell_hash: str, epochs: int, adjacency: str, operations: str, values) -> bytes:
    """The official JSON layout; equal to records.format_payload for these plain strings."""
    b64 = base64.encodebytes(encode_metrics_values(values)).decode("ascii").replace("\n", "\\n")
    return f'["{cell_hash}", {epochs}, "{adjacency}", "{operations}", "{b64}"]'.encode()


def _check_epochs(epochs) -> tuple[int, ...]:
    try:
        out = tuple(epochs)
    except TypeError:
        out = (epochs,)
    if (
        not out
        or len(set(out)) != len(out)
        or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e <= 0 for e in out)
    ):
        msg = f"epochs must be distinct positive ints, got {epochs!r}"
        raise ValueError(msg)
    return tuple(sorted(int(e) for e in out))


def _trainable_parameters(cell: _Cell) -> int:
    from .params import trainable_parameters

    return int(trainable_parameters(cell.matrix, cell.ops, prune=False))


def write_fixture_tfrecord(
    path: str | os.PathLike,
    cells: Iterable,
    *,
    epochs: Sequence[int] = VALID_EPOCHS,
    repeats: int = NUM_REPEATS,
    seed: int = 0,
    order: str = "hash",
    isomorphic_variants: bool = False,
    keep_records: bool = True,
) -> FixtureInfo:
    """Write an official-format ``.tfrecord`` for the given cells with synthetic metrics.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (overwritten if it exists).
    cells : iterable
        ModelSpecs, :class:`nasbench_arrow.space.Cell` objects or
        ``(matrix, ops)`` pairs; distinct cells (by hash). Each is pruned and
        stored in the vertex order given.
    epochs : sequence of int, default (4, 12, 36, 108)
        Budgets written for every cell; ``(108,)`` mimics ``nasbench_only108.tfrecord``.
    repeats : int, default 3
        Records per (cell, budget).
    seed : int, default 0
        Seed of the metrics; same seed and cells, same bytes.
    order : {"hash", "shuffled"}
        ``"hash"``: records sorted by hash, then budget, then repeat.
        ``"shuffled"``: a random order (the repeat numbers follow file order,
        as the original API numbers them). Shuffling holds all records in memory.
    isomorphic_variants : bool, default False
        Also return, per cell, up to 3 other vertex orders of it (same hash)
        in ``FixtureInfo.variants``, for query tests; they are not written.
    keep_records : bool, default True
        Keep every :class:`ExpectedRecord` in ``FixtureInfo.records``. Turn
        off for benchmark-size files (millions of records).

    Returns
    -------
    FixtureInfo

    Raises
    ------
    ValueError
        An invalid cell, an unknown op, the same cell twice, bad epochs,
        repeats or order.
    """
    if order not in ("hash", "shuffled"):
        msg = f"order must be 'hash' or 'shuffled', got {order!r}"
        raise ValueError(msg)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        msg = f"repeats must be a positive int, got {repeats!r}"
        raise ValueError(msg)
    budgets = _check_epochs(epochs)
    by_hash: dict[str, _Cell] = {}
    for cell in cells:
        c = _normalise_cell(cell)
        if c.module_hash in by_hash:
            msg = (
                f"the same cell (hash {c.module_hash}) is given twice; cells must be distinct "
                f"(isomorphic specs share a hash)"
            )
            raise ValueError(msg)
        by_hash[c.module_hash] = c
    ordered = [by_hash[h] for h in sorted(by_hash)]
    params = {c.module_hash: _trainable_parameters(c) for c in ordered}
    rng = np.random.default_rng(seed)

    def chunks():
        for start in range(0, len(ordered), _CHUNK_CELLS):
            part = ordered[start : start + _CHUNK_CELLS]
            yield (
                part,
                synthetic_values(
                    len(part), budgets, repeats, [params[c.module_hash] for c in part], rng
                ),
            )

    path = Path(path)
    records: list[ExpectedRecord] | None = [] if keep_records else None
    count = 0
    with TFRecordWriter(path) as writer:
        if order == "hash":
            for part, values in chunks():
                for i, c in enumerate(part):
                    for b, e in enumerate(budgets):
                        for r in range(repeats):
                            v = record_values(values[i, b, r])
                            writer.write(_payload(c.module_hash, e, c.adjacency, c.operations, v))
                            if records is not None:
                                records.append(
                                    ExpectedRecord(
                                        count, c.module_hash, e, r, c.adjacency, c.operations, v
                                    )
                                )
                            count += 1
        else:
            everything = [
                (c, e, record_values(values[i, b, r]))
                for part, values in chunks()
                for i, c in enumerate(part)
                for b, e in enumerate(budgets)
                for r in range(repeats)
            ]
            permutation = rng.permutation(len(everything))
            seen: dict[tuple[str, int], int] = {}
            for k in permutation.tolist():
                c, e, v = everything[k]
                r = seen.get((c.module_hash, e), 0)
                seen[(c.module_hash, e)] = r + 1
                writer.write(_payload(c.module_hash, e, c.adjacency, c.operations, v))
                if records is not None:
                    records.append(
                        ExpectedRecord(count, c.module_hash, e, r, c.adjacency, c.operations, v)
                    )
                count += 1
    variants = {}
    if isomorphic_variants:
        vrng = np.random.default_rng([seed, 1])
        variants = {c.module_hash: _interior_variants(c, vrng, 3) for c in ordered}
    ordered_hashes = [(c.module_hash, c) for c in ordered]
    return FixtureInfo(
        path=path,
        num_records=count,
        hashes=tuple(h for h, _ in ordered_hashes),
        epochs=budgets,
        repeats=repeats,
        cells={h: (c.matrix, list(c.ops)) for h, c in ordered_hashes},
        trainable_parameters=params,
        records=records,
        variants=variants,
    )
