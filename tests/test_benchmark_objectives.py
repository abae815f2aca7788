"""nas_benchmarks / HPOBench NAS-Bench-101 objectives: configuration decoding and objective semantics.

The decoders are checked against literal transcriptions of nas_benchmarks'
``objective_function`` bodies (loops over the config, ``graph_util``'s bit
reading for space B); the objective values against the fixture's source
records, independently of the query index.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasbench_arrow.api import NASBench
from nasbench_arrow.benchmark import (
    FAILURE,
    NASCifar10A,
    NASCifar10B,
    NASCifar10C,
    config_to_spec,
    objectives,
)
from nasbench_arrow.constants import CONV1X1, CONV3X3, MAXPOOL3X3
from nasbench_arrow.graph import gen_is_edge_fn

OPS = [CONV1X1, CONV3X3, MAXPOOL3X3]
V = 7


def op_configs():
    return st.fixed_dictionaries({f"op_node_{i}": st.sampled_from(OPS) for i in range(5)})


def configs_a():
    return st.tuples(op_configs(), st.lists(st.integers(0, 1), min_size=21, max_size=21)).map(
        lambda t: {**t[0], **{f"edge_{i}": b for i, b in enumerate(t[1])}}
    )


def configs_b():
    return st.tuples(op_configs(), st.lists(st.integers(0, 20), min_size=9, max_size=9)).map(
        lambda t: {**t[0], **{f"edge_{i}": b for i, b in enumerate(t[1])}}
    )


def configs_c():
    return st.tuples(
        op_configs(), st.integers(0, 9), st.lists(st.floats(0, 1), min_size=21, max_size=21, unique=True)
    ).map(lambda t: {**t[0], "num_edges": t[1], **{f"edge_{i}": w for i, w in enumerate(t[2])}})


def literal_a(config):
    matrix = np.zeros([V, V], dtype=np.int8)
    idx = np.triu_indices(V, k=1)
    for i in range(V * (V - 1) // 2):
        matrix[idx[0][i], idx[1][i]] = config[f"edge_{i}"]
    return matrix


def literal_b(config):
    bitlist = [0] * (V * (V - 1) // 2)
    for i in range(9):
        bitlist[config[f"edge_{i}"]] = 1
    out = 0
    for bit in bitlist:
        out = (out << 1) | bit
    return np.fromfunction(gen_is_edge_fn(out), (V, V), dtype=np.int8).astype(np.int8)


def literal_c(config):
    edge_prob = [config[f"edge_{i}"] for i in range(V * (V - 1) // 2)]
    idx = np.argsort(edge_prob)[::-1][: config["num_edges"]]
    binary = np.zeros(len(edge_prob))
    binary[idx] = 1
    matrix = np.zeros([V, V], dtype=np.int8)
    rows, cols = np.triu_indices(V, k=1)
    for i in range(len(edge_prob)):
        matrix[rows[i], cols[i]] = binary[i]
    return matrix


def literal_ops(config):
    return ["input"] + [config[f"op_node_{i}"] for i in range(5)] + ["output"]


@settings(max_examples=100)
@given(st.data())
def test_configs_decode_as_nas_benchmarks_does(data):
    """config_to_spec of spaces A, B, C equals nas_benchmarks' own decoding loops."""
    for space, strategy, literal in (("A", configs_a(), literal_a), ("B", configs_b(), literal_b), ("C", configs_c(), literal_c)):
        config = data.draw(strategy)
        matrix, ops = config_to_spec(space, config)
        assert matrix.tolist() == literal(config).tolist(), space
        assert ops == literal_ops(config)


def test_space_b_sets_bit_20_minus_index():
    """Space B: edge index 0 is the most significant of 21 bits, i.e. edge 5 -> 6; index 20 is edge 0 -> 1."""
    base = {f"op_node_{i}": CONV3X3 for i in range(5)}
    only_first = {**base, **{f"edge_{i}": 0 for i in range(9)}}
    matrix, _ = config_to_spec("B", only_first)
    assert np.argwhere(matrix).tolist() == [[5, 6]]
    only_last = {**base, **{f"edge_{i}": 20 for i in range(9)}}
    assert np.argwhere(config_to_spec("B", only_last)[0]).tolist() == [[0, 1]]


@pytest.mark.parametrize(
    ("space", "change", "match"),
    [
        ("A", {"edge_3": 2}, "edge_3=2 is outside its domain"),
        ("A", {"op_node_0": "conv5x5"}, "op_node_0='conv5x5' is outside"),
        ("B", {"edge_8": 21}, "edge_8=21 is outside"),
        ("C", {"num_edges": 10}, "num_edges=10 is outside"),
        ("C", {"edge_0": 1.5}, "edge_0=1.5 is outside"),
    ],
)
def test_out_of_domain_values_are_clear_errors(space, change, match):
    """A value outside a hyperparameter's domain raises ValueError naming it (HPOBench checks configs too)."""
    config = {f"op_node_{i}": CONV3X3 for i in range(5)}
    if space == "A":
        config.update({f"edge_{i}": 0 for i in range(21)})
    elif space == "B":
        config.update({f"edge_{i}": 0 for i in range(9)})
    else:
        config.update({"num_edges": 2, **{f"edge_{i}": 0.5 for i in range(21)}})
    missing = dict(config)
    missing.pop("op_node_4")
    config.update(change)
    with pytest.raises(ValueError, match=match):
        config_to_spec(space, config)
    with pytest.raises(ValueError, match="lacks 'op_node_4'"):
        config_to_spec(space, missing)


