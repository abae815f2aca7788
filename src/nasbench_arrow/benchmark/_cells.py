"""Vectorised cell proposals for the shipped optimizers: colab sampling, mutation, neighbourhoods.

Proposing one cell at a time through ``ModelSpec`` costs tens of
microseconds (pruning and an MD5 graph hash per proposal), more than a
simulated evaluation. Here proposals are drawn in batches as numpy arrays
(unpruned ``(B, V, V)`` matrices and ``(B, V-2)`` interior labels, the index
of the op in ``constants.AVAILABLE_OPS``), pruned all at once, and matched to
dataset rows by the exact canonical isomorphism key of
:func:`nasbench_arrow.layout.canonical_keys` (the key the facade's
``query_many`` uses), so no hash is computed.

The distributions are the colab's (the same as ``search.SpecProposer``'s):
rejection sampling of a batch keeps the valid draws in order, which is the
same distribution as redrawing one at a time; only the random stream differs
(numpy's ``Generator`` instead of ``random.Random``).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .. import layout
from ..constants import AVAILABLE_OPS, INPUT, MAX_EDGES, MAX_VERTICES, OUTPUT
from ..model_spec import ModelSpec

__all__ = ["ColabSampler", "cell_rows", "find_key", "flat_row", "mutate_flat", "mutations", "neighbour_rows", "row_arrays"]


def _prune(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``keep`` (vertices on an input-to-output path) and ``valid`` (input reaches output) per cell."""
    b, v, _ = adjacency.shape
    edge = adjacency.astype(bool)
    forward = np.zeros((b, v), dtype=bool)
    forward[:, 0] = True
    for j in range(1, v):
        forward[:, j] = (forward[:, :j] & edge[:, :j, j]).any(axis=1)
    backward = np.zeros((b, v), dtype=bool)
    backward[:, v - 1] = True
    for i in range(v - 2, -1, -1):
        backward[:, i] = (backward[:, i + 1 :] & edge[:, i, i + 1 :]).any(axis=1)
    keep = forward & backward
    return keep, keep[:, v - 1]


def cell_rows(index: Any, adjacency: np.ndarray, labels: np.ndarray, *, max_edges: int = MAX_EDGES) -> np.ndarray:
    """Dataset rows of unpruned cells (-1 where invalid, over ``max_edges`` after pruning, or not held).

    Parameters
    ----------
    index : QueryIndex
    adjacency : np.ndarray
        ``(B, V, V)`` 0/1 upper-triangular matrices, vertex 0 the input and V-1 the output.
    labels : np.ndarray
        ``(B, V-2)`` interior op indexes in ``AVAILABLE_OPS``.
    """
    adjacency = np.asarray(adjacency, dtype=np.int8)
    labels = np.asarray(labels, dtype=np.int64)
    b = adjacency.shape[0]
    out = np.full(b, -1, dtype=np.int64)
    keep, valid = _prune(adjacency)
    kept = adjacency * (keep[:, :, None] & keep[:, None, :])
    valid &= kept.reshape(b, -1).sum(axis=1) <= max_edges
    sizes = keep.sum(axis=1)
    for size in np.unique(sizes[valid]).tolist():
        sel = np.flatnonzero(valid & (sizes == size))
        # Kept vertices first, in their order: the pruned cell (as ModelSpec prunes it).
        order = np.argsort(~keep[sel], axis=1, kind="stable")[:, :size]
        sub = kept[sel[:, None, None], order[:, :, None], order[:, None, :]]
        lab = labels[sel[:, None], np.clip(order[:, 1 : size - 1] - 1, 0, None)]
        keys = layout.canonical_keys(sub, lab, size)
        rows, found, shared = index.find_canonical(keys)
        out[sel[found]] = rows[found]
        for k in np.flatnonzero(shared).tolist():  # isomorphic cells stored twice: never in the official files
            ops = [INPUT, *[AVAILABLE_OPS[c] for c in lab[k].tolist()], OUTPUT]
            row = index.find(ModelSpec(sub[k], ops).hash_spec(list(AVAILABLE_OPS)))
            out[sel[k]] = -1 if row is None else row
    return out


