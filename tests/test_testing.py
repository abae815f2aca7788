"""The test-data writers (nasbench_arrow.testing): fixtures in the official format."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from nasbench_arrow import testing
from nasbench_arrow.constants import AVAILABLE_OPS, MAX_EDGES, VALID_EPOCHS
from nasbench_arrow.model_spec import ModelSpec
from nasbench_arrow.params import trainable_parameters
from nasbench_arrow.records import format_payload, parse_payload
from nasbench_arrow.testing import (
    ACCURACY_DENOMINATOR,
    INCEPTION_HASH,
    sample_cells,
    write_fixture_tfrecord,
)
from nasbench_arrow.tfrecord import iter_payloads
from realdata_loader import GENUINE_RECORD_FILE, write_realdata_tfrecords

CANONICAL = list(AVAILABLE_OPS)


def _spec_hash(matrix, ops) -> str:
    return ModelSpec(np.array(matrix), list(ops)).hash_spec(CANONICAL)


@pytest.fixture(scope="module")
def cells():
    """Forty sampled cells."""
    return sample_cells(40, seed=3)


@pytest.fixture(scope="module")
def fixture(cells, tmp_path_factory):
    """A full-budget fixture of 12 cells with isomorphic variants."""
    path = tmp_path_factory.mktemp("fixture") / "mini.tfrecord"
    return write_fixture_tfrecord(path, cells[:12], seed=5, isomorphic_variants=True)


def _is_float32_fraction(x: float) -> bool:
    k = round(x * ACCURACY_DENOMINATOR)
    return float(np.float32(k / ACCURACY_DENOMINATOR)) == x and 0 <= k <= ACCURACY_DENOMINATOR


# --------------------------------------------------------------------------- sample_cells


def test_sample_cells_are_distinct_valid_cells(cells):
    """Sampled cells are distinct by hash, pruned full DAGs with at most 9 edges, hashed right."""
    assert len({c.module_hash for c in cells}) == 40
    for c in cells:
        spec = ModelSpec(c.matrix, c.ops)
        assert spec.valid_spec
        assert spec.matrix.tolist() == c.matrix.tolist()  # pruning changes nothing
        assert c.module_hash == spec.hash_spec(CANONICAL)
        assert c.num_edges == int(c.matrix.sum()) <= MAX_EDGES
        assert c.num_vertices == len(c.ops)


def test_sample_cells_special_cells_and_spread(cells):
    """The 2-vertex cell and the Inception cell come first; vertex counts vary from 2 to 7."""
    assert cells[0].ops == ["input", "output"]
    assert cells[1].module_hash == INCEPTION_HASH
    counts = collections.Counter(c.num_vertices for c in cells)
    assert {2, 5, 6, 7} <= set(counts)


def test_sample_cells_deterministic():
    """The same seed gives the same cells; another seed other cells."""
    a = [c.module_hash for c in sample_cells(15, seed=1)]
    assert a == [c.module_hash for c in sample_cells(15, seed=1)]
    assert a != [c.module_hash for c in sample_cells(15, seed=2)]
    assert [c.module_hash for c in sample_cells(1)] == a[:1]


def test_sample_cells_exhausts_small_vertex_counts():
    """Enough draws find all 6 cells with 3 vertices, and no more."""
    counts = collections.Counter(c.num_vertices for c in sample_cells(400, seed=0))
    assert counts[2] == 1
    assert counts[3] <= 6


@pytest.mark.parametrize("n", [-1, 1.5, True, 10**7])
def test_sample_cells_bad_n(n):
    """n outside 0..423,624 or not an int is a ValueError."""
    with pytest.raises(ValueError, match="n must be an int"):
        sample_cells(n)


def test_sample_zero_cells():
    """n=0 gives an empty list."""
    assert sample_cells(0) == []


# --------------------------------------------------------------------------- write_fixture_tfrecord


def test_fixture_parses_back_to_expectations(fixture):
    """Every written record parses to the ExpectedRecord in the same position, byte-exact layout."""
    assert fixture.num_records == 12 * 4 * 3 == len(fixture.records)
    for (index, _, payload), rec in zip(iter_payloads(fixture.path), fixture.records, strict=True):
        row = parse_payload(payload)
        assert rec.record_index == index
        assert (row.module_hash, row.epochs, row.adjacency, row.operations) == (
            rec.module_hash,
            rec.epochs,
            rec.adjacency,
            rec.operations,
        )
        assert row.metrics == rec.metrics
        assert format_payload(*row) == payload


def test_fixture_order_and_shape(fixture):
    """Hash order: sorted by hash, then budget, then repeat; every (hash, budget) has 3 repeats."""
    keys = [(r.module_hash, r.epochs, r.repeat) for r in fixture.records]
    assert keys == sorted(keys)
    assert fixture.hashes == tuple(sorted(fixture.hashes))
    assert fixture.epochs == VALID_EPOCHS
    groups = collections.Counter((r.module_hash, r.epochs) for r in fixture.records)
    assert set(groups.values()) == {3}
    assert fixture.runs(fixture.hashes[0], 108)[2].repeat == 2


def test_fixture_values_are_plausible(fixture):
    """Accuracies are float32 multiples of 1/9984, times float32, epochs 0/half/full, exact params."""
    for rec in fixture.records:
        v = rec.values
        assert (v[0], v[5], v[10]) == (0.0, rec.epochs / 2, float(rec.epochs))
        assert v[1] == 0.0 and 0 < v[6] < v[11] < v[16]
        for i in (2, 3, 4, 7, 8, 9, 12, 13, 14):
            assert _is_float32_fraction(v[i]), (i, v[i])
        for i in (6, 11):
            assert float(np.float32(v[i])) == v[i]
        assert v[13] > 0.3 or rec.epochs < 36
        matrix, ops = fixture.cells[rec.module_hash]
        assert v[15] == fixture.trainable_parameters[rec.module_hash]
        assert v[15] == trainable_parameters(matrix, ops, prune=False)


def test_fixture_is_deterministic(cells, tmp_path):
    """Same cells and seed give the same bytes, in any input order; another seed other bytes."""
    a = write_fixture_tfrecord(tmp_path / "a.tfrecord", cells[:6], seed=1)
    b = write_fixture_tfrecord(tmp_path / "b.tfrecord", list(reversed(cells[:6])), seed=1)
    c = write_fixture_tfrecord(tmp_path / "c.tfrecord", cells[:6], seed=2)
    assert a.path.read_bytes() == b.path.read_bytes() != c.path.read_bytes()


def test_fixture_shuffled_numbers_repeats_in_file_order(cells, tmp_path):
    """Shuffled order: same runs as hash order, repeats numbered by first appearance."""
    ordered = write_fixture_tfrecord(tmp_path / "o.tfrecord", cells[:8], seed=4)
    shuffled = write_fixture_tfrecord(tmp_path / "s.tfrecord", cells[:8], seed=4, order="shuffled")
    keys = [(r.module_hash, r.epochs) for r in shuffled.records]
    assert keys != sorted(keys)
    seen = collections.Counter()
    for rec in shuffled.records:
        assert rec.repeat == seen[(rec.module_hash, rec.epochs)]
        seen[(rec.module_hash, rec.epochs)] += 1
    assert sorted(r.values for r in shuffled.records) == sorted(r.values for r in ordered.records)
    for (_, _, payload), rec in zip(iter_payloads(shuffled.path), shuffled.records, strict=True):
        assert parse_payload(payload).metrics == rec.metrics


def test_isomorphic_variants_share_the_hash(fixture):
    """Variants are other vertex orders of the same cell: same hash, different matrix or ops."""
    assert sum(len(v) for v in fixture.variants.values()) > 0
    for h, variants in fixture.variants.items():
        stored_matrix, stored_ops = fixture.cells[h]
        for matrix, ops in variants:
            assert _spec_hash(matrix, ops) == h
            assert np.array_equal(np.triu(matrix, 1), matrix)
            assert (matrix.tolist(), ops) != (stored_matrix.tolist(), stored_ops)
    # Variants are not written: every record's adjacency is the stored one.
    assert {(r.module_hash, r.adjacency) for r in fixture.records} == {
        (h, "".join(map(str, m.ravel().tolist()))) for h, (m, _) in fixture.cells.items()
    }


def test_fixture_108_only_and_cell_kinds(tmp_path):
    """epochs=(108,) writes one budget; ModelSpecs and (matrix, ops) pairs are both accepted."""
    spec = ModelSpec(np.array(testing.INCEPTION_MATRIX), list(testing.INCEPTION_OPS))
    info = write_fixture_tfrecord(
        tmp_path / "108.tfrecord",
        [spec, ([[0, 1], [0, 0]], ["input", "output"])],
        epochs=(108,),
        repeats=2,
    )
    assert info.num_records == 4
    assert {r.epochs for r in info.records} == {108}
    assert INCEPTION_HASH in info.hashes
    # A spec is stored in the vertex order given (pruned), not the dataset's.
    assert info.cells[INCEPTION_HASH][0].tolist() == [list(r) for r in testing.INCEPTION_MATRIX]


def test_fixture_without_records(cells, tmp_path):
    """keep_records=False keeps no expectations; expected() says so."""
    info = write_fixture_tfrecord(tmp_path / "n.tfrecord", cells[:3], keep_records=False)
    assert info.records is None and info.num_records == 36
    with pytest.raises(KeyError, match="keep_records"):
        info.expected(info.hashes[0], 4, 0)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"order": "random"}, "order must be"),
        ({"repeats": 0}, "repeats must be"),
        ({"epochs": ()}, "epochs must be"),
        ({"epochs": (4, 4)}, "epochs must be"),
        ({"epochs": (0,)}, "epochs must be"),
    ],
)
def test_fixture_bad_arguments(cells, tmp_path, kwargs, pattern):
    """Bad order, repeats or epochs are ValueErrors."""
    with pytest.raises(ValueError, match=pattern):
        write_fixture_tfrecord(tmp_path / "x.tfrecord", cells[:2], **kwargs)


def test_fixture_bad_cells(tmp_path):
    """Duplicates (even isomorphic), invalid specs and unknown ops are refused."""
    a = ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(ValueError, match="given twice"):
        write_fixture_tfrecord(tmp_path / "d.tfrecord", [a, a])
    spec = ModelSpec(np.array(testing.INCEPTION_MATRIX), list(testing.INCEPTION_OPS))
    stored = (testing.INCEPTION_STORED_MATRIX, testing.INCEPTION_STORED_OPS)
    with pytest.raises(ValueError, match="given twice"):
        write_fixture_tfrecord(tmp_path / "d.tfrecord", [spec, stored])
    with pytest.raises(ValueError, match="not valid"):
        write_fixture_tfrecord(tmp_path / "i.tfrecord", [([[0, 0], [0, 0]], ["input", "output"])])
    with pytest.raises(ValueError, match="unknown operation 'conv5x5'"):
        write_fixture_tfrecord(
            tmp_path / "u.tfrecord",
            [([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"])],
        )
    with pytest.raises(TypeError, match="ModelSpec or a"):
        write_fixture_tfrecord(tmp_path / "t.tfrecord", [42])


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(realdata, tmp_path_factory):
    """The realdata files, written once."""
    return write_realdata_tfrecords(realdata, tmp_path_factory.mktemp("real"))


def _published(realdata):
    first = json.loads((realdata / "first_arch_00005c14.json").read_text())
    inception = json.loads((realdata / "inception_28cfc787.json").read_text())
    naslib = json.loads((realdata / "naslib_nb101_dummy_30.json").read_text())
    runs = {(first["hash"], 108): first["computed_stats_108"]}
    runs.update({(INCEPTION_HASH, int(e)): r for e, r in inception["computed_stats"].items()})
    runs.update({(h, 108): v["computed"]["108"] for h, v in naslib.items()})
    return first, inception, naslib, runs


def _check_published(info, runs):
    for (_, _, payload), rec in zip(iter_payloads(info.path), info.records, strict=True):
        row = parse_payload(payload)
        assert row.metrics == rec.metrics
        if rec.source != "published":
            continue  # synthetic values, or the genuine bytes (checked byte for byte)
        stats = runs[(rec.module_hash, rec.epochs)][rec.repeat]
        half, final = row.metrics.evaluation_data[1], row.metrics.evaluation_data[2]
        for stage, e in (("halfway", half), ("final", final)):
            for metric in (
                "training_time",
                "train_accuracy",
                "validation_accuracy",
                "test_accuracy",
            ):
                assert getattr(e, metric) == stats[f"{stage}_{metric}"]  # bit-exact floats
        assert (half.current_epoch, final.current_epoch) == (rec.epochs / 2, rec.epochs)
        assert row.metrics.total_time > final.training_time


def test_realdata_only108(realdata, real):
    """The 108-only file holds the 32 cells with published 108-epoch runs, values bit-exact."""
    first, inception, naslib, runs = _published(realdata)
    info = real["only108"]
    assert info.num_records == 96 and len(info.hashes) == 32
    assert {r.source for r in info.records} == {"published"}
    _check_published(info, runs)
    rows = {parse_payload(p).module_hash: parse_payload(p) for _, _, p in iter_payloads(info.path)}
    assert rows[first["hash"]].adjacency == first["adjacency_string"]
    assert rows[first["hash"]].metrics.trainable_parameters == first["trainable_parameters"]
    for h, v in naslib.items():
        assert rows[h].adjacency == "".join(str(b) for r in v["module_adjacency"] for b in r)
        assert rows[h].operations.split(",") == v["module_operations"]
        assert rows[h].metrics.trainable_parameters == v["trainable_parameters"]
    assert rows[INCEPTION_HASH].operations.split(",") == inception["pruned_ops"]


def test_realdata_inception_full(realdata, real):
    """The Inception file holds all 4 budgets x 3 repeats as published."""
    _, inception, _, runs = _published(realdata)
    info = real["inception_full"]
    assert info.num_records == 12 and info.hashes == (INCEPTION_HASH,)
    assert {r.source for r in info.records} == {"published"}
    _check_published(info, runs)
    assert info.trainable_parameters[INCEPTION_HASH] == inception["trainable_parameters"]


def test_realdata_first_arch_full_holds_the_genuine_record(realdata, real):
    """The full-budget file of 00005c14 starts with the genuine record's bytes, verbatim."""
    _, _, _, runs = _published(realdata)
    info = real["first_arch_full"]
    genuine = (realdata / GENUINE_RECORD_FILE).read_bytes()
    assert info.path.read_bytes()[: len(genuine)] == genuine
    sources = collections.Counter(r.source for r in info.records)
    assert sources == {"genuine": 1, "published": 3, "synthetic": 8}
    assert info.records[0].source == "genuine"
    _check_published(info, runs)


