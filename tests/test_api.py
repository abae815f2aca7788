"""The NASBench facade (nasbench_arrow.api) against an original-style reference loader.

The reference, ``tests/reference_loader.OriginalStyleNASBench``, reads the same
official-format tfrecord record by record into the original's nested dicts and
answers with the original's semantics (global ``random``); the facade reads
the converted dataset. Every answer must be the same, value by value and type
by type.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import types

import numpy as np
import polars as pl
import pytest

import reference_loader
from nasbench_arrow import api, layout
from nasbench_arrow.constants import AVAILABLE_OPS, CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from nasbench_arrow.errors import MissingDependencyError, OutOfDomainError
from nasbench_arrow.model_spec import ModelSpec
from nasbench_arrow.testing import INCEPTION_HASH, INCEPTION_MATRIX, INCEPTION_OPS, sample_cells
from reference_loader import OriginalStyleNASBench

EPOCHS = (4, 12, 36, 108)


# ----------------------------------------------------------------------------- helpers


def assert_same_value(ours, theirs, where=""):
    """Equal values of the same types, recursing into dicts and lists."""
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), where
        assert ours.dtype == theirs.dtype, where
        assert ours.shape == theirs.shape, where
        assert np.array_equal(ours, theirs), where
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert list(ours) == list(theirs) or set(ours) == set(theirs), where
        for key in theirs:
            assert_same_value(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same_value(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(theirs), f"{where}: {type(ours)} != {type(theirs)}"
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


def outcome(call):
    """('ok', value) or ('error', exception class name, message) of a call."""
    try:
        return ("ok", call())
    except (OutOfDomainError, reference_loader.OutOfDomainError, KeyError, IndexError) as exc:
        return ("error", type(exc).__name__, str(exc))


def assert_same_outcome(ours, theirs, where=""):
    """Same result, or the same error class name and message."""
    assert ours[0] == theirs[0], f"{where}: {ours} vs {theirs}"
    if ours[0] == "ok":
        assert_same_value(ours[1], theirs[1], where)
    else:
        assert ours[1:] == theirs[1:], where


def stored_spec(fixture, module_hash):
    """The ModelSpec of a cell as the file stores it."""
    matrix, ops = fixture.info.cells[module_hash]
    return ModelSpec(matrix, ops)


def unknown_specs(fixture, n):
    """Valid specs of the space that the fixture does not hold."""
    held = set(fixture.info.hashes)
    out = []
    for cell in sample_cells(n + len(held), seed=987):
        spec = ModelSpec(*_matrix_ops(cell))
        if spec.hash_spec(AVAILABLE_OPS) not in held:
            out.append(spec)
        if len(out) == n:
            break
    return out


def _matrix_ops(cell):
    if isinstance(cell, ModelSpec):
        return cell.matrix, cell.ops
    if hasattr(cell, "matrix"):
        return cell.matrix, list(cell.ops)
    return cell


def with_dangling_vertex(matrix, ops):
    """The same cell plus an interior vertex fed by the input that reaches nothing (pruned away)."""
    matrix = np.asarray(matrix)
    v = matrix.shape[0]
    grown = np.zeros((v + 1, v + 1), dtype=np.int8)
    grown[:v - 1, :v - 1] = matrix[:v - 1, :v - 1]
    grown[:v - 1, v] = matrix[:v - 1, v - 1]  # edges into the output move to the new last column
    grown[0, v - 1] = 1  # the new vertex v-1: fed by the input, feeds nothing
    return grown, [*ops[:-1], CONV3X3, ops[-1]]


# Specs outside the space, with the original's messages.
OUT_OF_DOMAIN = {
    "disconnected": (
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT]),
        "invalid spec, provided graph is disconnected.",
    ),
    "too_many_edges": (
        (
            [[0, 1, 1, 1, 1, 1, 1]]
            + [[0] * (i + 1) + [0] * (5 - i) + [1] for i in range(5)]
            + [[0] * 7],
            [INPUT] + [CONV3X3] * 5 + [OUTPUT],
        ),
        "too many edges, got 11 (max edges = 9)",
    ),
    "first_op": (
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [CONV3X3, CONV3X3, OUTPUT]),
        "first operation should be 'input'",
    ),
    "last_op": (
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, MAXPOOL3X3]),
        "last operation should be 'output'",
    ),
    "unsupported_op": (
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5-bn-relu", OUTPUT]),
        (
            "unsupported op conv5x5-bn-relu (available ops = "
            "['conv3x3-bn-relu', 'conv1x1-bn-relu', 'maxpool3x3'])"
        ),
    ),
}


def chain(num_vertices):
    """A chain input -> conv3x3 -> ... -> output of ``num_vertices`` vertices."""
    m = np.zeros((num_vertices, num_vertices), dtype=int)
    for i in range(num_vertices - 1):
        m[i, i + 1] = 1
    return m, [INPUT] + [CONV3X3] * (num_vertices - 2) + [OUTPUT]


@pytest.fixture(scope="module")
def nb(converted_fixture):
    """A facade over the full-budget fixture (seed 0, private generator)."""
    return api.NASBench(converted_fixture.root, seed=0)


@pytest.fixture(scope="module")
def ref(converted_fixture):
    """The original-style loader over the same file (do not use its query here: global random)."""
    return OriginalStyleNASBench(converted_fixture.tfrecord, seed=0)


def call_sequence(fixture, length, seed):
    """A long mixed sequence of query arguments: stored, isomorphic, pruned, invalid, unknown, bad epochs."""
    rng = random.Random(seed)
    hashes = list(fixture.info.hashes)
    unknown = unknown_specs(fixture, 5)
    invalid = [ModelSpec(*case[0]) for case in OUT_OF_DOMAIN.values()]
    calls = []
    for _ in range(length):
        kind = rng.random()
        h = rng.choice(hashes)
        if kind < 0.45:
            spec = stored_spec(fixture, h)
        elif kind < 0.75 and fixture.info.variants.get(h):
            spec = ModelSpec(*rng.choice(fixture.info.variants[h]))
        elif kind < 0.85:
            matrix, ops = fixture.info.cells[h]
            spec = ModelSpec(*with_dangling_vertex(matrix, ops)) if len(ops) < 7 else stored_spec(fixture, h)
        elif kind < 0.92:
            spec = rng.choice(invalid)
        else:
            spec = rng.choice(unknown)
        epochs = rng.choice(EPOCHS) if rng.random() > 0.03 else 5
        calls.append((spec, epochs, rng.random() < 0.3))
    return calls


# ----------------------------------------------------------------------------- query parity


def test_query_sequence_matches_original_with_same_seed(converted_fixture):
    """Same seed and calls: the same sampled repeats, dicts, errors and budget counters as the original."""
    calls = call_sequence(converted_fixture, 600, seed=1)
    ref = OriginalStyleNASBench(converted_fixture.tfrecord, seed=42)
    theirs = [outcome(lambda c=c: ref.query(c[0], epochs=c[1], stop_halfway=c[2])) for c in calls]
    nb = api.NASBench(converted_fixture.root, seed=42)
    ours = [outcome(lambda c=c: nb.query(c[0], epochs=c[1], stop_halfway=c[2])) for c in calls]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert_same_outcome(a, b, f"call {i}")
    assert {o[0] for o in theirs} == {"ok", "error"}
    assert nb.get_budget_counters() == ref.get_budget_counters()
    assert type(nb.total_epochs_spent) is int and type(nb.training_time_spent) is float


def test_global_rng_reproduces_original_including_interleaved_global_draws(converted_fixture):
    """rng='global' equals the original even when the caller also draws from the global random."""
    calls = call_sequence(converted_fixture, 120, seed=2)

    def run(make):
        bench = make()
        out = []
        for i, c in enumerate(calls):
            if i % 7 == 0:
                out.append(("caller", random.random()))
            out.append(outcome(lambda c=c: bench.query(c[0], epochs=c[1], stop_halfway=c[2])))
        return out

    theirs = run(lambda: OriginalStyleNASBench(converted_fixture.tfrecord, seed=5))
    ours = run(lambda: api.NASBench(converted_fixture.root, seed=5, rng="global"))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a[0] == "caller":
            assert a == b
        else:
            assert_same_outcome(a, b, f"step {i}")


def test_private_rng_leaves_global_random_state_alone(converted_fixture):
    """rng='private' neither reseeds nor advances the caller's global random."""
    random.seed(1234)
    before = random.getstate()
    nb = api.NASBench(converted_fixture.root, seed=0, rng="private")
    for h in converted_fixture.info.hashes[:20]:
        nb.query(stored_spec(converted_fixture, h))
    assert random.getstate() == before


