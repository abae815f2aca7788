"""ModelSpec: validation, pruning, copies and the hash, against the original and real data."""

from __future__ import annotations

import copy
import doctest
import json
import pickle
import random
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_nasbench as ref
from nasbench_arrow import model_spec as model_spec_module
from nasbench_arrow.constants import AVAILABLE_OPS, CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from nasbench_arrow.errors import MissingDependencyError
from nasbench_arrow.graph import hash_module, is_full_dag, permute_graph
from nasbench_arrow.model_spec import ModelSpec, is_upper_triangular
from strategies import (
    MATRIX_DTYPES,
    interior_permutations,
    malformed_specs,
    op_lists,
    random_topological_permutation,
    specs,
    topological_permutations,
    upper_triangular_matrices,
    valid_specs,
)

INCEPTION_HASH = "28cfc7874f6d200472e1a9dcd8650aa0"
SPEC_ERRORS = (
    "matrix must be square",
    "length of ops must match matrix dimensions",
    "matrix must be upper triangular",
)


def _assert_same_as_reference(spec: ModelSpec, reference: ref.ModelSpec) -> None:
    """Every public attribute equal in value, type and dtype."""
    assert spec.valid_spec == reference.valid_spec
    assert spec.data_format == reference.data_format
    for ours, theirs in (
        (spec.original_matrix, reference.original_matrix),
        (spec.matrix, reference.matrix),
    ):
        if theirs is None:
            assert ours is None
        else:
            assert type(ours) is type(theirs)
            assert ours.dtype == theirs.dtype
            assert ours.shape == theirs.shape
            assert np.array_equal(ours, theirs)
    assert spec.original_ops == reference.original_ops
    assert spec.ops == reference.ops


# ----------------------------------------------------------------------------- pruning (original cases)


@pytest.mark.parametrize(
    "matrix",
    [
        [[0, 1, 0], [0, 0, 1], [0, 0, 0]],
        [[0, 1, 1], [0, 0, 1], [0, 0, 0]],
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
    ],
)
def test_full_dags_need_no_pruning(matrix):
    """A spec whose vertices all lie on input->output paths keeps its matrix and ops."""
    ops = [0] * len(matrix)
    spec = ModelSpec(np.array(matrix), ops)
    assert spec.valid_spec
    assert np.array_equal(spec.original_matrix, spec.matrix)
    assert spec.original_ops == spec.ops