def row_arrays(index: Any, row: int, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """A stored cell padded to ``num_vertices`` (unconnected vertices before the output) as arrays."""
    matrix, ops, _ = index.cell(row)
    v = matrix.shape[0]
    n = num_vertices
    adjacency = np.zeros((n, n), dtype=np.int8)
    adjacency[: v - 1, : v - 1] = matrix[: v - 1, : v - 1]
    adjacency[: v - 1, n - 1] = matrix[: v - 1, v - 1]
    labels = np.zeros(n - 2, dtype=np.int64)
    labels[: v - 2] = [AVAILABLE_OPS.index(op) for op in ops[1:-1]]
    return adjacency, labels


class ColabSampler:
    """Colab random cells in batches: every upper-triangular edge with probability 1/2, ops uniform.

    Parameters
    ----------
    index : QueryIndex
    rng : np.random.Generator
    num_vertices : int, default 7
    batch : int, default 1024
    """

    def __init__(self, index: Any, rng: np.random.Generator, num_vertices: int = MAX_VERTICES, batch: int = 1024):
        self.index = index
        self.rng = rng
        self.v = num_vertices
        self.batch = batch
        self._upper = np.triu_indices(num_vertices, k=1)
        self._rows: list[int] = []
        self._adjacency: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def _refill(self) -> None:
        v, b = self.v, self.batch
        while True:
            adjacency = np.zeros((b, v, v), dtype=np.int8)
            adjacency[:, self._upper[0], self._upper[1]] = self.rng.integers(0, 2, size=(b, len(self._upper[0])), dtype=np.int8)
            labels = self.rng.integers(0, len(AVAILABLE_OPS), size=(b, v - 2))
            rows = cell_rows(self.index, adjacency, labels)
            ok = np.flatnonzero(rows >= 0)
            if ok.size:
                break
        ok = ok[::-1]  # popped from the end: the first valid draw comes out first
        self._rows = rows[ok].tolist()
        self._adjacency = list(adjacency[ok])
        self._labels = list(labels[ok])

    def draw(self) -> tuple[int, np.ndarray, np.ndarray]:
        """``(row, unpruned matrix, labels)`` of the next valid random cell."""
        if not self._rows:
            self._refill()
        return self._rows.pop(), self._adjacency.pop(), self._labels.pop()


def mutations(
    index: Any,
    adjacency: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    mutation_rate: float = 1.0,
    batch: int = 64,
    max_batches: int = 1000,
) -> tuple[int, np.ndarray, np.ndarray]:
    """A valid colab mutation of an unpruned cell: ``(row, matrix, labels)`` of the child.

    Each upper-triangular edge flips with probability ``mutation_rate / V``,
    each interior op is replaced by one of the other ops (uniformly) with
    probability ``mutation_rate / (V - 2)``; drawn ``batch`` at a time until
    one is valid and held (the first in draw order is taken).

    Raises
    ------
    RuntimeError
        No valid child in ``max_batches * batch`` draws.
    """
    v = adjacency.shape[0]
    iu, ju = np.triu_indices(v, k=1)
    for _ in range(max_batches):
        flips = rng.random((batch, len(iu))) < mutation_rate / v
        child = np.broadcast_to(adjacency, (batch, v, v)).copy()
        child[:, iu, ju] ^= flips.astype(np.int8)
        change = rng.random((batch, v - 2)) < mutation_rate / (v - 2)
        shift = rng.integers(1, len(AVAILABLE_OPS), size=(batch, v - 2))  # one of the other ops
        child_labels = np.where(change, (labels[None, :] + shift) % len(AVAILABLE_OPS), labels[None, :])
        rows = cell_rows(index, child, child_labels)
        ok = np.flatnonzero(rows >= 0)
        if ok.size:
            k = int(ok[0])
            return int(rows[k]), child[k], child_labels[k]
    msg = f"no valid mutation in {max_batches * batch} draws"
    raise RuntimeError(msg)


# index -> {(row, num_vertices): neighbour rows}; local-search runs over one dataset revisit the
# same cells (the colab sampler starts 30% of its climbs at 7 small cells), so they share this.
_NEIGHBOURS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NEIGHBOURS_MAX = 200_000


def neighbour_rows(index: Any, row: int, num_vertices: int) -> np.ndarray:
    """Distinct rows of the cells one edge flip or one op change away from a stored cell (itself excluded).

    The same set as :func:`nasbench_arrow.encodings.neighbours` (restricted
    to cells the dataset holds), in a fixed order. Cached per index.
    """
    cache = _NEIGHBOURS.get(index)
    if cache is None:
        cache = _NEIGHBOURS[index] = {}
    key = (row, num_vertices)
    found = cache.get(key)
    if found is None:
        if len(cache) >= _NEIGHBOURS_MAX:
            cache.clear()
        found = cache[key] = _neighbour_rows(index, row, num_vertices)
        found.setflags(write=False)
    return found


def _neighbour_rows(index: Any, row: int, num_vertices: int) -> np.ndarray:
    adjacency, labels = row_arrays(index, row, num_vertices)
    v = num_vertices
    iu, ju = np.triu_indices(v, k=1)
    candidates_adj = [adjacency.copy() for _ in range(len(iu))]
    for k, (i, j) in enumerate(zip(iu.tolist(), ju.tolist())):
        candidates_adj[k][i, j] ^= 1
    candidates_lab = [labels] * len(iu)
    for vertex in range(v - 2):
        for shift in range(1, len(AVAILABLE_OPS)):
            changed = labels.copy()
            changed[vertex] = (changed[vertex] + shift) % len(AVAILABLE_OPS)
            candidates_adj.append(adjacency)
            candidates_lab.append(changed)
    rows = cell_rows(index, np.stack(candidates_adj), np.stack(candidates_lab))
    rows = rows[(rows >= 0) & (rows != row)]
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]


