"""Canonical isomorphism keys (layout.canonical_keys) and the query_many path that uses them.

query_many matches specs it has not seen to stored cells by an exact
canonical key instead of the MD5 graph hash; every test here checks that
the outcome is the one the hashing path (``query``, ``hash_spec``) gives.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasbench_arrow import api, layout
from nasbench_arrow.constants import AVAILABLE_OPS, CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from nasbench_arrow.errors import OutOfDomainError
from nasbench_arrow.model_spec import ModelSpec
from nasbench_arrow.testing import sample_cells
from strategies import interior_permutations, random_topological_permutation, valid_specs

_LABEL = {op: i for i, op in enumerate(AVAILABLE_OPS)}


def _key(spec: ModelSpec) -> int:
    """Canonical key of a valid pruned spec."""
    m = np.asarray(spec.matrix)
    v = m.shape[0]
    labels = np.array([[_LABEL[op] for op in spec.ops[1:-1]]], dtype=np.int64).reshape(1, v - 2)
    return int(layout.canonical_keys(m[None], labels, v)[0])


def _brute_key(matrix, labels, v) -> int:
    """The key by its definition, one permutation at a time in Python."""
    best = None
    for p in itertools.permutations(range(1, v - 1)):
        s = (0, *p, v - 1)
        edges = sum(2 ** (v * s[i] + s[j]) for i in range(v) for j in range(v) if matrix[i][j])
        code = edges * 3**5 + sum(labels[k] * 3 ** (s[k + 1] - 1) for k in range(v - 2))
        best = code if best is None else min(best, code)
    return best * 8 + v


def _relabelled(matrix, ops, rng) -> tuple[np.ndarray, list[str]]:
    """The same cell in a random topological vertex order."""
    matrix = np.asarray(matrix)
    perm = random_topological_permutation(matrix.tolist(), lambda options: options[rng.integers(len(options))])
    order = np.argsort(perm)  # order[new] = old
    return matrix[np.ix_(order, order)], [ops[i] for i in order]


def _with_dangling(matrix, ops) -> tuple[np.ndarray, list[str]]:
    """The cell plus an interior vertex fed by the input that reaches nothing (pruned away)."""
    matrix = np.asarray(matrix)
    v = matrix.shape[0]
    grown = np.zeros((v + 1, v + 1), dtype=np.int64)
    grown[: v - 1, : v - 1] = matrix[: v - 1, : v - 1]
    grown[: v - 1, v] = matrix[: v - 1, v - 1]
    grown[0, v - 1] = 1
    return grown, [*ops[:-1], MAXPOOL3X3, ops[-1]]


# ----------------------------------------------------------------------------- the key


def test_canonical_keys_match_their_definition():
    """The table-driven keys equal the brute-force definition for random upper-triangular cells, V = 2..7."""
    rng = np.random.default_rng(0)
    for v in range(2, 8):
        adjacency = np.triu(rng.integers(0, 2, (40, v, v)), 1)
        labels = rng.integers(0, 3, (40, v - 2))
        keys = layout.canonical_keys(adjacency, labels, v)
        assert keys.tolist() == [_brute_key(a.tolist(), lab.tolist(), v) for a, lab in zip(adjacency, labels)]


def test_canonical_key_is_minus_one_below_the_diagonal():
    """A matrix with an entry on or below the diagonal is outside the key's domain: -1."""
    adjacency = np.zeros((2, 4, 4), dtype=np.int8)
    adjacency[:, 0, 3] = 1
    adjacency[1, 2, 1] = 1
    keys = layout.canonical_keys(adjacency, np.zeros((2, 2), dtype=np.int64), 4)
    assert keys[0] >= 0 and keys[1] == -1


def test_canonical_keys_equal_iff_hashes_equal_on_sampled_cells():
    """Over 1,500 sampled cells and two random vertex orders of each: equal key <=> equal MD5 hash."""
    rng = np.random.default_rng(5)
    key_to_hash: dict[int, str] = {}
    hash_to_key: dict[str, int] = {}
    for cell in sample_cells(1500, seed=21):
        for _ in range(2):
            spec = ModelSpec(*_relabelled(cell.matrix, list(cell.ops), rng))
            key, h = _key(spec), spec.hash_spec(AVAILABLE_OPS)
            assert h == cell.module_hash
            assert key_to_hash.setdefault(key, h) == h
            assert hash_to_key.setdefault(h, key) == key
    assert len(key_to_hash) == 1500


