"""Public client code of the original ``nasbench.api`` gives the original's values on nasbench-arrow.

Each client below is a small module (source text) that follows, call for
call, code from a public repository that uses the original package: the same
``from nasbench import api`` / ``from nasbench.lib import graph_util`` /
``from nasbench.api import OutOfDomainError`` imports, the same methods with
the same arguments in the same order, the same mix of global ``random`` and
``np.random``, the same dict accesses and exceptions caught. The module is
executed twice with its ``nasbench`` imports bound to

* the reference: ``tests/reference_loader.OriginalStyleNASBench`` (the
  original's loader, literally) with ``tests/reference_nasbench`` (the
  original's ``ModelSpec`` and ``graph_util``), reading the ``.tfrecord``;
* nasbench-arrow, through the modules ``nasbench_arrow.compat.install()``
  provides (``nasbench.api`` is ``nasbench_arrow.api``), opening the same
  ``.tfrecord`` path (converted once, automatically, beside it);

and everything the client produces (trajectories, JSON bytes, rows, printed
lines, budget counters) is compared exactly.

What the fixture forces, and nothing else, is adapted: the data are every
cell with at most 5 vertices (4 budgets x 3 repeats, records shuffled), so
clients that draw random 7-vertex matrices draw 5-vertex ones (the way
``tests/test_dropin_clients.py`` runs the colab); scripts that never seed
(the original reseeds ``random`` from the OS in ``NASBench.__init__``) seed
``random`` / ``np.random`` right after construction; third-party pieces that
do not touch ``nasbench`` (ConfigSpace sampling, peewee tables, absl flags,
torch models) are replaced by minimal stand-ins with their own generators.

Clients (repository: file):

* google-research/nasbench: ``example.py`` (also the colab's "Basic usage"
  cell and NASLib's ``nb101_sample_query.py``), ``nasbench/scripts/generate_graphs.py``;
  the colab's searches are in ``tests/test_dropin_clients.py``.
* automl/nas_benchmarks: ``tabular_benchmarks/nas_cifar10.py`` (NASCifar10A/B/C),
  ``experiment_scripts/run_random_search.py``, ``experiment_scripts/run_regularized_evolution.py``.
* automl/HPOBench: ``hpobench/benchmarks/nas/nasbench_101.py`` (``modified_query``
  edits the budget counters and reads ``valid_epochs`` directly).
* naszilla/naszilla: ``naszilla/nas_bench_101/cell_101.py``, ``sample_random.py``,
  ``mutations.py``, ``naszilla/nas_benchmarks.py`` (``Nasbench101``).
* AIoT-MLSys-Lab/arch2vec: ``preprocessing/gen_json.py`` (``data.json`` bytes).
* microsoft/nni: ``nni/nas/benchmark/nasbench101/db_gen.py`` and its ``graph_util.py`` (table rows).
* automl/NASLib: ``naslib/search_spaces/nasbench101/graph.py`` (``NasBench101SearchSpace``
  query / set_spec / sampling / mutation) with ``get_nasbench101_api`` of ``naslib/utils``.
* BayesWatch/nas-without-training: ``nasspace.py`` (``Nasbench101``: islice over
  ``hash_iterator()``, the private ``_hash_spec`` of a foreign ``ModelSpec``).
* walkerning/aw_nas: ``examples/research/gates/dump_nb101_allv.py`` (pickle bytes).
* The idiom a client's own tests use to pin the drawn repeat, ``mock.patch("random.randint")``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import reference_loader
import reference_nasbench
from nasbench_arrow import compat

ROOT = Path(__file__).resolve().parent.parent
NASBENCH_NAMES = ("nasbench", "nasbench.api", "nasbench.lib", "nasbench.lib.graph_util")


# ----------------------------------------------------------------------------- fixture and backends


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A directory holding the fixture under the official file names, converted once by the API.

    Every cell with at most 5 vertices (2,532), 4 budgets x 3 repeats, records
    shuffled; ``nasbench_full.tfrecord`` and ``nasbench_only108.tfrecord`` are
    the same bytes (clients pick one by name).
    """
    from nasbench_arrow import api
    from nasbench_arrow.space import enumerate_cells
    from nasbench_arrow.testing import write_fixture_tfrecord

    directory = tmp_path_factory.mktemp("clients")
    cells = list(enumerate_cells(max_vertices=5, workers=1))
    write_fixture_tfrecord(directory / "nasbench_full.tfrecord", cells, order="shuffled", seed=5)
    shutil.copyfile(directory / "nasbench_full.tfrecord", directory / "nasbench_only108.tfrecord")
    for name in ("nasbench_full.tfrecord", "nasbench_only108.tfrecord"):
        api.NASBench(directory / name)  # the implicit conversion, once, before any client runs
    return directory


def _reference_modules() -> dict[str, types.ModuleType]:
    """``nasbench``, ``nasbench.api``, ``nasbench.lib.graph_util`` bound to the literal reference."""
    api = types.ModuleType("nasbench.api")
    api.NASBench = reference_loader.OriginalStyleNASBench
    api.ModelSpec = reference_nasbench.ModelSpec
    api.OutOfDomainError = reference_loader.OutOfDomainError
    lib = types.ModuleType("nasbench.lib")
    lib.graph_util = reference_nasbench
    package = types.ModuleType("nasbench")
    package.api, package.lib = api, lib
    return {"nasbench": package, "nasbench.api": api, "nasbench.lib": lib, "nasbench.lib.graph_util": reference_nasbench}


