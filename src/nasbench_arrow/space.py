"""The whole NAS-Bench-101 search space: every unique cell, found in seconds.

The original generator (``nasbench/scripts/generate_graphs.py``) walks, for
each vertex count ``V`` in 2..7, every bitmask of the ``V(V-1)/2`` upper
triangular entries, keeps the adjacency matrices that are *full DAGs* (every
vertex on an input-to-output path) with at most ``max_edges`` edges, tries
every labelling of the interior vertices with ``num_ops`` operations, and keeps
the first ``(matrix, labelling)`` it meets for each value of
``graph_util.hash_module``. In pure Python that is about 1.3 million MD5 graph
hashes (plus an optional isomorphism check for each duplicate) and takes hours.

This module gives the same answer by exact isomorphism classes instead of
hashing every graph:

1. The bitmasks of one vertex count are filtered with numpy bit operations
   (no zero row but the last, no zero column but the first, popcount within
   ``max_edges``).
2. In a full DAG the input is the only vertex without in-edges and the output
   the only one without out-edges, so every isomorphism fixes both and only
   the ``V - 2`` interior vertices permute (120 permutations for 7 vertices).
   For each matrix and each interior permutation the permuted adjacency bits
   form one integer; the smallest over all permutations, then the smallest
   permuted labelling among the permutations that reach it, give each
   ``(matrix, labelling)`` a canonical integer code. Two labelled graphs are
   isomorphic exactly when their codes are equal.
3. ``np.unique(..., return_index=True)`` over the codes in the original's
   generation order (bitmask ascending, then ``itertools.product`` order of the
   labellings) picks the first graph of each class, which is the one the
   original keeps.
4. Only these representatives (423,624 for the default space) are hashed with
   :func:`nasbench_arrow.graph.hash_rows`, in worker processes when that helps.
   The hashes must all differ (the original verified that the hash separates
   isomorphism classes on this space); if they did not, the two dedupe rules
   would disagree and :class:`EnumerationError` is raised rather than returning
   a space that differs from the original's.

Order: cells come by vertex count (2 first), and within one vertex count in the
order the original generator first meets them, i.e. the insertion order of its
``buckets`` dict. The ``(matrix, ops)`` of each cell is the representative the
original keeps, which is also what the official dataset stores (checked in the
tests against 1,030 real cells).

Example
-------
>>> from nasbench_arrow.space import enumerate_cells
>>> cells = list(enumerate_cells(max_vertices=4))
>>> len(cells)
91
>>> cells[0].ops
['input', 'output']

The command ``nasbench-space OUT.parquet`` writes the space as Parquet (see
:func:`main`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ._version import __version__
from .constants import ALL_OPS, AVAILABLE_OPS, INPUT, MAX_EDGES, MAX_VERTICES, OUTPUT
from .errors import EnumerationError
from .graph import hash_rows

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .model_spec import ModelSpec

__all__ = [
    "Cell",
    "EnumerationError",
    "cells_table",
    "enumerate_cells",
    "main",
    "space_schema",
    "write_space",
]

#: Labels of the input and output vertex in the original's integer labellings.
_INPUT_LABEL = -1
_OUTPUT_LABEL = -2

#: The largest vertex count supported. 8 vertices would mean 2**28 bitmasks and
#: 720 permutations per matrix, beyond NAS-Bench-101, and the original only
#: verified that its hash separates isomorphism classes up to 7.
_MAX_SUPPORTED_VERTICES = MAX_VERTICES

#: Fewer representatives than this in one vertex count are hashed in-process:
#: starting worker processes costs more than it saves.
_PARALLEL_MIN_CELLS = 20_000
#: Bitmasks filtered per numpy pass.
_MASK_SLICE = 1 << 18
#: Default worker cap: the hashing of 423,624 cells gains little beyond this.
_MAX_DEFAULT_WORKERS = 8


@dataclass(frozen=True, eq=False, slots=True)
class Cell:
    """One unique cell of the search space.

    Attributes
    ----------
    module_hash : str
        32 lowercase hex digits, ``graph_util.hash_module`` of the original.
    matrix : numpy.ndarray
        ``V x V`` upper-triangular 0/1 adjacency matrix, ``int8``, read-only.
        It is a full DAG, so pruning leaves it unchanged.
    ops : list of str
        ``V`` labels: ``'input'``, interior ops from
        :data:`~nasbench_arrow.constants.AVAILABLE_OPS`, ``'output'``.
    num_vertices : int
        ``V``, 2 to 7 in the default space.
    num_edges : int
        Number of edges (ones in ``matrix``).

    Two cells compare equal when hash, matrix and ops are equal; cells hash by
    ``module_hash``.
    """

    module_hash: str
    matrix: np.ndarray
    ops: list[str]
    num_vertices: int
    num_edges: int

    @property
    def adjacency(self) -> str:
        """Row-major 0/1 string of ``matrix``, the official dataset's raw encoding."""
        return "".join("1" if b else "0" for b in self.matrix.ravel().tolist())

    def to_spec(self) -> ModelSpec:
        """Return a :class:`~nasbench_arrow.model_spec.ModelSpec` of this cell."""
        from .model_spec import ModelSpec

        return ModelSpec(self.matrix.copy(), list(self.ops))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return (
            self.module_hash == other.module_hash
            and self.ops == other.ops
            and np.array_equal(self.matrix, other.matrix)
        )

    def __hash__(self) -> int:
        return hash(self.module_hash)

    def __repr__(self) -> str:
        return (
            f"Cell(module_hash={self.module_hash!r}, matrix={self.matrix.tolist()!r}, "
            f"ops={self.ops!r}, num_vertices={self.num_vertices}, num_edges={self.num_edges})"
        )