@pytest.mark.parametrize(
    ("matrix", "ops"),
    [
        ([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], [1, 2, 4]),  # island vertex 2
        (
            [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
            [1, 2, 5],
        ),  # island edge 2 -> 3
        ([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [1, 3, 4]),  # 1 feeds nothing
        (
            [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
            [1, 3, 4],
        ),  # 1 is fed by nothing
    ],
)
def test_islands_and_dangling_vertices_are_pruned(matrix, ops):
    """Vertices off every input->output path are removed from matrix and ops."""
    spec = ModelSpec(np.array(matrix), list(range(1, len(matrix) + 1)))
    assert spec.valid_spec
    assert spec.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert spec.ops == ops


@pytest.mark.parametrize(
    "matrix",
    [
        [[0, 0], [0, 0]],
        [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        [[0]],
        np.zeros((0, 0), dtype=int),
    ],
)
def test_disconnected_specs_are_invalid(matrix):
    """When the input does not reach the output, valid_spec is False and matrix/ops are None."""
    spec = ModelSpec(matrix, list(range(len(matrix))))
    assert spec.valid_spec is False
    assert spec.matrix is None and spec.ops is None
    assert np.array_equal(spec.original_matrix, np.array(matrix))


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("matrix", "ops", "message"),
    [
        ([[0, 1, 0], [0, 0, 1]], [INPUT, CONV3X3, OUTPUT], "matrix must be square"),
        ([0, 1, 0], [INPUT, CONV3X3, OUTPUT], "matrix must be square"),
        ([[[0]]], [INPUT], "matrix must be square"),
        (5, [INPUT], "matrix must be square"),
        ([[0, 1], [0, 0]], [INPUT, CONV3X3, OUTPUT], "length of ops must match matrix dimensions"),
        ([[0, 1], [1, 0]], [INPUT, OUTPUT], "matrix must be upper triangular"),
        ([[1, 1], [0, 0]], [INPUT, OUTPUT], "matrix must be upper triangular"),
        ([[0, 1], [0, float("nan")]], [INPUT, OUTPUT], "matrix must be upper triangular"),
        ([[0, 1], [-1, 0]], [INPUT, OUTPUT], "matrix must be upper triangular"),
    ],
)
def test_invalid_input_raises_the_original_messages(matrix, ops, message):
    """Bad shapes, lengths and lower-triangle entries raise ValueError with the original text."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        ModelSpec(matrix, ops)
    with pytest.raises(ValueError, match=f"^{message}$"):
        ref.ModelSpec(matrix, ops)


def test_ragged_matrix_raises_value_error():
    """A ragged nested list raises ValueError (from numpy), never another exception."""
    with pytest.raises(ValueError):
        ModelSpec([[0, 1, 0], [0, 0], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])


def test_ops_that_are_not_a_sequence_raise_value_error():
    """ops without a length raise ValueError naming what was given."""
    with pytest.raises(ValueError, match="ops must be a sequence"):
        ModelSpec([[0, 1], [0, 0]], 7)


@settings(max_examples=300)
@given(malformed_specs())
def test_malformed_specs_raise_value_error_only(bad):
    """Every malformed (matrix, ops) raises ValueError, never another exception."""
    matrix, ops = bad
    with pytest.raises(ValueError):
        ModelSpec(matrix, ops)


@settings(max_examples=300)
@given(
    st.integers(0, 7).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.integers(-1, 2), min_size=n, max_size=n), min_size=n, max_size=n),
            op_lists(max(n, 2)).map(lambda ops, n=n: ops[:n]),
        )
    )
)
def test_any_square_int_matrix_behaves_as_reference(data):
    """Random square int matrices either raise the reference's ValueError or match it exactly."""
    matrix, ops = data
    try:
        expected = ref.ModelSpec(matrix, list(ops))
    except ValueError as exc:
        with pytest.raises(ValueError, match=f"^{exc}$"):
            ModelSpec(matrix, ops)
        return
    _assert_same_as_reference(ModelSpec(matrix, ops), expected)


# ----------------------------------------------------------------------------- copies, dtypes, types


@settings(max_examples=300)
@given(specs(1, 9, max_edges=None), st.sampled_from(MATRIX_DTYPES), st.booleans())
def test_attributes_equal_reference_in_value_and_dtype(spec, dtype, as_array):
    """original_matrix, matrix, ops and valid_spec equal the literal reference's, dtype included."""
    matrix, ops = spec
    given_matrix = np.array(matrix, dtype=dtype) if as_array else matrix
    _assert_same_as_reference(
        ModelSpec(given_matrix, list(ops)), ref.ModelSpec(given_matrix, list(ops))
    )


@pytest.mark.parametrize(
    ("given_matrix", "dtype"),
    [
        ([[0, 1], [0, 0]], np.int64),
        ([[False, True], [False, False]], np.bool_),
        ([[0.0, 1.0], [0.0, 0.0]], np.float64),
        (np.array([[0, 1], [0, 0]], dtype=np.int8), np.int8),
        (np.array([[0, 1], [0, 0]], dtype=np.uint16), np.uint16),
    ],
)
def test_matrix_dtype_follows_numpy_like_the_original(given_matrix, dtype):
    """matrix keeps the dtype np.array gives the input (int64 for Python ints)."""
    spec = ModelSpec(given_matrix, [INPUT, OUTPUT])
    assert spec.matrix.dtype == dtype
    assert spec.original_matrix.dtype == dtype


def test_original_matrix_and_ops_are_independent_copies():
    """Changing the inputs, or the spec's arrays, after construction leaks nowhere."""
    matrix = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    ops = [INPUT, CONV3X3, OUTPUT]
    spec = ModelSpec(matrix, ops)
    matrix[0, 1] = 0
    ops[1] = MAXPOOL3X3
    assert spec.original_matrix[0, 1] == 1 and spec.matrix[0, 1] == 1
    assert spec.original_ops[1] == CONV3X3 and spec.ops[1] == CONV3X3
    spec.matrix[0, 2] = 0
    spec.ops.append("x")
    assert spec.original_matrix[0, 2] == 1
    assert spec.original_ops == [INPUT, CONV3X3, OUTPUT]
    assert spec.original_matrix is not matrix and spec.original_ops is not ops


def test_mutable_op_objects_are_deep_copied():
    """Unusual mutable op objects are deep-copied as the original does."""
    ops = [[INPUT], [CONV3X3], [OUTPUT]]
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ops)
    ops[1].append("changed")
    assert spec.original_ops[1] == [CONV3X3]
    assert spec.ops[1] == [CONV3X3]


def test_object_arrays_are_deep_copied_and_pruned():
    """An object-dtype matrix is handled like the reference (deep copy, then pruning)."""
    matrix = np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=object)
    spec = ModelSpec(matrix, [INPUT, CONV3X3, OUTPUT])
    _assert_same_as_reference(spec, ref.ModelSpec(matrix, [INPUT, CONV3X3, OUTPUT]))
    assert spec.matrix.dtype == object and spec.matrix.tolist() == [[0, 1], [0, 0]]


def test_tuple_ops_work_and_pruned_ops_are_a_list():
    """ops given as a tuple are accepted, even when pruning removes vertices."""
    ops = (INPUT, CONV3X3, MAXPOOL3X3, OUTPUT)
    spec = ModelSpec([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ops)
    assert spec.ops == [INPUT, MAXPOOL3X3, OUTPUT]
    assert spec.original_ops == ops
    full = ModelSpec([[0, 1], [0, 0]], (INPUT, OUTPUT))
    assert full.ops == [INPUT, OUTPUT]


def test_unknown_and_non_string_ops_are_accepted_by_the_spec():
    """ModelSpec itself does not check op names (the API does)."""
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, 42, OUTPUT])
    assert spec.valid_spec and spec.ops == [INPUT, 42, OUTPUT]