def test_two_private_instances_with_one_seed_do_not_share_a_stream(converted_fixture):
    """With rng='private', interleaved queries on two same-seed objects give each the draws it would get alone."""
    specs = [stored_spec(converted_fixture, h) for h in converted_fixture.info.hashes[:30]]
    alone = api.NASBench(converted_fixture.root, seed=9, rng="private")
    expected = [alone.query(s)["validation_accuracy"] for s in specs]
    a = api.NASBench(converted_fixture.root, seed=9, rng="private")
    b = api.NASBench(converted_fixture.root, seed=9, rng="private")
    got_a, got_b = [], []
    for s in specs:
        got_a.append(a.query(s)["validation_accuracy"])
        got_b.append(b.query(s)["validation_accuracy"])
    assert got_a == expected and got_b == expected


def test_rng_instance_is_used_and_seed_conflict_rejected(converted_fixture):
    """A random.Random passed as rng supplies the draws; passing a seed too is a ValueError."""
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[0])
    mine = random.Random(3)
    nb = api.NASBench(converted_fixture.root, rng=mine)
    state = mine.getstate()
    nb.query(spec)
    assert mine.getstate() != state
    with pytest.raises(ValueError, match="either seed"):
        api.NASBench(converted_fixture.root, seed=1, rng=random.Random(1))
    with pytest.raises(ValueError, match="rng must be"):
        api.NASBench(converted_fixture.root, rng="numpy")


def test_query_repeat_argument_returns_that_repeat_without_drawing(nb, converted_fixture):
    """query(repeat=k) returns repeat k and leaves the generator untouched."""
    h = converted_fixture.info.hashes[3]
    spec = stored_spec(converted_fixture, h)
    state = nb._rng.getstate()
    for epochs in EPOCHS:
        for k in range(3):
            for halfway in (False, True):
                data = nb.query(spec, epochs=epochs, stop_halfway=halfway, repeat=k)
                record = converted_fixture.info.expected(h, epochs, k)
                stage = "halfway" if halfway else "final"
                assert data["validation_accuracy"] == record.stat(stage, "validation_accuracy")
                assert data["training_time"] == record.stat(stage, "training_time")
    assert nb._rng.getstate() == state
    with pytest.raises(ValueError, match="repeat must be in 0..2"):
        nb.query(spec, repeat=3)
    with pytest.raises(TypeError, match="repeat must be None or an int"):
        nb.query(spec, repeat="0")