def _compat_modules() -> dict[str, types.ModuleType]:
    """The modules ``nasbench_arrow.compat.install()`` provides, taken without leaving them installed."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "nasbench" or k.startswith("nasbench.")}
    try:
        if compat._real_nasbench() is not None:
            pytest.skip("a real nasbench package is installed in this environment")
        compat.install()
        return {k: sys.modules[k] for k in NASBENCH_NAMES}
    finally:
        for k in [k for k in sys.modules if k == "nasbench" or k.startswith("nasbench.")]:
            del sys.modules[k]
        sys.modules.update(saved)


BACKENDS = {"reference": _reference_modules, "arrow": _compat_modules}


@contextlib.contextmanager
def client_imports(backend: str, argv: list[str] | None = None, configspace: str | None = None):
    """Bind ``import nasbench...`` to one backend (and ``sys.argv``) while a client runs; restore after.

    Yields a function ``load(name, source)`` that executes a client module's
    source and registers it in ``sys.modules`` (so client modules import each
    other as in their repositories). ``configspace="standin"`` makes
    ``import ConfigSpace`` the stand-in below; ``"real"`` needs the ``hpo`` extra.
    """
    if configspace == "real":
        pytest.importorskip("ConfigSpace", reason="ConfigSpace not installed (pip install 'nasbench-arrow[hpo]')")
    modules = BACKENDS[backend]()
    replaced: dict[str, types.ModuleType | None] = {}
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "nasbench" or k.startswith("nasbench.")}
    saved_argv = sys.argv
    sys.modules.update(modules)
    if argv is not None:
        sys.argv = list(argv)

    def register(name: str, module: types.ModuleType) -> None:
        if name not in replaced:
            replaced[name] = sys.modules.get(name)
        sys.modules[name] = module

    def load(name: str, source: str) -> types.ModuleType:
        module = types.ModuleType(name)
        module.__file__ = f"<client {name}>"
        if "." in name:
            parent_name, child = name.rsplit(".", 1)
            parent = sys.modules.get(parent_name) if parent_name in replaced else None
            if parent is None:
                parent = types.ModuleType(parent_name)
                parent.__path__ = []
                register(parent_name, parent)
            setattr(parent, child, module)
        register(name, module)
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - the client's own code
        return module

    try:
        if configspace == "standin":
            load("ConfigSpace", CONFIGSPACE_STANDIN)
        yield load
    finally:
        sys.argv = saved_argv
        for k in [k for k in sys.modules if k == "nasbench" or k.startswith("nasbench.")]:
            del sys.modules[k]
        sys.modules.update(saved)
        for name, previous in replaced.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def plain(value):
    """A value with arrays spelled out (dtype, shape, items) so results compare with ==, types included."""
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, value.tolist())
    if isinstance(value, dict):
        return {"__type__": type(value).__name__, **{k: plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [plain(v) for v in value])
    if isinstance(value, (np.generic, float, int, str, bool)) or value is None:
        return (type(value).__name__, value)
    return (type(value).__name__, repr(value))


def run_both(client):
    """``client(backend)`` under the reference and under nasbench-arrow; both results."""
    return client("reference"), client("arrow")


# ----------------------------------------------------------------------------- automl/nas_benchmarks

# tabular_benchmarks/nas_cifar10.py with VERTICES 7 -> 5 (and 5 -> 3 op nodes), written against
# the ConfigSpace >= 1.0 API of the `hpo` extra (`cs.add`, `cs.values()` where nas_benchmarks
# used the since-deprecated add_hyperparameter / get_hyperparameters).
NAS_CIFAR10 = '''
import os

import ConfigSpace
import numpy as np
from nasbench import api
from nasbench.lib import graph_util

MAX_EDGES = 9
VERTICES = 5
OP_NODES = VERTICES - 2


OPS_CHOICES = ["conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3"]


class NASCifar10(object):
    def __init__(self, data_dir, multi_fidelity=True):
        self.multi_fidelity = multi_fidelity
        if self.multi_fidelity:
            self.dataset = api.NASBench(os.path.join(data_dir, "nasbench_full.tfrecord"))
        else:
            self.dataset = api.NASBench(os.path.join(data_dir, "nasbench_only108.tfrecord"))
        self.X = []
        self.y_valid = []
        self.y_test = []
        self.costs = []
        self.y_star_valid = 0.04944576819737756
        self.y_star_test = 0.056824247042338016

    def reset_tracker(self):
        self.X = []
        self.y_valid = []
        self.y_test = []
        self.costs = []

    def record_invalid(self, config, valid, test, costs):
        self.X.append(config)
        self.y_valid.append(valid)
        self.y_test.append(test)
        self.costs.append(costs)

    def record_valid(self, config, data, model_spec):
        self.X.append(config)
        _, metrics = self.dataset.get_metrics_from_spec(model_spec)
        mean_test_error = 1 - np.mean([metrics[108][i]["final_test_accuracy"] for i in range(3)])
        self.y_test.append(mean_test_error)
        valid_error = 1 - data["validation_accuracy"]
        self.y_valid.append(valid_error)
        runtime = data["training_time"]
        self.costs.append(runtime)

    def get_results(self, ignore_invalid_configs=False):
        regret_validation = []
        regret_test = []
        runtime = []
        rt = 0
        inc_valid = np.inf
        inc_test = np.inf
        for i in range(len(self.X)):
            if ignore_invalid_configs and self.costs[i] == 0:
                continue
            if inc_valid > self.y_valid[i]:
                inc_valid = self.y_valid[i]
                inc_test = self.y_test[i]
            regret_validation.append(float(inc_valid - self.y_star_valid))
            regret_test.append(float(inc_test - self.y_star_test))
            rt += self.costs[i]
            runtime.append(float(rt))
        res = dict()
        res["regret_validation"] = regret_validation
        res["regret_test"] = regret_test
        res["runtime"] = runtime
        return res

    def _query(self, config, matrix, budget):
        if graph_util.num_edges(matrix) > MAX_EDGES:
            self.record_invalid(config, 1, 1, 0)
            return 1, 0
        labeling = [config["op_node_%d" % i] for i in range(OP_NODES)]
        labeling = ["input"] + list(labeling) + ["output"]
        model_spec = api.ModelSpec(matrix, labeling)
        try:
            data = self.dataset.query(model_spec, epochs=budget)
        except api.OutOfDomainError:
            self.record_invalid(config, 1, 1, 0)
            return 1, 0
        self.record_valid(config, data, model_spec)
        return 1 - data["validation_accuracy"], data["training_time"]

    @staticmethod
    def _ops_space():
        cs = ConfigSpace.ConfigurationSpace()
        for i in range(OP_NODES):
            cs.add(ConfigSpace.CategoricalHyperparameter("op_node_%d" % i, OPS_CHOICES))
        return cs


def matrix_a(config):
    matrix = np.zeros([VERTICES, VERTICES], dtype=np.int8)
    idx = np.triu_indices(matrix.shape[0], k=1)
    for i in range(VERTICES * (VERTICES - 1) // 2):
        row = idx[0][i]
        col = idx[1][i]
        matrix[row, col] = config["edge_%d" % i]
    return matrix


def matrix_b(config):
    bitlist = [0] * (VERTICES * (VERTICES - 1) // 2)
    for i in range(MAX_EDGES):
        bitlist[config["edge_%d" % i]] = 1
    out = 0
    for bit in bitlist:
        out = (out << 1) | bit
    return np.fromfunction(graph_util.gen_is_edge_fn(out), (VERTICES, VERTICES), dtype=np.int8)


def matrix_c(config):
    edge_prob = []
    for i in range(VERTICES * (VERTICES - 1) // 2):
        edge_prob.append(config["edge_%d" % i])
    idx = np.argsort(edge_prob)[::-1][: config["num_edges"]]
    binay_encoding = np.zeros(len(edge_prob))
    binay_encoding[idx] = 1
    matrix = np.zeros([VERTICES, VERTICES], dtype=np.int8)
    idx = np.triu_indices(matrix.shape[0], k=1)
    for i in range(VERTICES * (VERTICES - 1) // 2):
        row = idx[0][i]
        col = idx[1][i]
        matrix[row, col] = binay_encoding[i]
    return matrix


class NASCifar10A(NASCifar10):
    def objective_function(self, config, budget=108):
        if self.multi_fidelity is False:
            assert budget == 108
        return self._query(config, matrix_a(config), budget)

    @staticmethod
    def get_configuration_space():
        cs = NASCifar10._ops_space()
        for i in range(VERTICES * (VERTICES - 1) // 2):
            cs.add(ConfigSpace.CategoricalHyperparameter("edge_%d" % i, [0, 1]))
        return cs


class NASCifar10B(NASCifar10):
    def objective_function(self, config, budget=108):
        if self.multi_fidelity is False:
            assert budget == 108
        return self._query(config, matrix_b(config), budget)

    @staticmethod
    def get_configuration_space():
        cs = NASCifar10._ops_space()
        cat = [i for i in range((VERTICES * (VERTICES - 1)) // 2)]
        for i in range(MAX_EDGES):
            cs.add(ConfigSpace.CategoricalHyperparameter("edge_%d" % i, cat))
        return cs


class NASCifar10C(NASCifar10):
    def objective_function(self, config, budget=108):
        if self.multi_fidelity is False:
            assert budget == 108
        return self._query(config, matrix_c(config), budget)

    @staticmethod
    def get_configuration_space():
        cs = NASCifar10._ops_space()
        cs.add(ConfigSpace.UniformIntegerHyperparameter("num_edges", 0, MAX_EDGES))
        for i in range(VERTICES * (VERTICES - 1) // 2):
            cs.add(ConfigSpace.UniformFloatHyperparameter("edge_%d" % i, 0, 1))
        return cs
'''

TABULAR_INIT = "from tabular_benchmarks.nas_cifar10 import NASCifar10A, NASCifar10B, NASCifar10C\n"

# The few ConfigSpace names the clients use, for environments without the `hpo` extra: dict
# configurations drawn from a private RandomState (ConfigSpace also samples from its own
# generator, never from random / np.random, so the API sees the same kind of call sequence).
CONFIGSPACE_STANDIN = '''
import numpy as np


class CategoricalHyperparameter:
    def __init__(self, name, choices):
        self.name, self.choices = name, tuple(choices)

    def sample(self, rs):
        return self.choices[rs.randint(len(self.choices))]


class OrdinalHyperparameter(CategoricalHyperparameter):
    pass


class UniformIntegerHyperparameter:
    def __init__(self, name, lower, upper):
        self.name, self.lower, self.upper = name, lower, upper

    def sample(self, rs):
        return int(rs.randint(self.lower, self.upper + 1))


class UniformFloatHyperparameter(UniformIntegerHyperparameter):
    def sample(self, rs):
        return float(rs.uniform(self.lower, self.upper))


class ConfigurationSpace:
    def __init__(self, seed=None):
        self._hyperparameters = {}
        self.seed(seed)

    def seed(self, seed):
        self._rs = np.random.RandomState(seed)

    def add(self, *hyperparameters):
        for hp in hyperparameters:
            self._hyperparameters[hp.name] = hp

    def values(self):
        return self._hyperparameters.values()

    def sample_configuration(self):
        return {name: hp.sample(self._rs) for name, hp in self._hyperparameters.items()}
'''

# experiment_scripts/run_random_search.py (nas_cifar10* branches). The script never seeds and the
# original reseeds `random` from the OS when it loads, so the run id seeds `random` and the
# configuration space right after construction.
RUN_RANDOM_SEARCH = '''
import os
import json
import argparse
import random

from tabular_benchmarks import NASCifar10A, NASCifar10B, NASCifar10C

parser = argparse.ArgumentParser()
parser.add_argument("--run_id", default=0, type=int, nargs="?")
parser.add_argument("--benchmark", default="nas_cifar10a", type=str, nargs="?")
parser.add_argument("--n_iters", default=100, type=int, nargs="?")
parser.add_argument("--output_path", default="./", type=str, nargs="?")
parser.add_argument("--data_dir", default="./", type=str, nargs="?")
args = parser.parse_args()

if args.benchmark == "nas_cifar10a":
    b = NASCifar10A(data_dir=args.data_dir)
elif args.benchmark == "nas_cifar10b":
    b = NASCifar10B(data_dir=args.data_dir)
elif args.benchmark == "nas_cifar10c":
    b = NASCifar10C(data_dir=args.data_dir)
random.seed(args.run_id)

output_path = os.path.join(args.output_path, "random_search")
os.makedirs(os.path.join(output_path), exist_ok=True)

cs = b.get_configuration_space()
cs.seed(args.run_id)

for i in range(args.n_iters):
    config = cs.sample_configuration()
    b.objective_function(config)

res = b.get_results(ignore_invalid_configs=True)

fh = open(os.path.join(output_path, "run_%d.json" % args.run_id), "w")
json.dump(res, fh)
fh.close()
'''

# experiment_scripts/run_regularized_evolution.py (nas_cifar10a/b): global random for the
# tournament, np.random for the mutation, queries drawing from global random in between.
RUN_REGULARIZED_EVOLUTION = '''
import argparse
import collections
import os
import random
import json
from copy import deepcopy

import ConfigSpace
import numpy as np

from tabular_benchmarks import NASCifar10A, NASCifar10B


class Model(object):
    def __init__(self):
        self.arch = None
        self.accuracy = None


def train_and_eval(config):
    y, cost = b.objective_function(config)
    return -y


def random_architecture():
    config = cs.sample_configuration()
    return config


def mutate_arch(parent_arch):
    dim = np.random.randint(len(list(cs.values())))
    hyper = list(cs.values())[dim]
    if type(hyper) == ConfigSpace.OrdinalHyperparameter:
        choices = list(hyper.sequence)
    else:
        choices = list(hyper.choices)
    choices.remove(parent_arch[hyper.name])
    idx = np.random.randint(len(choices))
    child_arch = deepcopy(parent_arch)
    child_arch[hyper.name] = choices[idx]
    return child_arch


def regularized_evolution(cycles, population_size, sample_size):
    population = collections.deque()
    history = []
    while len(population) < population_size:
        model = Model()
        model.arch = random_architecture()
        model.accuracy = train_and_eval(model.arch)
        population.append(model)
        history.append(model)
    while len(history) < cycles:
        sample = []
        while len(sample) < sample_size:
            candidate = random.choice(list(population))
            sample.append(candidate)
        parent = max(sample, key=lambda i: i.accuracy)
        child = Model()
        child.arch = mutate_arch(parent.arch)
        child.accuracy = train_and_eval(child.arch)
        population.append(child)
        history.append(child)
        population.popleft()
    return history


parser = argparse.ArgumentParser()
parser.add_argument("--run_id", default=0, type=int, nargs="?")
parser.add_argument("--benchmark", default="nas_cifar10a", type=str, nargs="?")
parser.add_argument("--n_iters", default=100, type=int, nargs="?")
parser.add_argument("--output_path", default="./", type=str, nargs="?")
parser.add_argument("--data_dir", default="./", type=str, nargs="?")
parser.add_argument("--pop_size", default=100, type=int, nargs="?")
parser.add_argument("--sample_size", default=10, type=int, nargs="?")
args = parser.parse_args()

if args.benchmark == "nas_cifar10a":
    b = NASCifar10A(data_dir=args.data_dir)
elif args.benchmark == "nas_cifar10b":
    b = NASCifar10B(data_dir=args.data_dir)
random.seed(args.run_id)
np.random.seed(args.run_id)

output_path = os.path.join(args.output_path, "regularized_evolution")
os.makedirs(os.path.join(output_path), exist_ok=True)

cs = b.get_configuration_space()
cs.seed(args.run_id)

history = regularized_evolution(cycles=args.n_iters, population_size=args.pop_size, sample_size=args.sample_size)

res = b.get_results(ignore_invalid_configs=True)

fh = open(os.path.join(output_path, "run_%d.json" % args.run_id), "w")
json.dump(res, fh)
fh.close()
'''


def run_nas_benchmarks_script(backend, script, argv, output_path, configspace="real"):
    """Run an experiment script in-process (``tabular_benchmarks`` importable); its JSON and state."""
    argv = ["script.py", *argv, "--output_path", str(output_path)]
    with client_imports(backend, argv=argv, configspace=configspace) as load:
        load("tabular_benchmarks.nas_cifar10", NAS_CIFAR10)
        load("tabular_benchmarks", TABULAR_INIT)
        namespace = load("__client_main__", script)
    b = namespace.b
    state = {
        "y_valid": [plain(v) for v in b.y_valid],
        "y_test": [plain(v) for v in b.y_test],
        "costs": [plain(v) for v in b.costs],
        "counters": b.dataset.get_budget_counters(),
    }
    if hasattr(namespace, "history"):
        state["history"] = [(m.arch, m.accuracy) for m in namespace.history]
    return state


@pytest.mark.parametrize(("benchmark", "configspace"), [
    ("nas_cifar10a", "real"), ("nas_cifar10b", "real"), ("nas_cifar10c", "real"), ("nas_cifar10a", "standin")])
def test_nas_benchmarks_random_search_equals_the_original(data_dir, tmp_path, benchmark, configspace):
    """run_random_search.py on NASCifar10A/B/C: the same run_*.json bytes, records and counters."""
    argv = ["--benchmark", benchmark, "--n_iters", "300", "--run_id", "3", "--data_dir", str(data_dir)]

    def client(backend):
        state = run_nas_benchmarks_script(backend, RUN_RANDOM_SEARCH, argv, tmp_path / backend, configspace)
        return state, (tmp_path / backend / "random_search" / "run_3.json").read_bytes()

    theirs, ours = run_both(client)
    assert ours == theirs
    costs = theirs[0]["costs"]
    assert sum(c == ("int", 0) for c in costs) > 5 and sum(c != ("int", 0) for c in costs) > 100  # both branches ran


@pytest.mark.parametrize("benchmark", ["nas_cifar10a", "nas_cifar10b"])
def test_nas_benchmarks_regularized_evolution_equals_the_original(data_dir, tmp_path, benchmark):
    """run_regularized_evolution.py: the same history (configs, fitness), run_*.json bytes and counters."""
    argv = ["--benchmark", benchmark, "--n_iters", "250", "--run_id", "1", "--pop_size", "30", "--sample_size", "8",
            "--data_dir", str(data_dir)]

    def client(backend):
        state = run_nas_benchmarks_script(backend, RUN_REGULARIZED_EVOLUTION, argv, tmp_path / backend)
        return state, (tmp_path / backend / "regularized_evolution" / "run_1.json").read_bytes()

    theirs, ours = run_both(client)
    assert ours == theirs
    assert len(theirs[0]["history"]) == 250


# ----------------------------------------------------------------------------- automl/HPOBench

# hpobench/benchmarks/nas/nasbench_101.py on top of the nas_cifar10 module above (5 vertices);
# the AbstractBenchmark decorators only turn configurations into dicts and fill the default
# fidelity, and rng_helper.get_rng makes a RandomState: both are written out here.
HPOBENCH_NASBENCH_101 = '''
import numpy as np
from tabular_benchmarks.nas_cifar10 import NASCifar10
from nasbench import api
from nasbench.api import OutOfDomainError
from nasbench.lib import graph_util

MAX_EDGES = 9
VERTICES = 5
OP_NODES = VERTICES - 2


def get_rng(rng=None, self_rng=None):
    if rng is not None:
        return rng if isinstance(rng, np.random.RandomState) else np.random.RandomState(rng)
    if self_rng is not None:
        return self_rng
    return np.random.RandomState()


class NASCifar10BaseBenchmark:
    def __init__(self, benchmark, data_path=None, rng=None, **kwargs):
        self.rng = get_rng(rng)
        self.benchmark = benchmark
        self.data_path = data_path

    def objective_function(self, configuration, fidelity=None, run_index=(0, 1, 2), rng=None, **kwargs):
        if fidelity is None:
            fidelity = {"budget": 108}
        self.rng = get_rng(rng, self_rng=self.rng)
        if isinstance(run_index, int):
            assert 0 <= run_index <= 2
            run_index = (run_index,)
        elif isinstance(run_index, (tuple, list)):
            assert 0 < len(run_index) <= 3
            assert min(run_index) >= 0 and max(run_index) <= 2
            if len(set(run_index)) != len(run_index):
                run_index = tuple(set(run_index))
        elif run_index is None:
            run_index = tuple(self.rng.choice((0, 1, 2), size=1))
        else:
            raise ValueError(f"run index must be one of Tuple or Int, but was {type(run_index)}")

        self.benchmark.reset_tracker()
        train_accuracies = []
        valid_accuracies = []
        test_accuracies = []
        training_times = []
        additional = []
        for run_id in run_index:
            data = self._query_benchmark(config=configuration, budget=fidelity["budget"], run_index=run_id)
            train_accuracies.append(data["train_accuracy"])
            valid_accuracies.append(data["validation_accuracy"])
            test_accuracies.append(data["test_accuracy"])
            training_times.append(data["training_time"])
            additional = {"trainable_parameters": data["trainable_parameters"],
                          "module_operations": data["module_operations"]}
        return {"function_value": float(1 - np.mean(valid_accuracies)),
                "cost": float(np.sum(training_times)),
                "info": {"fidelity": fidelity,
                         "train_accuracies": train_accuracies,
                         "valid_accuracies": valid_accuracies,
                         "test_accuracies": test_accuracies,
                         "training_times": training_times,
                         "data": additional}}

    def objective_function_test(self, configuration, fidelity=None, rng=None, **kwargs):
        result = self.objective_function(configuration=configuration, fidelity=fidelity, run_index=(0, 1, 2), rng=rng)
        result["function_value"] = float(1 - np.mean(result["info"]["test_accuracies"]))
        return result

    @staticmethod
    def _try_download_api_file(save_to):
        return save_to

    @staticmethod
    def _failure():
        return {"test_accuracy": 0, "train_accuracy": 0, "validation_accuracy": 0, "training_time": 0,
                "info": "failure", "trainable_parameters": 0, "module_operations": 0}

    def _spec(self, config, matrix):
        if graph_util.num_edges(matrix) > MAX_EDGES:
            self.benchmark.record_invalid(config, 1, 1, 0)
            return None
        labeling = [config["op_node_%d" % i] for i in range(OP_NODES)]
        labeling = ["input"] + list(labeling) + ["output"]
        return api.ModelSpec(matrix, labeling)


class NASCifar10ABenchmark(NASCifar10BaseBenchmark):
    def __init__(self, data_path=None, rng=None, **kwargs):
        data_path = self._try_download_api_file(data_path)
        from tabular_benchmarks.nas_cifar10 import NASCifar10A
        benchmark = NASCifar10A(data_dir=str(data_path), multi_fidelity=True)
        super().__init__(benchmark=benchmark, data_path=data_path, rng=rng, **kwargs)

    def _query_benchmark(self, config, run_index, budget=108):
        from tabular_benchmarks.nas_cifar10 import matrix_a
        model_spec = self._spec(config, matrix_a(config))
        if model_spec is None:
            return self._failure()
        try:
            data = modified_query(self.benchmark, run_index=run_index, model_spec=model_spec, epochs=budget)
        except api.OutOfDomainError:
            self.benchmark.record_invalid(config, 1, 1, 0)
            return self._failure()
        self.benchmark.record_valid(config, data, model_spec)
        data.pop("module_adjacency")
        return data


class _QueryingBenchmark(NASCifar10BaseBenchmark):
    # NASCifar10B/CBenchmark._query_benchmark: run_index is ignored, query() draws the repeat.
    def _query_benchmark(self, config, run_index, budget=108):
        model_spec = self._spec(config, self._matrix(config))
        if model_spec is None:
            return self._failure()
        try:
            data = self.benchmark.dataset.query(model_spec, epochs=budget)
        except api.OutOfDomainError:
            self.benchmark.record_invalid(config, 1, 1, 0)
            return self._failure()
        self.benchmark.record_valid(config, data, model_spec)
        data.pop("module_adjacency")
        return data


class NASCifar10BBenchmark(_QueryingBenchmark):
    def __init__(self, data_path=None, rng=None, **kwargs):
        data_path = self._try_download_api_file(data_path)
        from tabular_benchmarks.nas_cifar10 import NASCifar10B, matrix_b
        self._matrix = matrix_b
        benchmark = NASCifar10B(data_dir=str(data_path), multi_fidelity=True)
        super().__init__(benchmark=benchmark, data_path=data_path, rng=rng, **kwargs)


class NASCifar10CBenchmark(_QueryingBenchmark):
    def __init__(self, data_path=None, rng=None, **kwargs):
        data_path = self._try_download_api_file(data_path)
        from tabular_benchmarks.nas_cifar10 import NASCifar10C, matrix_c
        self._matrix = matrix_c
        benchmark = NASCifar10C(data_dir=str(data_path), multi_fidelity=True)
        super().__init__(benchmark=benchmark, data_path=data_path, rng=rng, **kwargs)


def modified_query(benchmark, model_spec, run_index, epochs=108, stop_halfway=False):
    if epochs not in benchmark.dataset.valid_epochs:
        raise OutOfDomainError("invalid number of epochs, must be one of %s" % benchmark.dataset.valid_epochs)
    fixed_stat, computed_stat = benchmark.dataset.get_metrics_from_spec(model_spec)
    computed_stat = computed_stat[epochs][run_index]
    data = {}
    data["module_adjacency"] = fixed_stat["module_adjacency"]
    data["module_operations"] = fixed_stat["module_operations"]
    data["trainable_parameters"] = fixed_stat["trainable_parameters"]
    if stop_halfway:
        data["training_time"] = computed_stat["halfway_training_time"]
        data["train_accuracy"] = computed_stat["halfway_train_accuracy"]
        data["validation_accuracy"] = computed_stat["halfway_validation_accuracy"]
        data["test_accuracy"] = computed_stat["halfway_test_accuracy"]
    else:
        data["training_time"] = computed_stat["final_training_time"]
        data["train_accuracy"] = computed_stat["final_train_accuracy"]
        data["validation_accuracy"] = computed_stat["final_validation_accuracy"]
        data["test_accuracy"] = computed_stat["final_test_accuracy"]
    benchmark.dataset.training_time_spent += data["training_time"]
    if stop_halfway:
        benchmark.dataset.total_epochs_spent += epochs // 2
    else:
        benchmark.dataset.total_epochs_spent += epochs
    return data
'''


@pytest.mark.parametrize("kind", ["A", "B", "C"])
def test_hpobench_nasbench_101_equals_the_original(data_dir, kind):
    """HPOBench NASCifar10{A,B,C}Benchmark: objective_function over budgets and run indices, and _test."""
    import random

    def client(backend):
        with client_imports(backend, configspace="real") as load:
            load("tabular_benchmarks.nas_cifar10", NAS_CIFAR10)
            module = load("hpobench_nasbench_101", HPOBENCH_NASBENCH_101)
            bench = getattr(module, f"NASCifar10{kind}Benchmark")(data_path=data_dir, rng=11)
            random.seed(5)  # B and C draw repeats from the global random (seeded from the OS on load)
            cs = bench.benchmark.get_configuration_space()
            cs.seed(5)
            out = []
            run_indices = [(0, 1, 2), 1, None, (2, 0), (1, 1), 0]
            for i in range(120):
                config = cs.sample_configuration()
                fidelity = {"budget": [4, 12, 36, 108][i % 4]}
                out.append(plain(bench.objective_function(config, fidelity=fidelity, run_index=run_indices[i % 6])))
                if i % 10 == 0:
                    out.append(plain(bench.objective_function_test(config)))
                out.append(bench.benchmark.get_results(ignore_invalid_configs=True))
            out.append(bench.benchmark.dataset.get_budget_counters())
            return out

    theirs, ours = run_both(client)
    assert ours == theirs
    results = [r for r in theirs if isinstance(r, dict) and "function_value" in r]
    failed = sum(r["function_value"] == ("float", 1.0) for r in results)
    assert theirs[-1][1] > 0 and 0 < failed < len(results) // 2  # valid and out-of-domain configs both ran


# ----------------------------------------------------------------------------- naszilla/naszilla

# naszilla/nas_bench_101/{cell_101,sample_random,mutations}.py and the Nasbench101 data class of
# naszilla/nas_benchmarks.py, the parts that call the API ('adj' and 'uniform' random cells, the
# deterministic / sampled losses, adj mutations, neighbourhoods). NUM_VERTICES is 7 as in naszilla
# for cells drawn from the dataset (padded to 7 by convert_to_cell); 5 for random 'adj' matrices.
NASZILLA = '''
import copy
import os
import random

import numpy as np
from nasbench import api

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
OPS = [CONV3X3, CONV1X1, MAXPOOL3X3]

NUM_VERTICES = __NUM_VERTICES__
OP_SPOTS = NUM_VERTICES - 2
MAX_EDGES = 9


class Cell101:
    def __init__(self, matrix, ops):
        self.matrix = matrix
        self.ops = ops

    def get_utilized(self):
        n = np.shape(self.matrix)[0]
        sub_paths = []
        for j in range(0, n):
            sub_paths.append([[(0, j)]]) if self.matrix[0][j] else sub_paths.append([])
        for i in range(1, n - 1):
            for j in range(1, n):
                if self.matrix[i][j]:
                    for sub_path in sub_paths[i]:
                        sub_paths[j].append([*sub_path, (i, j)])
        paths = sub_paths[-1]
        utilized_edges = []
        for path in paths:
            for edge in path:
                if edge not in utilized_edges:
                    utilized_edges.append(edge)
        utilized_nodes = []
        for i in range(NUM_VERTICES):
            for edge in utilized_edges:
                if i in edge and i not in utilized_nodes:
                    utilized_nodes.append(i)
        return utilized_edges, utilized_nodes

    def is_valid_vertex(self, vertex):
        edges, nodes = self.get_utilized()
        return vertex in nodes

    def is_valid_edge(self, edge):
        edges, nodes = self.get_utilized()
        return edge in edges

    @classmethod
    def convert_to_cell(cls, arch):
        matrix, ops = arch["matrix"], arch["ops"]
        if len(matrix) < 7:
            new_matrix = np.zeros((7, 7), dtype="int8")
            new_ops = []
            n = matrix.shape[0]
            for i in range(7):
                for j in range(7):
                    if j < n - 1 and i < n:
                        new_matrix[i][j] = matrix[i][j]
                    elif j == n - 1 and i < n:
                        new_matrix[i][-1] = matrix[i][j]
            for i in range(7):
                if i < n - 1:
                    new_ops.append(ops[i])
                elif i < 6:
                    new_ops.append("conv3x3-bn-relu")
                else:
                    new_ops.append("output")
            return {"matrix": new_matrix, "ops": new_ops}
        return {"matrix": matrix, "ops": ops}

    def mutate(self, nasbench, mutation_rate=1.0, mutate_encoding="adj", cutoff=None, index_hash=None):
        return adj_mutate(nasbench, matrix=self.matrix, ops=self.ops, cont=False)

    @classmethod
    def random_cell(cls, nasbench, random_encoding, cutoff=None, max_edges=10, max_nodes=8, index_hash=None):
        if random_encoding == "uniform":
            return random_cell_uniform(cls, nasbench)
        return random_cell_adj(nasbench)

    def get_val_loss(self, nasbench, deterministic=True, patience=50, epochs=None, dataset=None):
        if not deterministic:
            if epochs:
                acc = 100 * (1 - nasbench.query(api.ModelSpec(matrix=self.matrix, ops=self.ops), epochs=epochs)["validation_accuracy"])
            else:
                acc = 100 * (1 - nasbench.query(api.ModelSpec(matrix=self.matrix, ops=self.ops))["validation_accuracy"])
            return np.round(acc, 4)
        accs = []
        while len(accs) < 3 and patience > 0:
            patience -= 1
            if epochs:
                acc = nasbench.query(api.ModelSpec(matrix=self.matrix, ops=self.ops), epochs=epochs)["validation_accuracy"]
            else:
                acc = nasbench.query(api.ModelSpec(matrix=self.matrix, ops=self.ops))["validation_accuracy"]
            if acc not in accs:
                accs.append(acc)
        return round(100 * (1 - np.mean(accs)), 4)

    def get_test_loss(self, nasbench, patience=50, epochs=None, dataset=None):
        accs = []
        while len(accs) < 3 and patience > 0:
            patience -= 1
            acc = nasbench.query(api.ModelSpec(matrix=self.matrix, ops=self.ops))["test_accuracy"]
            if acc not in accs:
                accs.append(acc)
        return round(100 * (1 - np.mean(accs)), 4)

    def get_num_params(self, nasbench):
        return nasbench.query(api.ModelSpec(matrix=self.matrix, ops=self.ops))["trainable_parameters"]

    def get_paths(self):
        paths = []
        for j in range(0, NUM_VERTICES):
            paths.append([[]]) if self.matrix[0][j] else paths.append([])
        for i in range(1, NUM_VERTICES - 1):
            for j in range(1, NUM_VERTICES):
                if self.matrix[i][j]:
                    for path in paths[i]:
                        paths[j].append([*path, self.ops[i]])
        return paths[-1]

    def get_path_indices(self):
        paths = self.get_paths()
        mapping = {CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2}
        path_indices = []
        for path in paths:
            index = 0
            for i in range(NUM_VERTICES - 1):
                if i == len(path):
                    path_indices.append(index)
                    break
                else:
                    index += len(OPS) ** i * (mapping[path[i]] + 1)
        path_indices.sort()
        return tuple(path_indices)

    def adj_neighborhood(self, nasbench, shuffle=True):
        nbhd = []
        for vertex in range(1, OP_SPOTS + 1):
            if self.is_valid_vertex(vertex):
                available = [op for op in OPS if op != self.ops[vertex]]
                for op in available:
                    new_matrix = copy.deepcopy(self.matrix)
                    new_ops = copy.deepcopy(self.ops)
                    new_ops[vertex] = op
                    nbhd.append({"matrix": new_matrix, "ops": new_ops})
        for src in range(0, NUM_VERTICES - 1):
            for dst in range(src + 1, NUM_VERTICES):
                new_matrix = copy.deepcopy(self.matrix)
                new_ops = copy.deepcopy(self.ops)
                new_matrix[src][dst] = 1 - new_matrix[src][dst]
                new_arch = {"matrix": new_matrix, "ops": new_ops}
                if self.matrix[src][dst] and self.is_valid_edge((src, dst)):
                    spec = api.ModelSpec(matrix=new_matrix, ops=new_ops)
                    if nasbench.is_valid(spec):
                        nbhd.append(new_arch)
                if not self.matrix[src][dst] and Cell101(**new_arch).is_valid_edge((src, dst)):
                    spec = api.ModelSpec(matrix=new_matrix, ops=new_ops)
                    if nasbench.is_valid(spec):
                        nbhd.append(new_arch)
        if shuffle:
            random.shuffle(nbhd)
        return nbhd


def random_cell_uniform(cls, nasbench):
    hash_list = list(nasbench.hash_iterator())
    n = len(hash_list)
    num = np.random.randint(n)
    unique_hash = hash_list[num]
    fix, _ = nasbench.get_metrics_from_hash(unique_hash)
    cell = {"matrix": fix["module_adjacency"], "ops": fix["module_operations"]}
    return cls.convert_to_cell(cell)


def random_cell_adj(nasbench):
    while True:
        matrix = np.random.choice([0, 1], size=(NUM_VERTICES, NUM_VERTICES))
        matrix = np.triu(matrix, 1)
        ops = np.random.choice(OPS, size=NUM_VERTICES).tolist()
        ops[0] = INPUT
        ops[-1] = OUTPUT
        spec = api.ModelSpec(matrix=matrix, ops=ops)
        if nasbench.is_valid(spec):
            return {"matrix": matrix, "ops": ops}


def adj_mutate(nasbench, matrix, ops, cont, mutation_rate=1.0, patience=5000):
    p = 0
    while p < patience:
        p += 1
        new_matrix = copy.deepcopy(matrix)
        new_ops = copy.deepcopy(ops)
        edge_mutation_prob = mutation_rate / (NUM_VERTICES * (NUM_VERTICES - 1) / 2)
        for src in range(0, NUM_VERTICES - 1):
            for dst in range(src + 1, NUM_VERTICES):
                if np.random.rand() < edge_mutation_prob:
                    new_matrix[src, dst] = 1 - new_matrix[src, dst]
        op_mutation_prob = mutation_rate / OP_SPOTS
        for ind in range(1, OP_SPOTS + 1):
            if np.random.rand() < op_mutation_prob:
                available = [o for o in OPS if o != new_ops[ind]]
                new_ops[ind] = np.random.choice(available)
        new_spec = api.ModelSpec(new_matrix, new_ops)
        if nasbench.is_valid(new_spec):
            return {"matrix": new_matrix, "ops": new_ops}
    raise RuntimeError("no valid mutation")


class Nasbench101:
    def __init__(self, data_folder="~/nas_benchmark_datasets/", index_hash_folder="./", mf=False):
        self.mf = mf
        self.dataset = "cifar10"
        self.index_hash = None
        if not self.mf:
            self.nasbench = api.NASBench(os.path.expanduser(data_folder + "nasbench_only108.tfrecord"))
        else:
            self.nasbench = api.NASBench(os.path.expanduser(data_folder + "nasbench_full.tfrecord"))

    def get_cell(self, arch=None):
        if not arch:
            return Cell101
        return Cell101(**arch)

    def get_type(self):
        return "nasbench_101"

    def get_hash(self, arch):
        return Cell101(**arch).get_path_indices()

    def get_nbhd(self, arch, mutate_encoding="adj"):
        return Cell101(**arch).adj_neighborhood(self.nasbench)

    def query_arch(self, arch=None, train=True, predictor_encoding=None, cutoff=0, random_encoding="adj",
                   deterministic=True, epochs=0, random_hash=False, max_edges=None, max_nodes=None):
        arch_dict = {}
        arch_dict["epochs"] = epochs
        if arch is None:
            arch = self.get_cell().random_cell(self.nasbench, random_encoding=random_encoding, max_edges=max_edges,
                                               max_nodes=max_nodes, cutoff=cutoff, index_hash=self.index_hash)
        arch_dict["spec"] = arch
        if train:
            arch_dict["val_loss"] = self.get_cell(arch).get_val_loss(self.nasbench, deterministic=deterministic,
                                                                     dataset=self.dataset)
            arch_dict["test_loss"] = self.get_cell(arch).get_test_loss(self.nasbench, dataset=self.dataset)
            arch_dict["num_params"] = self.get_cell(arch).get_num_params(self.nasbench)
            arch_dict["val_per_param"] = (arch_dict["val_loss"] - 4.8) * (arch_dict["num_params"] ** 0.5) / 100
            arch_dict["dist_to_min"] = arch_dict["val_loss"] - 4.94457682
        return arch_dict

    def mutate_arch(self, arch, mutation_rate=1.0, mutate_encoding="adj", cutoff=0):
        return self.get_cell(arch).mutate(self.nasbench, mutation_rate=mutation_rate, mutate_encoding=mutate_encoding,
                                          index_hash=self.index_hash, cutoff=cutoff)

    def generate_random_dataset(self, num=10, train=True, predictor_encoding=None, random_encoding="adj",
                                deterministic_loss=True, patience_factor=5, allow_isomorphisms=False, cutoff=0,
                                max_edges=None, max_nodes=None):
        data = []
        dic = {}
        tries_left = num * patience_factor
        while len(data) < num:
            tries_left -= 1
            if tries_left <= 0:
                break
            arch_dict = self.query_arch(train=train, predictor_encoding=predictor_encoding,
                                        random_encoding=random_encoding, deterministic=deterministic_loss,
                                        cutoff=cutoff, max_edges=max_edges, max_nodes=max_nodes)
            h = self.get_hash(arch_dict["spec"])
            if allow_isomorphisms or h not in dic:
                dic[h] = 1
                data.append(arch_dict)
        return data

    def get_candidates(self, data, num=100, acq_opt_type="mutation", predictor_encoding=None,
                       mutate_encoding="adj", loss="val_loss", allow_isomorphisms=False, patience_factor=5,
                       deterministic_loss=True, num_arches_to_mutate=1, max_mutation_rate=1, train=False,
                       cutoff=0):
        candidates = []
        dic = {}
        for d in data:
            arch = d["spec"]
            h = self.get_hash(arch)
            dic[h] = 1
        if acq_opt_type in ["mutation", "mutation_random"]:
            best_arches = [arch["spec"] for arch in
                           sorted(data, key=lambda i: i[loss])[: num_arches_to_mutate * patience_factor]]
            for arch in best_arches:
                if len(candidates) >= num:
                    break
                for i in range(int(num / num_arches_to_mutate / max_mutation_rate)):
                    for rate in range(1, max_mutation_rate + 1):
                        mutated = self.mutate_arch(arch, mutation_rate=rate, mutate_encoding=mutate_encoding)
                        arch_dict = self.query_arch(mutated, train=train, predictor_encoding=predictor_encoding,
                                                    deterministic=deterministic_loss, cutoff=cutoff)
                        h = self.get_hash(mutated)
                        if allow_isomorphisms or h not in dic:
                            dic[h] = 1
                            candidates.append(arch_dict)
        if acq_opt_type in ["random", "mutation_random"]:
            for _ in range(num * patience_factor):
                if len(candidates) >= 2 * num:
                    break
                arch_dict = self.query_arch(train=train, predictor_encoding=predictor_encoding, cutoff=cutoff)
                h = self.get_hash(arch_dict["spec"])
                if allow_isomorphisms or h not in dic:
                    dic[h] = 1
                    candidates.append(arch_dict)
        return candidates

    def remove_duplicates(self, candidates, data):
        dic = {}
        for d in data:
            dic[self.get_hash(d["spec"])] = 1
        unduplicated = []
        for candidate in candidates:
            if self.get_hash(candidate["spec"]) not in dic:
                dic[self.get_hash(candidate["spec"])] = 1
                unduplicated.append(candidate)
        return unduplicated
'''


def naszilla_search(load, data_dir, num_vertices, random_encoding, deterministic, seed):
    """A naszilla BANANAS-style round: random dataset, mutated/random candidates with and without training."""
    import random

    module = load("naszilla_nb101", NASZILLA.replace("__NUM_VERTICES__", str(num_vertices)))
    search_space = module.Nasbench101(data_folder=str(data_dir) + os.sep)
    random.seed(seed)
    np.random.seed(seed)
    data = search_space.generate_random_dataset(num=25, random_encoding=random_encoding,
                                                deterministic_loss=deterministic)
    candidates = search_space.get_candidates(data, num=20, acq_opt_type="mutation_random")
    candidates = search_space.remove_duplicates(candidates, data)

    def train(arch):
        # With 7 vertices a mutation can leave the fixture: the KeyError (the hash) is compared too,
        # and the random draws after it must still line up.
        try:
            return search_space.query_arch(arch, deterministic=deterministic)
        except KeyError as exc:
            return {"KeyError": str(exc), "val_loss": np.inf}

    trained = [train(c["spec"]) for c in candidates[:15]]
    nbhd = search_space.get_nbhd(data[0]["spec"])
    # as naszilla's local search: query the neighbours, keep the best
    best = min(data, key=lambda d: d["val_loss"])
    for arch in nbhd[:10]:
        arch_dict = train(arch)
        if arch_dict["val_loss"] < best["val_loss"]:
            best = arch_dict
    return [plain(data), plain(candidates), plain(trained), plain(nbhd), plain(best),
            search_space.nasbench.get_budget_counters()]


@pytest.mark.parametrize(("num_vertices", "random_encoding", "deterministic"),
                         [(5, "adj", True), (5, "adj", False), (7, "uniform", True)])
def test_naszilla_nasbench101_equals_the_original(data_dir, num_vertices, random_encoding, deterministic):
    """naszilla Nasbench101/Cell101: random cells, repeated queries until 3 accuracies, mutations, neighbourhoods."""

    def client(backend):
        with client_imports(backend) as load:
            return naszilla_search(load, data_dir, num_vertices, random_encoding, deterministic, seed=2)

    theirs, ours = run_both(client)
    assert ours == theirs
    assert len(theirs[0][1]) == 25 and theirs[-1][0] > 0


# ----------------------------------------------------------------------------- AIoT-MLSys-Lab/arch2vec

# preprocessing/gen_json.py: every cell through hash_iterator / get_metrics_from_hash / query,
# padded to 7 vertices, dumped with json. Paths are module constants set by the test; the
# unseeded query draws (printed, not dumped) are made comparable by seeding after the load.
ARCH2VEC_GEN_JSON = '''
from nasbench import api
from random import randint
import json
import random
import numpy as np
from collections import OrderedDict

NASBENCH_TFRECORD = "data/nasbench_only108.tfrecord"
OUTPUT_JSON = "data/data.json"

INPUT = "input"
OUTPUT = "output"
CONV1X1 = "conv1x1-bn-relu"
CONV3X3 = "conv3x3-bn-relu"
MAXPOOL3X3 = "maxpool3x3"


def gen_data_point(nasbench):
    i = 0
    epoch = 108
    padding = [0, 0, 0, 0, 0, 0, 0]
    best_val_acc = 0
    best_test_acc = 0
    for unique_hash in nasbench.hash_iterator():
        fixed_metrics, computed_metrics = nasbench.get_metrics_from_hash(unique_hash)
        print("\\nIterating over {} / {} unique models in the dataset.".format(i, 423623))
        test_acc_avg = 0.0
        val_acc_avg = 0.0
        training_time = 0.0
        for repeat_index in range(len(computed_metrics[epoch])):
            assert len(computed_metrics[epoch]) == 3, "len(computed_metrics[epoch]) should be 3"
            data_point = computed_metrics[epoch][repeat_index]
            val_acc_avg += data_point["final_validation_accuracy"]
            test_acc_avg += data_point["final_test_accuracy"]
            training_time += data_point["final_training_time"]
        val_acc_avg = val_acc_avg / 3.0
        test_acc_avg = test_acc_avg / 3.0
        training_time_avg = training_time / 3.0
        ops_array = transform_operations(fixed_metrics["module_operations"])
        adj_array = fixed_metrics["module_adjacency"].tolist()
        model_spec = api.ModelSpec(fixed_metrics["module_adjacency"], fixed_metrics["module_operations"])
        data = nasbench.query(model_spec, epochs=108)
        print("api training time: {}".format(data["training_time"]))
        print("real training time: {}".format(training_time_avg))
        if len(adj_array) <= 6:
            for row in range(len(adj_array)):
                for _ in range(7 - len(adj_array)):
                    adj_array[row].append(0)
            for _ in range(7 - len(adj_array)):
                adj_array.append(padding)
        if val_acc_avg > best_val_acc:
            best_val_acc = val_acc_avg
        if test_acc_avg > best_test_acc:
            best_test_acc = test_acc_avg
        print("best val. acc: {:.4f}, best test acc {:.4f}".format(best_val_acc, best_test_acc))
        yield {i: {"test_accuracy": test_acc_avg,
                   "validation_accuracy": val_acc_avg,
                   "module_adjacency": adj_array,
                   "module_operations": ops_array.tolist(),
                   "training_time": training_time_avg}}
        i += 1


def transform_operations(ops):
    transform_dict = {"input": 0, "conv1x1-bn-relu": 1, "conv3x3-bn-relu": 2, "maxpool3x3": 3, "output": 4}
    ops_array = np.zeros([7, 5], dtype="int8")
    for row, op in enumerate(ops):
        col = transform_dict[op]
        ops_array[row, col] = 1
    return ops_array


def gen_json_file():
    nasbench = api.NASBench(NASBENCH_TFRECORD)
    random.seed(0)
    nas_gen = gen_data_point(nasbench)
    data_dict = OrderedDict()
    for data_point in nas_gen:
        data_dict.update(data_point)
    with open(OUTPUT_JSON, "w") as outfile:
        json.dump(data_dict, outfile)
'''


def test_arch2vec_gen_json_writes_the_originals_bytes(data_dir, tmp_path):
    """arch2vec gen_json.py over all 2,532 cells: data.json byte-identical, printed lines identical."""

    def client(backend):
        with client_imports(backend) as load:
            module = load("gen_json", ARCH2VEC_GEN_JSON)
            module.NASBENCH_TFRECORD = str(data_dir / "nasbench_only108.tfrecord")
            module.OUTPUT_JSON = str(tmp_path / f"{backend}.json")
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                module.gen_json_file()
        return (tmp_path / f"{backend}.json").read_bytes(), out.getvalue()

    theirs, ours = run_both(client)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    assert len(json.loads(theirs[0])) == 2532


# ----------------------------------------------------------------------------- microsoft/nni

# nni/nas/benchmark/nasbench101/db_gen.py with its graph_util.py (architecture dict and its own
# re-implementation of the hash, asserted equal to each hash). The peewee tables are lists of
# rows here; tqdm (which takes len() of the iterable) is used when installed.
NNI_DB_GEN = '''
import argparse
import hashlib

import numpy as np
from nasbench import api

try:
    from tqdm import tqdm
except ImportError:
    def tqdm(iterable, desc=None):
        len(iterable)
        return iter(iterable)

INPUT = "input"
OUTPUT = "output"
LABEL2ID = {"input": -1, "output": -2, "conv3x3-bn-relu": 0, "conv1x1-bn-relu": 1, "maxpool3x3": 2}


class Table:
    def __init__(self):
        self.rows = []

    def create(self, **fields):
        self.rows.append(fields)
        return len(self.rows) - 1


Nb101TrialConfig, Nb101TrialStats, Nb101IntermediateStats = Table(), Table(), Table()


def _labeling_from_architecture(architecture, vertices):
    return [INPUT] + [architecture["op{}".format(i)] for i in range(1, vertices - 1)] + [OUTPUT]


def _adjancency_matrix_from_architecture(architecture, vertices):
    matrix = np.zeros((vertices, vertices), dtype=bool)
    for i in range(1, vertices):
        for k in architecture["input{}".format(i)]:
            matrix[k, i] = 1
    return matrix


def nasbench_format_to_architecture_repr(adjacency_matrix, labeling):
    num_vertices = adjacency_matrix.shape[0]
    assert len(labeling) == num_vertices
    architecture = {}
    for i in range(1, num_vertices - 1):
        architecture["op{}".format(i)] = labeling[i]
        assert labeling[i] not in [INPUT, OUTPUT]
    for i in range(1, num_vertices):
        architecture["input{}".format(i)] = [k for k in range(i) if adjacency_matrix[k, i]]
    return num_vertices, architecture


def hash_module(architecture, vertices):
    labeling = _labeling_from_architecture(architecture, vertices)
    labeling = [LABEL2ID[t] for t in labeling]
    matrix = _adjancency_matrix_from_architecture(architecture, vertices)
    in_edges = np.sum(matrix, axis=0).tolist()
    out_edges = np.sum(matrix, axis=1).tolist()
    assert len(in_edges) == len(out_edges) == len(labeling)
    hashes = list(zip(out_edges, in_edges, labeling))
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in hashes]
    for _ in range(vertices):
        new_hashes = []
        for v in range(vertices):
            in_neighbors = [hashes[w] for w in range(vertices) if matrix[w, v]]
            out_neighbors = [hashes[w] for w in range(vertices) if matrix[v, w]]
            new_hashes.append(hashlib.md5(
                ("".join(sorted(in_neighbors)) + "|" + "".join(sorted(out_neighbors)) + "|" + hashes[v]).encode("utf-8")
            ).hexdigest())
        hashes = new_hashes
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input_file")
    args = parser.parse_args()
    nasbench = api.NASBench(args.input_file)
    for hashval in tqdm(nasbench.hash_iterator(), desc="Dumping data into database"):
        metadata, metrics = nasbench.get_metrics_from_hash(hashval)
        num_vertices, architecture = nasbench_format_to_architecture_repr(
            metadata["module_adjacency"], metadata["module_operations"])
        assert hashval == hash_module(architecture, num_vertices)
        for epochs in [4, 12, 36, 108]:
            trial_config = Nb101TrialConfig.create(arch=architecture, num_vertices=num_vertices, hash=hashval,
                                                   num_epochs=epochs)
            for seed in range(3):
                cur = metrics[epochs][seed]
                trial = Nb101TrialStats.create(
                    config=trial_config,
                    train_acc=cur["final_train_accuracy"] * 100,
                    valid_acc=cur["final_validation_accuracy"] * 100,
                    test_acc=cur["final_test_accuracy"] * 100,
                    parameters=metadata["trainable_parameters"] / 1e6,
                    training_time=cur["final_training_time"] * 60)
                for t in ["halfway", "final"]:
                    Nb101IntermediateStats.create(
                        trial=trial,
                        current_epoch=epochs // 2 if t == "halfway" else epochs,
                        training_time=cur[t + "_training_time"],
                        train_acc=cur[t + "_train_accuracy"] * 100,
                        valid_acc=cur[t + "_validation_accuracy"] * 100,
                        test_acc=cur[t + "_test_accuracy"] * 100)
'''


@pytest.mark.slow
def test_nni_db_gen_writes_the_originals_rows(data_dir):
    """NNI db_gen.py: every hash re-derived by NNI's own hash; all three tables' rows identical."""

    def client(backend):
        with client_imports(backend, argv=["db_gen", str(data_dir / "nasbench_full.tfrecord")]) as load:
            module = load("nni_db_gen", NNI_DB_GEN)
            with contextlib.redirect_stderr(io.StringIO()):  # tqdm's bar
                module.main()
        return [plain(t.rows) for t in (module.Nb101TrialConfig, module.Nb101TrialStats, module.Nb101IntermediateStats)]

    theirs, ours = run_both(client)
    assert ours == theirs
    assert len(theirs[2][1]) == 2532 * 4 * 3 * 2


# ----------------------------------------------------------------------------- google-research/nasbench

# nasbench/scripts/generate_graphs.py (absl flags -> arguments, gfile -> open): enumerates every
# graph with graph_util, which must hash to exactly the cells the dataset holds.
GENERATE_GRAPHS = '''
import itertools
import json

import numpy as np
from nasbench.lib import graph_util

LOG = []


def main(output_file, max_vertices=7, num_ops=3, max_edges=9, verify_isomorphism=True):
    total_graphs = 0
    buckets = {}
    for vertices in range(2, max_vertices + 1):
        for bits in range(2 ** (vertices * (vertices - 1) // 2)):
            matrix = np.fromfunction(graph_util.gen_is_edge_fn(bits), (vertices, vertices), dtype=np.int8)
            if not graph_util.is_full_dag(matrix) or graph_util.num_edges(matrix) > max_edges:
                continue
            for labeling in itertools.product(*[range(num_ops) for _ in range(vertices - 2)]):
                total_graphs += 1
                labeling = [-1] + list(labeling) + [-2]
                fingerprint = graph_util.hash_module(matrix, labeling)
                if fingerprint not in buckets:
                    buckets[fingerprint] = (matrix.tolist(), labeling)
                elif verify_isomorphism:
                    canonical_graph = buckets[fingerprint]
                    if not graph_util.is_isomorphic((matrix.tolist(), labeling), canonical_graph):
                        raise SystemExit("not isomorphic: %s %s" % (matrix.tolist(), labeling))
        LOG.append("Up to %d vertices: %d graphs (%d without hashing)" % (vertices, len(buckets), total_graphs))
    with open(output_file, "w") as f:
        json.dump(buckets, f, sort_keys=True)
'''


@pytest.mark.parametrize(("max_vertices", "verify"), [(5, False), (4, True)])
def test_generate_graphs_script_equals_the_original_and_the_dataset(data_dir, tmp_path, max_vertices, verify):
    """generate_graphs.py through graph_util: the same JSON bytes and log; at 5 vertices, the dataset's hashes."""

    def client(backend):
        with client_imports(backend) as load:
            module = load("generate_graphs", GENERATE_GRAPHS)
            module.main(str(tmp_path / f"{backend}.json"), max_vertices=max_vertices, verify_isomorphism=verify)
        return (tmp_path / f"{backend}.json").read_bytes(), module.LOG

    theirs, ours = run_both(client)
    assert ours == theirs
    if max_vertices == 5:
        reference = reference_loader.OriginalStyleNASBench(data_dir / "nasbench_full.tfrecord")
        assert set(json.loads(ours[0])) == set(reference.hash_iterator())