@settings(max_examples=150, deadline=None)
@given(valid_specs(), valid_specs(), st.data())
def test_canonical_key_equal_iff_hash_equal(a, b, data):
    """Property: for two random valid cells (one renumbered), keys are equal exactly when hashes are."""
    spec_a, spec_b = ModelSpec(*a), ModelSpec(*b)
    v = len(spec_a.ops)
    perm = data.draw(interior_permutations(v))
    m = np.asarray(spec_a.matrix)
    inverse = np.argsort(perm)
    permuted = m[np.ix_(inverse, inverse)]
    if np.tril(permuted).any():  # the renumbering left the upper triangle: not a ModelSpec
        permuted = m
        inverse = np.arange(v)
    spec_c = ModelSpec(permuted, [spec_a.ops[i] for i in inverse])
    assert _key(spec_a) == _key(spec_c)
    assert spec_a.hash_spec(AVAILABLE_OPS) == spec_c.hash_spec(AVAILABLE_OPS)
    same_hash = spec_a.hash_spec(AVAILABLE_OPS) == spec_b.hash_spec(AVAILABLE_OPS)
    assert (_key(spec_a) == _key(spec_b)) == same_hash


def test_converter_writes_sorted_canonical_index(converted_fixture):
    """cell_canon.npy is sorted and cell_canon_pos.npy gives each key's cell (recomputed from the index)."""
    nb = api.NASBench(converted_fixture.root)
    index = nb.dataset.index
    keys = layout.canonical_keys_of_index(index.cell_adjacency, index.cell_ops, index.cell_num_vertices)
    assert (np.diff(index.cell_canon) > 0).all()
    assert np.array_equal(index.cell_canon, keys[index.cell_canon_pos])
    assert sorted(index.cell_canon_pos.tolist()) == list(range(index.num_cells))


# ----------------------------------------------------------------------------- query_many


def _query_loop(nb: api.NASBench, specs, epochs=108):
    """What a loop of query(repeat=1) gives per spec: values, or the error class and message."""
    out = []
    for s in specs:
        try:
            d = nb.query(s, epochs=epochs, repeat=1)
            out.append(("ok", d["test_accuracy"], d["trainable_parameters"]))
        except (OutOfDomainError, KeyError) as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


def _mixed_specs(fixture, seed: int) -> list:
    """Held cells in random vertex orders and dtypes, with dangling vertices, unknown and invalid specs."""
    rng = np.random.default_rng(seed)
    specs = []
    for h in fixture.info.hashes:
        matrix, ops = fixture.info.cells[h]
        m, o = _relabelled(matrix, list(ops), rng)
        dtype = [np.int64, np.int8, np.float64, bool, np.uint8][int(rng.integers(5))]
        specs.append(ModelSpec(m.astype(dtype), o))
        if len(o) < 7:
            specs.append(ModelSpec(*_with_dangling(m, o)))
    held = set(fixture.info.hashes)
    unknown = [c for c in sample_cells(200, seed=seed) if c.module_hash not in held][:15]
    specs += [ModelSpec(*_relabelled(c.matrix, list(c.ops), rng)) for c in unknown]
    bad = [
        ModelSpec([[0, 0], [0, 0]], [INPUT, OUTPUT]),  # disconnected
        ModelSpec(np.triu(np.ones((7, 7), dtype=np.int64), 1), [INPUT, *[CONV3X3] * 5, OUTPUT]),  # edges
        ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT]),  # op
        ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [CONV1X1, CONV3X3, OUTPUT]),  # first op
        ModelSpec([[0, 2, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT]),  # weighted edge: hashed
    ]
    specs += bad
    order = rng.permutation(len(specs))
    return [specs[i] for i in order]


def test_query_many_equals_the_hashing_path(converted_fixture):
    """query_many on new specs (isomorphic variants, dtypes, dangling vertices, V 2..7, unknown, invalid) = query loop."""
    specs = _mixed_specs(converted_fixture, seed=1)
    assert {len(s.ops) for s in specs if s.valid_spec} >= set(range(2, 8))
    want = _query_loop(api.NASBench(converted_fixture.root), specs)
    nb = api.NASBench(converted_fixture.root)
    df = nb.query_many(specs, repeat=1, errors="null", count_budget=False)
    for w, row, spec in zip(want, df.iter_rows(named=True), specs):
        if w[0] == "ok":
            assert (row["test_accuracy"], row["trainable_parameters"]) == w[1:]
            assert row["module_hash"] == spec.hash_spec(AVAILABLE_OPS)
        else:
            assert row["test_accuracy"] is None
    # The cache it filled gives the hashing path's answers to query() too.
    assert _query_loop(nb, specs) == want


