"""The on-disk layout of a converted dataset: one home for its facts.

Both the converter (writer) and the reader import everything they need to
agree on from here: format version, table schemas, the partition rule, file
names, and the manifest. A converted dataset looks like::

    OUT_DIR/
      manifest.json                      format version, source, counts, files, checksums
      cells/bucket=0/part-0.parquet      one row per unique cell, sorted by module_hash
      ...
      cells/bucket=f/part-0.parquet
      runs/bucket=0/part-0.parquet       one row per training run, sorted by (module_hash, epochs, repeat)
      ...
      index/*.npy                        query index (uncompressed, memory-mapped by NASBench)

Buckets are hive-style (``bucket=<first hex digit of module_hash>``), so a
filter on ``module_hash`` (or ``bucket``) opens one file of sixteen, and rows
sorted by hash let Parquet row-group statistics skip the rest of that file.
"""

from __future__ import annotations

import functools
import itertools
import operator

import numpy as np
import pyarrow as pa

from .constants import AVAILABLE_OPS, MAX_VERTICES

__all__ = [
    "BUCKETS",
    "BUCKET_COLUMN",
    "CELLS_DIR",
    "CELLS_SCHEMA",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INDEX_DIR",
    "INDEX_FILES",
    "INDEX_RUN_COLUMNS",
    "MANIFEST_NAME",
    "METADATA_KEY",
    "METRICS",
    "OP_CODES",
    "RUNS_DIR",
    "RUNS_SCHEMA",
    "STAGES",
    "bucket_of",
    "canonical_key",
    "canonical_keys",
    "canonical_keys_of_index",
    "data_file",
]

#: Name written into every manifest and Parquet file, so a reader can tell ours apart.
FORMAT_NAME = "nasbench-arrow"
#: Bumped on any incompatible change; readers refuse versions they do not know.
FORMAT_VERSION = 1

MANIFEST_NAME = "manifest.json"
CELLS_DIR = "cells"
RUNS_DIR = "runs"
INDEX_DIR = "index"

#: Key of the JSON blob in each Parquet file's key-value metadata.
METADATA_KEY = b"nasbench_arrow"

#: Partition column and its values: the first hex digit of the module hash.
BUCKET_COLUMN = "bucket"
BUCKETS: tuple[str, ...] = tuple("0123456789abcdef")


def bucket_of(module_hash: str) -> str:
    """Return the bucket (partition value) of a module hash.

    Parameters
    ----------
    module_hash : str
        32 lowercase hex digits.

    Returns
    -------
    str
        Its first hex digit.
    """
    return module_hash[0]


def data_file(table: str, bucket: str) -> str:
    """Relative path (POSIX separators) of one table's file in one bucket."""
    return f"{table}/{BUCKET_COLUMN}={bucket}/part-0.parquet"


#: Evaluation points of a training run: ``evaluation_data[0..2]`` of ModelMetrics.
STAGES: tuple[str, ...] = ("start", "halfway", "final")
#: Fields of one evaluation (ModelMetrics ``EvaluationData``), all doubles.
METRICS: tuple[str, ...] = (
    "current_epoch",  # epochs trained at this evaluation
    "training_time",  # seconds of training up to here, evaluation excluded
    "train_accuracy",  # fraction 0-1 on a fixed 10,000 training images
    "validation_accuracy",  # fraction 0-1 on the 10,000 held-out images
    "test_accuracy",  # fraction 0-1 on the CIFAR-10 test set
)

#: One row per unique cell.
CELLS_SCHEMA = pa.schema(
    [
        pa.field("module_hash", pa.string(), nullable=False),  # 32 hex digits
        pa.field("num_vertices", pa.int8(), nullable=False),
        pa.field("num_edges", pa.int8(), nullable=False),
        # Row-major 0/1 string of the V x V matrix exactly as stored in the source.
        pa.field("adjacency", pa.string(), nullable=False),
        pa.field("operations", pa.list_(pa.string()), nullable=False),  # V labels, input..output
        pa.field("trainable_parameters", pa.int32(), nullable=False),  # from ModelMetrics
    ]
)