# example.py / the colab's "Basic usage" cell / NASLib's nb101_sample_query.py: query a cell and
# print its items. Their Inception-like cell has 7 vertices (not in the fixture): querying it is
# the KeyError of a valid cell the data lack; a 5-vertex cell is printed instead.
EXAMPLE = '''
import random

from nasbench import api

NASBENCH_TFRECORD = "/path/to/nasbench.tfrecord"

INPUT = "input"
OUTPUT = "output"
CONV1X1 = "conv1x1-bn-relu"
CONV3X3 = "conv3x3-bn-relu"
MAXPOOL3X3 = "maxpool3x3"


def main(seeds):
    lines = []
    dataset = api.NASBench(NASBENCH_TFRECORD)
    model_spec = api.ModelSpec(
        matrix=[[0, 1, 1, 1, 0, 1, 0],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 0]],
        ops=[INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT])
    lines.append(model_spec.hash_spec(dataset.config["available_ops"]))
    try:
        dataset.query(model_spec)
    except KeyError as exc:
        lines.append("KeyError: %s" % exc)
    cell = api.ModelSpec(
        matrix=[[0, 1, 1, 0, 0],
                [0, 0, 0, 1, 0],
                [0, 0, 0, 0, 1],
                [0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0]],
        ops=[INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, OUTPUT])
    for seed in seeds:
        random.seed(seed)
        for epochs in (108, 4):
            data = dataset.query(cell, epochs=epochs)
            for k, v in data.items():
                lines.append("%s: %s" % (k, str(v)))
    data = dataset.query(cell, stop_halfway=True)
    for k, v in data.items():
        lines.append("%s: %s" % (k, str(v)))
    for bad_epochs in (5, 200):
        try:
            dataset.query(cell, epochs=bad_epochs)
        except api.OutOfDomainError as exc:
            lines.append("OutOfDomainError: %s" % exc)
    lines.append(str(dataset.get_budget_counters()))
    return lines
'''


