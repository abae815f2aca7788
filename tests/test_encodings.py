"""Encodings against literal models of the published definitions (naszilla / BANANAS, NASLib).

The models below are written from the definitions in plain loops over a
padded 7x7 cell, independently of the vectorised code in
``nasbench_arrow.encodings``; the tests compare the two on drawn cells.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasbench_arrow import encodings
from nasbench_arrow.api import ModelSpec, NASBench
from nasbench_arrow.constants import AVAILABLE_OPS, CONV1X1, CONV3X3, MAXPOOL3X3
from nasbench_arrow.graph import permute_graph
from strategies import random_topological_permutation, valid_specs

N = 7


# ----------------------------------------------------------------------------- literal models


def literal_pad(matrix, ops):
    """naszilla/NASLib convert_to_cell: pad a V-vertex cell to 7 with conv3x3 vertices before the output."""
    n = len(matrix)
    if n == N:
        return [list(map(int, r)) for r in matrix], list(ops)
    new = [[0] * N for _ in range(N)]
    for i in range(N):
        for j in range(N):
            if j < n - 1 and i < n:
                new[i][j] = int(matrix[i][j])
            elif j == n - 1 and i < n:
                new[i][N - 1] = int(matrix[i][j])
    new_ops = []
    for i in range(N):
        if i < n - 1:
            new_ops.append(ops[i])
        elif i < N - 1:
            new_ops.append(CONV3X3)
        else:
            new_ops.append("output")
    return new, new_ops


def literal_adj(matrix, ops):
    """naszilla encode_adj: 21 upper entries, then encoding[-i] = value of op i."""
    value = {CONV1X1: 0.0, CONV3X3: 0.5, MAXPOOL3X3: 1.0}
    enc = [0.0] * 26
    n = 0
    for i in range(N - 1):
        for j in range(i + 1, N):
            enc[n] = matrix[i][j]
            n += 1
    for i in range(1, N - 1):
        enc[-i] = value[ops[i]]
    return enc


def literal_paths(matrix, ops):
    """naszilla get_paths: every input->output path as its list of interior ops."""
    paths = [[[]] if matrix[0][j] else [] for j in range(N)]
    for i in range(1, N - 1):
        for j in range(1, N):
            if matrix[i][j]:
                for p in paths[i]:
                    paths[j].append([*p, ops[i]])
    return paths[-1]


def literal_path_encoding(matrix, ops):
    """naszilla encode_paths(get_path_indices): index sum_i 3**i * (op_i + 1), one bit each."""
    mapping = {CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2}
    enc = [0] * 364
    for path in literal_paths(matrix, ops):
        index = 0
        for i, op in enumerate(path):
            index += 3**i * (mapping[op] + 1)
        enc[index] = 1
    return enc


def literal_one_hot(matrix, ops):
    """NASLib encode_adj (adjacency_one_hot): 21 upper entries, then per vertex 1..5 a one-hot."""
    op_dict = {CONV1X1: [0, 0, 1], CONV3X3: [0, 1, 0], MAXPOOL3X3: [1, 0, 0]}
    enc = []
    for i in range(N - 1):
        for j in range(i + 1, N):
            enc.append(matrix[i][j])
    for i in range(1, N - 1):
        enc += op_dict[ops[i]]
    return enc


def literal_gcn(matrix, ops):
    """NASLib encode_gcn: adjacency, and one-hot ops over [output, input, conv3x3, conv1x1, maxpool]."""
    op_map = ["output", "input", CONV3X3, CONV1X1, MAXPOOL3X3]
    one_hot = [[1.0 if i == op_map.index(op) else 0.0 for i in range(5)] for op in ops]
    return [float(x) for row in matrix for x in row] + [x for row in one_hot for x in row]


LITERAL = {
    "adjacency": literal_adj,
    "path": literal_path_encoding,
    "adjacency_one_hot": literal_one_hot,
    "gcn": literal_gcn,
}


def pruned(matrix, ops):
    spec = ModelSpec(np.array(matrix), ops)
    return spec, spec.matrix.tolist(), list(spec.ops)


# ----------------------------------------------------------------------------- tests


@settings(max_examples=150)
@given(valid_specs(), st.sampled_from(sorted(LITERAL)))
def test_each_kind_equals_its_literal_model(cell, kind):
    """encode(spec, kind) equals the reference definition on the padded pruned cell."""
    spec, m, o = pruned(*cell)
    expected = LITERAL[kind](*literal_pad(m, o))
    got = encodings.encode([spec], kind, dtype=np.float64)[0]
    assert got.tolist() == [float(x) for x in expected]


@settings(max_examples=60)
@given(valid_specs(), st.integers(1, 364))
def test_trunc_path_is_the_head_of_path(cell, cutoff):
    """trunc_path with cutoff c is the first c bits of the literal path encoding."""
    spec, m, o = pruned(*cell)
    expected = literal_path_encoding(*literal_pad(m, o))[:cutoff]
    assert encodings.encode([spec], "trunc_path", cutoff=cutoff)[0].tolist() == expected


def test_trunc_path_default_cutoff_is_40():
    """naszilla's default cutoff: 40 columns."""
    spec = ModelSpec([[0, 1], [0, 0]], ["input", "output"])
    assert encodings.encode([spec], "trunc_path").shape == (1, 40)