def test_query_result_types_and_fresh_objects(nb, converted_fixture):
    """query returns the original's keys and types, and new objects on every call."""
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[1])
    a = nb.query(spec, repeat=0)
    assert list(a) == [
        "module_adjacency",
        "module_operations",
        "trainable_parameters",
        "training_time",
        "train_accuracy",
        "validation_accuracy",
        "test_accuracy",
    ]
    assert a["module_adjacency"].dtype == np.int8
    assert type(a["module_operations"]) is list and type(a["trainable_parameters"]) is int
    assert all(type(a[k]) is float for k in list(a)[3:])
    a["module_adjacency"][0, 1] = 99
    a["module_operations"].append("x")
    b = nb.query(spec, repeat=0)
    assert b["module_adjacency"][0, 1] != 99 and b["module_operations"][-1] == OUTPUT


def test_budget_counters_and_reset(converted_fixture):
    """query adds training time and epochs (halfway: epochs // 2); reset zeroes both."""
    nb = api.NASBench(converted_fixture.root, seed=0)
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[2])
    assert nb.get_budget_counters() == (0.0, 0)
    t1 = nb.query(spec, epochs=36)["training_time"]
    t2 = nb.query(spec, epochs=12, stop_halfway=True)["training_time"]
    assert nb.get_budget_counters() == (0.0 + t1 + t2, 36 + 6)
    nb.get_metrics_from_spec(spec)
    nb.is_valid(spec)
    assert nb.get_budget_counters() == (0.0 + t1 + t2, 42)
    nb.reset_budget_counters()
    assert nb.get_budget_counters() == (0.0, 0)


# ----------------------------------------------------------------------------- specs


def test_isomorphic_specs_in_other_vertex_orders_give_the_same_cell(nb, ref, converted_fixture):
    """Every isomorphic variant of a cell returns the cell's stored statistics, like the original."""
    checked = 0
    for h, variants in converted_fixture.info.variants.items():
        for matrix, ops in variants:
            spec = ModelSpec(matrix, ops)
            assert_same_value(nb.get_metrics_from_spec(spec), ref.get_metrics_from_spec(spec), h)
            assert nb.hash_spec(spec) == h
            checked += 1
    assert checked > 20


def test_pruned_specs_with_dangling_vertices(nb, ref, converted_fixture):
    """A spec with a vertex that does not reach the output is pruned to the stored cell."""
    checked = 0
    for h in converted_fixture.info.hashes:
        matrix, ops = converted_fixture.info.cells[h]
        if len(ops) >= 7:
            continue
        spec = ModelSpec(*with_dangling_vertex(matrix, ops))
        assert len(spec.original_ops) == len(ops) + 1 and len(spec.ops) == len(ops)
        assert nb.is_valid(spec) and ref.is_valid(spec)
        assert_same_value(nb.get_metrics_from_spec(spec), ref.get_metrics_from_spec(spec), h)
        assert_same_value(nb.query(spec, repeat=1)["module_operations"], list(ops))
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("case", sorted(OUT_OF_DOMAIN))
def test_out_of_domain_errors_carry_the_original_messages(nb, ref, case):
    """Each spec outside the space raises OutOfDomainError with the original's exact message."""
    (matrix, ops), message = OUT_OF_DOMAIN[case]
    spec = ModelSpec(matrix, ops)
    with pytest.raises(reference_loader.OutOfDomainError) as theirs:
        ref.get_metrics_from_spec(spec)
    for call in (nb.query, nb.get_metrics_from_spec, nb.hash_spec):
        with pytest.raises(OutOfDomainError) as ours:
            call(spec)
        assert str(ours.value) == str(theirs.value) == message
    assert nb.is_valid(spec) is False and ref.is_valid(spec) is False


def test_too_many_vertices_is_out_of_domain_not_the_originals_type_error(nb):
    """Regression of the original's bug (config module indexed): 8 vertices give OutOfDomainError."""
    spec = ModelSpec(*chain(8))
    with pytest.raises(OutOfDomainError, match=r"^too many vertices, got 8 \(max vertices = 7\)$"):
        nb.query(spec)
    assert nb.is_valid(spec) is False


def test_invalid_epochs_message_prints_the_set_like_the_original(nb, ref, converted_fixture):
    """Epochs not in the data: OutOfDomainError whose set prints in the original's (file) order."""
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[0])
    with pytest.raises(reference_loader.OutOfDomainError) as theirs:
        ref.query(spec, epochs=100)
    with pytest.raises(OutOfDomainError) as ours:
        nb.query(spec, epochs=100)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith("invalid number of epochs, must be one of {")
    with pytest.raises(OutOfDomainError, match="invalid number of epochs"):
        nb.query_many([spec], epochs=100)


def test_unknown_valid_spec_raises_key_error_like_the_original(nb, ref, converted_fixture):
    """A valid spec the dataset lacks raises KeyError(hash), as the original's dict lookup does."""
    spec = unknown_specs(converted_fixture, 1)[0]
    assert nb.is_valid(spec)
    with pytest.raises(KeyError) as ours:
        nb.query(spec)
    with pytest.raises(KeyError) as theirs:
        ref.get_metrics_from_spec(spec)
    assert ours.value.args == theirs.value.args == (spec.hash_spec(AVAILABLE_OPS),)