def test_original_example_prints_what_the_original_prints(data_dir):
    """example.py's query-and-print (and its 7-vertex cell's KeyError, out-of-domain budgets): same text."""

    def client(backend):
        with client_imports(backend) as load:
            module = load("example", EXAMPLE)
            module.NASBENCH_TFRECORD = str(data_dir / "nasbench_full.tfrecord")
            return module.main(seeds=range(6))

    theirs, ours = run_both(client)
    assert ours == theirs
    assert theirs[1].startswith("KeyError: '") and len(set(theirs)) > 20


# ----------------------------------------------------------------------------- automl/NASLib

# naslib/utils get_nasbench101_api (the tfrecord version: `from nasbench import api` inside) and the
# API-facing methods of naslib/search_spaces/nasbench101/graph.py NasBench101SearchSpace (its torch
# graph is not built here). NUM_VERTICES 7 -> 5 for the randomly drawn and mutated matrices.
NASLIB = '''
import copy
import enum
import random

import numpy as np

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
OPS = [CONV3X3, CONV1X1, MAXPOOL3X3]

NUM_VERTICES = 5
OP_SPOTS = NUM_VERTICES - 2
MAX_EDGES = 9

DATA_FILE = "nasbench_only108.tfrecord"


class Metric(enum.Enum):
    RAW = -1
    ALL = 0
    TRAIN_ACCURACY = 1
    VAL_ACCURACY = 2
    TEST_ACCURACY = 3
    TRAIN_TIME = 9
    PARAMETERS = 11
    HP = 13


def get_nasbench101_api(dataset=None):
    from nasbench import api

    nb101_data = api.NASBench(DATA_FILE)
    return {"api": api, "nb101_data": nb101_data}


class NasBench101SearchSpace:
    def __init__(self):
        self.spec = None

    def convert_to_cell(self, matrix, ops):
        if len(matrix) < 7:
            new_matrix = np.zeros((7, 7), dtype="int8")
            new_ops = []
            n = matrix.shape[0]
            for i in range(7):
                for j in range(7):
                    if j < n - 1 and i < n:
                        new_matrix[i][j] = matrix[i][j]
                    elif j == n - 1 and i < n:
                        new_matrix[i][-1] = matrix[i][j]
            for i in range(7):
                if i < n - 1:
                    new_ops.append(ops[i])
                elif i < 6:
                    new_ops.append("conv3x3-bn-relu")
                else:
                    new_ops.append("output")
            return {"matrix": new_matrix, "ops": new_ops}
        return {"matrix": matrix, "ops": ops}

    def query(self, metric=None, dataset="cifar10", path=None, epoch=-1, full_lc=False, dataset_api=None):
        assert isinstance(metric, Metric)
        assert dataset in ["cifar10", None]
        if metric in [Metric.ALL, Metric.HP]:
            raise NotImplementedError()
        if dataset_api is None:
            raise NotImplementedError("Must pass in dataset_api to query nasbench101")
        assert epoch in [-1, 4, 12, 36, 108, None]
        metric_to_nb101 = {
            Metric.TRAIN_ACCURACY: "train_accuracy",
            Metric.VAL_ACCURACY: "validation_accuracy",
            Metric.TEST_ACCURACY: "test_accuracy",
            Metric.TRAIN_TIME: "training_time",
            Metric.PARAMETERS: "trainable_parameters",
        }
        if self.get_spec() is None:
            raise NotImplementedError("Cannot yet query directly from the naslib object")
        api_spec = dataset_api["api"].ModelSpec(**self.spec)
        if not dataset_api["nb101_data"].is_valid(api_spec):
            return -1
        query_results = dataset_api["nb101_data"].query(api_spec)
        if full_lc:
            vals = [dataset_api["nb101_data"].query(api_spec, epochs=e)[metric_to_nb101[metric]]
                    for e in [4, 12, 36, 108]]
            nums = [4, 8, 20, 56]
            lc = [val for i, val in enumerate(vals) for _ in range(nums[i])]
            if epoch == -1:
                return lc
            return lc[:epoch]
        if metric == Metric.RAW:
            return query_results
        elif metric == Metric.TRAIN_TIME:
            return query_results[metric_to_nb101[metric]]
        return query_results[metric_to_nb101[metric]] * 100

    def get_spec(self):
        return self.spec

    def set_spec(self, spec, dataset_api=None):
        if isinstance(spec, str):
            fix, comp = dataset_api["nb101_data"].get_metrics_from_hash(spec)
            spec = self.convert_to_cell(fix["module_adjacency"], fix["module_operations"])
            self.set_spec(spec)
        self.spec = spec

    def get_arch_iterator(self, dataset_api=None):
        return dataset_api["nb101_data"].hash_iterator()

    def sample_random_architecture(self, dataset_api):
        while True:
            matrix = np.random.choice([0, 1], size=(NUM_VERTICES, NUM_VERTICES))
            matrix = np.triu(matrix, 1)
            ops = np.random.choice(OPS, size=NUM_VERTICES).tolist()
            ops[0] = INPUT
            ops[-1] = OUTPUT
            spec = dataset_api["api"].ModelSpec(matrix=matrix, ops=ops)
            if dataset_api["nb101_data"].is_valid(spec):
                break
        self.set_spec({"matrix": matrix, "ops": ops})

    def mutate(self, parent, dataset_api, edits=1):
        parent_spec = parent.get_spec()
        spec = copy.deepcopy(parent_spec)
        matrix, ops = spec["matrix"], spec["ops"]
        for _ in range(edits):
            while True:
                new_matrix = copy.deepcopy(matrix)
                new_ops = copy.deepcopy(ops)
                for src in range(0, NUM_VERTICES - 1):
                    for dst in range(src + 1, NUM_VERTICES):
                        if np.random.random() < 1 / NUM_VERTICES:
                            new_matrix[src][dst] = 1 - new_matrix[src][dst]
                for ind in range(1, NUM_VERTICES - 1):
                    if np.random.random() < 1 / len(OPS):
                        available = [op for op in OPS if op != new_ops[ind]]
                        new_ops[ind] = np.random.choice(available)
                new_spec = dataset_api["api"].ModelSpec(new_matrix, new_ops)
                if dataset_api["nb101_data"].is_valid(new_spec):
                    break
        self.set_spec({"matrix": new_matrix, "ops": new_ops})
'''