@settings(max_examples=80)
@given(valid_specs(min_vertices=7, max_vertices=7), st.randoms(use_true_random=False))
def test_unpruned_pairs_are_encoded_as_given(cell, rnd):
    """A (matrix, ops) pair is not pruned: adjacency kinds see the dangling vertices, paths do not."""
    matrix, ops = cell
    assert encodings.encode([(matrix, ops)], "adjacency")[0].tolist() == literal_adj(matrix, ops)
    spec = ModelSpec(np.array(matrix), ops)
    # Pruning never changes the set of input->output paths.
    assert (encodings.encode([(matrix, ops)], "path") == encodings.encode([spec], "path")).all()


@settings(max_examples=100)
@given(valid_specs(), st.randoms(use_true_random=False))
def test_path_encodings_are_invariant_under_vertex_renumbering(cell, rnd):
    """Equal (isomorphic) cells in any vertex order give equal path and trunc_path rows."""
    matrix, ops = cell
    perm = random_topological_permutation(matrix, rnd.choice)
    m2, o2 = permute_graph(np.array(matrix), ops, perm)
    a, b = ModelSpec(np.array(matrix), ops), ModelSpec(m2, list(o2))
    assert a.hash_spec(list(AVAILABLE_OPS)) == b.hash_spec(list(AVAILABLE_OPS))
    for kind in ("path", "trunc_path"):
        rows = encodings.encode([a, b], kind)
        assert (rows[0] == rows[1]).all()
    assert encodings.path_distance(a, b) == 0


def test_known_cell_values():
    """Hand-checked rows of a 3-vertex cell: input->maxpool->output plus input->output."""
    spec = ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", MAXPOOL3X3, "output"])
    # Padded: edges (0,1), (0,6), (1,6) -> upper-triangle positions 0, 5, 10.
    adj = encodings.encode([spec], "adjacency")[0]
    assert np.flatnonzero(adj[:21]).tolist() == [0, 5, 10]
    assert adj[21:].tolist() == [0.5, 0.5, 0.5, 0.5, 1.0]  # vertices 5, 4, 3, 2 (padding conv3x3), 1
    assert np.flatnonzero(encodings.encode([spec], "path")[0]).tolist() == [0, 3]
    assert encodings.path_indices(spec) == (0, 3)


def test_gcn_arrays_match_the_flat_rows():
    """gcn_arrays holds the same numbers as the flat gcn rows, with NASLib's all-ones mask."""
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", CONV1X1, "output"])
    arrays = encodings.gcn_arrays([spec])
    flat = encodings.encode([spec], "gcn")[0]
    assert flat[:49].tolist() == arrays["adjacency"][0].ravel().tolist()
    assert flat[49:].tolist() == arrays["operations"][0].ravel().tolist()
    assert arrays["mask"].tolist() == [[1.0] * 7]
    assert arrays["num_vertices"].tolist() == [7]


@pytest.mark.parametrize(
    ("cells", "kind", "kwargs", "error", "match"),
    [
        ([], "bogus", {}, ValueError, "kind must be one of"),
        ([], "path", {"cutoff": 5}, ValueError, "cutoff applies to kind 'trunc_path' only"),
        ([], "trunc_path", {"cutoff": 0}, ValueError, "cutoff must be an int in 1..364"),
        ([42], "path", {}, TypeError, "cell 0: expected a ModelSpec or a"),
        ([([[0, 1], [0, 0]], ["input", "conv5x5", "output"])], "path", {}, ValueError, "one op per vertex"),
        ([([[0, 1], [0, 0]], ["input", "conv5x5"])], "path", {}, ValueError, "must start with 'input' and end"),
        ([([[0, 1], [1, 0]], ["input", "output"])], "path", {}, ValueError, "upper-triangular"),
        ([ModelSpec([[0, 0], [0, 0]], ["input", "output"])], "path", {}, ValueError, "cell 0: the spec is invalid"),
    ],
)
def test_bad_input_is_a_clear_error(cells, kind, kwargs, error, match):
    """Unknown kinds, cutoffs and malformed cells raise typed errors naming the problem and the cell."""
    with pytest.raises(error, match=match):
        encodings.encode(cells, kind, **kwargs)