# ----------------------------------------------------------------------------- objective semantics


@pytest.fixture(scope="module")
def fixture_nb(converted_fixture):
    return NASBench(converted_fixture.root, seed=0), converted_fixture.info


def config_a_of(matrix, ops):
    """A space-A config of a stored cell, padded to 7 vertices the NASLib way (pruning removes the padding)."""
    v = len(ops)
    m = np.zeros((V, V), dtype=int)
    m[: v - 1, : v - 1] = matrix[: v - 1, : v - 1]
    m[: v - 1, V - 1] = matrix[: v - 1, v - 1]
    padded = list(ops[:-1]) + [CONV3X3] * (V - v) + ["output"]
    rows, cols = np.triu_indices(V, k=1)
    config = {f"op_node_{i}": padded[i + 1] for i in range(5)}
    config.update({f"edge_{i}": int(m[rows[i], cols[i]]) for i in range(21)})
    return config


@pytest.mark.parametrize("run_index", [(0, 1, 2), 1, [2, 0], (1, 1, 2)])
@pytest.mark.parametrize("budget", [4, 108])
def test_objective_is_one_minus_mean_validation_and_cost_the_sum(fixture_nb, run_index, budget):
    """function_value = 1 - mean validation accuracy over the runs, cost = their summed time (duplicates dropped)."""
    nb, info = fixture_nb
    h = info.hashes[5]
    bench = NASCifar10A(nb)
    result = bench.objective_function(config_a_of(*info.cells[h]), budget=budget, run_index=run_index)
    runs = [run_index] if isinstance(run_index, int) else list(dict.fromkeys(run_index))
    records = [info.expected(h, budget, r) for r in runs]
    valid = [r.stat("final", "validation_accuracy") for r in records]
    assert result["function_value"] == float(1 - np.mean(valid))
    assert result["cost"] == float(np.sum([r.stat("final", "training_time") for r in records]))
    assert result["info"]["valid_accuracies"] == valid
    assert result["info"]["test_accuracies"] == [r.stat("final", "test_accuracy") for r in records]
    assert result["info"]["fidelity"] == {"budget": budget}
    assert result["info"]["data"]["trainable_parameters"] == info.trainable_parameters[h]
    assert 1 - np.mean(result["info"]["valid_accuracies"]) == result["function_value"]


def test_objective_test_is_mean_test_error_over_all_runs(fixture_nb):
    """objective_function_test: 1 - mean test accuracy over the three runs."""
    nb, info = fixture_nb
    h = info.hashes[0]
    result = NASCifar10A(nb).objective_function_test(config_a_of(*info.cells[h]))
    tests = [info.expected(h, 108, r).stat("final", "test_accuracy") for r in range(3)]
    assert result["function_value"] == float(1 - np.mean(tests))


def test_budget_may_be_given_as_a_fidelity_dict(fixture_nb):
    """HPOBench passes fidelity={'budget': 12}; that works the same as budget=12."""
    nb, info = fixture_nb
    config = config_a_of(*info.cells[info.hashes[1]])
    bench = NASCifar10A(nb)
    assert bench.objective_function(config, {"budget": 12}) == bench.objective_function(config, 12)


def test_run_index_none_draws_one_run_from_the_seed(fixture_nb):
    """run_index=None: one run from the benchmark's own seeded generator (reproducible, nb untouched)."""
    nb, info = fixture_nb
    config = config_a_of(*info.cells[info.hashes[2]])
    state = nb._rng.getstate()
    a = [NASCifar10A(nb, seed=4).objective_function(config, run_index=None)["cost"] for _ in range(1)]
    b = [NASCifar10A(nb, seed=4).objective_function(config, run_index=None)["cost"] for _ in range(1)]
    assert a == b
    assert len(NASCifar10A(nb, seed=4).objective_function(config, run_index=None)["info"]["training_times"]) == 1
    assert nb._rng.getstate() == state


def test_objectives_do_not_charge_the_budget_counters(fixture_nb):
    """Objective calls leave nb's training_time_spent / total_epochs_spent alone."""
    nb, info = fixture_nb
    before = nb.get_budget_counters()
    NASCifar10A(nb).objective_function(config_a_of(*info.cells[info.hashes[3]]))
    assert nb.get_budget_counters() == before


