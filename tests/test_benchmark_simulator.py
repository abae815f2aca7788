"""The asynchronous multi-worker Simulator: hand-computed schedules, N = 1 = the sequential loop, regret.

The schedule tests replace the simulator's run table by a tiny one with
hand-picked training times (every repeat of a cell takes the same time), so
every start and end below is computed by hand.
"""

from __future__ import annotations

import random
import time

import numpy as np
import polars as pl
import pytest

from nasbench_arrow.api import NASBench
from nasbench_arrow.benchmark import (
    TRACE_COLUMNS,
    Optimum,
    RandomSearch,
    Simulator,
    Synchronous,
    make_optimizer,
    optimum,
    optimum_table,
)
from nasbench_arrow.errors import OutOfDomainError

# ----------------------------------------------------------------------------- a hand-made table

#: cell -> epochs -> (halfway time, halfway validation, final time, final validation); test = validation - 0.01.
TIMES = {
    "a": {12: (2.0, 0.50, 4.0, 0.60), 108: (5.0, 0.70, 10.0, 0.80)},
    "b": {12: (1.0, 0.40, 2.0, 0.45), 108: (1.5, 0.72, 3.0, 0.90)},
    "c": {12: (1.0, 0.30, 2.0, 0.35), 108: (2.0, 0.60, 4.0, 0.85)},
    "d": {12: (0.5, 0.20, 1.0, 0.25), 108: (0.5, 0.55, 1.0, 0.70)},
    "e": {12: (2.5, 0.10, 5.0, 0.15), 108: (2.5, 0.50, 5.0, 0.95)},
}
CELLS = sorted(TIMES)


def _values(cell, epochs):
    ht, hv, ft, fv = TIMES[cell][epochs]
    return [ht, hv, hv, hv - 0.01, ft, fv, fv, fv - 0.01]