def naslib_search(module, seed):
    """NASLib-style random search, regularised evolution and sampling from the arch iterator."""
    import collections
    import random

    dataset_api = module.get_nasbench101_api()
    random.seed(seed)
    np.random.seed(seed)
    Metric = module.Metric
    out, population = [], collections.deque()
    for _ in range(40):  # RandomSearch: sample, query the validation accuracy
        arch = module.NasBench101SearchSpace()
        arch.sample_random_architecture(dataset_api)
        accuracy = arch.query(Metric.VAL_ACCURACY, dataset_api=dataset_api)
        out.append((plain(arch.get_spec()), accuracy, arch.query(Metric.TEST_ACCURACY, dataset_api=dataset_api),
                    arch.query(Metric.TRAIN_TIME, dataset_api=dataset_api)))
        population.append((accuracy, arch))
    for _ in range(60):  # RegularizedEvolution: tournament on the global random, np.random mutation
        sample = [population[i] for i in sorted(random.sample(range(len(population)), 10))]
        parent = max(sample, key=lambda x: x[0])[1]
        child = module.NasBench101SearchSpace()
        child.mutate(parent, dataset_api=dataset_api)
        accuracy = child.query(Metric.VAL_ACCURACY, dataset_api=dataset_api)
        population.append((accuracy, child))
        population.popleft()
        out.append((plain(child.get_spec()), accuracy, child.query(Metric.PARAMETERS, dataset_api=dataset_api)))
    hashes = list(module.NasBench101SearchSpace().get_arch_iterator(dataset_api))
    for _ in range(30):  # predictors: architectures from the iterator, set by hash string
        arch = module.NasBench101SearchSpace()
        arch.set_spec(hashes[np.random.randint(len(hashes))], dataset_api=dataset_api)
        out.append((plain(arch.get_spec()), plain(arch.query(Metric.RAW, dataset_api=dataset_api)),
                    arch.query(Metric.VAL_ACCURACY, full_lc=True, dataset_api=dataset_api),
                    arch.query(Metric.TRAIN_ACCURACY, full_lc=True, epoch=36, dataset_api=dataset_api)))
    out.append(dataset_api["nb101_data"].get_budget_counters())
    return out


