"""A slow, literal model of the original NAS-Bench-101 graph code, for tests only.

Each function below repeats, step by step and with numpy, what
``google-research/nasbench`` does in ``nasbench/lib/graph_util.py`` and
``nasbench/lib/model_spec.py`` (written afresh from reading it, not copied).
The fast implementations in :mod:`nasbench_arrow.graph` and
:mod:`nasbench_arrow.model_spec` are tested against these.

Deliberately kept as the original behaves, traps included:

* :func:`hash_module` formats ``(out_degree, in_degree, label)`` with ``str``,
  so a float matrix hashes differently from the same 0/1 int matrix;
* :func:`permute_graph` builds its matrix through ``np.vectorize`` and returns
  a bool array;
* :class:`ModelSpec` deep-copies and prunes with ``np.delete``.

The one change: ``gen_is_edge_fn`` turns the int8 coordinates that
``np.fromfunction(..., dtype=np.int8)`` passes into Python ints before the bit
arithmetic. Under numpy 1.x (which the original targeted) the scalars were
promoted silently; under numpy >= 2 (NEP 50) ``bits >> np.int8(i)`` raises
``OverflowError`` once ``bits`` exceeds 127, so a literal copy could not even
build a 5-vertex graph.
"""

from __future__ import annotations

import copy
import hashlib
import itertools

import numpy as np

__all__ = [
    "ModelSpec",
    "gen_is_edge_fn",
    "hash_module",
    "is_full_dag",
    "is_isomorphic",
    "is_upper_triangular",
    "num_edges",
    "permute_graph",
]


def gen_is_edge_fn(bits):
    """Vectorised ``is_edge(x, y)``: bit ``x + y*(y-1)/2`` of ``bits``, column-major."""

    def is_edge(x, y):
        x, y = int(x), int(y)  # numpy-1 promotion (see module docstring)
        if x >= y:
            return 0
        bit_index = x + (y * (y - 1) // 2)
        return (bits >> bit_index) % 2 == 1

    return np.vectorize(is_edge)


def is_full_dag(matrix):
    """No all-zero row except the last, no all-zero column except the first."""
    size = np.shape(matrix)[0]
    empty_rows = np.all(matrix[: size - 1, :] == 0, axis=1)
    empty_cols = np.all(matrix[:, 1:] == 0, axis=0)
    return (not np.any(empty_rows)) and (not np.any(empty_cols))


def num_edges(matrix):
    """Sum of the matrix (a numpy scalar, as the original returns)."""
    return np.sum(matrix)


def hash_module(matrix, labeling):
    """The original iterated-MD5 graph hash, step by step."""
    n = np.shape(matrix)[0]
    in_degree = np.sum(matrix, axis=0).tolist()
    out_degree = np.sum(matrix, axis=1).tolist()
    assert len(in_degree) == len(out_degree) == len(labeling)

    current = []
    for triple in zip(out_degree, in_degree, labeling):
        current.append(hashlib.md5(str(triple).encode("utf-8")).hexdigest())

    for _round in range(n):
        following = []
        for v in range(n):
            ins = [current[w] for w in range(n) if matrix[w, v]]
            outs = [current[w] for w in range(n) if matrix[v, w]]
            text = "".join(sorted(ins)) + "|" + "".join(sorted(outs)) + "|" + current[v]
            following.append(hashlib.md5(text.encode("utf-8")).hexdigest())
        current = following

    return hashlib.md5(str(sorted(current)).encode("utf-8")).hexdigest()


def permute_graph(graph, label, permutation):
    """New vertex ``permutation[v]`` is old vertex ``v``; built with ``np.fromfunction``."""
    pairs = sorted(zip(permutation, list(range(len(permutation)))))
    inverse = [old for _new, old in pairs]

    def edge(x, y):
        return graph[inverse[x], inverse[y]] == 1

    size = len(label)
    new_matrix = np.fromfunction(np.vectorize(edge), (size, size), dtype=np.int8)
    new_label = [label[inverse[i]] for i in range(size)]
    return new_matrix, new_label


def is_isomorphic(graph1, graph2):
    """Try every vertex permutation of ``graph1`` (exponential; keep graphs tiny)."""
    matrix1, label1 = np.array(graph1[0]), graph1[1]
    matrix2, label2 = np.array(graph2[0]), graph2[1]
    assert np.shape(matrix1) == np.shape(matrix2)
    assert len(label1) == len(label2)
    for perm in itertools.permutations(range(np.shape(matrix1)[0])):
        pmatrix, plabel = permute_graph(matrix1, label1, perm)
        if np.array_equal(pmatrix, matrix2) and plabel == label2:
            return True
    return False


def is_upper_triangular(matrix):
    """Every entry on or below the diagonal compares equal to 0."""
    for src in range(np.shape(matrix)[0]):
        for dst in range(src + 1):
            if matrix[src, dst] != 0:
                return False
    return True


class ModelSpec:
    """The original ModelSpec: validate, deep-copy, prune with sets and ``np.delete``."""

    def __init__(self, matrix, ops, data_format="channels_last"):
        if not isinstance(matrix, np.ndarray):
            matrix = np.array(matrix)
        shape = np.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError("matrix must be square")
        if shape[0] != len(ops):
            raise ValueError("length of ops must match matrix dimensions")
        if not is_upper_triangular(matrix):
            raise ValueError("matrix must be upper triangular")

        self.original_matrix = copy.deepcopy(matrix)
        self.original_ops = copy.deepcopy(ops)
        self.matrix = copy.deepcopy(matrix)
        self.ops = copy.deepcopy(ops)
        self.valid_spec = True
        self._prune()
        self.data_format = data_format

    def _prune(self):
        n = np.shape(self.original_matrix)[0]

        seen_forward = {0}
        stack = [0]
        while stack:
            top = stack.pop()
            for v in range(top + 1, n):
                if self.original_matrix[top, v] and v not in seen_forward:
                    seen_forward.add(v)
                    stack.append(v)

        seen_backward = {n - 1}
        stack = [n - 1]
        while stack:
            top = stack.pop()
            for v in range(top):
                if self.original_matrix[v, top] and v not in seen_backward:
                    seen_backward.add(v)
                    stack.append(v)

        extraneous = set(range(n)).difference(seen_forward.intersection(seen_backward))
        if len(extraneous) > n - 2:
            self.matrix = None
            self.ops = None
            self.valid_spec = False
            return

        self.matrix = np.delete(self.matrix, list(extraneous), axis=0)
        self.matrix = np.delete(self.matrix, list(extraneous), axis=1)
        for index in sorted(extraneous, reverse=True):
            del self.ops[index]

    def hash_spec(self, canonical_ops):
        labeling = [-1] + [canonical_ops.index(op) for op in self.ops[1:-1]] + [-2]
        return hash_module(self.matrix, labeling)