def test_data_format_is_kept():
    """data_format is stored as given, channels_last by default."""
    assert ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT]).data_format == "channels_last"
    assert (
        ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT], "channels_first").data_format
        == "channels_first"
    )


def test_equality_is_identity_as_in_the_original():
    """Two specs of the same cell are not ==; hashes are the way to compare."""
    a = ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT])
    b = ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT])
    assert a != b
    assert a == a  # noqa: PLR0124 - identity equality is the behaviour under test
    assert a.hash_spec(AVAILABLE_OPS) == b.hash_spec(AVAILABLE_OPS)
    assert "__eq__" not in ModelSpec.__dict__


def test_spec_survives_pickling():
    """A pickled spec comes back with equal attributes and hash."""
    spec = ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [INPUT, CONV1X1, OUTPUT])
    back = pickle.loads(pickle.dumps(spec))
    assert np.array_equal(back.matrix, spec.matrix) and back.ops == spec.ops
    assert back.hash_spec(AVAILABLE_OPS) == spec.hash_spec(AVAILABLE_OPS)


def test_is_upper_triangular_is_reexported_like_the_original_module():
    """model_spec.is_upper_triangular exists, as in nasbench.lib.model_spec."""
    assert is_upper_triangular(np.array([[0, 1], [0, 0]]))
    assert not is_upper_triangular(np.array([[1]]))


# ----------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(specs(2, 9, max_edges=None))
def test_pruning_is_idempotent(spec):
    """Building a spec from a pruned spec changes nothing."""
    first = ModelSpec(*spec)
    if not first.valid_spec:
        return
    second = ModelSpec(first.matrix, first.ops)
    assert second.valid_spec
    assert np.array_equal(second.matrix, first.matrix) and second.matrix.dtype == first.matrix.dtype
    assert second.ops == first.ops


@settings(max_examples=300)
@given(specs(2, 9, max_edges=None))
def test_pruned_valid_spec_is_a_full_dag(spec):
    """After pruning, every vertex of a valid spec is on an input->output path."""
    pruned = ModelSpec(*spec)
    if pruned.valid_spec:
        assert is_full_dag(pruned.matrix)