def test_is_valid_matches_the_original_on_random_specs(nb, ref):
    """is_valid agrees with the original on random (often invalid) matrices and labels."""
    rng = np.random.default_rng(0)
    labels = [CONV3X3, CONV1X1, MAXPOOL3X3, "avgpool"]
    for _ in range(300):
        v = int(rng.integers(2, 9))
        matrix = np.triu(rng.integers(0, 2, (v, v)), 1)
        ops = [INPUT] + [labels[i] for i in rng.integers(0, 4 if rng.random() < 0.2 else 3, v - 2)] + [OUTPUT]
        spec = ModelSpec(matrix, ops)
        if v > 7 and spec.valid_spec and len(spec.ops) > 7:
            assert nb.is_valid(spec) is False
            continue
        assert nb.is_valid(spec) == ref.is_valid(spec)


def test_spec_cache_resolves_each_spec_once(converted_fixture, monkeypatch):
    """A stored cell is found by its canonical key (no MD5); a spec the key cannot place is hashed once."""
    calls = []
    original = ModelSpec.hash_spec
    keys = []
    original_key = layout.canonical_key

    def counting(self, canonical_ops):
        calls.append(1)
        return original(self, canonical_ops)

    def counting_key(flat, labeling, num_vertices):
        keys.append(1)
        return original_key(flat, labeling, num_vertices)

    monkeypatch.setattr(ModelSpec, "hash_spec", counting)
    monkeypatch.setattr(layout, "canonical_key", counting_key)
    nb = api.NASBench(converted_fixture.root, seed=0)
    matrix, ops = converted_fixture.info.cells[converted_fixture.info.hashes[4]]
    for _ in range(3):
        nb.query(ModelSpec(matrix.copy(), list(ops)))
    nb.get_metrics_from_spec(ModelSpec(matrix, ops))
    nb.query_many([ModelSpec(matrix, ops)] * 4)
    assert len(calls) == 0 and len(keys) == 1
    assert nb.hash_spec(ModelSpec(matrix, ops)) == converted_fixture.info.hashes[4]
    # A valid cell the dataset does not hold: the key finds nothing, the MD5 hash names it, once.
    absent = ModelSpec([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    absent_hash = absent.hash_spec(list(api.AVAILABLE_OPS))
    calls.clear()
    assert absent_hash not in converted_fixture.info.hashes
    for _ in range(3):
        with pytest.raises(KeyError) as err:
            nb.query(absent)
        assert err.value.args == (absent_hash,)
    assert len(calls) == 1


def test_changing_config_ops_invalidates_the_cache(converted_fixture):
    """A spec checked under one config is re-checked after config['available_ops'] changes."""
    nb = api.NASBench(converted_fixture.root, seed=0)
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[1])  # has conv3x3 ops
    assert nb.is_valid(spec)
    nb.hash_spec(spec)
    nb.config["available_ops"] = [CONV1X1, MAXPOOL3X3]
    with pytest.raises(OutOfDomainError, match="unsupported op"):
        nb.hash_spec(spec)


# ----------------------------------------------------------------------------- metrics


def test_get_metrics_from_hash_equals_original_for_every_cell(nb, ref):
    """Fixed and computed statistics of every hash equal the original's, value by value."""
    for h in ref.hash_iterator():
        assert_same_value(nb.get_metrics_from_hash(h), ref.get_metrics_from_hash(h), h)


def test_get_metrics_returns_fresh_copies(nb, converted_fixture):
    """Mutating returned statistics does not change later answers."""
    h = converted_fixture.info.hashes[0]
    fixed, computed = nb.get_metrics_from_hash(h)
    fixed["module_adjacency"][:] = 7
    computed[108][0]["final_test_accuracy"] = -1.0
    again_fixed, again = nb.get_metrics_from_hash(h)
    assert again_fixed["module_adjacency"].max() <= 1
    assert again[108][0]["final_test_accuracy"] >= 0


def test_get_metrics_from_hash_unknown_raises_key_error(nb):
    """Unknown, malformed or non-str hashes raise KeyError with the key, like a dict."""
    for bad in ("0" * 32, "xyz", "F" * 32, b"0" * 32, 17):
        with pytest.raises(KeyError) as err:
            nb.get_metrics_from_hash(bad)
        assert err.value.args == (bad,)


def test_hash_iterator_lists_hashes_in_file_order(nb, ref, converted_fixture):
    """hash_iterator yields every hash once, in the order the file first lists them (like the original)."""
    ours = nb.hash_iterator()
    assert list(ours) == list(ref.hash_iterator())
    assert len(ours) == len(converted_fixture.info.hashes)
    h = converted_fixture.info.hashes[5]
    assert h in ours and "0" * 32 not in ours
    assert list(ours) != sorted(ours)  # the fixture is shuffled: order is really the file's


def test_statistics_mappings_read_like_the_originals_dicts(nb, ref):
    """fixed_statistics / computed_statistics: len, membership, items equal to the original's dicts."""
    assert len(nb.fixed_statistics) == len(ref.fixed_statistics)
    assert len(nb.computed_statistics) == len(ref.computed_statistics)
    for h in list(ref.fixed_statistics)[:25]:
        assert h in nb.fixed_statistics and h in nb.computed_statistics
        assert_same_value(nb.fixed_statistics[h], ref.fixed_statistics[h], h)
        assert_same_value(nb.computed_statistics[h], ref.computed_statistics[h], h)
        assert sorted(nb.computed_statistics[h]) == sorted(ref.computed_statistics[h])
    assert list(nb.fixed_statistics.keys()) == list(ref.fixed_statistics.keys())
    with pytest.raises(KeyError):
        nb.computed_statistics["0" * 32]


def test_config_and_valid_epochs(nb, ref):
    """config is the original's defaults and valid_epochs the set of budgets in the data."""
    for key, value in reference_loader.REFERENCE_CONFIG.items():
        assert nb.config[key] == value
    assert nb.config["train_epochs"] == 108 and nb.config["batch_size"] == 256
    assert nb.valid_epochs == ref.valid_epochs == {4, 12, 36, 108}
    assert isinstance(nb.valid_epochs, set)
    assert nb.history == {}


def test_only108_dataset(converted_fixture_108):
    """A 108-only dataset: valid_epochs {108}; other budgets give the original's message."""
    fixture = converted_fixture_108
    ref = OriginalStyleNASBench(fixture.tfrecord, seed=1)
    spec = stored_spec(fixture, fixture.info.hashes[0])
    theirs = [outcome(lambda e=e: ref.query(spec, epochs=e)) for e in (108, 4, 108, 36, 108)]
    nb = api.NASBench(fixture.root, seed=1)
    ours = [outcome(lambda e=e: nb.query(spec, epochs=e)) for e in (108, 4, 108, 36, 108)]
    for a, b in zip(ours, theirs):
        assert_same_outcome(a, b)
    assert ours[1] == ("error", "OutOfDomainError", "invalid number of epochs, must be one of {108}")
    assert nb.valid_epochs == {108}
    for h in ref.hash_iterator():
        assert_same_value(nb.get_metrics_from_hash(h), ref.get_metrics_from_hash(h), h)
    assert list(nb.hash_iterator()) == list(ref.hash_iterator())
    assert nb.summary().height == len(fixture.info.hashes)


# ----------------------------------------------------------------------------- real values


def test_real_inception_values_come_back_exactly(converted_realdata):
    """The Inception cell, repeat 0 at 108 epochs: the published values, bit for bit."""
    for name in ("only108", "inception_full"):
        nb = api.NASBench(converted_realdata[name].root)
        spec = ModelSpec(np.array(INCEPTION_MATRIX), list(INCEPTION_OPS))
        data = nb.query(spec, epochs=108, repeat=0)
        assert data["validation_accuracy"] == 0.9376001358032227
        assert data["test_accuracy"] == 0.9311898946762085
        assert data["training_time"] == 1155.85302734375
        assert data["trainable_parameters"] == 2694282
        assert nb.hash_spec(spec) == INCEPTION_HASH


def test_real_values_equal_the_reference_and_the_published_json(converted_realdata, realdata):
    """Every real file: facade == original-style loader; Inception's stats == the published JSON."""
    for name, fixture in converted_realdata.items():
        nb = api.NASBench(fixture.root)
        ref = OriginalStyleNASBench(fixture.tfrecord)
        assert list(nb.hash_iterator()) == list(ref.hash_iterator())
        for h in ref.hash_iterator():
            assert_same_value(nb.get_metrics_from_hash(h), ref.get_metrics_from_hash(h), f"{name} {h}")
    published = json.loads((realdata / "inception_28cfc787.json").read_text())
    nb = api.NASBench(converted_realdata["inception_full"].root)
    _, computed = nb.get_metrics_from_hash(INCEPTION_HASH)
    for epochs, repeats in published["computed_stats"].items():
        for k, stats in enumerate(repeats):
            for key, value in stats.items():
                assert computed[int(epochs)][k][key] == value, (epochs, k, key)


# ----------------------------------------------------------------------------- beyond the original


def test_query_many_equals_a_loop_of_query(converted_fixture):
    """query_many(repeat=None) draws like a query loop: same rows, same counters, mixed inputs."""
    info = converted_fixture.info
    items = []
    for i, h in enumerate(info.hashes[:40]):
        items.append(h if i % 3 == 0 else ModelSpec(*(info.variants.get(h) or [info.cells[h]])[0]))
    for epochs, halfway in ((108, False), (12, True)):
        loop = api.NASBench(converted_fixture.root, seed=8)
        expected = []
        for item in items:
            spec = stored_spec(converted_fixture, item) if isinstance(item, str) else item
            expected.append(loop.query(spec, epochs=epochs, stop_halfway=halfway))
        many = api.NASBench(converted_fixture.root, seed=8)
        df = many.query_many(items, epochs=epochs, stop_halfway=halfway)
        assert df.height == len(items)
        for row, want in zip(df.iter_rows(named=True), expected):
            for key in ("trainable_parameters", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy"):
                assert row[key] == want[key]
            assert row["epochs"] == epochs
        assert many.get_budget_counters() == loop.get_budget_counters()
        assert many._rng.getstate() == loop._rng.getstate()


def test_query_many_fixed_repeat_and_mean_over_repeats(nb, converted_fixture):
    """repeat=k picks that repeat; repeat='mean' gives the mean and population std over repeats."""
    hashes = list(converted_fixture.info.hashes[:15])
    state = nb._rng.getstate()
    df = nb.query_many(hashes, epochs=36, repeat=2, count_budget=False)
    mean = nb.query_many(hashes, epochs=36, repeat="mean", count_budget=False)
    assert nb._rng.getstate() == state
    assert mean["repeat"].null_count() == len(hashes)
    for i, h in enumerate(hashes):
        runs = converted_fixture.info.runs(h, 36)
        assert df["test_accuracy"][i] == runs[2].stat("final", "test_accuracy")
        assert df["repeat"][i] == 2
        values = np.array([r.stat("final", "validation_accuracy") for r in runs])
        assert mean["validation_accuracy"][i] == pytest.approx(values.mean(), abs=1e-15)
        assert mean["validation_accuracy_std"][i] == pytest.approx(values.std(), abs=1e-15)
        assert mean["num_repeats"][i] == 3


def test_query_many_errors_raise_or_null(converted_fixture):
    """errors='raise' raises before drawing or counting; errors='null' gives null rows and draws for the rest."""
    info = converted_fixture.info
    bad_spec = ModelSpec(*OUT_OF_DOMAIN["first_op"][0])
    unknown = "f" * 32
    good = list(info.hashes[:3])
    nb = api.NASBench(converted_fixture.root, seed=2)
    state = nb._rng.getstate()
    with pytest.raises(OutOfDomainError, match="first operation"):
        nb.query_many([good[0], bad_spec, unknown])
    with pytest.raises(KeyError) as err:
        nb.query_many([good[0], unknown, bad_spec])
    assert err.value.args == (unknown,)
    assert nb._rng.getstate() == state and nb.get_budget_counters() == (0.0, 0)
    df = nb.query_many([good[0], bad_spec, unknown, good[1]], errors="null")
    assert df["module_hash"].to_list() == [good[0], None, None, good[1]]
    assert df["test_accuracy"].null_count() == 2 and df["epochs"].null_count() == 0
    loop = api.NASBench(converted_fixture.root, seed=2)
    want = [loop.query(stored_spec(converted_fixture, h))["test_accuracy"] for h in good[:2]]
    assert [df["test_accuracy"][0], df["test_accuracy"][3]] == want
    with pytest.raises(TypeError, match="wrap it in a list"):
        nb.query_many(good[0])


def test_query_many_accepts_hash_arrays_and_series(nb, converted_fixture):
    """A numpy array or Polars Series of hashes is looked up without hashing, in input order."""
    hashes = list(reversed(converted_fixture.info.hashes[:10]))
    a = nb.query_many(np.array(hashes), repeat=1, count_budget=False)
    b = nb.query_many(pl.Series(hashes), repeat=1, count_budget=False)
    c = nb.query_many(hashes, repeat=1, count_budget=False)
    assert a.equals(b) and a.equals(c)
    assert a["module_hash"].to_list() == hashes


def test_summary_matches_a_polars_aggregate_over_the_runs_table(nb):
    """summary() (numpy over the index) equals a group-by over the lazy runs frame."""
    summary = nb.summary(36, stop_halfway=True)
    agg = (
        nb.runs()
        .filter(pl.col("epochs") == 36)
        .group_by("module_hash")
        .agg(
            pl.col("halfway_test_accuracy").mean().alias("test_accuracy"),
            pl.col("halfway_training_time").std(ddof=0).alias("training_time_std"),
            pl.len().alias("n"),
        )
        .sort("module_hash")
        .collect()
    )
    assert summary["module_hash"].to_list() == agg["module_hash"].to_list()
    np.testing.assert_allclose(summary["test_accuracy"].to_numpy(), agg["test_accuracy"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        summary["training_time_std"].to_numpy(), agg["training_time_std"].to_numpy(), rtol=1e-9, atol=1e-9
    )
    assert (summary["num_repeats"] == 3).all()
    cells = nb.cells().select("module_hash", "num_vertices", "num_edges").sort("module_hash").collect()
    assert summary["num_vertices"].to_list() == cells["num_vertices"].to_list()
    assert summary["num_edges"].to_list() == cells["num_edges"].to_list()


def test_top_k_ranks_cells_by_mean_metric(nb, ref):
    """top_k returns the k cells with the best mean over repeats, best first."""
    means = {
        h: np.mean([r["final_validation_accuracy"] for r in stats[108]])
        for h, stats in ref.computed_statistics.items()
    }
    expected = sorted(means, key=lambda h: (-means[h], h))[:5]
    top = nb.top_k("validation_accuracy", k=5)
    assert top["module_hash"].to_list() == expected
    fastest = nb.top_k("training_time", k=3, epochs=4)
    assert fastest["training_time"].is_sorted()
    with pytest.raises(ValueError, match="metric must be one of"):
        nb.top_k("accuracy")


def test_random_specs_are_seeded_valid_and_in_the_dataset(nb, converted_fixture):
    """random_specs / random_hashes are reproducible for a seed, distinct and held by the dataset."""
    a = nb.random_hashes(10, seed=4)
    assert a == nb.random_hashes(10, seed=4) and len(set(a)) == 10
    assert set(a) <= set(converted_fixture.info.hashes)
    specs = nb.random_specs(10, seed=4)
    assert [nb.hash_spec(s) for s in specs] == a
    assert all(nb.is_valid(s) for s in specs)
    with pytest.raises(ValueError, match="n must be an int"):
        nb.random_hashes(10**9)


def test_spec_from_hash_round_trips(nb, converted_fixture):
    """spec_from_hash gives the stored cell, whose hash is the key."""
    for h in converted_fixture.info.hashes[:10]:
        spec = nb.spec_from_hash(h)
        assert nb.hash_spec(spec) == h
        assert spec.ops == converted_fixture.info.cells[h][1]
    with pytest.raises(KeyError):
        nb.spec_from_hash("0" * 32)


def test_lazy_frames_and_hash_filter(nb, converted_fixture):
    """cells()/runs() are lazy frames with the documented columns; hashes= keeps those cells."""
    cells = nb.cells()
    assert isinstance(cells, pl.LazyFrame)
    assert cells.collect_schema().names()[:6] == [
        "module_hash", "num_vertices", "num_edges", "adjacency", "operations", "trainable_parameters",
    ]
    h = converted_fixture.info.hashes[7]
    runs = nb.runs(hashes=h).collect()
    assert runs.height == 12 and set(runs["module_hash"]) == {h}
    assert runs["bucket"].unique().to_list() == [h[0]]


# ----------------------------------------------------------------------------- opening


def test_open_does_not_import_polars_or_read_parquet(converted_fixture, tmp_path):
    """Opening, query and fixed_statistics import no Polars and read no Parquet but the first cell's runs.

    (The runs file of the first cell gives its budgets' file order: the one
    computed entry built at open, so that json.dumps sees the dict.)
    """
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(converted_fixture.root, root)
    first = min(converted_fixture.info.hashes)
    kept = root / layout.data_file(layout.RUNS_DIR, layout.bucket_of(first))
    for f in root.rglob("*.parquet"):
        if f == kept:
            continue
        size = f.stat().st_size
        f.write_bytes(b"PAR1" + b"\0" * (size - 8) + b"PAR1")
    h = converted_fixture.info.hashes[0]
    code = (
        "import sys\nfrom nasbench_arrow import api\n"
        f"nb = api.NASBench({str(root)!r}, seed=0)\n"
        f"spec = nb.spec_from_hash({h!r})\n"
        "d = nb.query(spec); nb.fixed_statistics[nb.hash_spec(spec)]; nb.query(spec, epochs=4)\n"
        "print('polars' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_open_tfrecord_converts_once_into_a_cache_beside_it(converted_fixture, tmp_path, monkeypatch):
    """A .tfrecord path is converted once beside the file; later opens reuse it; a changed file reconverts."""
    import shutil

    from nasbench_arrow import converters
    from nasbench_arrow.testing import write_fixture_tfrecord

    source = tmp_path / "data.tfrecord"
    shutil.copyfile(converted_fixture.tfrecord, source)
    nb = api.NASBench(source, seed=0)
    cache = tmp_path / "data.tfrecord.nasbench-arrow"
    assert nb.root == cache and (cache / "manifest.json").is_file()
    ref = OriginalStyleNASBench(source)
    h = converted_fixture.info.hashes[0]
    assert_same_value(nb.get_metrics_from_hash(h), ref.get_metrics_from_hash(h))

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    with monkeypatch.context() as m:
        m.setattr(converters, "convert", no_conversion)
        assert api.NASBench(source).root == cache

    write_fixture_tfrecord(source, sample_cells(5, seed=77), epochs=(108,))
    again = api.NASBench(source)
    assert again.valid_epochs == {108} and len(again.fixed_statistics) == 5


def test_cache_from_an_older_converter_is_rebuilt_not_reported(converted_fixture, tmp_path):
    """Regression: a cached conversion lacking an index file this version reads is reconverted on open."""
    import json
    import shutil

    from nasbench_arrow import layout

    source = tmp_path / "data.tfrecord"
    shutil.copyfile(converted_fixture.tfrecord, source)
    cache = api.NASBench(source).root
    rel = f"{layout.INDEX_DIR}/{layout.INDEX_FILES['cell_canon']}"
    manifest = json.loads((cache / layout.MANIFEST_NAME).read_text())
    del manifest["files"][rel]  # what a converter without that index file wrote
    (cache / layout.MANIFEST_NAME).write_text(json.dumps(manifest))
    (cache / rel).unlink()
    nb = api.NASBench(source, seed=0)
    assert (cache / rel).is_file()
    h = converted_fixture.info.hashes[0]
    assert_same_value(nb.get_metrics_from_hash(h), OriginalStyleNASBench(source).get_metrics_from_hash(h))


def test_open_tfrecord_in_unwritable_directory_uses_the_cache_env(converted_fixture, tmp_path, monkeypatch):
    """When the file's directory is not writable the conversion goes under $NASBENCH_ARROW_CACHE."""
    from nasbench_arrow import dataset

    monkeypatch.setattr(dataset.os, "access", lambda *a, **k: False)
    monkeypatch.setenv("NASBENCH_ARROW_CACHE", str(tmp_path / "cache"))
    nb = api.NASBench(converted_fixture.tfrecord)
    assert nb.root.parent == tmp_path / "cache"
    assert nb.root.name.startswith(converted_fixture.tfrecord.name + "-")
    assert len(nb.fixed_statistics) == len(converted_fixture.info.hashes)


def test_repr_names_the_dataset(nb):
    """repr shows the directory, counts, budgets and generator mode."""
    text = repr(nb)
    assert text.startswith("NASBench(") and "cells=80" in text and "rng='global'" in text


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_without_tensorflow_raises_with_the_install_hint(nb, converted_fixture, monkeypatch, tmp_path):
    """Without the train extra, evaluate raises MissingDependencyError naming the pip command."""
    monkeypatch.setitem(sys.modules, "nasbench_arrow.train", None)
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[0])
    with pytest.raises(MissingDependencyError, match=r"pip install 'nasbench-arrow\[train\]'"):
        nb.evaluate(spec, tmp_path)


def test_evaluate_delegates_to_the_trainer(nb, converted_fixture, monkeypatch, tmp_path):
    """evaluate trains via nasbench_arrow.train and writes metadata.json; counters untouched."""
    from nasbench_arrow.records import EvaluationData, ModelMetrics

    metrics = ModelMetrics(
        (EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1), EvaluationData(54.0, 5.0, 0.5, 0.5, 0.5), EvaluationData(108.0, 10.0, 0.9, 0.8, 0.7)),
        1234,
        20.0,
    )
    seen = {}
    fake = types.ModuleType("nasbench_arrow.train")
    fake.load_cifar10 = lambda path: seen.setdefault("data", path)
    fake.train_and_evaluate = lambda spec, data, epochs: seen.setdefault("epochs", epochs) and metrics
    fake.query_dict = lambda spec, m: {"trainable_parameters": m.trainable_parameters, "test_accuracy": m.evaluation_data[-1].test_accuracy}
    monkeypatch.setitem(sys.modules, "nasbench_arrow.train", fake)
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[0])
    with pytest.raises(ValueError, match="needs CIFAR-10"):
        monkeypatch.delenv("NASBENCH_CIFAR10", raising=False)
        nb.evaluate(spec, tmp_path)
    monkeypatch.setenv("NASBENCH_CIFAR10", "/data/cifar-10-python.tar.gz")
    before = nb.get_budget_counters()
    out = nb.evaluate(spec, tmp_path / "model")
    assert out == {"trainable_parameters": 1234, "test_accuracy": 0.7}
    assert seen == {"data": "/data/cifar-10-python.tar.gz", "epochs": 108}
    assert json.loads((tmp_path / "model" / "metadata.json").read_text())["trainable_parameters"] == 1234
    assert nb.get_budget_counters() == before


# ----------------------------------------------------------------------------- demo


def test_demo_runs_end_to_end_and_reuses_its_files(tmp_path, capsys):
    """`python -m nasbench_arrow.demo OUT` exits 0, prints each step, and a second run reuses the files."""
    from nasbench_arrow import demo

    assert demo.main([str(tmp_path)]) == 0
    first = capsys.readouterr().out
    for text in ("wrote", "converted into", "nasbench.query(model_spec)", "trainable_parameters  2694282",
                 "query_many", "top_k", "num_vertices", "done"):
        assert text in first, text
    assert demo.main([str(tmp_path)]) == 0
    second = capsys.readouterr().out
    assert second.count("reusing") == 2
    assert (tmp_path / "sample-dataset" / "manifest.json").is_file()


def test_pickling_reopens_by_path_and_keeps_the_random_state(converted_fixture):
    """A pickled NASBench re-maps the dataset (no data copied) and continues the same draws (rng='private')."""
    import pickle

    nb = api.NASBench(converted_fixture.root, seed=0, rng="private")
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[0])
    nb.query(spec)
    blob = pickle.dumps(nb)
    assert len(blob) < 20_000
    clone = pickle.loads(blob)
    assert clone.root == nb.root and clone.get_budget_counters() == nb.get_budget_counters()
    assert [clone.query(spec)["test_accuracy"] for _ in range(5)] == [nb.query(spec)["test_accuracy"] for _ in range(5)]
    assert_same_value(clone.get_metrics_from_spec(spec), nb.get_metrics_from_spec(spec))