# --------------------------------------------------------------------------- parameters


class _Params(NamedTuple):
    max_vertices: int
    max_edges: int
    num_ops: int
    workers: int


def _check_int(name: str, value: object, lo: int, hi: int | None, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        msg = f"{name} must be an int, got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        msg = f"{name} must be {allowed}, got {value}; {hint}"
        raise ValueError(msg)
    return value


def _default_workers() -> int:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable, _MAX_DEFAULT_WORKERS))


def _params(max_vertices, max_edges, num_ops, workers) -> _Params:
    max_vertices = _check_int(
        "max_vertices",
        max_vertices,
        2,
        _MAX_SUPPORTED_VERTICES,
        "a cell has at least input and output, and larger graphs are outside NAS-Bench-101",
    )
    max_edges = _check_int("max_edges", max_edges, 0, None, "use 9 for NAS-Bench-101")
    num_ops = _check_int(
        "num_ops",
        num_ops,
        1,
        len(AVAILABLE_OPS),
        f"interior vertices are labelled with the first num_ops of {list(AVAILABLE_OPS)}",
    )
    if workers is None:
        workers = _default_workers()
    workers = _check_int("workers", workers, 1, None, "use None for one per usable CPU")
    return _Params(max_vertices, max_edges, num_ops, workers)


# --------------------------------------------------------------------------- classes


def _edge_bit(x: int, y: int) -> int:
    """Bit of edge ``x -> y`` (``x < y``) in the original's bitmask (column-major)."""
    return x + y * (y - 1) // 2


class _Block(NamedTuple):
    """The unique cells of one vertex count, in first-seen order."""

    num_vertices: int
    masks: np.ndarray  # uint32: edge bitmask of each representative matrix
    labelings: np.ndarray  # int64: index of its labelling in itertools.product order
    num_graphs: int  # labelled full DAGs the original would hash (duplicates included)


def _full_dag_masks(num_vertices: int, max_edges: int) -> np.ndarray:
    """Bitmasks (ascending) of the full DAGs with ``num_vertices`` and at most ``max_edges``."""
    v = num_vertices
    nbits = v * (v - 1) // 2
    rows = [sum(1 << _edge_bit(x, y) for y in range(x + 1, v)) for x in range(v - 1)]
    cols = [sum(1 << _edge_bit(x, y) for x in range(y)) for y in range(1, v)]
    kept = []
    # Slices of the 2**21 bitmasks of 7 vertices keep the temporaries small.
    for lo in range(0, 1 << nbits, _MASK_SLICE):
        masks = np.arange(lo, min(lo + _MASK_SLICE, 1 << nbits), dtype=np.uint32)
        keep = np.ones(masks.shape, dtype=bool)
        for line in rows + cols:  # every vertex but the output has an out-edge, ...
            keep &= (masks & np.uint32(line)) != 0  # ... every vertex but the input an in-edge
        masks = masks[keep]
        kept.append(masks[_popcount(masks, nbits) <= max_edges])
    return np.concatenate(kept)