def test_naslib_nasbench101_search_space_equals_the_original(data_dir):
    """NASLib NasBench101SearchSpace: sampling, mutation, set_spec(hash), query of every metric and full_lc."""

    def client(backend):
        with client_imports(backend) as load:
            module = load("naslib_nb101", NASLIB)
            module.DATA_FILE = str(data_dir / "nasbench_only108.tfrecord")
            return naslib_search(module, seed=4)

    theirs, ours = run_both(client)
    assert ours == theirs
    assert len(theirs) == 131 and len(theirs[-2][2]) == 88


# ----------------------------------------------------------------------------- `from nasbench import api`, unchanged


def test_nas_benchmarks_scripts_run_unchanged_through_the_compat_runner(data_dir, tmp_path):
    """The nas_benchmarks package and an unguarded experiment script, run by `python -m nasbench_arrow.compat`.

    The script imports ``tabular_benchmarks``, whose module does ``from nasbench
    import api`` / ``from nasbench.lib import graph_util``; it opens a fresh
    ``nasbench_full.tfrecord`` (converted by the API in the unguarded
    script). Its run_*.json equals the in-process reference run's bytes.
    """
    package = tmp_path / "client" / "tabular_benchmarks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(TABULAR_INIT)
    (package / "nas_cifar10.py").write_text(NAS_CIFAR10)
    script = tmp_path / "client" / "run_random_search.py"
    script.write_text(RUN_RANDOM_SEARCH)
    configspace = "real" if importlib.util.find_spec("ConfigSpace") is not None else "standin"
    if configspace == "standin":  # beside the script: imported first
        (tmp_path / "client" / "ConfigSpace.py").write_text(CONFIGSPACE_STANDIN)
    fresh = tmp_path / "data"
    fresh.mkdir()
    shutil.copyfile(data_dir / "nasbench_full.tfrecord", fresh / "nasbench_full.tfrecord")
    argv = ["--benchmark", "nas_cifar10b", "--n_iters", "200", "--run_id", "7", "--data_dir", str(fresh)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "nasbench_arrow.compat", str(script), *argv, "--output_path", str(tmp_path / "arrow")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("converting") == 1  # the implicit conversion, said once
    run_nas_benchmarks_script("reference", RUN_RANDOM_SEARCH, argv, tmp_path / "reference", configspace)
    theirs = (tmp_path / "reference" / "random_search" / "run_7.json").read_bytes()
    assert (tmp_path / "arrow" / "random_search" / "run_7.json").read_bytes() == theirs
    assert len(json.loads(theirs)["runtime"]) > 100


# ----------------------------------------------------------------------------- BayesWatch/nas-without-training

# nasspace.py's Nasbench101: cells indexed through islice(hash_iterator()), fixed_statistics read
# directly, budgets iterated in the dict's own order, and the mutation hashing its own ModelSpec
# class (nas_101_api.model_spec, a copy of the original's: the reference ModelSpec here, for both
# backends) with the private api._hash_spec, every error swallowed by a bare except.
NASWOT_NASSPACE = '''
import itertools
import random

import numpy as np
from nasbench import api as nasbench101api
from nas_101_api.model_spec import ModelSpec


class Nasbench101:
    def __init__(self, apiloc, args):
        self.api = nasbench101api.NASBench(apiloc)
        self.args = args

    def get_accuracy(self, unique_hash):
        spec = self.get_spec(unique_hash)
        _, stats = self.api.get_metrics_from_spec(spec)
        maxacc = 0.
        for ep in stats:
            for statmap in stats[ep]:
                newacc = statmap["final_test_accuracy"]
                if newacc > maxacc:
                    maxacc = newacc
        return maxacc

    def get_final_accuracy(self, uid):
        return self.get_accuracy(uid)

    def get_training_time(self, unique_hash):
        spec = self.get_spec(unique_hash)
        _, stats = self.api.get_metrics_from_spec(spec)
        maxacc = -1.
        maxtime = 0.
        for ep in stats:
            for statmap in stats[ep]:
                newacc = statmap["final_test_accuracy"]
                if newacc > maxacc:
                    maxacc = newacc
                    maxtime = statmap["final_training_time"]
        return maxtime

    def get_spec(self, unique_hash):
        matrix = self.api.fixed_statistics[unique_hash]["module_adjacency"]
        operations = self.api.fixed_statistics[unique_hash]["module_operations"]
        spec = ModelSpec(matrix, operations)
        return spec

    def __getitem__(self, index):
        return next(itertools.islice(self.api.hash_iterator(), index, None))

    def __len__(self):
        return len(self.api.hash_iterator())

    def random_arch(self):
        return random.randint(0, len(self) - 1)

    def mutate_arch(self, arch):
        unique_hash = self.__getitem__(arch)
        matrix = self.api.fixed_statistics[unique_hash]["module_adjacency"]
        operations = self.api.fixed_statistics[unique_hash]["module_operations"]
        coords = [(i, j) for i in range(matrix.shape[0]) for j in range(i + 1, matrix.shape[1])]
        random.shuffle(coords)
        for i, j in coords:
            for k in [m for m in np.unique(matrix) if m != matrix[i, j]]:
                newmatrix = matrix.copy()
                newmatrix[i, j] = k
                spec = ModelSpec(newmatrix, operations)
                try:
                    newhash = self.api._hash_spec(spec)
                    if newhash in self.api.fixed_statistics:
                        return [n for n, m in enumerate(self.api.fixed_statistics.keys()) if m == newhash][0]
                except:  # noqa: E722 - as the client
                    pass
'''


def test_nas_without_training_nasspace_equals_the_original(data_dir):
    """NASWOT's Nasbench101: islice indexing, direct fixed_statistics reads, _hash_spec of a foreign ModelSpec."""
    import random

    def client(backend):
        spec_module = types.ModuleType("nas_101_api.model_spec")
        spec_module.ModelSpec = reference_nasbench.ModelSpec
        with client_imports(backend) as load:
            load("nas_101_api", "")
            sys.modules["nas_101_api"].model_spec = spec_module
            sys.modules["nas_101_api.model_spec"] = spec_module
            try:
                module = load("nasspace", NASWOT_NASSPACE)
                searchspace = module.Nasbench101(str(data_dir / "nasbench_only108.tfrecord"), args=None)
                random.seed(1)
                out = [len(searchspace)]
                arch = searchspace.random_arch()
                for _ in range(60):  # a mutation walk, scoring each cell as search.py does
                    unique_hash = searchspace[arch]
                    out.append((arch, unique_hash, searchspace.get_final_accuracy(unique_hash),
                                searchspace.get_training_time(unique_hash)))
                    child = searchspace.mutate_arch(arch)
                    arch = searchspace.random_arch() if child is None else child
                out.append(searchspace.api.get_budget_counters())
                return out
            finally:
                del sys.modules["nas_101_api.model_spec"]

    theirs, ours = run_both(client)
    assert ours == theirs
    assert len({t[1] for t in theirs[1:-1]}) > 30


# ----------------------------------------------------------------------------- walkerning/aw_nas

# examples/research/gates/dump_nb101_allv.py: list(fixed_statistics.items()), cells padded to 7
# vertices, computed_statistics read directly, pickled. The aw_nas search space
# (aw_nas/btcs/nasbench_101.py) is reduced to what the script uses: the API object it loads
# from nasbench_only108.tfrecord and op_to_idx.
AW_NAS_DUMP_ALLV = '''
import os
import pickle

import numpy as np
from nasbench import api

BASE_DIR = "."
OUTPUT_DIR = "."


class NasBench101SearchSpace:
    ops_choices = ["conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", "none"]

    def __init__(self, load_nasbench=True, multi_fidelity=False):
        self.ops_choice_to_idx = {choice: i for i, choice in enumerate(self.ops_choices)}
        if load_nasbench:
            if multi_fidelity:
                self.nasbench = api.NASBench(os.path.join(BASE_DIR, "nasbench_full.tfrecord"))
            else:
                self.nasbench = api.NASBench(os.path.join(BASE_DIR, "nasbench_only108.tfrecord"))

    def op_to_idx(self, ops):
        return [self.ops_choice_to_idx[op] for op in ops if op not in {"input", "output"}]


def padded(search_space, key, f_metric):
    num_v = f_metric["module_adjacency"].shape[0]
    if num_v < 7:
        padded_adj = np.concatenate((f_metric["module_adjacency"][:-1],
                                     np.zeros((7 - num_v, num_v), dtype=np.int8),
                                     f_metric["module_adjacency"][-1:]))
        padded_adj = np.concatenate((padded_adj[:, :-1], np.zeros((7, 7 - num_v)), padded_adj[:, -1:]), axis=1)
        padded_ops = f_metric["module_operations"][:-1] + ["none"] * (7 - num_v) + f_metric["module_operations"][-1:]
    else:
        padded_adj = f_metric["module_adjacency"]
        padded_ops = f_metric["module_operations"]
    arch = (padded_adj, search_space.op_to_idx(padded_ops))
    metrics = search_space.nasbench.computed_statistics[key]
    valid_acc = np.mean([metrics[108][i]["final_validation_accuracy"] for i in range(3)])
    half_valid_acc = np.mean([metrics[108][i]["halfway_validation_accuracy"] for i in range(3)])
    return (arch, valid_acc, half_valid_acc)


def main():
    search_space = NasBench101SearchSpace(load_nasbench=True)
    fixed_statistics = list(search_space.nasbench.fixed_statistics.items())
    print("Number of arch data: {}".format(len(fixed_statistics)))
    valid_ratio = 0.1
    num_valid = int(len(fixed_statistics) * valid_ratio)
    train_data = [padded(search_space, key, f_metric) for key, f_metric in fixed_statistics[:-num_valid]]
    valid_data = [padded(search_space, key, f_metric) for key, f_metric in fixed_statistics[-num_valid:]]
    with open(os.path.join(OUTPUT_DIR, "nasbench_allv.pkl"), "wb") as wf:
        pickle.dump(train_data, wf)
    with open(os.path.join(OUTPUT_DIR, "nasbench_allv_valid.pkl"), "wb") as wf:
        pickle.dump(valid_data, wf)
'''


def test_aw_nas_gates_dump_writes_the_originals_pickles(data_dir, tmp_path):
    """aw_nas GATES dump_nb101_allv.py: items() of fixed_statistics, padded cells; both pickles byte-identical."""

    def client(backend):
        out_dir = tmp_path / backend
        out_dir.mkdir()
        with client_imports(backend) as load:
            module = load("dump_nb101_allv", AW_NAS_DUMP_ALLV)
            module.BASE_DIR, module.OUTPUT_DIR = str(data_dir), str(out_dir)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                module.main()
        return printed.getvalue(), [(out_dir / n).read_bytes() for n in ("nasbench_allv.pkl", "nasbench_allv_valid.pkl")]

    theirs, ours = run_both(client)
    assert ours == theirs
    assert theirs[0] == "Number of arch data: 2532\n"


# ----------------------------------------------------------------------------- small analysis scripts

# seahunter4/SemiNAS nasbench/test.py: every cell rebuilt from get_metrics_from_hash and queried
# (one random repeat each: seeded after the load), mean and std printed.
SEMINAS_TEST = '''
import random

from nasbench import api
import numpy as np

DATA = "./data/nasbench_full.tfrecord"


def main():
    nasbench = api.NASBench(DATA)
    random.seed(0)
    all_keys = list(nasbench.hash_iterator())
    valid_accs = []
    for key in all_keys:
        fixed_stat, computed_stat = nasbench.get_metrics_from_hash(key)
        arch = api.ModelSpec(
            matrix=fixed_stat["module_adjacency"],
            ops=fixed_stat["module_operations"],
        )
        data = nasbench.query(arch)
        valid_accs.append(data["validation_accuracy"])
    print("mean={}, std={}".format(np.mean(valid_accs), np.std(valid_accs)))
    return valid_accs
'''

# carlosemv/nasbench-tests get_best.py: the best mean test accuracy per budget, iterating
# valid_epochs (a set) and saving the dict of (fixed, computed, accuracy) with np.save.
NASBENCH_TESTS_GET_BEST = '''
import numpy as np
from nasbench import api

DATA = "nasbench_full.tfrecord"
OUT = "best_file.npy"


def main():
    nasbench = api.NASBench(DATA)
    best = {e: (None, None, 0) for e in nasbench.valid_epochs}
    for i, h in enumerate(nasbench.hash_iterator()):
        model, stats = nasbench.get_metrics_from_hash(h)
        for epochs in nasbench.valid_epochs:
            acc = np.mean([sample["final_test_accuracy"] for sample in stats[epochs]])
            if acc > best[epochs][-1]:
                best[epochs] = (model, stats, acc)
    np.save(OUT, best)
'''


def test_seminas_query_every_cell_equals_the_original(data_dir):
    """SemiNAS nasbench/test.py: every cell queried once (seeded after the load); accuracies and printed line."""

    def client(backend):
        with client_imports(backend) as load:
            seminas = load("seminas_test", SEMINAS_TEST)
            seminas.DATA = str(data_dir / "nasbench_full.tfrecord")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                accs = seminas.main()
        return printed.getvalue(), accs

    theirs, ours = run_both(client)
    assert ours == theirs
    assert len(theirs[1]) == 2532 and theirs[0].startswith("mean=")


def test_nasbench_tests_get_best_saves_what_the_original_saves(data_dir, tmp_path):
    """nasbench-tests get_best.py: per-budget best cell, iterating valid_epochs; the saved dict, in order.

    The .npy bytes are not compared: the pickle inside also encodes which op
    strings are the same object (the original splits each record's ops into
    new strings; nasbench-arrow shares them), which is no value.
    """

    def client(backend):
        with client_imports(backend) as load:
            get_best = load("get_best", NASBENCH_TESTS_GET_BEST)
            get_best.DATA, get_best.OUT = str(data_dir / "nasbench_full.tfrecord"), str(tmp_path / f"{backend}.npy")
            get_best.main()
        best = np.load(tmp_path / f"{backend}.npy", allow_pickle=True).item()
        return {e: plain(v) for e, v in best.items()}

    theirs, ours = run_both(client)
    assert ours == theirs  # the same best cells, statistics and accuracies per budget
    assert list(ours) == list(theirs)  # saved in the same order


# Import lines of public clients that also decode records themselves (graph-generation and
# predictor code found by searching for `from nasbench.lib import model_metrics_pb2`; one of
# them is only these lines, a seeded load and build_config()).
METRICS_PB2_CLIENT = '''
import base64
import json
import sys

from nasbench import api
from nasbench.lib import model_metrics_pb2
from nasbench.api import OutOfDomainError
from nasbench.lib import config

nasbench = api.NASBench(sys.argv[1], seed=1234)
nasbench_config = config.build_config()
payload = json.loads(sys.argv[2])
metrics = model_metrics_pb2.ModelMetrics.FromString(base64.b64decode(payload[4]))
print(metrics.trainable_parameters, metrics.evaluation_data[2].test_accuracy)
'''


def test_clients_importing_model_metrics_pb2_run_through_the_compat_runner(data_dir, tmp_path):
    """`from nasbench.lib import model_metrics_pb2` and ModelMetrics.FromString work as in the original."""
    payload = next(reference_loader.iter_tfrecord(data_dir / "nasbench_full.tfrecord")).decode()
    expected = reference_loader.parse_record(payload.encode())[4]
    script = tmp_path / "client.py"
    script.write_text(METRICS_PB2_CLIENT)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "nasbench_arrow.compat", str(script), str(data_dir / "nasbench_full.tfrecord"), payload],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(expected.trainable_parameters), repr(expected.evaluation_data[2].test_accuracy)]