#: One row per training run (record of the source file).
RUNS_SCHEMA = pa.schema(
    [
        pa.field("module_hash", pa.string(), nullable=False),
        pa.field("epochs", pa.int16(), nullable=False),  # budget: 4, 12, 36 or 108
        pa.field("repeat", pa.int8(), nullable=False),  # 0-based, in source file order
        *[
            pa.field(f"{stage}_{metric}", pa.float64(), nullable=False)
            for stage in STAGES
            for metric in METRICS
        ],
        pa.field("total_time", pa.float64(), nullable=False),  # seconds, training + evaluation
        pa.field("record_index", pa.int64(), nullable=False),  # 0-based position in the source
    ]
)

#: Columns of ``index/run_metrics.npy`` (float64, one row per run, same order as RUNS).
INDEX_RUN_COLUMNS: tuple[str, ...] = tuple(
    f"{stage}_{metric}"
    for stage in ("halfway", "final")
    for metric in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
)

#: Codes of op labels in ``index/cell_ops.npy``; 255 pads cells with fewer vertices.
OP_CODES: tuple[str, ...] = ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output")

#: The query index, written by the converter, memory-mapped by the facade.
#: All arrays are ordered by module_hash (cells) and by (module_hash, epochs, repeat) (runs).
INDEX_FILES = {
    # (num_cells,) |S32: ASCII hex hashes, sorted, for np.searchsorted.
    "cell_hash": "cell_hash.npy",
    # (num_cells,) int8: vertex count V.
    "cell_num_vertices": "cell_num_vertices.npy",
    # (num_cells, 7, 7) int8: adjacency padded with zeros beyond V.
    "cell_adjacency": "cell_adjacency.npy",
    # (num_cells, 7) uint8: OP_CODES index per vertex, 255 beyond V.
    "cell_ops": "cell_ops.npy",
    # (num_cells,) int32: trainable parameters.
    "cell_params": "cell_params.npy",
    # (num_cells + 1,) int64: runs of cell i are rows run_start[i] : run_start[i + 1].
    "run_start": "run_start.npy",
    # (num_runs,) int16: budget of each run.
    "run_epochs": "run_epochs.npy",
    # (num_runs, 8) float64: INDEX_RUN_COLUMNS.
    "run_metrics": "run_metrics.npy",
    # (num_cells,) int64: canonical_keys_of_index() of every cell, sorted ascending.
    "cell_canon": "cell_canon.npy",
    # (num_cells,) int32: cell row (hash order) of each key of cell_canon.
    "cell_canon_pos": "cell_canon_pos.npy",
}


# ---------------------------------------------------------------------------
# Canonical isomorphism keys (index/cell_canon.npy)
# ---------------------------------------------------------------------------
#
# A pruned valid cell has the input at vertex 0, the output at vertex V-1 and
# interior labels 0..2 (index in AVAILABLE_OPS), so an isomorphism can only
# permute the V-2 interior vertices. For a permutation s (fixing 0 and V-1)
# the permuted cell is encoded exactly as one integer:
#
#     sum over edges (i, j) of 2**(V*s(i) + s(j))  * 3**5
#   + sum over interior v of label(v) * 3**(s(v) - 1)
#
# and the key of the cell is the minimum over all (V-2)! permutations, times 8,
# plus V. Two cells have the same key exactly when they are isomorphic (an
# exact test, unlike a hash). Bounds: the edge term is below 2**49, so the key
# is below 2**49 * 3**5 * 8 < 2**61 (int64).
#
# Vectorised with table look-ups instead of arithmetic per edge: the V(V-1)/2
# slots above the diagonal (cells are upper triangular) are cut into groups of
# 7 bits, and a table per group gives the (already scaled) edge term of each
# of its 128 bit patterns under every permutation; one more table gives the
# label term of each of the 3**(V-2) labelings. A key is then a few int64
# gathers and adds of (n, P) arrays and a row minimum (about 4 ms for 10,000
# cells of 7 vertices, exact, no floating point).

# The label code of the (at most 5) interior vertices, in base 3, stays below this.
_LABEL_BASE = len(AVAILABLE_OPS) ** (MAX_VERTICES - 2)
_GROUP_BITS = 7
_CANON_CHUNK = 1 << 11  # rows at a time: keeps the (rows, permutations) temporaries in cache (~2 MB)