def test_inception_constants_match_realdata(realdata):
    """The Inception constants are the README spec and the stored form, both hashing to 28cfc787."""
    inception = json.loads((realdata / "inception_28cfc787.json").read_text())
    assert [list(r) for r in testing.INCEPTION_STORED_MATRIX] == inception["pruned_matrix"]
    assert list(testing.INCEPTION_STORED_OPS) == inception["pruned_ops"]
    assert [list(r) for r in testing.INCEPTION_MATRIX] == inception["original_spec"]["matrix"]
    assert list(testing.INCEPTION_OPS) == inception["original_spec"]["ops"]
    assert _spec_hash(testing.INCEPTION_MATRIX, testing.INCEPTION_OPS) == INCEPTION_HASH
    assert (
        _spec_hash(testing.INCEPTION_STORED_MATRIX, testing.INCEPTION_STORED_OPS) == INCEPTION_HASH
    )


def test_exported_names():
    """The module exports exactly its public API."""
    assert sorted(testing.__all__) == sorted(
        [
            "ACCURACY_DENOMINATOR",
            "INCEPTION_HASH",
            "INCEPTION_MATRIX",
            "INCEPTION_OPS",
            "INCEPTION_STORED_MATRIX",
            "INCEPTION_STORED_OPS",
            "ExpectedRecord",
            "FixtureInfo",
            "quantize_accuracy",
            "record_values",
            "sample_cells",
            "synthetic_values",
            "write_fixture_tfrecord",
        ]
    )


def test_realdata_loader_lives_in_tests():
    """The shipped module does not know the test data folder; tests/realdata_loader does."""
    import realdata_loader

    assert sorted(realdata_loader.__all__) == ["GENUINE_RECORD_FILE", "write_realdata_tfrecords"]
    assert not hasattr(testing, "write_realdata_tfrecords")
    from pathlib import Path

    source = Path(testing.__file__).read_text(encoding="utf-8")
    for name in ("first_arch_00005c14", "inception_28cfc787", "naslib_nb101", "nasbench_rs_record"):
        assert name not in source, name
