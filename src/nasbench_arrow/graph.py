"""Graph utilities of NAS-Bench-101 cells: bits to matrix, checks, the exact hash.

A cell is a directed graph given as a square 0/1 adjacency matrix
(``matrix[i][j] == 1`` is an edge ``i -> j``; upper triangular for a DAG with
vertex 0 the input and the last vertex the output) plus one integer label per
vertex. These functions give the same results as ``nasbench.lib.graph_util``
of ``google-research/nasbench``; :func:`hash_module` returns the very digest
the dataset is keyed by.

The hash (iterated MD5, a Weisfeiler-Lehman style colour refinement):

1. every vertex starts as ``md5(str((out_degree, in_degree, label)))`` with
   plain Python ints;
2. ``V`` times, every vertex becomes ``md5(sorted in-neighbour hashes joined +
   "|" + sorted out-neighbour hashes joined + "|" + own hash)``;
3. the graph hash is ``md5(str(sorted(vertex hashes)))`` (the ``str`` of a list
   of strings, brackets and quotes included).

Isomorphic labelled graphs always hash alike; non-isomorphic ones almost
always differ (a known exception is in the tests).

Differences from the original, all on inputs where it is fragile:

* **dtype.** The original formats the degrees with ``str``, so the same 0/1
  matrix given as floats hashes to ``md5("(2.0, 1.0, 0)")`` instead of
  ``md5("(2, 1, 0)")``: a different digest, and a valid cell looks missing from
  the dataset. Here a matrix of integral values hashes as the int matrix,
  whatever its dtype (bool, any int, float); non-integral or non-finite
  entries, complex numbers and strings raise ``ValueError``.
* **Labels** must be integers. numpy integers are turned into Python ints:
  under numpy >= 2 the original would format ``np.int64(0)`` as
  ``"np.int64(0)"`` and silently change the digest. ``bool`` labels are
  refused (the original formats ``True`` as ``"True"``, not ``"1"``).
* **Entries other than 0/1.** :func:`hash_module` keeps the original's meaning
  for any integer entry (degrees are row/column sums, any non-zero entry is a
  neighbour), so e.g. a 2 hashes as the original does. The fast
  :func:`hash_rows` expects 0/1 entries and counts any non-zero entry as one
  edge.
* Bad shapes and lengths raise ``ValueError`` instead of ``AssertionError`` or
  an ``IndexError``.

Examples
--------
>>> from nasbench_arrow.graph import hash_module
>>> hash_module([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [-1, 0, 2, -2])
'7c65f6bd01b87407734781b6038050bc'
"""

from __future__ import annotations

import hashlib
import itertools
import numbers
from collections.abc import Callable, Sequence

import numpy as np

try:  # CPython's built-in MD5 is about twice as fast per call as OpenSSL's for short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - builds without the built-in module
    from hashlib import md5 as _md5

__all__ = [
    "bits_to_matrix",
    "gen_is_edge_fn",
    "hash_module",
    "hash_rows",
    "hash_with_float_degrees",
    "is_full_dag",
    "is_isomorphic",
    "is_upper_triangular",
    "num_edges",
    "permute_graph",
]

# md5 hex of str((out_degree, in_degree, label)) as bytes, by that triple. Cells
# draw from a handful of triples, so this saves V md5 calls per hash; the cap
# only guards against callers with unbounded label sets.
_INITIAL_HASHES: dict[tuple[int, int, int], bytes] = {}
_INITIAL_HASHES_MAX = 1 << 16
_BINARY = frozenset((0, 1))


# --------------------------------------------------------------------------- bits