def literal_edit_distance(a, b):
    """naszilla adj_distance on padded cells: differing matrix entries plus differing ops."""
    (ma, oa), (mb, ob) = literal_pad(*a), literal_pad(*b)
    return sum(ma[i][j] != mb[i][j] for i in range(N) for j in range(N)) + sum(x != y for x, y in zip(oa, ob))


@settings(max_examples=80)
@given(valid_specs(), valid_specs())
def test_distances_equal_their_literal_models(c1, c2):
    """edit_distance and path_distance equal naszilla's adj_distance and path_distance."""
    s1, m1, o1 = pruned(*c1)
    s2, m2, o2 = pruned(*c2)
    assert encodings.edit_distance(s1, s2) == literal_edit_distance((m1, o1), (m2, o2))
    p1, p2 = literal_path_encoding(*literal_pad(m1, o1)), literal_path_encoding(*literal_pad(m2, o2))
    assert encodings.path_distance(s1, s2) == sum(x != y for x, y in zip(p1, p2))
    assert encodings.path_distance(s1, s2, cutoff=40) == sum(x != y for x, y in zip(p1[:40], p2[:40]))


def literal_neighbours(matrix, ops):
    """Brute force: every single edge flip or op change of the padded cell, valid, distinct, not itself."""
    m, o = literal_pad(matrix, ops)
    own = ModelSpec(np.array(m), o).hash_spec(list(AVAILABLE_OPS))
    found = set()
    candidates = []
    for i in range(N):
        for j in range(i + 1, N):
            f = [row[:] for row in m]
            f[i][j] = 1 - f[i][j]
            candidates.append((f, o))
    for v in range(1, N - 1):
        for op in AVAILABLE_OPS:
            if op != o[v]:
                candidates.append((m, [*o[:v], op, *o[v + 1 :]]))
    for cm, co in candidates:
        s = ModelSpec(np.array(cm), co)
        if s.valid_spec and int(np.sum(s.matrix)) <= 9:
            found.add(s.hash_spec(list(AVAILABLE_OPS)))
    found.discard(own)
    return found


@settings(max_examples=60)
@given(valid_specs())
def test_neighbours_are_all_cells_one_edit_away(cell):
    """neighbours() returns exactly the distinct valid cells one edge flip or op change away."""
    spec, m, o = pruned(*cell)
    got = [n.hash_spec(list(AVAILABLE_OPS)) for n in encodings.neighbours(spec)]
    assert len(got) == len(set(got))
    assert set(got) == literal_neighbours(m, o)


# ----------------------------------------------------------------------------- dataset cells


@pytest.fixture(scope="module")
def nb(converted_fixture):
    return NASBench(converted_fixture.root, seed=0)


@pytest.mark.parametrize("kind", encodings.KINDS)
def test_encode_dataset_equals_encoding_the_specs(nb, kind):
    """encode_dataset (from the index, hash_iterator order) equals encode() of the stored cells as specs."""
    hashes = list(nb.hash_iterator())
    specs = [nb.spec_from_hash(h) for h in hashes]
    got = encodings.encode_dataset(nb, kind)
    assert got.shape[0] == len(hashes)
    assert (got == encodings.encode(specs, kind)).all()
    subset = hashes[::-7]
    assert (encodings.encode_dataset(nb, kind, subset) == encodings.encode(specs[::-7], kind)).all()


def test_encode_frame_joins_with_cells(nb):
    """encode_frame gives module_hash plus an Array column that joins one to one with nb.cells()."""
    frame = encodings.encode_frame(nb, "path")
    joined = nb.cells().collect().join(frame, on="module_hash")
    assert joined.height == nb.cells().collect().height
    h = joined["module_hash"][0]
    assert joined["path"][0].to_list() == encodings.encode([nb.spec_from_hash(h)], "path")[0].tolist()


def test_encode_dataset_unknown_hash_is_a_key_error(nb):
    """A hash the dataset does not hold raises KeyError naming it."""
    with pytest.raises(KeyError, match="0" * 32):
        encodings.encode_dataset(nb, "path", ["0" * 32])