class _Index:
    """Run r of cell row c at budget e is numbered c * 1000 + e * 3 + repeat."""

    num_cells = len(CELLS)
    cell_params = np.arange(len(CELLS)) * 1000

    def hash_at(self, row):
        return CELLS[row]

    def run_values(self, run):
        row, rest = divmod(run, 1000)
        return _values(CELLS[row], rest // 3)


class HandTable:
    """The RunTable interface over TIMES (3 identical repeats per budget)."""

    index = _Index()

    def __init__(self):
        self.hash_rows: dict[str, int] = {}

    def row(self, cell):
        if cell not in TIMES:
            raise KeyError(cell)
        return CELLS.index(cell)

    def budget(self, epochs):
        first = [c * 1000 + epochs * 3 for c in range(len(CELLS))]
        counts = [3 if epochs in TIMES[c] else 0 for c in CELLS]
        return first, counts

    def block(self, epochs):
        out = np.zeros((len(CELLS), 3, 8))
        for row, cell in enumerate(CELLS):
            if epochs in TIMES[cell]:
                out[row, :] = _values(cell, epochs)
        return out

    def params(self):
        return self.index.cell_params.tolist()

    def mean(self, row, epochs, column):
        return _values(CELLS[row], epochs)[column]


class FakeNB:
    valid_epochs = frozenset({12, 108})


def hand_simulator(n_workers, seed=0, **kwargs):
    sim = Simulator.__new__(Simulator)
    sim.nb = FakeNB()
    sim.n_workers = n_workers
    sim.seed = seed
    sim.charge_decision_time = kwargs.get("charge_decision_time", False)
    sim._opt = Optimum(0.05, 0.05)
    sim._table = HandTable()
    return sim


class Scripted:
    """Proposes a fixed list, records every ask and tell with the simulated time of the tell."""

    name = "scripted"

    def __init__(self, proposals):
        self.proposals = list(proposals)
        self.log = []

    def ask(self):
        self.log.append("ask")
        return self.proposals.pop(0) if self.proposals else None

    def tell(self, cell, epochs, result):
        self.log.append(f"tell {cell}@{result['end']:g}")


def schedule(trace):
    return list(zip(trace["module_hash"], trace["worker"], trace["start"], trace["end"]))


# ----------------------------------------------------------------------------- schedules


def test_results_are_told_in_finishing_order():
    """2 workers, a=10 s, b=3 s, c=4 s, d=1 s: b, c, d finish on worker 1 before a on worker 0."""
    opt = Scripted([("a", 108), ("b", 108), ("c", 108), ("d", 108)])
    trace = hand_simulator(2).run(opt, max_evaluations=4)
    assert schedule(trace) == [("b", 1, 0.0, 3.0), ("c", 1, 3.0, 7.0), ("d", 1, 7.0, 8.0), ("a", 0, 0.0, 10.0)]
    assert opt.log == ["ask", "ask", "tell b@3", "ask", "tell c@7", "ask", "tell d@8", "tell a@10"]
    assert trace.columns == list(TRACE_COLUMNS)
    assert trace["evaluation"].to_list() == [0, 1, 2, 3]


def test_simultaneous_results_are_all_told_then_workers_ask_by_index():
    """Two results at one moment (c and c, 4 s each): both told in worker order, then the workers ask in index order."""
    opt = Scripted([("c", 108), ("c", 108), ("d", 108), ("b", 108)])
    trace = hand_simulator(2).run(opt, max_evaluations=4)
    # Both c end at 4 on workers 0 and 1: told in worker order, then worker 0 asks (d), then worker 1 (b).
    assert schedule(trace) == [("c", 0, 0.0, 4.0), ("c", 1, 0.0, 4.0), ("d", 0, 4.0, 5.0), ("b", 1, 4.0, 7.0)]
    assert opt.log[:6] == ["ask", "ask", "tell c@4", "tell c@4", "ask", "ask"]


def test_halfway_stop_is_reported_and_charged_at_the_halfway_time():
    """stop_halfway: told at start + halfway time with the halfway metrics; only the halfway time is charged."""
    opt = Scripted([("a", 108, True), ("b", 108)])
    trace = hand_simulator(1).run(opt, max_evaluations=2)
    first, second = trace.row(0, named=True), trace.row(1, named=True)
    assert (first["start"], first["end"], first["training_time"]) == (0.0, 5.0, 5.0)
    assert first["stopped_halfway"] is True and first["validation_accuracy"] == 0.70
    assert (second["start"], second["end"], second["stopped_halfway"]) == (5.0, 8.0, False)
    assert trace["cost"].to_list() == [5.0, 8.0]


def test_a_promotion_costs_the_full_new_budget():
    """a at 12 epochs (4 s) then a at 108 (10 s): the second run costs all 10 s, nothing carries over."""
    opt = Scripted([("a", 12), ("a", 108)])
    trace = hand_simulator(1).run(opt, max_evaluations=2)
    assert schedule(trace) == [("a", 0, 0.0, 4.0), ("a", 0, 4.0, 14.0)]
    assert trace["training_time"].to_list() == [4.0, 10.0]


def test_max_time_lets_the_crossing_evaluation_finish():
    """No evaluation starts at or after max_time; the one crossing it counts (the colab's rule)."""
    opt = Scripted([("a", 108), ("b", 108), ("c", 108)])
    trace = hand_simulator(1).run(opt, max_time=10.0)
    assert schedule(trace) == [("a", 0, 0.0, 10.0)]
    opt = Scripted([("a", 108), ("b", 108), ("c", 108)])
    assert schedule(hand_simulator(1).run(opt, max_time=10.5)) == [("a", 0, 0.0, 10.0), ("b", 0, 10.0, 13.0)]


def test_synchronous_batches_wait_for_the_slowest():
    """Synchronous(batch 2): the second batch starts on both workers when the slower first result (a, 10 s) is in."""
    opt = Synchronous(Scripted([("a", 108), ("b", 108), ("c", 108), ("d", 108)]), 2)
    trace = hand_simulator(2).run(opt, max_evaluations=4)
    assert schedule(trace) == [("b", 1, 0.0, 3.0), ("a", 0, 0.0, 10.0), ("d", 1, 10.0, 11.0), ("c", 0, 10.0, 14.0)]


def test_repeats_are_drawn_from_the_seed_in_start_order():
    """The recorded repeats are random.Random(seed).randrange(3) in the order evaluations start."""
    opt = Scripted([("a", 108), ("b", 108), ("c", 108), ("d", 108), ("e", 108)])
    trace = hand_simulator(2, seed=7).run(opt, max_evaluations=5)
    by_start = trace.sort("start", "worker")
    rng = random.Random(7)
    assert by_start["repeat"].to_list() == [rng.randrange(3) for _ in range(5)]


def test_charge_decision_time_delays_the_start():
    """With charge_decision_time the measured ask() time delays the evaluation; by default it does not."""

    class Slow(Scripted):
        def ask(self):
            time.sleep(0.02)
            return super().ask()

    charged = hand_simulator(1, charge_decision_time=True).run(Slow([("d", 108)]), max_evaluations=1)
    assert charged["start"][0] >= 0.02
    assert charged["end"][0] == pytest.approx(charged["start"][0] + 1.0)
    free = hand_simulator(1).run(Slow([("d", 108)]), max_evaluations=1)
    assert free["start"][0] == 0.0


@pytest.mark.parametrize(
    ("proposals", "error", "match"),
    [
        ([("a", 36)], ValueError, r"epochs=36; the dataset has \[12, 108\]"),
        ([("a",)], TypeError, "ask\\(\\) must return"),
        ([("zz", 108)], KeyError, "zz"),
        ([None], RuntimeError, "waits for nothing"),
    ],
)
def test_bad_proposals_are_clear_errors(proposals, error, match):
    """Unknown budgets, malformed answers, unknown cells and a None with nothing running are typed errors."""
    with pytest.raises(error, match=match):
        hand_simulator(1).run(Scripted(proposals), max_evaluations=3)


def test_a_run_needs_a_limit():
    """Neither max_time nor max_evaluations: ValueError instead of a run that never ends."""
    with pytest.raises(ValueError, match="never ends"):
        hand_simulator(1).run(Scripted([]))


# ----------------------------------------------------------------------------- on a real dataset


@pytest.fixture(scope="module")
def nb(sample_dataset_dir):
    return NASBench(sample_dataset_dir, seed=0)


def sequential_loop(nb, optimizer, seed, budget):
    """The colab's loop: ask, query one repeat drawn from random.Random(seed), tell, until the budget is crossed."""
    rng = random.Random(seed)
    spent, rows = 0.0, []
    while spent < budget:
        cell, epochs = optimizer.ask()
        spec = nb.spec_from_hash(cell) if isinstance(cell, str) else cell
        repeat = rng.randrange(3)
        data = nb.query(spec, epochs, repeat=repeat)
        spent += data["training_time"]
        rows.append((nb.hash_spec(spec), repeat, data["validation_accuracy"], spent))
        optimizer.tell(cell, epochs, {**data, "module_hash": nb.hash_spec(spec)})
    return rows


@pytest.mark.parametrize("algorithm", ["random", "evolution", "local", "hyperband"])
def test_one_worker_equals_the_sequential_loop(nb, algorithm):
    """With N = 1 the trace is the sequential loop's: same cells, repeats, accuracies and end times."""
    budget = 1.5e5
    trace = Simulator(nb, n_workers=1, seed=3).run(make_optimizer(algorithm, nb, 11), max_time=budget)
    loop = sequential_loop(nb, make_optimizer(algorithm, nb, 11), 3, budget)
    got = list(zip(trace["module_hash"], trace["repeat"], trace["validation_accuracy"], trace["end"]))
    assert got == loop
    assert trace["start"].to_list()[1:] == trace["end"].to_list()[:-1]


def test_runs_are_deterministic_from_the_seeds(nb):
    """Same simulator and optimizer seeds: identical traces; another simulator seed: other repeats."""
    a = Simulator(nb, n_workers=4, seed=1).run(RandomSearch(nb, seed=2), max_evaluations=300)
    b = Simulator(nb, n_workers=4, seed=1).run(RandomSearch(nb, seed=2), max_evaluations=300)
    c = Simulator(nb, n_workers=4, seed=9).run(RandomSearch(nb, seed=2), max_evaluations=300)
    assert a.equals(b)
    assert a["repeat"].to_list() != c["repeat"].to_list()


def test_the_facade_random_state_and_counters_are_untouched(nb):
    """A run neither draws from nb's generator nor charges its budget counters."""
    state = nb._rng.getstate()
    counters = nb.get_budget_counters()
    Simulator(nb, n_workers=2, seed=0).run(RandomSearch(nb, seed=0), max_evaluations=50)
    assert nb._rng.getstate() == state
    assert nb.get_budget_counters() == counters


def test_invalid_spec_is_an_out_of_domain_error(nb):
    """A proposed spec outside the space raises OutOfDomainError with the original message and the moment."""
    from nasbench_arrow.api import ModelSpec

    bad = ModelSpec([[0, 0], [0, 0]], ["input", "output"])
    with pytest.raises(OutOfDomainError, match="disconnected.*worker 0 at simulated time 0"):
        Simulator(nb, seed=0).run(Scripted([(bad, 108)]), max_evaluations=1)


# ----------------------------------------------------------------------------- optimum and regret


def test_optimum_equals_brute_force(converted_fixture):
    """optimum_table's best mean validation/test accuracy per budget equal a loop over computed_statistics."""
    nb = NASBench(converted_fixture.root, seed=0)
    table = optimum_table(nb)
    for epochs in sorted(nb.valid_epochs):
        best_v = best_t = -1.0
        for h in nb.hash_iterator():
            runs = nb.computed_statistics[h][epochs]
            v = float(np.mean([r["final_validation_accuracy"] for r in runs]))
            t = float(np.mean([r["final_test_accuracy"] for r in runs]))
            best_v, best_t = max(best_v, v), max(best_t, t)
        row = table.filter(pl.col("epochs") == epochs).row(0, named=True)
        assert row["best_validation_accuracy"] == pytest.approx(best_v, abs=1e-15)
        assert row["best_test_accuracy"] == pytest.approx(best_t, abs=1e-15)
        assert row["y_star_valid"] == pytest.approx(1 - best_v, abs=1e-15)
    opt = optimum(nb)
    assert opt.y_star_test == pytest.approx(table.filter(pl.col("epochs") == 108)["y_star_test"][0])


def test_regret_columns_equal_a_literal_loop(converted_fixture):
    """Incumbent (by validation only), its mean 108-epoch test accuracy and both regrets, recomputed in a loop."""
    nb = NASBench(converted_fixture.root, seed=0)
    info = converted_fixture.info
    opt = optimum(nb)
    trace = Simulator(nb, n_workers=3, seed=5).run(make_optimizer("random-uniform", nb, 5), max_evaluations=200)
    best, spent = None, 0.0
    for r in trace.iter_rows(named=True):
        spent += r["training_time"]
        if best is None or r["validation_accuracy"] > best[1]:
            best = (r["module_hash"], r["validation_accuracy"])
        mean_test = float(np.mean([x.stat("final", "test_accuracy") for x in info.runs(best[0], 108)]))
        assert r["incumbent_hash"] == best[0]
        assert r["cost"] == spent
        assert r["validation_regret"] == pytest.approx((1 - best[1]) - opt.y_star_valid, abs=1e-15)
        assert r["incumbent_test_accuracy"] == pytest.approx(mean_test, abs=1e-15)
        assert r["test_regret"] == pytest.approx((1 - mean_test) - opt.y_star_test, abs=1e-15)
        assert r["test_regret"] >= 0


def test_every_trace_value_is_the_source_record(converted_fixture):
    """Each evaluation's time and accuracies are those of the drawn repeat in the source file."""
    nb = NASBench(converted_fixture.root, seed=0)
    info = converted_fixture.info
    trace = Simulator(nb, n_workers=2, seed=1).run(make_optimizer("random-uniform", nb, 2), max_evaluations=60)
    for r in trace.iter_rows(named=True):
        record = info.expected(r["module_hash"], r["epochs"], r["repeat"])
        assert r["training_time"] == record.stat("final", "training_time")
        assert r["validation_accuracy"] == record.stat("final", "validation_accuracy")
        assert r["end"] - r["start"] == pytest.approx(r["training_time"])


@pytest.mark.parametrize("name", ["successive-halving", "hyperband"])
@pytest.mark.parametrize("synchronous", [False, True])
def test_multi_fidelity_optimizers_use_every_budget_and_promote(nb, name, synchronous):
    """SH and Hyperband evaluate at 4..108 epochs, and cells evaluated at 108 were evaluated lower first (promotions)."""
    opt = make_optimizer(name, nb, 0, n_workers=4, synchronous=synchronous)
    trace = Simulator(nb, n_workers=4, seed=0).run(opt, max_time=2e5)
    assert set(trace["epochs"].to_list()) == {4, 12, 36, 108}
    first_budget = trace.group_by("module_hash").agg(pl.col("epochs").min().alias("lowest"), pl.len())
    promoted = first_budget.filter(pl.col("len") > 1)
    assert promoted.height > 0
    if name == "successive-halving":  # every cell starts at the lowest rung
        assert first_budget["lowest"].to_list() == [4] * first_budget.height