def gen_is_edge_fn(bits: int) -> Callable:
    """Return a vectorised ``is_edge(x, y)`` reading edges from a bit mask.

    Bit ``x + y * (y - 1) // 2`` of ``bits`` is the edge ``x -> y`` (``x < y``):
    the strictly upper triangle filled column by column, least significant bit
    first, so the same number means the same graph whatever the matrix size.
    For ``bits = 0bFEDCBA`` and 4 vertices::

        [[0, A, B, D],
         [0, 0, C, E],
         [0, 0, 0, F],
         [0, 0, 0, 0]]

    Parameters
    ----------
    bits : int
        The edge mask.

    Returns
    -------
    numpy.vectorize
        Use with ``np.fromfunction(fn, (V, V), dtype=np.int8)`` as the original
        does; the result is an integer 0/1 array. Unlike the original it also
        works under numpy >= 2, where ``bits >> np.int8(i)`` overflows for
        ``bits > 127`` (coordinates are turned into Python ints first).

    Examples
    --------
    >>> import numpy as np
    >>> np.fromfunction(gen_is_edge_fn(5), (3, 3), dtype=np.int8).tolist()
    [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    """
    bits = int(bits)

    def is_edge(x, y):
        x, y = int(x), int(y)
        if x >= y:
            return 0
        return (bits >> (x + (y * (y - 1) // 2))) & 1 == 1

    return np.vectorize(is_edge)


def bits_to_matrix(bits: int, vertices: int) -> np.ndarray:
    """Build the ``vertices x vertices`` int8 adjacency matrix of an edge mask.

    Same matrix as ``np.fromfunction(gen_is_edge_fn(bits), (vertices, vertices))``
    without a Python call per entry.

    Parameters
    ----------
    bits : int
        Edge mask, bit ``x + y * (y - 1) // 2`` for the edge ``x -> y``; must be
        in ``[0, 2 ** (vertices * (vertices - 1) // 2))``.
    vertices : int
        Number of vertices, >= 0.

    Returns
    -------
    numpy.ndarray
        int8, shape ``(vertices, vertices)``, strictly upper triangular.

    Raises
    ------
    ValueError
        Negative ``vertices``, or ``bits`` outside the range above (the
        original would silently ignore the extra bits).

    Examples
    --------
    >>> bits_to_matrix(35, 4).tolist()
    [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    """
    bits = int(bits)
    vertices = int(vertices)
    if vertices < 0:
        msg = f"vertices must be >= 0, got {vertices}"
        raise ValueError(msg)
    slots = vertices * (vertices - 1) // 2
    if not 0 <= bits < (1 << slots):
        msg = (
            f"bits must be in [0, 2**{slots}) for {vertices} vertices, got {bits}; "
            "higher bits would address edges outside the matrix"
        )
        raise ValueError(msg)
    matrix = np.zeros((vertices, vertices), dtype=np.int8)
    if bits:
        ys, xs = _column_major_upper(vertices)
        mask = np.array([(bits >> i) & 1 for i in range(slots)], dtype=bool)
        matrix[xs[mask], ys[mask]] = 1
    return matrix


_UPPER_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _column_major_upper(vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) index arrays of the strict upper triangle in bit order."""
    found = _UPPER_CACHE.get(vertices)
    if found is None:
        ys = [y for y in range(vertices) for _x in range(y)]
        xs = [x for y in range(vertices) for x in range(y)]
        found = (np.array(ys, dtype=np.intp), np.array(xs, dtype=np.intp))
        _UPPER_CACHE[vertices] = found
    return found


# --------------------------------------------------------------------------- checks


def _as_2d(matrix, what: str = "matrix") -> np.ndarray:
    array = np.asarray(matrix)
    if array.ndim != 2:
        msg = f"{what} must be a 2-D adjacency matrix, got shape {array.shape}"
        raise ValueError(msg)
    return array


def _as_square(matrix, what: str = "matrix") -> np.ndarray:
    array = _as_2d(matrix, what)
    if array.shape[0] != array.shape[1]:
        msg = f"{what} must be square, got shape {array.shape}"
        raise ValueError(msg)
    return array


def is_full_dag(matrix) -> bool:
    """True if every vertex lies on a path from the first to the last vertex.

    As the original, checks that no row but the last and no column but the
    first is all zero (sufficient for an upper-triangular matrix).

    Parameters
    ----------
    matrix : array_like
        2-D adjacency matrix (nested lists accepted).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_full_dag([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    True
    >>> is_full_dag([[0, 1, 1], [0, 0, 0], [0, 0, 0]])
    False
    """
    array = _as_2d(matrix)
    zero = array == 0
    rows_bad = bool(np.any(np.all(zero[: array.shape[0] - 1, :], axis=1)))
    cols_bad = bool(np.any(np.all(zero[:, 1:], axis=0)))
    return not rows_bad and not cols_bad


def num_edges(matrix) -> int:
    """Number of edges: the sum of the matrix, as a Python int.

    Parameters
    ----------
    matrix : array_like
        Adjacency matrix with integral entries (any dtype).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Non-integral, non-finite or non-numeric entries.
    """
    flat = np.asarray(matrix).reshape(1, -1)
    return sum(_integral_rows(flat, "matrix")[0])


def is_upper_triangular(matrix) -> bool:
    """True if every entry on and below the diagonal is 0 (as the original).

    Parameters
    ----------
    matrix : array_like
        2-D matrix.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_upper_triangular([[0, 1], [0, 0]]), is_upper_triangular([[1]])
    (True, False)
    """
    rows = _as_2d(matrix).tolist()
    return _rows_upper_triangular(rows)


def _rows_upper_triangular(rows: list) -> bool:
    # `!= 0` rather than truthiness: that is the original's test, and it differs
    # for odd objects (None, "" are falsy but not equal to 0).
    for src, row in enumerate(rows):
        for value in row[: src + 1]:
            if value != 0:
                return False
    return True


# --------------------------------------------------------------------------- hash


def _integral_rows(array: np.ndarray, what: str) -> list[list[int]]:
    """Entries as Python ints, or ValueError if any is not an integral number."""
    kind = array.dtype.kind
    if kind in "iu":
        return array.tolist()
    if kind == "b":
        return array.astype(np.int8).tolist()
    if kind == "f":
        if not np.all(np.isfinite(array)):
            msg = f"{what} must hold finite integral values, got non-finite entries in {array.tolist()}"
            raise ValueError(msg)
        if not np.array_equal(array, np.trunc(array)):
            msg = f"{what} must hold integral values (0/1 edges), got {array.tolist()}"
            raise ValueError(msg)
        return [[int(x) for x in row] for row in array.tolist()]
    if kind == "O":
        return [[_object_to_int(x, what) for x in row] for row in array.tolist()]
    msg = f"{what} must be numeric with 0/1 entries, got dtype {array.dtype}"
    raise ValueError(msg)


def _object_to_int(value, what: str) -> int:
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Rational):
        as_float = float(value)
        if as_float.is_integer():
            return int(as_float)
    msg = f"{what} must hold integral values (0/1 edges), got the entry {value!r}"
    raise ValueError(msg)


def _labels(labeling, size: int) -> list[int]:
    """Labels as Python ints (see the module docstring for why).

    Bad labels raise ValueError, not TypeError: every malformed cell input is a
    ValueError here, as in the original ModelSpec.
    """
    if isinstance(labeling, (str, bytes)):
        msg = f"labeling must be a sequence of int labels, got the string {labeling!r}"
        raise ValueError(msg)  # noqa: TRY004 - see docstring
    try:
        labels = list(labeling)
    except TypeError:
        msg = f"labeling must be a sequence of int labels, got {labeling!r}"
        raise ValueError(msg) from None
    if len(labels) != size:
        msg = f"labeling must have one label per vertex ({size}), got {len(labels)}: {labels!r}"
        raise ValueError(msg)
    for i, label in enumerate(labels):
        if type(label) is int:
            continue
        if isinstance(label, (bool, np.bool_)) or not isinstance(
            label, (numbers.Integral, np.integer)
        ):
            msg = (
                f"labels must be ints (op index, -1 for input, -2 for output), "
                f"got {label!r} ({type(label).__name__}) at vertex {i}"
            )
            raise ValueError(msg)  # noqa: TRY004 - see docstring
        labels[i] = int(label)
    return labels


def _initial_hash(out_degree: int, in_degree: int, label: int) -> bytes:
    key = (out_degree, in_degree, label)
    found = _INITIAL_HASHES.get(key)
    if found is None:
        found = _md5(str(key).encode()).hexdigest().encode()
        if len(_INITIAL_HASHES) >= _INITIAL_HASHES_MAX:
            _INITIAL_HASHES.clear()
        _INITIAL_HASHES[key] = found
    return found


def _refine(hashes: list[bytes], in_nbrs: list[list[int]], out_nbrs: list[list[int]]) -> str:
    """Run the V rounds and the final digest; ``hashes`` are the initial hex bytes.

    Written for speed: bytes throughout (hex digests are ASCII, so bytes sort
    and join exactly as the original's strings), and neighbour lists of length
    0, 1 and 2 handled without a call to ``sorted``.
    """
    n = len(hashes)
    if n == 0:
        return _md5(b"[]").hexdigest()
    plan = []
    for v in range(n):
        ins, outs = in_nbrs[v], out_nbrs[v]
        plan.append(
            (
                v,
                len(ins),
                ins[0] if len(ins) == 1 else ins,
                len(outs),
                outs[0] if len(outs) == 1 else outs,
            )
        )
    md5 = _md5
    join = b"".join
    bar_join = b"|".join
    for _round in range(n):
        new = []
        append = new.append
        for v, n_in, ins, n_out, outs in plan:
            if n_in == 1:
                a = hashes[ins]
            elif n_in == 2:
                x, y = hashes[ins[0]], hashes[ins[1]]
                a = x + y if x <= y else y + x
            elif n_in:
                a = join(sorted([hashes[w] for w in ins]))
            else:
                a = b""
            if n_out == 1:
                b = hashes[outs]
            elif n_out == 2:
                x, y = hashes[outs[0]], hashes[outs[1]]
                b = x + y if x <= y else y + x
            elif n_out:
                b = join(sorted([hashes[w] for w in outs]))
            else:
                b = b""
            append(md5(bar_join((a, b, hashes[v]))).hexdigest().encode())
        hashes = new
    # str(sorted(list_of_hex_str)) is "['h1', 'h2', ...]": hex has no quotes to escape.
    return md5(b"['" + b"', '".join(sorted(hashes)) + b"']").hexdigest()


def hash_rows(rows: Sequence[Sequence[int]], labeling: Sequence[int]) -> str:
    """Fast exact NAS-Bench-101 hash of a 0/1 matrix given as rows of Python ints.

    The hot path behind :meth:`ModelSpec.hash_spec`: pure Python, no numpy.
    Same digest as the original ``hash_module`` for every square 0/1 matrix
    (DAG or not, any size).

    Parameters
    ----------
    rows : sequence of sequences
        ``rows[i][j]`` truthy for an edge ``i -> j``; entries should be 0/1 (int,
        bool or float: any non-zero entry counts as one edge).
    labeling : sequence of int
        One label per vertex (``-1`` input, ``-2`` output, op index otherwise).

    Returns
    -------
    str
        32 lowercase hex characters.

    Raises
    ------
    ValueError
        Rows of the wrong length, or labels that are not ints.

    Examples
    --------
    >>> hash_rows([[0, 1], [0, 0]], [-1, -2])
    '043721b9c7fe8c5fad811d47d83132ec'
    """
    n = len(rows)
    if len(labeling) != n or any(type(label) is not int for label in labeling):
        labeling = _labels(labeling, n)
    out_nbrs = []
    in_nbrs: list[list[int]] = [[] for _ in range(n)]
    for v, row in enumerate(rows):
        if len(row) != n:
            msg = f"rows must form a square matrix: row {v} has {len(row)} entries, expected {n}"
            raise ValueError(msg)
        outs = [w for w, x in enumerate(row) if x]
        out_nbrs.append(outs)
        for w in outs:
            in_nbrs[w].append(v)
    hashes = [_initial_hash(len(out_nbrs[v]), len(in_nbrs[v]), labeling[v]) for v in range(n)]
    return _refine(hashes, in_nbrs, out_nbrs)


def _hash_int_rows(rows: list[list[int]], labels: list[int]) -> str:
    """Hash rows of Python ints with the original's meaning of any integer entry."""
    n = len(rows)
    if _BINARY.issuperset(itertools.chain.from_iterable(rows)):
        return hash_rows(rows, labels)
    # Weighted entries: degrees are sums, neighbours are the non-zero entries.
    out_degree = [sum(row) for row in rows]
    in_degree = [sum(row[v] for row in rows) for v in range(n)]
    out_nbrs = [[w for w, x in enumerate(row) if x] for row in rows]
    in_nbrs = [[w for w in range(n) if rows[w][v]] for v in range(n)]
    hashes = [_initial_hash(out_degree[v], in_degree[v], labels[v]) for v in range(n)]
    return _refine(hashes, in_nbrs, out_nbrs)


def hash_module(matrix, labeling: Sequence[int]) -> str:
    """Isomorphism-invariant MD5 hash of a labelled graph (the dataset's key).

    Parameters
    ----------
    matrix : array_like
        Square adjacency matrix, any numeric dtype with integral entries; nested
        lists accepted. Need not be upper triangular.
    labeling : sequence of int
        One label per vertex. ``ModelSpec.hash_spec`` uses ``-1`` for the input,
        ``-2`` for the output and the index of the op in the canonical op list
        otherwise.

    Returns
    -------
    str
        32 lowercase hex characters, equal to the original's for every integer
        matrix. A 0/1 float or bool matrix hashes as the int one (the original
        does not: see the module docstring).

    Raises
    ------
    ValueError
        Non-square matrix, wrong number of labels, non-int labels, or entries
        that are not integral numbers.

    Examples
    --------
    >>> m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    >>> hash_module(m, [-1, 0, 2, -2]) == hash_module(m, [-1, 2, 0, -2])
    True
    """
    array = _as_square(matrix)
    labels = _labels(labeling, array.shape[0])
    if array.dtype.kind == "f" and not (np.all(np.isfinite(array)) and np.array_equal(array, np.trunc(array))):
        # Entries such as 0.5 or nan: outside the space, but the original hashes them (and
        # a query then raises KeyError); give the hash it gives.
        return hash_with_float_degrees(array, labels)
    return _hash_int_rows(_integral_rows(array, "matrix"), labels)


def hash_with_float_degrees(array: np.ndarray, labels: list[int]) -> str:
    """The original's hash of a float matrix (its degree sums are floats).

    The original starts each vertex from the MD5 of ``str((out, in, label))``
    with the degree sums as Python floats (``np.sum(...).tolist()``), so
    ``'(1.5, 1.0, -1)'``; the refinement treats every non-zero entry as an edge.
    """
    v = array.shape[0]
    out_degree = np.sum(array, axis=1).tolist()
    in_degree = np.sum(array, axis=0).tolist()
    hashes = [hashlib.md5(str(t).encode("utf-8")).hexdigest() for t in zip(out_degree, in_degree, labels)]
    edges = array != 0
    for _ in range(v):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in range(v) if edges[w, u]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in range(v) if edges[u, w]))
                    + "|"
                    + hashes[u]
                ).encode("utf-8")
            ).hexdigest()
            for u in range(v)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- isomorphism


def _inverse_permutation(permutation, size: int) -> list[int]:
    try:
        perm = [int(p) for p in permutation]
    except (TypeError, ValueError):
        msg = f"permutation must be a sequence of ints, got {permutation!r}"
        raise ValueError(msg) from None
    if sorted(perm) != list(range(size)):
        msg = f"permutation must hold each of 0..{size - 1} exactly once, got {perm}"
        raise ValueError(msg)
    inverse = [0] * size
    for old, new in enumerate(perm):
        inverse[new] = old
    return inverse


def permute_graph(graph, label: Sequence, permutation: Sequence[int]) -> tuple[np.ndarray, list]:
    """Renumber the vertices of a graph: new vertex ``permutation[v]`` is old vertex ``v``.

    Parameters
    ----------
    graph : array_like
        Square adjacency matrix (need not be a DAG).
    label : sequence
        One label per vertex (any values).
    permutation : sequence of int
        A permutation of ``range(len(label))``.

    Returns
    -------
    (numpy.ndarray, list)
        The permuted matrix as a **bool** array (as the original, whose
        ``np.fromfunction`` of ``entry == 1`` yields bools; entries other than 1
        become False) and the permuted labels.

    Raises
    ------
    ValueError
        Shape or length mismatch, or ``permutation`` not a permutation (the
        original silently builds a wrong graph).

    Examples
    --------
    >>> m, l = permute_graph([[0, 1], [0, 0]], ["a", "b"], [1, 0])
    >>> m.astype(int).tolist(), l
    ([[0, 0], [1, 0]], ['b', 'a'])
    """
    array = _as_square(graph, "graph")
    size = len(label)
    if array.shape[0] != size:
        msg = f"graph has {array.shape[0]} vertices but {size} labels were given"
        raise ValueError(msg)
    if len(permutation) != size:
        msg = f"permutation must have {size} entries, got {len(permutation)}"
        raise ValueError(msg)
    inverse = _inverse_permutation(permutation, size)
    new_matrix = array.take(inverse, axis=0).take(inverse, axis=1) == 1
    new_label = [label[inverse[i]] for i in range(size)]
    return np.asarray(new_matrix, dtype=bool), new_label


def is_isomorphic(graph1, graph2) -> bool:
    """Exact test whether two labelled graphs are the same up to vertex renumbering.

    Same answer as the original (some permutation ``p`` makes
    ``permute_graph(*graph1, p)`` equal to ``graph2``), found by backtracking
    over vertex assignments that agree on label, degrees and the edges among
    already-assigned vertices instead of trying all ``V!`` permutations.
    Entries are compared as the original does: an entry of ``graph1`` is an
    edge when it equals 1, and ``graph2`` must equal that 0/1 pattern.

    Parameters
    ----------
    graph1, graph2 : tuple of (array_like, sequence)
        ``(matrix, labels)`` pairs. Labels are compared with ``==``, element by
        element (a tuple of labels matches the same list, unlike the original).

    Returns
    -------
    bool
        False when the sizes differ (the original raises ``AssertionError``).

    Raises
    ------
    ValueError
        A matrix that is not square or whose size differs from its labels.

    Examples
    --------
    >>> m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    >>> is_isomorphic((m, [-1, 0, 2, -2]), (m, [-1, 2, 0, -2]))
    True
    """
    matrix1, labels1 = _as_square(graph1[0], "graph1 matrix"), list(graph1[1])
    matrix2, labels2 = _as_square(graph2[0], "graph2 matrix"), list(graph2[1])
    for matrix, labels, what in ((matrix1, labels1, "graph1"), (matrix2, labels2, "graph2")):
        if matrix.shape[0] != len(labels):
            msg = f"{what} has {matrix.shape[0]} vertices but {len(labels)} labels"
            raise ValueError(msg)
    n = matrix1.shape[0]
    if matrix2.shape[0] != n:
        return False
    edges1 = (matrix1 == 1).tolist()
    edges2 = (matrix2 == 1).tolist()
    if not np.all((matrix2 == 1) | (matrix2 == 0)):
        return False  # a permuted graph1 only holds 0/1, so it cannot equal graph2

    def signature(edges, labels, v):
        row = edges[v]
        return (
            sum(row),
            sum(r[v] for r in edges),
            row[v],
        ), labels[v]

    sig1 = [signature(edges1, labels1, v) for v in range(n)]
    sig2 = [signature(edges2, labels2, v) for v in range(n)]
    candidates = []
    for v in range(n):
        degrees, label = sig1[v]
        options = [c for c in range(n) if sig2[c][0] == degrees and sig2[c][1] == label]
        if not options:
            return False
        candidates.append(options)
    # Most constrained vertices first keeps the search small.
    order = sorted(range(n), key=lambda v: len(candidates[v]))
    image = [-1] * n
    used = [False] * n

    def extend(depth: int) -> bool:
        if depth == n:
            return True
        v = order[depth]
        row1 = edges1[v]
        for c in candidates[v]:
            if used[c]:
                continue
            row2 = edges2[c]
            consistent = True
            for u in order[:depth]:
                pu = image[u]
                if row1[u] != row2[pu] or edges1[u][v] != edges2[pu][c]:
                    consistent = False
                    break
            if not consistent:
                continue
            image[v] = c
            used[c] = True
            if extend(depth + 1):
                return True
            used[c] = False
            image[v] = -1
        return False

    return extend(0)