@settings(max_examples=300)
@given(
    valid_specs(2, 7).flatmap(
        lambda s: st.tuples(
            st.just(s), interior_permutations(len(s[0])), topological_permutations(s[0])
        )
    )
)
def test_spec_hash_is_invariant_under_interior_renumbering(data):
    """Renumbering interior vertices changes neither hash_spec nor the graph hash."""
    (matrix, ops), perm, topo = data
    expected = ModelSpec(matrix, ops).hash_spec(AVAILABLE_OPS)
    tmatrix, tops = permute_graph(matrix, ops, topo)
    assert is_upper_triangular(tmatrix)
    assert ModelSpec(tmatrix.astype(int), tops).hash_spec(AVAILABLE_OPS) == expected
    pmatrix, pops = permute_graph(matrix, ops, perm)
    labels = [-1, *[AVAILABLE_OPS.index(op) for op in pops[1:-1]], -2]
    original = [-1, *[AVAILABLE_OPS.index(op) for op in ops[1:-1]], -2]
    assert hash_module(pmatrix, labels) == hash_module(matrix, original)


@settings(max_examples=300)
@given(valid_specs(2, 7), st.sampled_from(MATRIX_DTYPES), st.booleans())
def test_hash_spec_equals_reference_for_every_dtype(spec, dtype, cached_first):
    """hash_spec equals the reference's int-matrix hash whatever the matrix dtype."""
    matrix, ops = spec
    expected = ref.ModelSpec(np.array(matrix), list(ops)).hash_spec(list(AVAILABLE_OPS))
    if not cached_first:
        model_spec_module._cached_hash.cache_clear()
    assert ModelSpec(np.array(matrix, dtype=dtype), ops).hash_spec(AVAILABLE_OPS) == expected


# ----------------------------------------------------------------------------- hash


def test_hash_spec_labels_ops_by_canonical_index():
    """hash_spec uses -1/-2 for input/output and the canonical index for interior ops."""
    matrix = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    spec = ModelSpec(matrix, [INPUT, CONV1X1, MAXPOOL3X3, OUTPUT])
    expected = ref.hash_module(np.array(matrix), [-1, 1, 2, -2])
    assert spec.hash_spec(AVAILABLE_OPS) == expected
    assert spec.hash_spec(list(AVAILABLE_OPS)) == expected
    # A different canonical order relabels the ops and so changes the hash.
    reordered = [MAXPOOL3X3, CONV1X1, CONV3X3]
    assert spec.hash_spec(reordered) == ref.hash_module(np.array(matrix), [-1, 1, 0, -2])


def test_hash_spec_rejects_unknown_ops_with_value_error():
    """An interior op missing from canonical_ops raises ValueError (as list.index does)."""
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT])
    with pytest.raises(ValueError, match="conv5x5"):
        spec.hash_spec(AVAILABLE_OPS)
    unhashable = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, [CONV3X3], OUTPUT])
    with pytest.raises(ValueError, match="canonical"):
        unhashable.hash_spec(AVAILABLE_OPS)


def test_hash_spec_of_invalid_spec_raises_value_error():
    """Hashing a spec whose input does not reach its output raises ValueError."""
    with pytest.raises(ValueError, match="invalid spec"):
        ModelSpec([[0, 0], [0, 0]], [INPUT, OUTPUT]).hash_spec(AVAILABLE_OPS)


def test_hash_spec_sees_changes_made_after_construction():
    """hash_spec reads the current matrix and ops, so the cache never returns a stale hash."""
    spec = ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    before = spec.hash_spec(AVAILABLE_OPS)
    spec.matrix[0, 2] = 0
    after_edge = spec.hash_spec(AVAILABLE_OPS)
    assert after_edge != before
    assert after_edge == ref.hash_module(np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]]), [-1, 0, -2])
    spec.ops[1] = MAXPOOL3X3
    assert spec.hash_spec(AVAILABLE_OPS) == ref.hash_module(spec.matrix, [-1, 2, -2])
    spec.matrix = [[0, 1], [0, 0]]
    spec.ops = [INPUT, OUTPUT]
    assert spec.hash_spec(AVAILABLE_OPS) == ref.hash_module(np.array([[0, 1], [0, 0]]), [-1, -2])


