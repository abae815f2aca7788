"""Shared hypothesis strategies for cells, graphs, labels and permutations.

Matrices are drawn as nested lists of Python ints (0/1), the form users type;
turn them into arrays with ``np.array(m, dtype=...)`` where a test needs one.
Sizes default to 2..9 vertices so that 8- and 9-vertex graphs (outside the
NAS-Bench space) are exercised too; :func:`specs` stays inside the space
(<= 7 vertices, <= 9 edges) unless told otherwise.

Example
-------
>>> from hypothesis import given
>>> from tests.strategies import specs          # doctest: +SKIP
>>> @given(specs())                             # doctest: +SKIP
... def test_spec(spec):
...     matrix, ops = spec
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from nasbench_arrow.constants import AVAILABLE_OPS, INPUT, MAX_EDGES, MAX_VERTICES, OUTPUT

__all__ = [
    "MATRIX_DTYPES",
    "interior_permutations",
    "labelings",
    "labelled_graphs",
    "malformed_specs",
    "matrix_dtypes",
    "op_lists",
    "permutations",
    "random_topological_permutation",
    "specs",
    "square_matrices",
    "topological_permutations",
    "upper_triangular_matrices",
    "valid_specs",
]

#: dtypes a 0/1 matrix may come in; all must hash as the int matrix.
MATRIX_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.float32, np.float64, bool)


def _empty(n: int) -> list[list[int]]:
    return [[0] * n for _ in range(n)]


@st.composite
def upper_triangular_matrices(
    draw, min_vertices: int = 2, max_vertices: int = 9, max_edges: int | None = None
) -> list[list[int]]:
    """Strictly upper-triangular 0/1 matrices (DAGs in topological order).

    ``max_edges`` caps the number of ones (None: no cap).
    """
    n = draw(st.integers(min_vertices, max_vertices))
    slots = [(i, j) for j in range(n) for i in range(j)]
    cap = len(slots) if max_edges is None else min(max_edges, len(slots))
    chosen = draw(st.lists(st.sampled_from(slots), max_size=cap, unique=True)) if slots else []
    matrix = _empty(n)
    for i, j in chosen:
        matrix[i][j] = 1
    return matrix


@st.composite
def square_matrices(draw, min_vertices: int = 1, max_vertices: int = 9) -> list[list[int]]:
    """Any square 0/1 matrix: cycles, self loops and both edge directions allowed."""
    n = draw(st.integers(min_vertices, max_vertices))
    flat = draw(st.lists(st.integers(0, 1), min_size=n * n, max_size=n * n))
    return [flat[i * n : (i + 1) * n] for i in range(n)]


def labelings(n: int, min_label: int = -2, max_label: int = 10) -> st.SearchStrategy[list[int]]:
    """``n`` integer vertex labels."""
    return st.lists(st.integers(min_label, max_label), min_size=n, max_size=n)


@st.composite
def labelled_graphs(
    draw, min_vertices: int = 2, max_vertices: int = 9, dag: bool | None = None, max_label: int = 4
) -> tuple[list[list[int]], list[int]]:
    """``(matrix, labels)``; ``dag`` True/False forces the kind, None draws either."""
    as_dag = draw(st.booleans()) if dag is None else dag
    if as_dag:
        matrix = draw(upper_triangular_matrices(min_vertices, max_vertices))
    else:
        matrix = draw(square_matrices(min_vertices, max_vertices))
    labels = draw(labelings(len(matrix), 0, max_label))
    return matrix, labels


@st.composite
def op_lists(draw, n: int, ops: tuple[str, ...] = AVAILABLE_OPS) -> list[str]:
    """``["input", <n-2 ops>, "output"]``; ``["input"]`` for n == 1, ``[]`` for n == 0."""
    if n < 2:
        return [INPUT][:n]
    interior = draw(st.lists(st.sampled_from(ops), min_size=n - 2, max_size=n - 2))
    return [INPUT, *interior, OUTPUT]


@st.composite
def specs(
    draw,
    min_vertices: int = 2,
    max_vertices: int = MAX_VERTICES,
    max_edges: int | None = MAX_EDGES,
    ops: tuple[str, ...] = AVAILABLE_OPS,
) -> tuple[list[list[int]], list[str]]:
    """``(matrix, ops)`` of the NAS-Bench space, valid or not (input may not reach output)."""
    matrix = draw(upper_triangular_matrices(min_vertices, max_vertices, max_edges))
    return matrix, draw(op_lists(len(matrix), ops))


@st.composite
def valid_specs(
    draw,
    min_vertices: int = 2,
    max_vertices: int = MAX_VERTICES,
    max_edges: int | None = MAX_EDGES,
    ops: tuple[str, ...] = AVAILABLE_OPS,
) -> tuple[list[list[int]], list[str]]:
    """Specs whose input reaches the output (they may still have vertices to prune)."""
    n = draw(st.integers(min_vertices, max_vertices))
    cap = n * (n - 1) // 2 if max_edges is None else min(max_edges, n * (n - 1) // 2)
    # A path 0 -> ... -> n-1 through a sorted subset of the interior vertices.
    max_stops = min(n - 2, cap - 1)
    stops = (
        sorted(draw(st.lists(st.integers(1, n - 2), max_size=max_stops, unique=True)))
        if n > 2
        else []
    )
    path = [0, *stops, n - 1]
    matrix = _empty(n)
    for a, b in itertools.pairwise(path):
        matrix[a][b] = 1
    free = [(i, j) for j in range(n) for i in range(j) if not matrix[i][j]]
    room = cap - (len(path) - 1)
    if free and room > 0:
        for i, j in draw(st.lists(st.sampled_from(free), max_size=room, unique=True)):
            matrix[i][j] = 1
    return matrix, draw(op_lists(n, ops))


def permutations(n: int) -> st.SearchStrategy[list[int]]:
    """Any permutation of ``range(n)``."""
    return st.permutations(list(range(n)))


def interior_permutations(n: int) -> st.SearchStrategy[list[int]]:
    """Permutations of ``range(n)`` that keep the input (0) and output (n-1) in place."""
    if n <= 2:
        return st.just(list(range(n)))
    return st.permutations(list(range(1, n - 1))).map(lambda mid: [0, *mid, n - 1])


def random_topological_permutation(matrix, choose) -> list[int]:
    """A renumbering that keeps an upper-triangular matrix upper triangular.

    ``perm[v]`` is the new index of old vertex ``v`` (the convention of
    ``permute_graph``); vertex 0 stays first and the last vertex stays last.
    ``choose(options)`` picks one of the ready vertices (e.g. ``rng.choice``).
    """
    n = len(matrix)
    if n <= 2:
        return list(range(n))
    indegree = [sum(1 for u in range(n) if matrix[u][v]) for v in range(n)]
    order = [0]
    for w in range(n):
        if matrix[0][w]:
            indegree[w] -= 1
    ready = [v for v in range(1, n - 1) if indegree[v] == 0]
    while ready:
        v = choose(sorted(ready))
        ready.remove(v)
        order.append(v)
        for w in range(n):
            if matrix[v][w]:
                indegree[w] -= 1
                if indegree[w] == 0 and w != n - 1:
                    ready.append(w)
    order.append(n - 1)
    perm = [0] * n
    for new, old in enumerate(order):
        perm[old] = new
    return perm


@st.composite
def topological_permutations(draw, matrix) -> list[int]:
    """Renumberings of an upper-triangular ``matrix`` that keep it upper triangular."""
    return random_topological_permutation(matrix, lambda options: draw(st.sampled_from(options)))


def matrix_dtypes() -> st.SearchStrategy:
    """One of :data:`MATRIX_DTYPES`."""
    return st.sampled_from(MATRIX_DTYPES)


@st.composite
def malformed_specs(draw) -> tuple[object, object]:
    """``(matrix, ops)`` that ModelSpec must refuse with ValueError."""
    kind = draw(
        st.sampled_from(
            ["not_square", "ragged", "one_dim", "three_dim", "ops_length", "lower", "diagonal"]
        )
    )
    n = draw(st.integers(2, 8))
    ops = draw(op_lists(n))
    matrix = draw(upper_triangular_matrices(n, n))
    if kind == "not_square":
        m = draw(st.integers(1, 8).filter(lambda k: k != n))
        return [[0] * m for _ in range(n)], ops
    if kind == "ragged":
        matrix[draw(st.integers(0, n - 1))].append(0)
        return matrix, ops
    if kind == "one_dim":
        return [0] * n, ops
    if kind == "three_dim":
        return [matrix, matrix], ops
    if kind == "ops_length":
        extra = draw(st.integers(-n, 3).filter(lambda k: k != 0))
        return matrix, (ops + ["maxpool3x3"] * extra) if extra > 0 else ops[: n + extra]
    i = draw(st.integers(0, n - 1))
    if kind == "diagonal":
        matrix[i][i] = 1
        return matrix, ops
    j = draw(st.integers(0, n - 1).filter(lambda k: k != i))
    lo, hi = max(i, j), min(i, j)
    matrix[lo][hi] = draw(st.sampled_from([1, 2, -1]))
    return matrix, ops
