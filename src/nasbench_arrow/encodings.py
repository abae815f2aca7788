"""Architecture encodings for performance predictors, neighbourhoods and distances.

One call encodes any number of cells, vectorised with numpy (all 423,624
cells of the dataset in well under a second per kind)::

    from nasbench_arrow import encodings
    X = encodings.encode(specs, "path")                 # (len(specs), 364)
    X = encodings.encode_dataset(nb, "adjacency")       # every cell, hash_iterator() order
    df = encodings.encode_frame(nb, "path")             # module_hash + an Array column, for joins

Kinds
-----
Each kind reproduces the definition its users know, value for value:

``"adjacency"``
    BANANAS / naszilla ``encode_adj``: the 21 upper-triangular entries of the
    7x7 matrix row by row (``(0,1), (0,2), ..., (5,6)``), then the 5 interior
    ops as conv1x1 = 0.0, conv3x3 = 0.5, maxpool = 1.0 in naszilla's order,
    which is *reversed*: column 21 holds vertex 5, column 25 vertex 1
    (naszilla writes ``encoding[-i]`` for vertex ``i``). 26 columns.
``"path"``
    BANANAS / naszilla path encoding: one bit per possible input-to-output
    path, identified by its sequence of interior ops. A path through ops
    ``o_0, ..., o_{L-1}`` (conv3x3 = 0, conv1x1 = 1, maxpool = 2) has index
    ``sum_k 3**k * (o_k + 1)``, so the empty path (input -> output) is 0,
    the one-op paths are 1..3, the two-op paths 4..12, and so on up to 363:
    ``3**0 + ... + 3**5 = 364`` columns.
``"trunc_path"``
    The first ``cutoff`` columns of ``"path"`` (naszilla's default cutoff 40
    keeps exactly the paths of at most 3 ops).
``"adjacency_one_hot"``
    NASLib ``encode_adj`` for nasbench101 (its ``"adjacency_one_hot"``): the
    21 upper-triangular entries, then vertices 1..5 in order, each one-hot as
    conv1x1 = [0, 0, 1], conv3x3 = [0, 1, 0], maxpool = [1, 0, 0]. 36 columns.
``"gcn"``
    NASLib ``encode_gcn`` flattened into one row: the 7x7 adjacency (49
    values, row-major), then the 7x5 one-hot operations with NASLib's column
    order ``[output, input, conv3x3, conv1x1, maxpool]`` (35 values). 84
    columns; :func:`gcn_arrays` gives the same data as NASLib's separate
    ``adjacency`` / ``operations`` / ``mask`` arrays.

Cells with fewer than 7 vertices
--------------------------------
Every kind works on the 7-vertex matrix, padded the way NASLib's and
naszilla's ``convert_to_cell`` pad the pruned cells the dataset stores:
interior vertices ``V-1 .. 5`` are inserted before the output as unconnected
``conv3x3-bn-relu`` vertices, and the output's column moves to column 6.
Padding adds no path, so ``"path"`` / ``"trunc_path"`` are the same as
without it; the adjacency kinds see the padding conv3x3 ops (as NASLib's do).

Which cells are encoded
-----------------------
A :class:`~nasbench_arrow.model_spec.ModelSpec` is encoded in its pruned form
(``spec.matrix`` / ``spec.ops``: what the dataset stores and the references
encode for dataset cells). A ``(matrix, ops)`` pair is encoded as given,
unpruned (as naszilla encodes a freshly sampled 7x7 cell). ``"path"`` and
``"trunc_path"`` depend only on the input-to-output paths, so they are
invariant under pruning and under any renumbering of the vertices (isomorphic
cells get equal rows); the adjacency kinds depend on the vertex order, as in
the references.

Also here: :func:`neighbours` (all cells one edit away, as local search
uses them), :func:`edit_distance` and :func:`path_distance` (naszilla's
``adj_distance`` and ``path_distance``).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import layout
from .constants import (
    AVAILABLE_OPS,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAX_EDGES,
    MAX_VERTICES,
    MAXPOOL3X3,
    OUTPUT,
)
from .model_spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = [
    "KINDS",
    "NUM_PATHS",
    "cell_arrays",
    "edit_distance",
    "encode",
    "encode_arrays",
    "encode_dataset",
    "encode_frame",
    "encoding_width",
    "gcn_arrays",
    "neighbours",
    "path_distance",
    "path_indices",
]

#: The encodings :func:`encode` knows.
KINDS = ("adjacency", "path", "trunc_path", "adjacency_one_hot", "gcn")
#: Width of the path encoding: 3**0 + ... + 3**5 input-to-output op sequences.
NUM_PATHS = sum(3**k for k in range(MAX_VERTICES - 1))
#: naszilla's default ``cutoff`` of ``"trunc_path"``.
DEFAULT_CUTOFF = 40

_V = MAX_VERTICES
_IU, _JU = np.triu_indices(_V, k=1)  # row-major upper triangle, as the references loop
# Op codes used internally (those of the dataset index, layout.OP_CODES).
_CODE = {name: k for k, name in enumerate(layout.OP_CODES)}
_C_INPUT, _C_OUTPUT = _CODE[INPUT], _CODE[OUTPUT]
_C3, _C1, _CM = _CODE[CONV3X3], _CODE[CONV1X1], _CODE[MAXPOOL3X3]
_NUM_CODES = len(layout.OP_CODES)


def _table(mapping: dict[int, Any], width: int | None = None) -> np.ndarray:
    """Lookup table indexed by op code (NaN/zero rows for codes without a value)."""
    if width is None:
        out = np.full(_NUM_CODES, np.nan)
        for code, value in mapping.items():
            out[code] = value
        return out
    out = np.zeros((_NUM_CODES, width))
    for code, value in mapping.items():
        out[code] = value
    return out


# naszilla encode_adj values; NASLib one-hot rows; path digit (conv3x3 0, conv1x1 1, maxpool 2).
_ADJ_VALUE = _table({_C1: 0.0, _C3: 0.5, _CM: 1.0})
_ONE_HOT = _table({_C1: [0, 0, 1], _C3: [0, 1, 0], _CM: [1, 0, 0]}, 3)
_GCN_ONE_HOT = _table(
    {_C_OUTPUT: [1, 0, 0, 0, 0], _C_INPUT: [0, 1, 0, 0, 0], _C3: [0, 0, 1, 0, 0], _C1: [0, 0, 0, 1, 0], _CM: [0, 0, 0, 0, 1]},
    5,
)
_PATH_DIGIT = np.full(_NUM_CODES, -1, dtype=np.int64)
_PATH_DIGIT[[_C3, _C1, _CM]] = [0, 1, 2]


def _interior_chains() -> list[tuple[int, ...]]:
    """Every increasing sequence of interior vertices 1..5 (32 of them): the candidate paths."""
    chains = []
    for mask in range(1 << (_V - 2)):
        chains.append(tuple(v for v in range(1, _V - 1) if mask >> (v - 1) & 1))
    return chains


_CHAINS = _interior_chains()


# --------------------------------------------------------------------------- input


def _codes_of(ops: Sequence[str], where: str) -> list[int]:
    try:
        return [_CODE[op] for op in ops]
    except KeyError as exc:
        msg = f"{where}: unknown op {exc.args[0]!r} (known: {list(layout.OP_CODES)})"
        raise ValueError(msg) from None


def _matrix_and_ops(cell: Any, k: int) -> tuple[np.ndarray, list[str]]:
    where = f"cell {k}"
    if isinstance(cell, ModelSpec):
        if not cell.valid_spec:
            msg = f"{where}: the spec is invalid (its input does not reach its output); nothing to encode"
            raise ValueError(msg)
        return np.asarray(cell.matrix), list(cell.ops)
    try:
        matrix, ops = cell
    except (TypeError, ValueError):
        msg = f"{where}: expected a ModelSpec or a (matrix, ops) pair, got {type(cell).__name__}"
        raise TypeError(msg) from None
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(ops) != matrix.shape[0]:
        msg = f"{where}: matrix must be square with one op per vertex, got shape {matrix.shape} and {len(ops)} ops"
        raise ValueError(msg)
    return matrix, list(ops)


def cell_arrays(cells: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells as the dense arrays every encoding works on (before padding).

    Parameters
    ----------
    cells : iterable of ModelSpec or (matrix, ops)
        See the module docstring for which form of a spec is used.

    Returns
    -------
    adjacency : np.ndarray
        ``(n, 7, 7)`` int8, zero beyond each cell's vertex count.
    ops : np.ndarray
        ``(n, 7)`` uint8 op codes (``layout.OP_CODES``), 255 beyond the vertex count.
    num_vertices : np.ndarray
        ``(n,)`` int8 vertex counts.

    Raises
    ------
    ValueError
        A cell with more than 7 vertices, an unknown op, no input first or no
        output last, a matrix that is not 0/1 and upper triangular, or an
        invalid spec; the message names the cell's position.
    TypeError
        An element that is neither a ModelSpec nor a pair.
    """
    cells = list(cells)
    n = len(cells)
    adjacency = np.zeros((n, _V, _V), dtype=np.int8)
    ops = np.full((n, _V), 255, dtype=np.uint8)
    num_vertices = np.zeros(n, dtype=np.int8)
    for k, cell in enumerate(cells):
        matrix, labels = _matrix_and_ops(cell, k)
        v = matrix.shape[0]
        if not 2 <= v <= _V:
            msg = f"cell {k}: {v} vertices, expected 2..{_V}"
            raise ValueError(msg)
        if labels[0] != INPUT or labels[-1] != OUTPUT:
            msg = f"cell {k}: ops must start with {INPUT!r} and end with {OUTPUT!r}, got {labels}"
            raise ValueError(msg)
        if not np.isin(matrix, (0, 1)).all() or np.tril(matrix).any():
            msg = f"cell {k}: matrix must be a 0/1 upper-triangular adjacency matrix, got {matrix.tolist()}"
            raise ValueError(msg)
        adjacency[k, :v, :v] = matrix
        ops[k, :v] = _codes_of(labels, f"cell {k}")
        num_vertices[k] = v
    return adjacency, ops, num_vertices