def test_hash_spec_of_weighted_entries_matches_reference():
    """A matrix holding a 2 hashes as the original would (sums as degrees)."""
    matrix = [[0, 2, 1], [0, 0, 1], [0, 0, 0]]
    ops = [INPUT, CONV3X3, OUTPUT]
    assert ModelSpec(matrix, ops).hash_spec(AVAILABLE_OPS) == ref.ModelSpec(matrix, ops).hash_spec(
        list(AVAILABLE_OPS)
    )


# ----------------------------------------------------------------------------- real hashes


def _real_cells(realdata) -> list[tuple[str, list, list]]:
    """(hash, matrix, ops) of every real cell in the shared data."""
    cells = []
    for cell in json.loads((realdata / "vis_first1000_by_hash.json").read_text()):
        cells.append((cell["hash"], cell["matrix"], cell["ops"]))
    for key, cell in json.loads((realdata / "naslib_nb101_dummy_30.json").read_text()).items():
        cells.append((key, cell["module_adjacency"], cell["module_operations"]))
    inception = json.loads((realdata / "inception_28cfc787.json").read_text())
    cells.append((inception["hash"], inception["pruned_matrix"], inception["pruned_ops"]))
    cells.append(
        (inception["hash"], inception["original_spec"]["matrix"], inception["original_spec"]["ops"])
    )
    first = json.loads((realdata / "first_arch_00005c14.json").read_text())
    cells.append((first["hash"], first["matrix"], first["ops"]))
    return cells


def test_real_cells_hash_to_their_dataset_keys(realdata):
    """All 1,033 real cells hash to their dataset key, as given and as float and bool matrices."""
    cells = _real_cells(realdata)
    assert len(cells) == 1000 + 30 + 2 + 1
    for expected, matrix, ops in cells:
        for given_matrix in (
            matrix,
            np.array(matrix, dtype=np.float64),
            np.array(matrix, dtype=bool),
        ):
            model_spec_module._cached_hash.cache_clear()
            assert ModelSpec(given_matrix, ops).hash_spec(AVAILABLE_OPS) == expected


def test_real_cells_hash_right_after_random_renumbering(realdata):
    """Every real cell keeps its key under random renumberings of its interior vertices."""
    rng = random.Random(101)
    for expected, matrix, ops in _real_cells(realdata):
        n = len(matrix)
        # A topological renumbering keeps the matrix upper triangular: ModelSpec accepts it.
        perm = random_topological_permutation(matrix, rng.choice)
        pmatrix, pops = permute_graph(matrix, ops, perm)
        for dtype in (np.int64, np.float32, bool):
            model_spec_module._cached_hash.cache_clear()
            assert ModelSpec(pmatrix.astype(dtype), pops).hash_spec(AVAILABLE_OPS) == expected
        # Any interior renumbering (no longer upper triangular): hash the graph itself.
        interior = list(range(1, n - 1))
        rng.shuffle(interior)
        pmatrix, pops = permute_graph(matrix, ops, [0, *interior, n - 1])
        labels = [-1, *[AVAILABLE_OPS.index(op) for op in pops[1:-1]], -2]
        pruned = ModelSpec(matrix, ops)
        if pruned.matrix.shape == np.shape(matrix):  # nothing pruned: the graph hash is the key
            assert hash_module(pmatrix.astype(np.float64), labels) == expected


def test_inception_cell_prunes_to_the_published_cell(realdata):
    """The README's Inception-like spec prunes to the stored matrix/ops with hash 28cfc787..."""
    inception = json.loads((realdata / "inception_28cfc787.json").read_text())
    spec = ModelSpec(inception["original_spec"]["matrix"], inception["original_spec"]["ops"])
    assert spec.hash_spec(AVAILABLE_OPS) == INCEPTION_HASH == inception["hash"]
    _assert_same_as_reference(
        spec,
        ref.ModelSpec(
            inception["original_spec"]["matrix"], list(inception["original_spec"]["ops"])
        ),
    )


# ----------------------------------------------------------------------------- drawing, repr


def test_to_dot_lists_labelled_vertices_and_edges():
    """to_dot gives DOT text of the pruned cell with input/op/output labels."""
    spec = ModelSpec(
        [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT],
    )
    assert spec.to_dot() == (
        'digraph {\n\t0 [label="input"]\n\t1 [label="maxpool3x3"]\n\t2 [label="output"]\n'
        "\t0 -> 1\n\t1 -> 2\n}\n"
    )