def test_query_many_raises_what_the_query_loop_raises(converted_fixture):
    """errors='raise': the first failing spec raises the class and message a query loop raises first."""
    specs = _mixed_specs(converted_fixture, seed=2)
    first = next(w for w in _query_loop(api.NASBench(converted_fixture.root), specs) if w[0] != "ok")
    error = OutOfDomainError if first[0] == "OutOfDomainError" else KeyError
    with pytest.raises(error) as info:
        api.NASBench(converted_fixture.root).query_many(specs, repeat=1)
    assert str(info.value) == first[1]


def test_query_many_does_not_hash_specs_of_stored_cells(converted_fixture, monkeypatch):
    """Specs of stored cells are matched by canonical key: no MD5 hash is computed."""
    rng = np.random.default_rng(3)
    specs = [ModelSpec(*_relabelled(*converted_fixture.info.cells[h], rng)) for h in converted_fixture.info.hashes]
    nb = api.NASBench(converted_fixture.root)

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed a spec")

    monkeypatch.setattr(ModelSpec, "hash_spec", no_hashing)
    df = nb.query_many(specs, repeat=0, count_budget=False)
    assert df["module_hash"].to_list() == list(converted_fixture.info.hashes)


def test_shared_or_missing_canonical_keys_fall_back_to_hashing(converted_fixture):
    """Keys held by two stored cells (forged here) or by none are decided by the MD5 hash: same rows."""
    rng = np.random.default_rng(4)
    hashes = list(converted_fixture.info.hashes)
    specs = [ModelSpec(*_relabelled(*converted_fixture.info.cells[h], rng)) for h in hashes]
    nb = api.NASBench(converted_fixture.root)
    index = nb.dataset.index
    canon = np.array(index.cell_canon)
    canon[11] = canon[10]  # cells 10 and 11 (by key order) now "share" a key; 11's own key is gone
    index.cell_canon = canon
    _rows, found, shared = index.find_canonical(canon[[10, 12]])
    assert shared.tolist() == [True, False] and found.tolist() == [False, True]
    df = nb.query_many(specs, repeat=2, count_budget=False)
    assert df["module_hash"].to_list() == hashes
    assert df["test_accuracy"].null_count() == 0


def test_query_many_with_other_available_ops_hashes(converted_fixture):
    """With config['available_ops'] reordered, specs hash with other labels (as query does): nothing found."""
    h = converted_fixture.info.hashes[5]
    spec = ModelSpec(*converted_fixture.info.cells[h])
    nb = api.NASBench(converted_fixture.root)
    nb.config["available_ops"] = [MAXPOOL3X3, CONV1X1, CONV3X3]
    want = _query_loop(nb, [spec])
    df = nb.query_many([spec], repeat=1, errors="null", count_budget=False)
    if want[0][0] == "ok":
        assert df["test_accuracy"][0] == want[0][1]
    else:
        assert df["test_accuracy"][0] is None


def test_single_canonical_key_equals_the_vectorised_one():
    """layout.canonical_key (one cell, Python tables) equals canonical_keys for cells of 2..7 vertices, -1 below the diagonal."""
    from nasbench_arrow.constants import AVAILABLE_OPS
    from nasbench_arrow.testing import sample_cells

    checked = set()
    for cell in sample_cells(600, seed=21):
        matrix = np.asarray(cell.matrix if hasattr(cell, "matrix") else cell[0])
        ops = list(cell.ops if hasattr(cell, "ops") else cell[1])
        v = matrix.shape[0]
        labels = [AVAILABLE_OPS.index(op) for op in ops[1:-1]]
        labeling = sum(label * 3**k for k, label in enumerate(labels))
        expected = layout.canonical_keys(matrix[None], np.array(labels, dtype=np.int64).reshape(1, v - 2), v)[0]
        assert layout.canonical_key(matrix.ravel().tolist(), labeling, v) == expected
        lower = matrix.copy()
        lower[v - 1, 0] = 1
        assert layout.canonical_key(lower.ravel().tolist(), labeling, v) == -1
        checked.add(v)
    assert checked == {2, 3, 4, 5, 6, 7}