def _pad(adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NASLib/naszilla padding to 7 vertices: unconnected conv3x3 vertices before the output."""
    adjacency = np.array(adjacency, dtype=np.int8, copy=True)
    ops = np.array(ops, dtype=np.uint8, copy=True)
    num_vertices = np.asarray(num_vertices)
    for v in np.unique(num_vertices).tolist():
        if v >= _V:
            continue
        rows = np.flatnonzero(num_vertices == v)
        block = adjacency[rows]
        out_column = block[:, : v - 1, v - 1].copy()
        block[:, :, v - 1 :] = 0
        block[:, : v - 1, _V - 1] = out_column
        adjacency[rows] = block
        ops[np.ix_(rows, np.arange(v - 1, _V - 1))] = _C3
        ops[rows, _V - 1] = _C_OUTPUT
    return adjacency, ops


# --------------------------------------------------------------------------- kernels


def _path_bits(adjacency: np.ndarray, ops: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Set the path bits of padded cells in ``out`` (``(n, 364)``, zeroed, C-contiguous).

    A path from the input to the output of an upper-triangular cell visits an
    increasing sequence of interior vertices, so trying all 32 such sequences
    finds every path: a sequence is a path when all its consecutive edges exist.
    """
    n = adjacency.shape[0]
    edge = adjacency.astype(bool)
    digits = _PATH_DIGIT[ops[:, 1 : _V - 1]] + 1  # (n, 5): vertex v at column v - 1
    flat = out.reshape(-1)
    base = np.arange(n, dtype=np.int64) * NUM_PATHS
    for chain in _CHAINS:
        hops = (0, *chain, _V - 1)
        present = edge[:, hops[0], hops[1]]
        for a, b in itertools.pairwise(hops[1:]):
            present = present & edge[:, a, b]
        rows = np.flatnonzero(present)
        if not rows.size:
            continue
        index = base[rows]
        for position, v in enumerate(chain):
            index += 3**position * digits[rows, v - 1]
        flat[index] = 1
    return out


def _encode_padded(adjacency: np.ndarray, ops: np.ndarray, kind: str, cutoff: int | None, dtype) -> np.ndarray:
    n = adjacency.shape[0]
    if kind in ("path", "trunc_path"):
        bits = _path_bits(adjacency, ops, np.zeros((n, NUM_PATHS), dtype=np.uint8))
        return bits if kind == "path" else bits[:, :cutoff]
    upper = adjacency[:, _IU, _JU].astype(dtype)
    interior = ops[:, 1 : _V - 1]
    if kind == "adjacency":
        values = _ADJ_VALUE[interior][:, ::-1]  # naszilla: encoding[-i] = op of vertex i
        return np.concatenate([upper, values.astype(dtype)], axis=1)
    if kind == "adjacency_one_hot":
        one_hot = _ONE_HOT[interior].reshape(n, -1)
        return np.concatenate([upper, one_hot.astype(dtype)], axis=1)
    if kind == "gcn":
        one_hot = _GCN_ONE_HOT[ops].reshape(n, -1)
        return np.concatenate([adjacency.reshape(n, -1).astype(dtype), one_hot.astype(dtype)], axis=1)
    msg = f"kind must be one of {list(KINDS)}, got {kind!r}"
    raise ValueError(msg)


def _check_kind(kind: str, cutoff: int | None) -> int | None:
    if kind not in KINDS:
        msg = f"kind must be one of {list(KINDS)}, got {kind!r}"
        raise ValueError(msg)
    if kind != "trunc_path":
        if cutoff is not None:
            msg = f"cutoff applies to kind 'trunc_path' only, got cutoff={cutoff!r} with kind {kind!r}"
            raise ValueError(msg)
        return None
    if cutoff is None:
        return DEFAULT_CUTOFF
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, np.integer)) or not 1 <= cutoff <= NUM_PATHS:
        msg = f"cutoff must be an int in 1..{NUM_PATHS}, got {cutoff!r}"
        raise ValueError(msg)
    return int(cutoff)


