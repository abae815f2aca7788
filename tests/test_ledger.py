"""The query ledger: one row per successful ``NASBench.query``, compared with a brute-force replay."""

from __future__ import annotations

import random
import time

import numpy as np
import polars as pl
import pytest

from nasbench_arrow.api import NASBench
from nasbench_arrow.errors import OutOfDomainError
from nasbench_arrow.ledger import LEDGER_COLUMNS, LEDGER_SCHEMA, LedgerEntry, QueryLedger
from nasbench_arrow.model_spec import ModelSpec
from nasbench_arrow.testing import sample_cells
from reference_loader import OriginalStyleNASBench


@pytest.fixture(scope="module")
def reference(converted_fixture):
    """The fixture file read the original way."""
    return OriginalStyleNASBench(converted_fixture.tfrecord)


def _workload(fixture, seed=0, n=60):
    """A reproducible list of (spec, epochs, stop_halfway, repeat) with isomorphic re-queries."""
    rng = random.Random(seed)
    hashes = list(fixture.info.hashes)
    calls = []
    for _ in range(n):
        h = rng.choice(hashes[:15])  # few cells, so cells come back
        variants = fixture.info.variants.get(h) or []
        matrix, ops = rng.choice([fixture.info.cells[h], *variants])
        epochs = rng.choice([4, 12, 36, 108])
        repeat = rng.choice([None, None, None, 0, 1, 2])
        calls.append((h, ModelSpec(np.array(matrix), list(ops)), epochs, rng.random() < 0.3, repeat))
    return calls


def test_ledger_is_off_by_default(converted_fixture):
    """Without ``ledger=True`` there is no ledger and queries record nothing."""
    nb = NASBench(converted_fixture.root)
    assert nb.ledger is None
    h = converted_fixture.info.hashes[0]
    nb.query(nb.spec_from_hash(h))
    assert nb.ledger is None


def test_ledger_rows_match_brute_force_replay(converted_fixture, reference):
    """Hash, budget, repeat, halfway flag, metrics, counters and repeat flags equal a plain replay."""
    seed = 3
    nb = NASBench(converted_fixture.root, seed=seed, ledger=True)
    calls = _workload(converted_fixture)
    t0 = time.time()
    for _, spec, epochs, halfway, repeat in calls:
        nb.query(spec, epochs=epochs, stop_halfway=halfway, repeat=repeat)
    t1 = time.time()

    draws = random.Random(seed)
    spent, epochs_spent, seen = 0.0, 0, {}
    rows = nb.ledger.rows()
    assert len(rows) == len(nb.ledger) == len(calls)
    for i, ((h, _, epochs, halfway, repeat), row) in enumerate(zip(calls, rows)):
        drawn = draws.randint(0, 2) if repeat is None else repeat
        run = reference.computed_statistics[h][epochs][drawn]
        stage = "halfway" if halfway else "final"
        spent += run[f"{stage}_training_time"]
        epochs_spent += epochs // 2 if halfway else epochs
        assert row["query"] == i
        assert row["module_hash"] == h
        assert row["epochs"] == epochs
        assert row["stop_halfway"] is halfway
        assert row["repeat"] == drawn
        assert row["repeat_drawn"] is (repeat is None)
        assert row["training_time"] == run[f"{stage}_training_time"]
        assert row["validation_accuracy"] == run[f"{stage}_validation_accuracy"]
        assert row["test_accuracy"] == run[f"{stage}_test_accuracy"]
        assert row["training_time_spent"] == spent
        assert row["total_epochs_spent"] == epochs_spent
        assert row["repeated_cell"] is (h in seen)
        assert row["times_seen"] == seen.get(h, 0)
        assert t0 <= row["wall_time"] <= t1
        seen[h] = seen.get(h, 0) + 1
    assert nb.get_budget_counters() == (spent, epochs_spent)
    assert nb.ledger.num_unique_cells == len(seen)
    assert nb.ledger.num_repeated == len(calls) - len(seen) > 0


def test_isomorphic_spec_is_flagged_as_repeated(converted_fixture):
    """A spec in another vertex order (same hash) is flagged and still charged, as the original charges it."""
    h = next(h for h, v in converted_fixture.info.variants.items() if v)
    matrix, ops = converted_fixture.info.variants[h][0]
    nb = NASBench(converted_fixture.root, seed=0, ledger=True)
    first = nb.query(nb.spec_from_hash(h), repeat=0)
    second = nb.query(ModelSpec(np.array(matrix), list(ops)), repeat=0)
    df = nb.ledger.to_polars()
    assert df["repeated_cell"].to_list() == [False, True]
    assert df["module_hash"].to_list() == [h, h]
    assert nb.get_budget_counters()[0] == first["training_time"] + second["training_time"]
    assert nb.ledger.repeated_training_time == second["training_time"]


def test_failed_queries_are_not_recorded(converted_fixture):
    """Out-of-domain specs, bad budgets and unknown cells charge nothing and add no row."""
    nb = NASBench(converted_fixture.root, seed=0, ledger=True)
    good = nb.spec_from_hash(converted_fixture.info.hashes[0])
    with pytest.raises(OutOfDomainError):
        nb.query(good, epochs=5)
    with pytest.raises(OutOfDomainError):
        nb.query(ModelSpec([[0, 0], [0, 0]], ["input", "output"]))
    held = set(converted_fixture.info.hashes)
    cell = next(c for c in sample_cells(200, seed=99) if c.module_hash not in held)
    unknown = ModelSpec(np.array(cell.matrix), list(cell.ops))
    with pytest.raises(KeyError):
        nb.query(unknown)
    assert len(nb.ledger) == 0
    nb.query(good)
    assert len(nb.ledger) == 1