# ----------------------------------------------------------------------------- client unit tests

# The common Python idiom a client's own unit tests use to pin the drawn repeat: patch
# `random.randint` (the name the original's query calls, looked up on the module each time).
PINNED_REPEAT = '''
import random
from unittest import mock

from nasbench import api

MATRIX = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
OPS = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output"]


def pinned(path):
    nasbench = api.NASBench(path)
    spec = api.ModelSpec(MATRIX, OPS)
    out = []
    for k in range(3):
        with mock.patch("random.randint", return_value=k):
            out.append(nasbench.query(spec)["validation_accuracy"])
    with mock.patch("random.randint", side_effect=[2, 0, 1]) as randint:
        out.extend(nasbench.query(spec, epochs=e)["test_accuracy"] for e in (4, 12, 36))
    out.append([tuple(c.args) for c in randint.call_args_list])
    return out
'''


def test_patching_random_randint_pins_the_repeat_as_in_the_original(data_dir):
    """A client test pinning repeats with mock.patch('random.randint') gets the same values and calls."""

    def client(backend):
        with client_imports(backend) as load:
            module = load("pinned_repeat", PINNED_REPEAT)
            return module.pinned(str(data_dir / "nasbench_full.tfrecord"))

    theirs, ours = run_both(client)
    assert theirs[-1] == [(0, 2)] * 3 and len(set(theirs[:3])) == 3
    assert ours == theirs