def encoding_width(kind: str, cutoff: int | None = None) -> int:
    """Number of columns of an encoding (26, 364, ``cutoff``, 36 or 84)."""
    cutoff = _check_kind(kind, cutoff)
    return {"adjacency": 26, "path": NUM_PATHS, "trunc_path": cutoff, "adjacency_one_hot": 36, "gcn": 84}[kind]


def encode_arrays(
    adjacency: np.ndarray,
    ops: np.ndarray,
    num_vertices: np.ndarray,
    kind: str,
    *,
    cutoff: int | None = None,
    dtype: Any = np.float32,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """:func:`encode` of cells given as the arrays of :func:`cell_arrays` (or the dataset index).

    Works through the cells ``chunk`` at a time, so the temporaries stay small.
    """
    cutoff = _check_kind(kind, cutoff)
    n = len(num_vertices)
    width = encoding_width(kind, cutoff)
    if kind == "path":
        # Written in place: a (n, 364) temporary per chunk would cost a fresh mapping and its page faults.
        out = np.zeros((n, width), dtype=dtype)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            adj, codes = _pad(adjacency[start:stop], ops[start:stop], num_vertices[start:stop])
            _path_bits(adj, codes, out[start:stop])
        return out
    out = np.empty((n, width), dtype=dtype)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        adj, codes = _pad(adjacency[start:stop], ops[start:stop], num_vertices[start:stop])
        out[start:stop] = _encode_padded(adj, codes, kind, cutoff, dtype)
    return out


def encode(cells: Iterable[Any], kind: str, *, cutoff: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """Encode cells, one row per cell.

    Parameters
    ----------
    cells : iterable of ModelSpec or (matrix, ops)
        The cells (see the module docstring for pruning and padding).
    kind : {"adjacency", "path", "trunc_path", "adjacency_one_hot", "gcn"}
        See the module docstring.
    cutoff : int, optional
        Columns kept by ``"trunc_path"`` (1..364, default 40 as naszilla).
    dtype : numpy dtype, default float32
        Of the result. The values (0, 0.5, 1) are exact in every float type;
        float32 halves the memory of the references' float64 (the path
        encoding of all cells is 617 MB in float32, 154 MB in uint8).

    Returns
    -------
    np.ndarray
        ``(n, encoding_width(kind, cutoff))``.

    Raises
    ------
    ValueError, TypeError
        An unknown kind or cutoff, or a cell that is not one (see
        :func:`cell_arrays`).

    Examples
    --------
    >>> from nasbench_arrow.api import ModelSpec
    >>> spec = ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    >>> encode([spec], "path").nonzero()[1].tolist()       # the empty path and input-maxpool-output
    [0, 3]
    """
    cutoff = _check_kind(kind, cutoff)
    adjacency, ops, num_vertices = cell_arrays(cells)
    return encode_arrays(adjacency, ops, num_vertices, kind, cutoff=cutoff, dtype=dtype)


def gcn_arrays(cells: Iterable[Any]) -> dict[str, np.ndarray]:
    """NASLib's ``encode_gcn`` fields for many cells, stacked.

    Returns
    -------
    dict
        ``num_vertices`` ``(n,)`` (always 7, as NASLib), ``adjacency``
        ``(n, 7, 7)`` (padded), ``operations`` ``(n, 7, 5)`` float32 one-hot
        (columns output, input, conv3x3, conv1x1, maxpool), ``mask``
        ``(n, 7)`` float32 ones (NASLib's mask marks all 7 vertices).
    """
    adjacency, ops, num_vertices = cell_arrays(cells)
    adjacency, ops = _pad(adjacency, ops, num_vertices)
    n = len(num_vertices)
    return {
        "num_vertices": np.full(n, _V, dtype=np.int64),
        "adjacency": adjacency,
        "operations": _GCN_ONE_HOT[ops].astype(np.float32),
        "mask": np.ones((n, _V), dtype=np.float32),
    }


# --------------------------------------------------------------------------- dataset cells


_SOURCE_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _dataset_rows(nb: Any, hashes: Iterable[str] | None) -> tuple[np.ndarray, Any]:
    """Index rows of the cells asked for (default: all, in ``hash_iterator()`` order) and their hashes."""
    index = nb.dataset.index
    if hashes is None:
        # hash_iterator() follows the source file's order, index.source_order(); cached per
        # index, as listing 423,624 hashes as Python strings would cost more than encoding them.
        rows = _SOURCE_ROWS.get(index)
        if rows is None:
            rows = _SOURCE_ROWS[index] = np.asarray(index.source_order()[0], dtype=np.int64)
        return rows, None
    listed = [hashes] if isinstance(hashes, str) else list(hashes)
    rows, found = index.find_many(listed)
    if not found.all():
        missing = listed[int(np.flatnonzero(~found)[0])]
        msg = f"the dataset does not hold {int((~found).sum())} of the hashes asked for, e.g. {missing!r}"
        raise KeyError(msg)
    return rows, listed


def encode_dataset(
    nb: Any,
    kind: str,
    hashes: Iterable[str] | None = None,
    *,
    cutoff: int | None = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Encode cells of a dataset straight from its memory-mapped index (no ModelSpec built).

    Parameters
    ----------
    nb : NASBench
    kind, cutoff, dtype
        As :func:`encode`.
    hashes : iterable of str, optional
        Cells to encode, in this order; default every cell in
        ``nb.hash_iterator()`` order.

    Returns
    -------
    np.ndarray
        One row per cell; equal to ``encode([nb.spec_from_hash(h) ...], kind)``.

    Raises
    ------
    KeyError
        A hash the dataset does not hold.
    """
    cutoff = _check_kind(kind, cutoff)
    rows, _ = _dataset_rows(nb, hashes)
    index = nb.dataset.index
    # The cell arrays are small (49 + 7 + 1 bytes a cell), so gathering them in the order asked
    # costs little and the result is written once, in place.
    return encode_arrays(
        index.cell_adjacency[rows],
        index.cell_ops[rows],
        index.cell_num_vertices[rows],
        kind,
        cutoff=cutoff,
        dtype=dtype,
    )


def encode_frame(
    nb: Any,
    kind: str,
    hashes: Iterable[str] | None = None,
    *,
    cutoff: int | None = None,
    dtype: Any = np.float32,
    name: str | None = None,
) -> pl.DataFrame:
    """:func:`encode_dataset` as a Polars frame, to join with ``nb.cells()`` or ``nb.summary()``.

    Returns
    -------
    pl.DataFrame
        ``module_hash`` and one fixed-width ``Array`` column named ``name``
        (default ``kind``).

    Examples
    --------
    >>> X = encode_frame(nb, "path")                                            # doctest: +SKIP
    >>> train = nb.summary().join(X, on="module_hash")                          # doctest: +SKIP
    """
    import polars as pl

    cutoff = _check_kind(kind, cutoff)
    rows, _ = _dataset_rows(nb, hashes)
    index = nb.dataset.index
    values = encode_arrays(
        index.cell_adjacency[rows], index.cell_ops[rows], index.cell_num_vertices[rows], kind, cutoff=cutoff, dtype=dtype
    )
    module_hash = pl.Series("module_hash", index.cell_hash[rows]).cast(pl.String)
    return pl.DataFrame([module_hash, pl.Series(name or kind, values)])


# --------------------------------------------------------------------------- distances


def path_indices(cell: Any) -> tuple[int, ...]:
    """Sorted distinct path indices of a cell (naszilla's ``get_path_indices``, without duplicates)."""
    return tuple(np.flatnonzero(encode([cell], "path", dtype=np.uint8)[0]).tolist())


def edit_distance(cell_1: Any, cell_2: Any) -> int:
    """naszilla's ``adj_distance``: differing entries of the padded 7x7 matrices plus differing ops.

    Depends on the vertex order (as the reference); 0 for identical cells.
    """
    adjacency, ops, num_vertices = cell_arrays([cell_1, cell_2])
    adjacency, ops = _pad(adjacency, ops, num_vertices)
    return int((adjacency[0] != adjacency[1]).sum() + (ops[0] != ops[1]).sum())


def path_distance(cell_1: Any, cell_2: Any, cutoff: int | None = None) -> int:
    """naszilla's ``path_distance``: differing bits of the path (or truncated path) encodings.

    Invariant under vertex renumbering; 0 for isomorphic cells.
    """
    kind = "path" if cutoff is None else "trunc_path"
    rows = encode([cell_1, cell_2], kind, cutoff=cutoff, dtype=np.uint8)
    return int((rows[0] != rows[1]).sum())


# --------------------------------------------------------------------------- neighbourhoods


def _on_a_path(matrix: np.ndarray) -> list[bool]:
    """Whether each vertex lies on some input-to-output path (others are pruned away)."""
    n = matrix.shape[0]
    forward = [False] * n
    forward[0] = True
    for j in range(1, n):
        forward[j] = any(forward[i] and matrix[i, j] for i in range(j))
    backward = [False] * n
    backward[n - 1] = True
    for i in range(n - 2, -1, -1):
        backward[i] = any(backward[j] and matrix[i, j] for j in range(i + 1, n))
    return [f and b for f, b in zip(forward, backward)]


def _in_space(spec: ModelSpec) -> bool:
    return bool(
        spec.valid_spec
        and len(spec.ops) <= MAX_VERTICES
        and int(np.asarray(spec.matrix).sum()) <= MAX_EDGES
    )


def neighbours(spec: Any, *, num_vertices: int = MAX_VERTICES) -> list[ModelSpec]:
    """All distinct valid cells one edit away: one edge flipped, or one op changed.

    The cell is first padded to ``num_vertices`` vertices (see the module
    docstring). An op change is tried at every interior vertex on an
    input-to-output path (changing any other vertex is pruned away and gives
    the same cell), each other op; an edge flip at every upper-triangular
    pair. Results outside the space (disconnected, more than 9 edges) and
    duplicates (isomorphic results, by module hash) are dropped, and so is
    the cell itself. This is the neighbourhood of naszilla's / NASLib's local
    search (``get_nbhd``), deduplicated. Like theirs it depends on the vertex
    order of the cell given (an edge ``i -> j`` can only be added for
    ``i < j``), so two isomorphic cells in different vertex orders can have
    different neighbourhoods; the local search of
    :mod:`nasbench_arrow.benchmark` uses the order the dataset stores.

    Parameters
    ----------
    spec : ModelSpec or (matrix, ops)
    num_vertices : int, default 7
        Vertex count of the padded cell: 7 for the full space; a smaller
        complete space (the built-in sample) uses its largest vertex count.

    Returns
    -------
    list of ModelSpec
        In a fixed order: op changes by vertex, then edge flips row by row.
    """
    if not 2 <= num_vertices <= MAX_VERTICES:
        msg = f"num_vertices must be in 2..{MAX_VERTICES}, got {num_vertices!r}"
        raise ValueError(msg)
    matrix, labels = _matrix_and_ops(spec, 0)
    if isinstance(spec, ModelSpec):
        matrix = np.asarray(spec.matrix)
    v = matrix.shape[0]
    if v > num_vertices:
        msg = f"the cell has {v} vertices, more than num_vertices={num_vertices}"
        raise ValueError(msg)
    base = np.zeros((num_vertices, num_vertices), dtype=np.int64)
    base[: v - 1, : v - 1] = matrix[: v - 1, : v - 1]
    base[: v - 1, num_vertices - 1] = matrix[: v - 1, v - 1]
    ops = labels[:-1] + [CONV3X3] * (num_vertices - v) + [OUTPUT]
    own = ModelSpec(base, ops).hash_spec(list(AVAILABLE_OPS)) if v >= 2 else None
    seen = {own}
    out: list[ModelSpec] = []

    def add(m: np.ndarray, o: list[str]) -> None:
        candidate = ModelSpec(m, o)
        if not _in_space(candidate):
            return
        h = candidate.hash_spec(list(AVAILABLE_OPS))
        if h not in seen:
            seen.add(h)
            out.append(candidate)

    used = _on_a_path(base)
    for vertex in range(1, num_vertices - 1):
        if not used[vertex]:
            continue
        for op in AVAILABLE_OPS:
            if op != ops[vertex]:
                changed = list(ops)
                changed[vertex] = op
                add(base, changed)
    for i in range(num_vertices - 1):
        for j in range(i + 1, num_vertices):
            flipped = base.copy()
            flipped[i, j] = 1 - flipped[i, j]
            add(flipped, ops)
    return out