def find_key(index: Any, key: int) -> int:
    """Row of one canonical key (-1 when no stored cell, or several, have it)."""
    canon = index.cell_canon
    n = index.num_cells
    pos = int(canon.searchsorted(key))
    if pos >= n or int(canon[pos]) != key or (pos + 1 < n and int(canon[pos + 1]) == key):
        return -1
    return int(index.cell_canon_pos[pos])


def flat_row(index: Any, flat: list, labels: list, v: int, max_edges: int = MAX_EDGES) -> int:
    """Row of one unpruned cell given as Python lists (-1 where invalid or not held); pure Python, no hash.

    ``flat`` is the ``V x V`` matrix row-major, ``labels`` the ``V-2`` interior op indexes.
    Reachability uses integer bit masks (one int per vertex).
    """
    out_mask = [0] * v
    in_mask = [0] * v
    for i in range(v - 1):
        base = i * v
        for j in range(i + 1, v):
            if flat[base + j]:
                out_mask[i] |= 1 << j
                in_mask[j] |= 1 << i
    forward = 1
    for j in range(1, v):
        if in_mask[j] & forward:
            forward |= 1 << j
    if not forward >> (v - 1) & 1:
        return -1
    backward = 1 << (v - 1)
    for i in range(v - 2, -1, -1):
        if out_mask[i] & backward:
            backward |= 1 << i
    keep = forward & backward
    kept = [i for i in range(v) if keep >> i & 1]
    if sum((out_mask[i] & keep).bit_count() for i in kept) > max_edges:
        return -1
    pruned = [(out_mask[a] >> b) & 1 for a in kept for b in kept]
    labeling = 0
    for k, vertex in enumerate(kept[1:-1]):
        labeling += labels[vertex - 1] * 3**k
    return find_key(index, layout.canonical_key(pruned, labeling, len(kept)))


def mutate_flat(index: Any, flat: list, labels: list, v: int, rng: Any, mutation_rate: float = 1.0, max_tries: int = 100_000) -> tuple[int, list, list]:
    """The colab mutation of an unpruned cell, drawn exactly as ``search.SpecProposer.mutate`` draws it.

    Same calls on the same ``random.Random`` in the same order (a ``random()``
    per upper-triangular edge, then per interior vertex, and a ``choice``
    among the other ops), redrawn until the child is valid and held; returns
    ``(row, flat, labels)`` of the child.
    """
    edge_p = mutation_rate / v
    op_p = mutation_rate / (v - 2)

    num_ops = len(AVAILABLE_OPS)
    for _ in range(max_tries):
        child = list(flat)
        for i in range(v - 1):
            for j in range(i + 1, v):
                if rng.random() < edge_p:
                    child[i * v + j] = 1 - child[i * v + j]
        child_labels = list(labels)
        for k in range(v - 2):
            if rng.random() < op_p:
                child_labels[k] = rng.choice([o for o in range(num_ops) if o != child_labels[k]])
        row = flat_row(index, child, child_labels, v)
        if row >= 0:
            return row, child, child_labels
    msg = f"no valid mutation in {max_tries} draws"
    raise RuntimeError(msg)