def test_reset_budget_counters_keeps_the_ledger(converted_fixture):
    """Resetting the counters starts a new budget but the ledger keeps its rows until ``clear``."""
    nb = NASBench(converted_fixture.root, seed=0, ledger=True)
    spec = nb.spec_from_hash(converted_fixture.info.hashes[1])
    nb.query(spec)
    nb.reset_budget_counters()
    data = nb.query(spec)
    df = nb.ledger.to_polars()
    assert df.height == 2
    assert df["training_time_spent"][1] == data["training_time"]
    assert df["repeated_cell"][1]
    nb.ledger.clear()
    assert len(nb.ledger) == 0
    nb.query(spec)
    assert not nb.ledger.to_polars()["repeated_cell"][0]


def test_one_ledger_shared_by_two_objects(converted_fixture):
    """A QueryLedger passed to two NASBench objects records both, in call order, flags across them."""
    ledger = QueryLedger()
    a = NASBench(converted_fixture.root, seed=1, ledger=ledger)
    b = NASBench(converted_fixture.root, seed=2, ledger=ledger)
    assert a.ledger is b.ledger is ledger
    spec = a.spec_from_hash(converted_fixture.info.hashes[2])
    a.query(spec)
    b.query(spec)
    assert ledger.to_polars()["repeated_cell"].to_list() == [False, True]
    # Each object's own counters go into the rows.
    assert ledger.to_polars()["training_time_spent"][1] == b.get_budget_counters()[0]


@pytest.mark.parametrize("bad", ["yes", 1, object()])
def test_bad_ledger_argument_raises(converted_fixture, bad):
    """``ledger`` must be a bool or a QueryLedger."""
    with pytest.raises(TypeError, match="ledger must be"):
        NASBench(converted_fixture.root, ledger=bad)


def test_to_polars_schema_and_parquet_round_trip(converted_fixture, tmp_path):
    """Columns and dtypes are the documented ones; Parquet reads back equal."""
    nb = NASBench(converted_fixture.root, seed=0, ledger=True)
    assert nb.ledger.to_polars().columns == list(LEDGER_COLUMNS)  # empty ledger keeps its schema
    for h in converted_fixture.info.hashes[:5]:
        nb.query(nb.spec_from_hash(h), epochs=36)
    df = nb.ledger.to_polars()
    assert {c: str(t) for c, t in df.schema.items()} == LEDGER_SCHEMA
    path = nb.ledger.write_parquet(tmp_path / "sub" / "ledger.parquet")
    assert pl.read_parquet(path).equals(df)


def test_ledger_unit_record_and_summary():
    """Recording by hand: counts, flags, totals and the injected clock."""
    ticks = iter([10.0, 11.0, 12.5])
    ledger = QueryLedger(clock=lambda: next(ticks))
    ledger.record("a" * 32, 108, False, 0, True, 100.0, 0.9, 0.89, 100.0, 108)
    ledger.record("b" * 32, 108, True, 1, False, 50.0, 0.7, 0.69, 150.0, 162)
    ledger.record("a" * 32, 4, False, 2, True, 10.0, 0.5, 0.49, 160.0, 166)
    assert ledger.summary() == {
        "queries": 3,
        "unique_cells": 2,
        "repeated_queries": 1,
        "training_time": 160.0,
        "repeated_training_time": 10.0,
    }
    df = ledger.to_polars()
    assert df["wall_time"].to_list() == [10.0, 11.0, 12.5]
    assert df["times_seen"].to_list() == [0, 0, 1]
    assert "repeated=1" in repr(ledger)


def test_ledger_entry_is_the_positional_record():
    """add(LedgerEntry(...)) stores the same row as record(...) with the same ten values, the
    entry's fields are the columns between ``query`` and ``wall_time``, and a ledger pickles."""
    import dataclasses
    import pickle

    values = ("c" * 32, 36, True, 1, False, 42.0, 0.8, 0.79, 42.0, 18)
    fields = [f.name for f in dataclasses.fields(LedgerEntry)]
    assert tuple(fields) == LEDGER_COLUMNS[1 : 1 + len(values)]
    by_position, by_entry = QueryLedger(clock=lambda: 5.0), QueryLedger(clock=lambda: 5.0)
    by_position.record(*values)
    by_entry.add(LedgerEntry(*values))
    by_entry.add(LedgerEntry(**dict(zip(fields, values))))
    assert by_entry.rows()[0] == by_position.rows()[0]
    again = {"query": 1, "repeated_cell": True, "times_seen": 1}
    assert by_entry.rows()[1] == {**by_position.rows()[0], **again}
    assert by_entry.summary()["repeated_training_time"] == 42.0
    plain = QueryLedger()  # the default clock (a lambda clock would not pickle)
    plain.add(LedgerEntry(*values))
    assert pickle.loads(pickle.dumps(plain)).rows() == plain.rows()