def _popcount(masks: np.ndarray, nbits: int) -> np.ndarray:
    count = np.zeros(masks.shape, dtype=np.uint8)
    for b in range(nbits):
        count += ((masks >> np.uint32(b)) & np.uint32(1)).astype(np.uint8)
    return count


def _unique_block(num_vertices: int, max_edges: int, num_ops: int) -> _Block:
    """First-seen representative of every isomorphism class with ``num_vertices``."""
    v = num_vertices
    k = v - 2  # interior vertices
    masks = _full_dag_masks(v, max_edges)
    num_labelings = num_ops**k
    if masks.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Block(v, masks, empty, 0)

    # Adjacency code of every (matrix, interior permutation): bit p[x]*V + p[y]
    # for each edge x -> y, where vertex x of the matrix becomes p[x].
    edges = [(x, y) for y in range(v) for x in range(y)]  # bit order of the mask
    edge_bits = (masks[:, None] >> np.arange(len(edges), dtype=np.uint32)) & np.uint32(1)
    perms = np.array(
        [(0, *p, v - 1) for p in itertools.permutations(range(1, v - 1))], dtype=np.int64
    )
    weights = np.array(
        [[1 << int(p[x] * v + p[y]) for x, y in edges] for p in perms], dtype=np.int64
    )
    adj_codes = edge_bits.astype(np.int64) @ weights.T  # matrices x permutations
    min_adj = adj_codes.min(axis=1)

    # Among the permutations that reach the smallest adjacency code (as many
    # as the unlabelled graph has automorphisms), the labelling breaks the
    # tie: interior vertex u moved to position p[u] contributes
    # label * num_ops**(k - p[u]), the same digit order as itertools.product.
    mat_idx, perm_idx = np.nonzero(adj_codes == min_adj[:, None])  # sorted by matrix
    product = list(itertools.product(range(num_ops), repeat=k))
    labelings = np.array(product, dtype=np.int32).reshape(num_labelings, k)
    digit_weights = (num_ops ** (k - perms[perm_idx][:, 1 : v - 1])).astype(np.int32)
    label_codes = digit_weights @ labelings.T  # (matrix, permutation) pairs x labellings
    starts = np.flatnonzero(np.r_[True, mat_idx[1:] != mat_idx[:-1]])
    min_label = np.minimum.reduceat(label_codes, starts, axis=0)  # matrices x labellings
    del label_codes, adj_codes

    # Rank the unlabelled classes so that the codes fit int32 (at most
    # 4,793 matrices x 243 labellings in the default space): less memory and a
    # faster sort than the raw 49-bit adjacency codes.
    _, adj_rank = np.unique(min_adj, return_inverse=True)
    codes = adj_rank.reshape(-1, 1).astype(np.int32) * np.int32(num_labelings) + min_label
    # First graph of each class in generation order (flat index = matrix * L + labelling).
    _, first = np.unique(codes.ravel(), return_index=True)
    first.sort()
    return _Block(v, masks[first // num_labelings], first % num_labelings, codes.size)


# --------------------------------------------------------------------------- hashing


def _rows_of(mask: int, num_vertices: int) -> tuple[tuple[int, ...], ...]:
    v = num_vertices
    return tuple(
        tuple((mask >> _edge_bit(x, y)) & 1 if x < y else 0 for y in range(v)) for x in range(v)
    )


def _labeling_of(index: int, num_vertices: int, num_ops: int) -> tuple[int, ...]:
    digits = []
    for _ in range(num_vertices - 2):
        index, d = divmod(index, num_ops)
        digits.append(d)
    return (_INPUT_LABEL, *reversed(digits), _OUTPUT_LABEL)


def _hash_chunk(num_vertices: int, num_ops: int, masks: np.ndarray, labelings: np.ndarray) -> bytes:
    """Module hashes of representatives, concatenated as ASCII (runs in workers too).

    Bytes rather than a list of str: a third of the memory, and cheap to pickle.
    """
    rows_cache: dict[int, tuple[tuple[int, ...], ...]] = {}
    label_cache: dict[int, tuple[int, ...]] = {}
    out = []
    # Plain ints: the hash formats labels with str(), where numpy scalars differ.
    for mask, lab in zip(masks.tolist(), labelings.tolist()):
        rows = rows_cache.get(mask)
        if rows is None:
            rows = rows_cache[mask] = _rows_of(mask, num_vertices)
        labeling = label_cache.get(lab)
        if labeling is None:
            labeling = label_cache[lab] = _labeling_of(lab, num_vertices, num_ops)
        out.append(hash_rows(rows, labeling))
    return "".join(out).encode("ascii")


class _HashWorkers:
    """Helper processes that hash shares of a block while this process hashes one too.

    ``count - 1`` plain ``python -c`` subprocesses fed pickled shares over
    their stdin, not :mod:`multiprocessing`: its ``spawn`` start method
    re-imports the caller's main script (a script without an ``if __name__ ==
    "__main__"`` guard would crash), and ``fork`` can deadlock a process that
    runs threads (Polars, pyarrow). Each helper has at most one share in
    flight, so no two processes can block on full pipes at once.
    """

    _BOOT = (
        "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
        f"from {__name__} import _worker_loop; _worker_loop()"
    )

    def __init__(self, count: int):
        self.count = count
        self._procs: list[subprocess.Popen] = []
        try:
            for _ in range(count - 1):
                proc = subprocess.Popen(
                    [sys.executable, "-c", self._BOOT],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                self._procs.append(proc)
                self._send(proc, sys.path)
        except BaseException:
            self.close(kill=True)
            raise

    @staticmethod
    def _send(proc: subprocess.Popen, obj: object) -> None:
        try:
            pickle.dump(obj, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
        except OSError as exc:  # the helper is gone (BrokenPipeError)
            code = proc.wait()
            msg = (
                f"a hashing worker process ({sys.executable}) exited with status {code} "
                f"({exc}); see its error above, or pass workers=1"
            )
            raise EnumerationError(msg) from None

    def hash_block(self, block: _Block, num_ops: int) -> bytes:
        """Hashes of a block, in order: one contiguous share per process."""
        v, masks, labelings = block.num_vertices, block.masks, block.labelings
        bounds = np.linspace(0, masks.size, self.count + 1).astype(int).tolist()
        for proc, a, b in zip(self._procs, bounds[1:-1], bounds[2:]):
            self._send(proc, (v, num_ops, masks[a:b], labelings[a:b]))
        parts = [_hash_chunk(v, num_ops, masks[: bounds[1]], labelings[: bounds[1]])]
        for proc in self._procs:
            try:
                parts.append(pickle.load(proc.stdout))
            except EOFError:
                code = proc.wait()
                msg = (
                    f"a hashing worker process ({sys.executable}) exited with status {code}; "
                    "see its error above, or pass workers=1"
                )
                raise EnumerationError(msg) from None
        return b"".join(parts)

    def close(self, *, kill: bool = False) -> None:
        """End the helpers: idle ones exit at end of input; ``kill`` for busy ones."""
        for proc in self._procs:
            if kill:
                proc.kill()
            try:
                proc.stdin.close()
            except OSError:  # already gone
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self._procs = []


def _worker_loop() -> None:
    """Body of a hashing helper process: shares in on stdin, hashes out on stdout."""
    # Ctrl-C reaches the whole process group: let the parent handle it and end us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the result pipe
    while True:
        try:
            task = pickle.load(inp)
        except EOFError:
            return
        pickle.dump(_hash_chunk(*task), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


def _iter_blocks(p: _Params) -> Iterator[tuple[_Block, bytes]]:
    """Yield ``(block, hashes)`` per vertex count, checking that no two hashes are equal.

    ``hashes`` holds the 32 hex digits of each cell's hash back to back (ASCII).
    """
    workers: _HashWorkers | None = None
    parallel = p.workers > 1 and bool(sys.executable)  # embedded interpreters: in-process
    seen = np.zeros(0, dtype="S32")  # hashes of the earlier (smaller) vertex counts
    finished = False
    try:
        for v in range(2, p.max_vertices + 1):
            block = _unique_block(v, p.max_edges, p.num_ops)
            if parallel and block.masks.size >= _PARALLEL_MIN_CELLS:
                if workers is None:
                    workers = _HashWorkers(p.workers)
                hashes = workers.hash_block(block, p.num_ops)
            else:
                hashes = _hash_chunk(v, p.num_ops, block.masks, block.labelings)
            digests = np.frombuffer(hashes, dtype="S32")
            duplicates = digests.size - np.unique(digests).size
            if duplicates or np.isin(digests, seen).any():
                msg = (
                    f"internal error: non-isomorphic cells share a module hash ({duplicates} "
                    f"duplicates within {v} vertices, or one with fewer vertices); "
                    "deduplicating by hash and by isomorphism disagree. Please report this."
                )
                raise EnumerationError(msg)
            seen = np.concatenate([seen, digests])
            yield block, hashes
        finished = True
    finally:
        if workers is not None:
            # Helpers are idle between blocks; only an error can leave one busy.
            workers.close(kill=not finished)


def _matrices(masks: np.ndarray, num_vertices: int) -> np.ndarray:
    """``(n, V, V)`` int8 adjacency matrices of edge bitmasks."""
    v = num_vertices
    mats = np.zeros((masks.size, v, v), dtype=np.int8)
    for y in range(v):
        for x in range(y):
            # One edge at a time keeps the temporaries at n bytes, not n * V * V words.
            mats[:, x, y] = (masks >> np.uint32(_edge_bit(x, y))) & np.uint32(1)
    return mats


def _ops_table(num_vertices: int, num_ops: int) -> list[tuple[str, ...]]:
    """Op names of every labelling index, in itertools.product order."""
    return [
        (INPUT, *(AVAILABLE_OPS[i] for i in lab), OUTPUT)
        for lab in itertools.product(range(num_ops), repeat=num_vertices - 2)
    ]


# --------------------------------------------------------------------------- public API


def enumerate_cells(
    max_vertices: int = MAX_VERTICES,
    max_edges: int = MAX_EDGES,
    num_ops: int = len(AVAILABLE_OPS),
    *,
    workers: int | None = None,
) -> Iterator[Cell]:
    """Yield every unique cell of the search space once.

    Same cells, hashes and representative ``(matrix, ops)`` as the original
    ``generate_graphs.py`` with the same flags, in the order it first meets
    them (by vertex count, then by bitmask and labelling), in seconds instead
    of hours. The default space has 423,624 cells; by vertex count 2..7:
    1, 6, 84, 2,441, 62,010, 359,082.

    Parameters
    ----------
    max_vertices : int, default 7
        Largest vertex count, input and output included (2..7).
    max_edges : int, default 9
        Largest number of edges (>= 0).
    num_ops : int, default 3
        Interior vertices are labelled with the first ``num_ops`` of
        ``AVAILABLE_OPS`` (1..3).
    workers : int, optional
        Processes that share the MD5 hashing, this one included (``workers -
        1`` helper processes are started); ``None`` uses one per usable CPU
        (at most 8), ``1`` hashes in this process only. Vertex counts with
        fewer than 20,000 cells are always hashed in this process.

    Returns
    -------
    iterator of Cell
        Lazy: the work for a vertex count is done when its first cell is
        requested. Parameters are checked at the call.

    Raises
    ------
    TypeError, ValueError
        A parameter outside the ranges above.
    EnumerationError
        Internal inconsistency (hash and isomorphism disagree); never expected.

    Examples
    --------
    >>> from nasbench_arrow.space import enumerate_cells
    >>> [c.module_hash for c in enumerate_cells(max_vertices=2)]
    ['043721b9c7fe8c5fad811d47d83132ec']
    """
    p = _params(max_vertices, max_edges, num_ops, workers)
    return _iter_cells(p)


def _iter_cells(p: _Params) -> Iterator[Cell]:
    for block, hashes in _iter_blocks(p):
        v = block.num_vertices
        text = hashes.decode("ascii")
        mats = _matrices(block.masks, v)
        edges = mats.sum(axis=(1, 2)).tolist()
        ops = _ops_table(v, p.num_ops)
        for i, lab in enumerate(block.labelings.tolist()):
            m = mats[i].copy()
            m.flags.writeable = False
            yield Cell(text[32 * i : 32 * i + 32], m, list(ops[lab]), v, edges[i])


def space_schema() -> pa.Schema:
    """Schema of :func:`cells_table` and of the ``nasbench-space`` Parquet file.

    A function rather than a constant so that importing this module (in every
    hashing worker too) does not import pyarrow.
    """
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("module_hash", pa.string(), nullable=False),  # 32 hex digits
            pa.field("num_vertices", pa.int8(), nullable=False),
            pa.field("num_edges", pa.int8(), nullable=False),
            # Row-major 0/1 string of the V x V matrix, as the official dataset stores it.
            pa.field("adjacency", pa.string(), nullable=False),
            pa.field("matrix", pa.list_(pa.list_(pa.int8())), nullable=False),
            pa.field("operations", pa.list_(pa.string()), nullable=False),  # input..output
        ]
    )


_ORDERS = ("generation", "hash")


class _Space(NamedTuple):
    """Every representative of a space, one entry per cell in generation order."""

    num_vertices: np.ndarray  # int8
    masks: np.ndarray  # uint32 edge bitmask
    labelings: np.ndarray  # int64 labelling index (itertools.product order)
    hashes: np.ndarray  # S32 module hash
    counts: dict[int, int]  # cells by vertex count


def _collect(p: _Params) -> _Space:
    parts: list[tuple[np.ndarray, ...]] = []
    counts: dict[int, int] = {}
    for block, hashes in _iter_blocks(p):
        n = block.masks.size
        counts[block.num_vertices] = n
        parts.append(
            (
                np.full(n, block.num_vertices, dtype=np.int8),
                block.masks,
                block.labelings.astype(np.int64),
                np.frombuffer(hashes, dtype="S32"),
            )
        )
    return _Space(*(np.concatenate(column) for column in zip(*parts)), counts)


def _op_codes(labelings: np.ndarray, num_vertices: int, num_ops: int) -> np.ndarray:
    """``(n, V)`` indices into ``ALL_OPS``: 0 input, 1 + op index, then output."""
    codes = np.zeros((labelings.size, num_vertices), dtype=np.int32)
    codes[:, -1] = ALL_OPS.index(OUTPUT)
    rest = labelings.astype(np.int64)
    for j in range(num_vertices - 2, 0, -1):  # the last interior vertex is the lowest digit
        rest, digit = np.divmod(rest, num_ops)
        codes[:, j] = digit + 1
    return codes


def _arrow(values: np.ndarray) -> pa.Array:
    """A pyarrow array over a 1-d numpy array of int8/int32, without copying.

    Not ``pa.array``: its first call on a numpy array imports pandas when it is
    installed (some 50 MB of RSS) to check for pandas types.
    """
    import pyarrow as pa

    types = {np.dtype(np.int8): pa.int8(), np.dtype(np.int32): pa.int32()}
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(types[values.dtype], values.size, [None, pa.py_buffer(values)])


def _table_slice(space: _Space, rows: np.ndarray, num_ops: int, schema: pa.Schema) -> pa.Table:
    """The cells ``rows`` (indices into ``space``, any order, any vertex counts) as a Table."""
    import pyarrow as pa

    n = rows.size
    nv = space.num_vertices[rows].astype(np.int32)
    # int32 offsets: Arrow's own type for them, and half the temporaries of int64.
    square_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(nv * nv, out=square_offsets[1:])
    vertex_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(nv, out=vertex_offsets[1:])
    flat = np.zeros(int(square_offsets[-1]), dtype=np.int8)  # row-major matrices back to back
    op_codes = np.zeros(int(vertex_offsets[-1]), dtype=np.int32)
    edges = np.zeros(n, dtype=np.int8)
    for v in np.unique(nv).tolist():
        at = np.flatnonzero(nv == v)
        mats = _matrices(space.masks[rows[at]], v)
        square = np.arange(v * v, dtype=np.int32)
        flat[square_offsets[at][:, None] + square] = mats.reshape(at.size, -1)
        edges[at] = _popcount(space.masks[rows[at]], v * (v - 1) // 2)
        op_codes[vertex_offsets[at][:, None] + np.arange(v, dtype=np.int32)] = _op_codes(
            space.labelings[rows[at]], v, num_ops
        )
    row_offsets = np.zeros(int(vertex_offsets[-1]) + 1, dtype=np.int32)
    np.cumsum(np.repeat(nv, nv), out=row_offsets[1:])
    # Op names gathered with numpy (pyarrow's `take` would load its compute
    # registry, some 40 MB of RSS, for this one call).
    op_lengths = np.array([len(name) for name in ALL_OPS], dtype=np.int64)
    op_chars = np.zeros((len(ALL_OPS), int(op_lengths.max())), dtype=np.uint8)
    for i, name in enumerate(ALL_OPS):
        op_chars[i, : len(name)] = np.frombuffer(name.encode("ascii"), dtype=np.uint8)
    name_offsets = np.zeros(op_codes.size + 1, dtype=np.int32)
    np.cumsum(op_lengths[op_codes], out=name_offsets[1:])
    used = np.arange(op_chars.shape[1]) < op_lengths[op_codes][:, None]
    names = pa.StringArray.from_buffers(
        op_codes.size, pa.py_buffer(name_offsets), pa.py_buffer(op_chars[op_codes][used])
    )
    columns = [
        pa.StringArray.from_buffers(
            n,
            pa.py_buffer(np.arange(0, 32 * n + 1, 32, dtype=np.int32)),
            pa.py_buffer(space.hashes[rows].tobytes()),
        ),
        _arrow(nv.astype(np.int8)),
        _arrow(edges),
        # The official raw encoding: V*V ASCII '0'/'1' characters per cell.
        pa.StringArray.from_buffers(
            n,
            pa.py_buffer(square_offsets),
            pa.py_buffer((flat + ord("0")).astype(np.uint8)),
        ),
        pa.ListArray.from_arrays(
            _arrow(vertex_offsets),
            pa.ListArray.from_arrays(_arrow(row_offsets), _arrow(flat)),
        ),
        pa.ListArray.from_arrays(_arrow(vertex_offsets), names),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


#: Rows per Parquet row group and per table slice built at a time: 13 row groups
#: for the default space, each a few MB in memory while it is built.
_ROWS_PER_SLICE = 1 << 15


def _iter_slices(space: _Space, order: str, num_ops: int, schema: pa.Schema):
    if order == "hash":
        rows = np.argsort(space.hashes, kind="stable")
    else:
        rows = np.arange(space.hashes.size)
    for lo in range(0, rows.size, _ROWS_PER_SLICE):
        yield _table_slice(space, rows[lo : lo + _ROWS_PER_SLICE], num_ops, schema)


def _metadata(p: _Params, order: str, space: _Space) -> dict:
    return {
        "format": "nasbench-space",
        "writer_version": __version__,
        "max_vertices": p.max_vertices,
        "max_edges": p.max_edges,
        "num_ops": p.num_ops,
        "available_ops": list(AVAILABLE_OPS[: p.num_ops]),
        "order": order,
        "num_cells": int(space.hashes.size),
        "cells_by_vertex_count": {str(v): n for v, n in space.counts.items()},
    }


def _check_order(order: str) -> str:
    if order not in _ORDERS:
        msg = f"order must be one of {_ORDERS}, got {order!r}"
        raise ValueError(msg)
    return order


def cells_table(
    max_vertices: int = MAX_VERTICES,
    max_edges: int = MAX_EDGES,
    num_ops: int = len(AVAILABLE_OPS),
    *,
    workers: int | None = None,
    order: str = "generation",
) -> pa.Table:
    """The search space as an in-memory pyarrow Table, built column-wise.

    Faster than collecting :func:`enumerate_cells` (no per-cell objects); the
    default space takes about 110 MB as a Table.

    Parameters
    ----------
    max_vertices, max_edges, num_ops, workers
        As for :func:`enumerate_cells`.
    order : {"generation", "hash"}, default "generation"
        ``"generation"``: the order of :func:`enumerate_cells`; ``"hash"``:
        sorted by ``module_hash`` (like the original's JSON output, and best
        for Parquet statistics on hash lookups).

    Returns
    -------
    pyarrow.Table
        Columns of :func:`space_schema`: ``module_hash``, ``num_vertices``,
        ``num_edges``, ``adjacency``, ``matrix``, ``operations``. The schema
        metadata holds the parameters and the counts by vertex count (JSON
        under ``layout.METADATA_KEY``).
    """
    import pyarrow as pa

    from .layout import METADATA_KEY

    order = _check_order(order)
    p = _params(max_vertices, max_edges, num_ops, workers)
    space = _collect(p)
    meta = {METADATA_KEY: json.dumps(_metadata(p, order, space)).encode()}
    schema = space_schema().with_metadata(meta)
    parts = list(_iter_slices(space, order, p.num_ops, schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def write_space(
    path: str | os.PathLike,
    max_vertices: int = MAX_VERTICES,
    max_edges: int = MAX_EDGES,
    num_ops: int = len(AVAILABLE_OPS),
    *,
    workers: int | None = None,
    order: str = "generation",
    overwrite: bool = False,
) -> dict:
    """Write the search space to one Parquet file, atomically.

    The file is written slice by slice (row groups of 32,768 cells, zstd)
    under a temporary name beside ``path`` and renamed when complete, so
    ``path`` never holds a partial file.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; its parent directory is created if missing.
    max_vertices, max_edges, num_ops, workers, order
        As for :func:`cells_table`.
    overwrite : bool, default False
        Replace an existing file instead of refusing.

    Returns
    -------
    dict
        The metadata stored in the file (``num_cells``,
        ``cells_by_vertex_count``, parameters, ``order``).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False
        (:class:`~nasbench_arrow.errors.DatasetExistsError`).
    IsADirectoryError
        ``path`` is a directory.
    """
    import pyarrow.parquet as pq

    from .errors import DatasetExistsError
    from .layout import METADATA_KEY

    order = _check_order(order)
    p = _params(max_vertices, max_edges, num_ops, workers)
    path = Path(path)
    if path.is_dir():
        msg = f"{path} is a directory; give a file name such as {path / 'space.parquet'}"
        raise IsADirectoryError(msg)
    if path.exists() and not overwrite:
        msg = f"{path} already exists; pass overwrite=True (--overwrite) to replace it"
        raise DatasetExistsError(msg)
    space = _collect(p)
    meta = _metadata(p, order, space)
    schema = space_schema().with_metadata({METADATA_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for part in _iter_slices(space, order, p.num_ops, schema):
                writer.write_table(part, row_group_size=_ROWS_PER_SLICE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return meta


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasbench-space",
        description=(
            "Write every unique NAS-Bench-101 cell (423,624 by default) to a Parquet file: "
            "module_hash, num_vertices, num_edges, adjacency, matrix, operations. Same cells, "
            "hashes and representative matrices as the original generate_graphs.py."
        ),
    )
    parser.add_argument("out", metavar="OUT.parquet", help="output file (written atomically)")
    parser.add_argument("--max-vertices", type=int, default=MAX_VERTICES, help="2..7 (default 7)")
    parser.add_argument("--max-edges", type=int, default=MAX_EDGES, help="default 9")
    parser.add_argument(
        "--num-ops", type=int, default=len(AVAILABLE_OPS), help="1..3 interior ops (default 3)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="hashing processes (default: usable CPUs, <= 8)"
    )
    parser.add_argument(
        "--order",
        choices=_ORDERS,
        default="generation",
        help="row order: the original generator's first-seen order (default) or by module_hash",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nasbench-space OUT.parquet``.

    Prints one summary line (cells per vertex count, wall time) to stdout.

    Returns
    -------
    int
        0 on success, 1 when OUT exists without ``--overwrite``, 2 for invalid
        parameters.
    """
    from .errors import DatasetExistsError

    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        meta = write_space(
            args.out,
            args.max_vertices,
            args.max_edges,
            args.num_ops,
            workers=args.workers,
            order=args.order,
            overwrite=args.overwrite,
        )
    except DatasetExistsError as exc:
        print(f"nasbench-space: {exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError, IsADirectoryError) as exc:
        print(f"nasbench-space: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    by_v = " ".join(f"{v}:{n:,}" for v, n in meta["cells_by_vertex_count"].items())
    print(
        f"nasbench-space: wrote {meta['num_cells']:,} cells (by vertex count {by_v}) "
        f"to {args.out} in {seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