def test_pickled_default_object_draws_from_the_receivers_global_random(converted_fixture):
    """With the default (global) generator, a clone draws from the global random like the original."""
    import pickle

    nb = api.NASBench(converted_fixture.root, seed=0)
    spec = stored_spec(converted_fixture, converted_fixture.info.hashes[0])
    clone = pickle.loads(pickle.dumps(nb))
    random.seed(11)
    ours = [clone.query(spec)["test_accuracy"] for _ in range(8)]
    random.seed(11)
    theirs = [nb.query(spec)["test_accuracy"] for _ in range(8)]
    assert ours == theirs and len(set(ours)) > 1


def test_a_file_that_is_not_a_tfrecord_raises_conversion_error_and_leaves_nothing(tmp_path):
    """Opening some other file tries to convert it, fails with ConversionError, and writes no cache."""
    from nasbench_arrow.errors import ConversionError

    path = tmp_path / "notes.txt"
    path.write_text("not a tfrecord\n" * 10)
    with pytest.raises(ConversionError):
        api.NASBench(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_float_bool_and_object_matrices_find_the_same_cell(nb, converted_fixture):
    """Specs whose matrix is float, bool or object dtype (not cached by bytes) reach the same cell."""
    h = converted_fixture.info.hashes[6]
    matrix, ops = converted_fixture.info.cells[h]
    want = nb.query(ModelSpec(matrix, ops), repeat=0)
    for dtype in (np.float64, bool, object):
        got = nb.query(ModelSpec(np.array(matrix, dtype=dtype), list(ops)), repeat=0)
        assert_same_value(got, want, str(dtype))


def test_query_many_charges_and_records_like_a_query_loop_but_mean_charges_nothing(converted_fixture):
    """With a ledger, query_many adds the same ledger rows as the query loop; repeat='mean' charges nothing."""
    hashes = list(converted_fixture.info.hashes[:12]) * 2
    loop = api.NASBench(converted_fixture.root, seed=6, ledger=True)
    for h in hashes:
        loop.query(loop.spec_from_hash(h), epochs=12, stop_halfway=True)
    many = api.NASBench(converted_fixture.root, seed=6, ledger=True)
    many.query_many(hashes, epochs=12, stop_halfway=True)
    drop = ["wall_time"]
    assert many.ledger.to_polars().drop(drop).equals(loop.ledger.to_polars().drop(drop))
    assert many.get_budget_counters() == loop.get_budget_counters()
    before = many.get_budget_counters()
    many.query_many(hashes, repeat="mean")
    assert many.get_budget_counters() == before and len(many.ledger) == len(hashes)
    many.query_many(hashes, repeat=1, count_budget=False)
    assert many.get_budget_counters() == before