def test_invalid_configurations_give_the_failure_result(fixture_nb):
    """More than 9 edges, or disconnected: every run fails -> function_value 1, cost 0, zero accuracies."""
    nb, _ = fixture_nb
    ops = {f"op_node_{i}": CONV3X3 for i in range(5)}
    too_many = {**ops, **{f"edge_{i}": 1 for i in range(21)}}
    disconnected = {**ops, **{f"edge_{i}": 0 for i in range(21)}}
    for config in (too_many, disconnected):
        result = NASCifar10A(nb).objective_function(config)
        assert result["function_value"] == 1.0
        assert result["cost"] == 0.0
        assert result["info"]["valid_accuracies"] == [0.0, 0.0, 0.0]
        assert result["info"]["data"] == {"trainable_parameters": 0, "module_operations": 0}
    zero_edges = {**ops, "num_edges": 0, **{f"edge_{i}": 0.5 for i in range(21)}}
    assert NASCifar10C(nb).objective_function(zero_edges)["function_value"] == 1.0
    assert FAILURE["info"] == "failure"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"run_index": 3}, r"run_index must be in \[0, 2\], not 3"),
        ({"run_index": -1}, r"run_index must be in \[0, 2\], not -1"),
        ({"run_index": []}, "1 to 3 run indices"),
        ({"run_index": [4]}, r"all run_index values must be in \[0, 2\]"),
        ({"run_index": 0.1}, "run_index must be an int"),
        ({"budget": 5}, r"budget must be one of \[4, 12, 36, 108\] epochs, got 5"),
    ],
)
def test_bad_arguments_are_value_errors(fixture_nb, kwargs, match):
    """HPOBench's wrong-input cases (run_index 0.1, -1, 4, [], [4]; a budget not in the data) raise ValueError."""
    nb, info = fixture_nb
    with pytest.raises(ValueError, match=match):
        NASCifar10A(nb).objective_function(config_a_of(*info.cells[info.hashes[0]]), **kwargs)


def test_spaces_b_and_c_query_the_same_cell_as_a(fixture_nb):
    """A cell written in space B and C (same edges) gives the same deterministic objective as in space A."""
    nb, info = fixture_nb
    for h in info.hashes[:10]:
        config_a = config_a_of(*info.cells[h])
        matrix, _ = config_to_spec("A", config_a)
        edges = [k for k, (i, j) in enumerate(zip(*np.triu_indices(V, k=1))) if matrix[i, j]]
        if len(edges) > 9:
            continue
        ops = {k: v for k, v in config_a.items() if k.startswith("op_node")}
        # Space B: indices 20 - bit of each edge, padded with repeats of the first.
        bits = []
        for k in edges:
            i, j = np.triu_indices(V, k=1)[0][k], np.triu_indices(V, k=1)[1][k]
            bits.append(20 - (j * (j - 1) // 2 + i))
        bits += [bits[0]] * (9 - len(bits))
        config_b = {**ops, **{f"edge_{n}": int(b) for n, b in enumerate(bits)}}
        weights = {f"edge_{k}": (0.9 - 0.01 * k if k in edges else 0.1 * k / 21) for k in range(21)}
        config_c = {**ops, "num_edges": len(edges), **weights}
        want = NASCifar10A(nb).objective_function(config_a)
        assert NASCifar10B(nb).objective_function(config_b) == want
        assert NASCifar10C(nb).objective_function(config_c) == want


# ----------------------------------------------------------------------------- ConfigSpace (hpo extra)


def test_configuration_spaces_have_nas_benchmarks_hyperparameters():
    """get_configuration_space: A has 26 hyperparameters, B 14, C 27; the same seed samples the same config."""
    cs_module = pytest.importorskip("ConfigSpace", reason="ConfigSpace not installed (pip install 'nasbench-arrow[hpo]')")
    sizes = {"A": 26, "B": 14, "C": 27}
    for space, size in sizes.items():
        cs = objectives.get_configuration_space(space, seed=0)
        assert len(list(cs.values())) == size
        assert cs.sample_configuration() == objectives.get_configuration_space(space, seed=0).sample_configuration()
        config = cs.sample_configuration()
        config_to_spec(space, dict(config))  # every sampled config decodes
    assert isinstance(objectives.get_configuration_space("A"), cs_module.ConfigurationSpace)
    fidelity = objectives.get_fidelity_space(seed=0)
    assert len(list(fidelity.values())) == 1


def test_sampled_space_a_configs_evaluate(fixture_nb):
    """Configs sampled from space A's ConfigurationSpace go straight into objective_function."""
    pytest.importorskip("ConfigSpace", reason="ConfigSpace not installed (pip install 'nasbench-arrow[hpo]')")
    nb, _ = fixture_nb
    cs = objectives.get_configuration_space("A", seed=1)
    seen = 0
    for config in cs.sample_configuration(50):
        try:
            result = NASCifar10A(nb).objective_function(config)
        except KeyError:  # a valid cell the 80-cell fixture does not hold
            continue
        assert 0.0 <= result["function_value"] <= 1.0
        seen += 1
    assert seen > 0


def test_missing_configspace_names_the_extra(monkeypatch):
    """Without ConfigSpace, get_configuration_space raises MissingDependencyError with the pip line."""
    from nasbench_arrow.errors import MissingDependencyError

    monkeypatch.setitem(__import__("sys").modules, "ConfigSpace", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'nasbench-arrow\[hpo\]'"):
        objectives.get_configuration_space("A")