@functools.lru_cache(maxsize=8)
def _canon_tables(v: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Look-up tables of the P = (V-2)! interior permutations of V vertices.

    Returns the slots above the diagonal (row and column indexes), the place
    value of each slot's bit in its group's pattern number, the edge-term
    tables ``(groups, 128, P)`` int64 (scaled by the label base), and the
    label-term table ``(3**(V-2), P)`` int64 indexed by the labeling read as a
    base-3 number (interior vertex 1 the least significant digit).
    """
    perms = np.array(
        [(0, *p, v - 1) for p in itertools.permutations(range(1, v - 1))], dtype=np.int64
    )
    upper = np.triu_indices(v, 1)
    slots = len(upper[0])
    groups = max(1, -(-slots // _GROUP_BITS))
    weight = np.zeros((groups * _GROUP_BITS, len(perms)), dtype=np.int64)
    weight[:slots] = (1 << (v * perms[:, upper[0]] + perms[:, upper[1]])).T * _LABEL_BASE
    patterns = (np.arange(1 << _GROUP_BITS)[:, None] >> np.arange(_GROUP_BITS)) & 1  # (128, 7)
    edge = np.stack(
        [patterns @ weight[g * _GROUP_BITS : (g + 1) * _GROUP_BITS] for g in range(groups)]
    )
    place = np.zeros(groups * _GROUP_BITS, dtype=np.int64)
    place[:] = np.tile(1 << np.arange(_GROUP_BITS), groups)
    digits = np.array(list(itertools.product(range(3), repeat=v - 2)), dtype=np.int64)
    digits = digits.reshape(3 ** (v - 2), v - 2)[:, ::-1]
    # label term of labeling t under permutation p: sum_k t[k] * 3**(s_p(k + 1) - 1)
    label = digits @ (3 ** (perms[:, 1:-1] - 1)).T
    return upper, place, edge, np.ascontiguousarray(label)


def canonical_keys(adjacency: np.ndarray, labels: np.ndarray, num_vertices: int) -> np.ndarray:
    """Exact isomorphism keys of cells that all have ``num_vertices`` vertices.

    Parameters
    ----------
    adjacency : np.ndarray
        ``(n, V, V)`` 0/1 adjacency matrices (any integer, bool or float dtype);
        vertex 0 is the input, vertex V-1 the output.
    labels : np.ndarray
        ``(n, V-2)`` interior labels, each 0, 1 or 2 (the op's index in
        ``constants.AVAILABLE_OPS``).
    num_vertices : int
        V, 2..7.

    Returns
    -------
    np.ndarray of int64
        ``(n,)`` keys, non-negative; equal keys mean isomorphic cells. A matrix
        that is not strictly upper triangular (outside the space) gets -1.
    """
    v = int(num_vertices)
    n = len(adjacency)
    upper, place, edge, label_codes = _canon_tables(v)
    adjacency = np.asarray(adjacency).reshape(n, v, v)
    bits = np.zeros((n, len(place)), dtype=np.int64)
    bits[:, : len(upper[0])] = adjacency[:, upper[0], upper[1]] != 0
    lower = np.count_nonzero(adjacency.reshape(n, v * v), axis=1) != bits.sum(axis=1)
    pattern = (bits * place).reshape(n, len(edge), _GROUP_BITS).sum(axis=2)  # (n, groups)
    labels = np.asarray(labels, dtype=np.int64).reshape(n, v - 2)
    labeling = labels @ (3 ** np.arange(v - 2, dtype=np.int64))  # (n,)
    out = np.empty(n, dtype=np.int64)
    for lo in range(0, n, _CANON_CHUNK):
        hi = min(lo + _CANON_CHUNK, n)
        codes = label_codes[labeling[lo:hi]]
        for g in range(len(edge)):
            codes += edge[g][pattern[lo:hi, g]]
        out[lo:hi] = codes.min(axis=1)
    out *= 8
    out += v
    out[lower] = -1
    return out


@functools.lru_cache(maxsize=8)
def _single_key_tables(v: int) -> tuple:
    """Per-V tables of :func:`canonical_key`, as Python containers (no numpy view per look-up).

    Returns an ``itemgetter`` of the lower triangle's flat positions (diagonal
    included), one ``itemgetter`` per group of 7 upper slots (a short last
    group is padded with position 0, the input's diagonal, which the lower
    check has just found to be 0), a dict from a group's 7-tuple of 0/1
    values to its pattern number, the edge-term rows ``[group][pattern] ->
    (P,) int64`` and the label-term rows ``[labeling] -> (P,) int64``.
    """
    upper, _place, edge, label_codes = _canon_tables(v)
    slots = [int(i) * v + int(j) for i, j in zip(*upper)]
    lower = [i * v + j for i in range(v) for j in range(i + 1)]
    groups = len(edge)
    slots += [0] * (groups * _GROUP_BITS - len(slots))
    getters = [operator.itemgetter(*slots[g * _GROUP_BITS : (g + 1) * _GROUP_BITS]) for g in range(groups)]
    patterns = {bits: sum(b << k for k, b in enumerate(bits)) for bits in itertools.product((0, 1), repeat=_GROUP_BITS)}
    edge_rows = [[edge[g, p].copy() for p in range(1 << _GROUP_BITS)] for g in range(groups)]
    label_rows = [label_codes[t].copy() for t in range(len(label_codes))]
    return operator.itemgetter(*lower), getters, patterns, edge_rows, label_rows


def canonical_key(flat: list, labeling: int, num_vertices: int) -> int:
    """:func:`canonical_keys` of one cell given as a flat Python list (a few microseconds).

    Parameters
    ----------
    flat : list
        The ``V x V`` adjacency, row-major, 0/1 values (``matrix.ravel().tolist()``).
    labeling : int
        The interior labels read as a base-3 number, interior vertex 1 the
        least significant digit (each label 0, 1 or 2: the op's index in
        ``AVAILABLE_OPS``).
    num_vertices : int
        V, 2..7.

    Returns
    -------
    int
        The key, or -1 when the matrix is not strictly upper triangular.
    """
    lower, getters, patterns, edge_rows, label_rows = _single_key_tables(num_vertices)
    if any(lower(flat)):  # at least 3 positions for V >= 2: a tuple
        return -1
    codes = label_rows[labeling] + edge_rows[0][patterns[getters[0](flat)]]
    for g in range(1, len(getters)):
        codes += edge_rows[g][patterns[getters[g](flat)]]
    return int(codes.min()) * 8 + num_vertices


def canonical_keys_of_index(
    adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray
) -> np.ndarray:
    """:func:`canonical_keys` of cells stored as the index pads them.

    Parameters
    ----------
    adjacency : np.ndarray
        ``(n, 7, 7)`` int8 (``index/cell_adjacency.npy``).
    ops : np.ndarray
        ``(n, 7)`` uint8 ``OP_CODES`` indexes (``index/cell_ops.npy``).
    num_vertices : np.ndarray
        ``(n,)`` vertex counts.

    Returns
    -------
    np.ndarray of int64
        ``(n,)`` keys; -1 (which no spec's key equals) for a cell outside the
        key's domain: vertex count outside 2..7, input/output not at the
        ends, or an interior label that is not one of the three ops.
    """
    num_vertices = np.asarray(num_vertices)
    out = np.full(len(num_vertices), -1, dtype=np.int64)
    last = len(OP_CODES) - 1
    for v in range(2, 8):
        rows = np.flatnonzero(num_vertices == v)
        if not len(rows):
            continue
        cell_ops = np.asarray(ops[rows, :v]).astype(np.int64)
        # OP_CODES puts the three interior ops at 1..3, in AVAILABLE_OPS order.
        labels = cell_ops[:, 1 : v - 1] - 1
        ok = (cell_ops[:, 0] == 0) & (cell_ops[:, -1] == last) & ((labels >= 0) & (labels <= 2)).all(axis=1)
        keys = canonical_keys(np.asarray(adjacency[rows, :v, :v]), labels, v)
        out[rows] = np.where(ok, keys, -1)
    return out