def test_to_dot_of_invalid_spec_raises_value_error():
    """An invalid spec has nothing to draw."""
    with pytest.raises(ValueError, match="invalid spec"):
        ModelSpec([[0, 0], [0, 0]], [INPUT, OUTPUT]).to_dot()


def test_visualize_without_graphviz_names_the_extra(monkeypatch):
    """visualize() raises MissingDependencyError with the pip hint when graphviz is absent."""
    monkeypatch.setitem(sys.modules, "graphviz", None)
    spec = ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT])
    with pytest.raises(MissingDependencyError, match=r"pip install 'nasbench-arrow\[plot\]'"):
        spec.visualize()


def test_visualize_builds_a_digraph_like_the_original(monkeypatch):
    """visualize() adds one node per vertex and one edge per matrix entry."""
    calls = []

    class FakeDigraph:
        def node(self, name, label):
            calls.append(("node", name, label))

        def edge(self, src, dst):
            calls.append(("edge", src, dst))

    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Digraph=FakeDigraph))
    spec = ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [INPUT, CONV1X1, OUTPUT])
    assert isinstance(spec.visualize(), FakeDigraph)
    assert calls == [
        ("node", "0", "input"),
        ("node", "1", CONV1X1),
        ("node", "2", "output"),
        ("edge", "0", "1"),
        ("edge", "0", "2"),
        ("edge", "1", "2"),
    ]


def test_repr_shows_the_pruned_cell():
    """repr shows the pruned matrix and ops and how many vertices were pruned."""
    spec = ModelSpec(
        [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        [INPUT, CONV3X3, MAXPOOL3X3, OUTPUT],
    )
    assert repr(spec) == (
        "ModelSpec(matrix=[[0, 1, 0], [0, 0, 1], [0, 0, 0]], ops=['input', 'maxpool3x3', 'output'])"
        "  # pruned 1 of 4 vertices"
    )
    invalid = ModelSpec([[0, 0], [0, 0]], (INPUT, OUTPUT))
    assert "invalid" in repr(invalid)


def test_model_spec_docstring_examples_run():
    """The examples in model_spec's docstrings produce what they show."""
    result = doctest.testmod(model_spec_module)
    assert result.failed == 0 and result.attempted > 0


def test_model_spec_exports():
    """model_spec.__all__ is ModelSpec and is_upper_triangular."""
    assert sorted(model_spec_module.__all__) == ["ModelSpec", "is_upper_triangular"]


def test_deepcopy_of_spec_is_independent():
    """copy.deepcopy of a spec copies its arrays."""
    spec = ModelSpec([[0, 1], [0, 0]], [INPUT, OUTPUT])
    clone = copy.deepcopy(spec)
    clone.matrix[0, 1] = 0
    assert spec.matrix[0, 1] == 1


@given(upper_triangular_matrices(2, 7, max_edges=9))
def test_bool_and_int_specs_prune_alike(matrix):
    """A bool matrix prunes to the same cell as the int matrix."""
    as_int = ModelSpec(matrix, [INPUT] + [CONV3X3] * (len(matrix) - 2) + [OUTPUT])
    as_bool = ModelSpec(
        np.array(matrix, dtype=bool), [INPUT] + [CONV3X3] * (len(matrix) - 2) + [OUTPUT]
    )
    assert as_int.valid_spec == as_bool.valid_spec
    if as_int.valid_spec:
        assert (
            np.array_equal(as_int.matrix, as_bool.matrix.astype(int)) and as_int.ops == as_bool.ops
        )


def test_visualize_without_the_dot_program_says_how_to_get_it(monkeypatch):
    """Rendering without Graphviz's dot raises MissingDependencyError naming the program and to_dot()."""
    graphviz = pytest.importorskip("graphviz", reason="the plot extra (graphviz) is not installed")
    from nasbench_arrow.errors import MissingDependencyError

    monkeypatch.setenv("PATH", "")
    graph = ModelSpec([[0, 1], [0, 0]], ["input", "output"]).visualize()
    assert isinstance(graph, graphviz.Digraph)
    with pytest.raises(MissingDependencyError, match="Graphviz 'dot' program") as err:
        graph.pipe(format="png")
    assert "to_dot()" in str(err.value)
