"""ModelSpec: a NAS-Bench-101 cell as adjacency matrix plus ops, pruned and hashable.

A drop-in for ``nasbench.lib.model_spec.ModelSpec`` of ``google-research/nasbench``:
same constructor, attributes, error messages, pruning and hash, without
TensorFlow and fast enough to build and hash on every query.

What the spec does with its input:

1. validates it: square matrix (``ValueError('matrix must be square')``), one op
   per vertex (``'length of ops must match matrix dimensions'``), nothing on or
   below the diagonal (``'matrix must be upper triangular'``);
2. keeps copies as ``original_matrix`` / ``original_ops``;
3. prunes every vertex that is not on a path from the input (vertex 0) to the
   output (last vertex) into ``matrix`` / ``ops``; if the input does not reach
   the output, ``matrix`` and ``ops`` are None and ``valid_spec`` is False.

Differences from the original (where it fails or is fragile): ``ops`` given as a
tuple (or any sequence) works and ``.ops`` is always a list; ``ops`` that is not
a sequence raises ``ValueError``; :meth:`ModelSpec.hash_spec` on an invalid spec
raises ``ValueError`` (the original fails with ``TypeError``) and hashes a float
or bool 0/1 matrix as the int one (see :mod:`nasbench_arrow.graph`);
:meth:`ModelSpec.visualize` raises :class:`~nasbench_arrow.errors.MissingDependencyError`
without graphviz, and :meth:`ModelSpec.to_dot` needs no graphviz at all.

Examples
--------
>>> from nasbench_arrow.model_spec import ModelSpec
>>> spec = ModelSpec([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
...                  ["input", "conv3x3-bn-relu", "maxpool3x3", "output"])
>>> spec.matrix.tolist(), spec.ops          # vertex 1 dangles: pruned
([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ['input', 'maxpool3x3', 'output'])
>>> spec.hash_spec(["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"])
'53cee42601ad14d661bb6878031d6acb'
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from itertools import compress

import numpy as np

from .errors import MissingDependencyError, import_optional
from .graph import _hash_int_rows, _integral_rows, _rows_upper_triangular, hash_module, is_upper_triangular

__all__ = ["ModelSpec", "is_upper_triangular"]

# Types whose deepcopy is the object itself: a list of these is deep-copied by list().
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes, np.str_})
# Numeric dtypes whose Python values test `!= 0` exactly as they test truthy.
_NUMERIC_KINDS = frozenset("biufc")

#: Entries kept by the hash cache of :meth:`ModelSpec.hash_spec` (a 7x7 int64
#: cell costs about 0.7 KB, so the full cache stays under ~25 MB).
HASH_CACHE_SIZE = 1 << 15


class ModelSpec:
    """A cell of the NAS-Bench-101 space: adjacency matrix plus one op per vertex.

    Parameters
    ----------
    matrix : array_like
        ``V x V`` upper-triangular adjacency matrix (numpy array or nested
        lists); ``matrix[i][j] == 1`` is an edge ``i -> j``.
    ops : sequence of str
        ``V`` labels: ``"input"``, then the interior ops (e.g.
        ``"conv3x3-bn-relu"``, ``"conv1x1-bn-relu"``, ``"maxpool3x3"``), then
        ``"output"``. Unknown ops are accepted here; the dataset API rejects them.
    data_format : str, default "channels_last"
        Kept for the trainer (``"channels_last"`` or ``"channels_first"``).

    Attributes
    ----------
    original_matrix : numpy.ndarray
        Copy of the matrix as given (``np.array(matrix)`` for nested lists, so
        its dtype is whatever numpy infers, e.g. int64 for Python ints).
    original_ops : sequence
        Deep copy of ``ops`` as given.
    matrix : numpy.ndarray or None
        The pruned matrix, same dtype as ``original_matrix``; None if invalid.
    ops : list or None
        The pruned ops; None if invalid.
    valid_spec : bool
        False when the input does not reach the output.
    data_format : str

    Raises
    ------
    ValueError
        ``'matrix must be square'``, ``'length of ops must match matrix
        dimensions'``, ``'matrix must be upper triangular'`` (the original's
        messages), or ``ops`` that is not a sequence.

    Notes
    -----
    Equality is not overridden (as in the original): two specs are ``==`` only
    if they are the same object. Compare ``hash_spec`` values instead.
    """

    def __init__(self, matrix, ops, data_format: str = "channels_last"):
        if not isinstance(matrix, np.ndarray):
            matrix = np.array(matrix)
        shape = matrix.shape
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError("matrix must be square")
        try:
            num_ops = len(ops)
        except TypeError:
            msg = f"ops must be a sequence of {shape[0]} op names, got {ops!r}"
            raise ValueError(msg) from None
        n = shape[0]
        if n != num_ops:
            raise ValueError("length of ops must match matrix dimensions")

        rows = matrix.tolist()
        vertices = range(n)
        # Successor lists by truthiness, the original's edge test (itertools.compress runs in C).
        succ = [list(compress(vertices, row)) for row in rows]
        numeric = matrix.dtype.kind in _NUMERIC_KINDS
        if numeric:
            # For numbers `x != 0` is `bool(x)` (NaN included), so the original's
            # test reduces to: no row has its first non-zero entry on or left of the diagonal.
            for v, outs in enumerate(succ):
                if outs and outs[0] <= v:
                    raise ValueError("matrix must be upper triangular")
        else:
            if not _rows_upper_triangular(rows):
                raise ValueError("matrix must be upper triangular")
            succ = [[w for w in outs if w > v] for v, outs in enumerate(succ)]

        # Deep copies, as the original: later changes to the inputs do not leak in.
        if numeric:
            self.original_matrix = matrix.copy(order="K")
        else:
            self.original_matrix = copy.deepcopy(matrix)
        ops_type = type(ops)
        atomic_ops = all(type(op) in _ATOMIC for op in ops)
        if ops_type is list and atomic_ops:
            self.original_ops = list(ops)
        elif ops_type is tuple and atomic_ops:
            self.original_ops = ops  # an immutable tuple of immutables is its own deep copy
        else:
            self.original_ops = copy.deepcopy(ops)
        self.valid_spec = True
        self._prune(matrix, succ, ops, atomic_ops)
        self.data_format = data_format

    def _prune(self, matrix: np.ndarray, succ: list[list[int]], ops, atomic_ops: bool) -> None:
        """Keep only the vertices on an input -> output path.

        The matrix is upper triangular, so one forward sweep finds everything
        reachable from vertex 0 and one backward sweep everything that reaches
        the last vertex: the same sets as the original's two depth-first
        searches.
        """
        n = len(succ)
        if n < 2:
            self._invalidate()
            return
        forward = [False] * n
        forward[0] = True
        for v in range(n):
            if forward[v]:
                for w in succ[v]:
                    forward[w] = True
        last = n - 1
        if not forward[last]:
            self._invalidate()
            return
        backward = [False] * n
        backward[last] = True
        for v in range(last - 1, -1, -1):
            for w in succ[v]:
                if backward[w]:
                    backward[v] = True
                    break
        kept = [v for v in range(n) if forward[v] and backward[v]]

        if len(kept) == n:
            self.matrix = (
                self.original_matrix.copy() if matrix.dtype.kind != "O" else copy.deepcopy(matrix)
            )
            self.ops = list(ops) if atomic_ops else copy.deepcopy(list(ops))
            return
        source = matrix if matrix.dtype.kind != "O" else copy.deepcopy(matrix)
        self.matrix = source.take(kept, axis=0).take(kept, axis=1)
        chosen = [ops[v] for v in kept]
        self.ops = chosen if atomic_ops else copy.deepcopy(chosen)

    def _invalidate(self) -> None:
        self.matrix = None
        self.ops = None
        self.valid_spec = False

    # ----------------------------------------------------------------- hash

    def hash_spec(self, canonical_ops: Sequence[str]) -> str:
        """The isomorphism-invariant MD5 hash of this (pruned) spec: the dataset key.

        Labels are ``-1`` for the input, ``-2`` for the output and
        ``canonical_ops.index(op)`` for every interior op, then
        :func:`nasbench_arrow.graph.hash_module`. The current ``matrix`` and
        ``ops`` are read on every call, so changing them afterwards changes the
        hash, as in the original. Results are cached by the matrix bytes,
        dtype and labels (:data:`HASH_CACHE_SIZE` entries).

        Parameters
        ----------
        canonical_ops : sequence of str
            The ops in their canonical order, e.g.
            ``nasbench_arrow.constants.AVAILABLE_OPS`` or ``config['available_ops']``.

        Returns
        -------
        str
            32 lowercase hex characters.

        Raises
        ------
        ValueError
            An interior op that is not in ``canonical_ops`` (as the original's
            ``list.index``), or an invalid spec (``valid_spec`` False).
        """
        ops = self.ops
        matrix = self.matrix
        if ops is None or matrix is None:
            msg = (
                "cannot hash an invalid spec: its input does not reach its output "
                "(valid_spec is False, so matrix and ops are None)"
            )
            raise ValueError(msg)
        try:
            index = _op_index(tuple(canonical_ops))
            labeling = (-1, *[index[op] for op in ops[1:-1]], -2)
        except (KeyError, TypeError):
            labeling = (-1, *[_checked_index(canonical_ops, op) for op in ops[1:-1]], -2)
        if type(matrix) is not np.ndarray:
            matrix = np.asarray(matrix)
        if matrix.dtype.kind not in "biuf":
            return _hash_array(matrix, labeling)
        return _cached_hash(matrix.tobytes(), matrix.shape, matrix.dtype.str, labeling)

    # ----------------------------------------------------------------- drawing

    def to_dot(self) -> str:
        """The pruned cell as Graphviz DOT text (no graphviz package needed).

        Vertices are numbered as in ``matrix`` and labelled ``input``, the op,
        ``output``.

        Returns
        -------
        str

        Raises
        ------
        ValueError
            For an invalid spec (nothing to draw).
        """
        labels, edges = self._drawing()
        lines = ["digraph {"]
        lines += [f"\t{v} [label={_dot_quote(label)}]" for v, label in enumerate(labels)]
        lines += [f"\t{src} -> {dst}" for src, dst in edges]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def visualize(self):
        """The pruned cell as a ``graphviz.Digraph`` (renders inline in notebooks).

        Returns
        -------
        graphviz.Digraph

        Raises
        ------
        MissingDependencyError
            When the ``graphviz`` package is not installed.
        ValueError
            For an invalid spec.
        """
        graphviz = import_optional("graphviz", "plot", "ModelSpec.visualize")
        labels, edges = self._drawing()
        graph = _digraph_class(graphviz)()
        for v, label in enumerate(labels):
            graph.node(str(v), label)
        for src, dst in edges:
            graph.edge(str(src), str(dst))
        return graph

    def _drawing(self) -> tuple[list[str], list[tuple[int, int]]]:
        if self.matrix is None or self.ops is None:
            msg = "cannot draw an invalid spec: its input does not reach its output"
            raise ValueError(msg)
        n = np.shape(self.matrix)[0]
        labels = ["input", *[str(op) for op in self.ops[1:-1]], "output"]
        rows = np.asarray(self.matrix).tolist()
        edges = [(s, d) for s in range(n - 1) for d in range(s + 1, n) if rows[s][d]]
        return labels, edges

    def __repr__(self) -> str:
        if not self.valid_spec:
            return (
                f"ModelSpec(matrix={np.asarray(self.original_matrix).tolist()}, "
                f"ops={list(self.original_ops)!r})  # invalid: input does not reach output"
            )
        text = f"ModelSpec(matrix={np.asarray(self.matrix).tolist()}, ops={self.ops!r})"
        dropped = len(self.original_ops) - len(self.ops)
        if dropped:
            text += f"  # pruned {dropped} of {len(self.original_ops)} vertices"
        return text


# --------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=64)
def _op_index(canonical_ops: tuple) -> dict:
    """op -> first index in ``canonical_ops`` (what ``list.index`` returns)."""
    index: dict = {}
    for i, op in enumerate(canonical_ops):
        index.setdefault(op, i)
    return index


def _checked_index(canonical_ops, op) -> int:
    try:
        return list(canonical_ops).index(op)
    except ValueError:
        msg = f"op {op!r} is not one of the canonical ops {list(canonical_ops)!r}"
        raise ValueError(msg) from None


def _hash_array(matrix: np.ndarray, labeling) -> str:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labeling):
        msg = f"spec matrix of shape {matrix.shape} does not fit {len(labeling)} ops"
        raise ValueError(msg)
    if matrix.dtype.kind == "f" and not (np.all(np.isfinite(matrix)) and np.array_equal(matrix, np.trunc(matrix))):
        # Fractional entries (outside the space): the hash the original gives them.
        return hash_module(matrix, list(labeling))
    return _hash_int_rows(_integral_rows(matrix, "spec matrix"), list(labeling))


@functools.lru_cache(maxsize=HASH_CACHE_SIZE)
def _cached_hash(data: bytes, shape: tuple, dtype: str, labeling: tuple) -> str:
    matrix = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    return _hash_array(matrix, labeling)


# graphviz.Digraph class -> its subclass below (keyed by class: a reloaded graphviz gets its own).
_DIGRAPH: dict = {}


def _digraph_class(graphviz):
    """``graphviz.Digraph`` whose ``render``/``pipe`` say that the Graphviz ``dot`` program is missing.

    The Python package only writes DOT text; drawing needs the ``dot``
    executable, which pip does not install.
    """
    cached = _DIGRAPH.get(graphviz.Digraph)
    if cached is not None:
        return cached

    def _missing_dot(exc):
        msg = (
            "drawing the cell needs the Graphviz 'dot' program, which is not a pip package "
            f"({exc}); install it (apt install graphviz, brew install graphviz or conda install graphviz), "
            "or use ModelSpec.to_dot() for the DOT text"
        )
        return MissingDependencyError(msg)

    class CellDigraph(graphviz.Digraph):
        def render(self, *args, **kwargs):
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as exc:
                raise _missing_dot(exc) from exc

        def pipe(self, *args, **kwargs):
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as exc:
                raise _missing_dot(exc) from exc

    _DIGRAPH[graphviz.Digraph] = CellDigraph
    return CellDigraph


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
