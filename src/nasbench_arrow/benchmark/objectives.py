"""The nas_benchmarks / HPOBench NAS-Bench-101 objectives, without TensorFlow.

Klein & Hutter's tabular benchmarks (``automl/nas_benchmarks``,
``tabular_benchmarks/nas_cifar10.py``) and their HPOBench wrappers
(``hpobench/benchmarks/nas/nasbench_101.py``) define three encodings of the
NAS-Bench-101 cell as a configuration of hyperparameters:

space A (:class:`NASCifar10A`)
    ``op_node_0 .. op_node_4`` (categorical over conv1x1, conv3x3, maxpool)
    and ``edge_0 .. edge_20`` (categorical 0/1): edge ``k`` is the ``k``-th
    entry of the 7x7 upper triangle, row by row.
space B (:class:`NASCifar10B`)
    the ops, and ``edge_0 .. edge_8`` (categorical over 0..20): the indices
    of up to 9 edges; each sets bit ``20 - index`` of a 21-bit mask, which
    ``graph_util.gen_is_edge_fn`` reads column by column (bit
    ``y * (y - 1) / 2 + x`` is edge ``x -> y``). Repeated indices give fewer edges.
space C (:class:`NASCifar10C`)
    the ops, ``num_edges`` (integer 0..9) and ``edge_0 .. edge_20`` (float
    0..1): the ``num_edges`` entries of the upper triangle (row by row) with
    the largest values are edges (``np.argsort(values)[::-1][:num_edges]``).

Semantics (HPOBench's, read from its code)
------------------------------------------
``objective_function(config, budget=108, run_index=(0, 1, 2))``:
``function_value`` is ``1 - mean(validation accuracy)`` over the chosen
runs (repeats), ``cost`` the *sum* of their training times (seconds);
``info`` lists the per-run accuracies and times. A configuration with more
than 9 edges (before pruning) or outside the space (``OutOfDomainError``:
disconnected after pruning, too many edges after pruning) gives the failure
result of every run: accuracies 0 and training time 0, hence
``function_value = 1`` and ``cost = 0``. ``run_index`` is an int in 0..2, a
non-empty tuple/list of them (duplicates are dropped), or None for one run
drawn from the benchmark's seeded generator. ``objective_function_test``
evaluates the mean *test* accuracy over all three runs.

Where this differs from HPOBench, on purpose: HPOBench's spaces B and C
query ``dataset.query`` (a random repeat) once per entry of ``run_index``
instead of that repeat (space A uses it); here every space uses the given
repeats, so all three spaces are deterministic for a given ``run_index``.

The configuration spaces are plain data (:data:`PARAMETERS`); building
``ConfigSpace.ConfigurationSpace`` objects needs the ``hpo`` extra
(``pip install 'nasbench-arrow[hpo]'``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..constants import (
    CONV1X1,
    CONV3X3,
    INPUT,
    MAX_EDGES,
    MAX_VERTICES,
    MAXPOOL3X3,
    NUM_REPEATS,
    OUTPUT,
)
from ..errors import import_optional
from ..model_spec import ModelSpec
from ._table import FINAL, run_table

__all__ = [
    "FAILURE",
    "OP_CHOICES",
    "PARAMETERS",
    "NASCifar10",
    "NASCifar10A",
    "NASCifar10B",
    "NASCifar10C",
    "config_to_spec",
    "get_configuration_space",
    "get_fidelity_space",
    "search_space",
]

#: The op choices of every space, in nas_benchmarks' order.
OP_CHOICES = (CONV1X1, CONV3X3, MAXPOOL3X3)
_NUM_UPPER = MAX_VERTICES * (MAX_VERTICES - 1) // 2  # 21
_OP_NAMES = tuple(f"op_node_{i}" for i in range(MAX_VERTICES - 2))

#: One run's result for an invalid configuration (nas_benchmarks / HPOBench).
FAILURE = {
    "test_accuracy": 0.0,
    "train_accuracy": 0.0,
    "validation_accuracy": 0.0,
    "training_time": 0.0,
    "info": "failure",
    "trainable_parameters": 0,
    "module_operations": 0,
}


def _space_parameters(space: str) -> list[tuple[str, str, Any]]:
    ops = [(name, "categorical", OP_CHOICES) for name in _OP_NAMES]
    if space == "A":
        return ops + [(f"edge_{i}", "categorical", (0, 1)) for i in range(_NUM_UPPER)]
    if space == "B":
        return ops + [(f"edge_{i}", "categorical", tuple(range(_NUM_UPPER))) for i in range(MAX_EDGES)]
    return (
        ops
        + [("num_edges", "integer", (0, MAX_EDGES))]
        + [(f"edge_{i}", "float", (0.0, 1.0)) for i in range(_NUM_UPPER)]
    )


#: ``space -> [(name, kind, choices or (low, high))]``; kinds "categorical", "integer", "float".
PARAMETERS = {s: _space_parameters(s) for s in ("A", "B", "C")}


def _check_space(space: str) -> str:
    if space not in PARAMETERS:
        msg = f"space must be 'A', 'B' or 'C', got {space!r}"
        raise ValueError(msg)
    return space


def _check_config(space: str, config: Mapping[str, Any]) -> None:
    """Every parameter present and inside its domain (HPOBench's _check_configuration)."""
    if not isinstance(config, Mapping):
        try:
            config = dict(config)
        except (TypeError, ValueError):
            msg = f"config must be a mapping of hyperparameter names to values, got {type(config).__name__}"
            raise TypeError(msg) from None
    for name, kind, domain in PARAMETERS[space]:
        if name not in config:
            msg = f"config of space {space} lacks {name!r}"
            raise ValueError(msg)
        value = config[name]
        if kind == "categorical":
            ok = not isinstance(value, bool) and value in domain
        elif kind == "integer":
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and domain[0] <= value <= domain[1]
        else:
            ok = isinstance(value, (int, float, np.floating, np.integer)) and domain[0] <= float(value) <= domain[1]
        if not ok:
            msg = f"config of space {space}: {name}={value!r} is outside its domain {domain}"
            raise ValueError(msg)


def config_to_spec(space: str, config: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
    """The 7x7 matrix and ops a configuration of space A, B or C describes (not pruned, not checked for validity).

    Raises
    ------
    ValueError
        Unknown space, or a missing / out-of-domain hyperparameter.
    """
    _check_space(space)
    _check_config(space, config)
    v = MAX_VERTICES
    matrix = np.zeros((v, v), dtype=np.int8)
    rows, cols = np.triu_indices(v, k=1)
    if space == "A":
        for i in range(_NUM_UPPER):
            matrix[rows[i], cols[i]] = int(config[f"edge_{i}"])
    elif space == "B":
        # bitlist[k] = 1 for each chosen index; bitlist[0] becomes the most significant of 21 bits.
        bits = 0
        for i in range(MAX_EDGES):
            bits |= 1 << (_NUM_UPPER - 1 - int(config[f"edge_{i}"]))
        for y in range(v):
            for x in range(y):
                if bits >> (y * (y - 1) // 2 + x) & 1:
                    matrix[x, y] = 1
    else:
        values = [float(config[f"edge_{i}"]) for i in range(_NUM_UPPER)]
        chosen = np.argsort(values)[::-1][: int(config["num_edges"])]
        for k in chosen.tolist():
            matrix[rows[k], cols[k]] = 1
    ops = [INPUT] + [str(config[name]) for name in _OP_NAMES] + [OUTPUT]
    return matrix, ops


def get_configuration_space(space: str, seed: int | None = None):
    """The ``ConfigSpace.ConfigurationSpace`` of space A, B or C (needs the ``hpo`` extra).

    Hyperparameters, names, types and domains as nas_benchmarks defines them.

    Raises
    ------
    MissingDependencyError
        ConfigSpace is not installed: ``pip install 'nasbench-arrow[hpo]'``.
    """
    _check_space(space)
    cs_module = import_optional("ConfigSpace", "hpo", "the nas_benchmarks configuration spaces")
    cs = cs_module.ConfigurationSpace(seed=seed)
    hyperparameters = []
    for name, kind, domain in PARAMETERS[space]:
        if kind == "categorical":
            hyperparameters.append(cs_module.CategoricalHyperparameter(name, list(domain)))
        elif kind == "integer":
            hyperparameters.append(cs_module.UniformIntegerHyperparameter(name, domain[0], domain[1]))
        else:
            hyperparameters.append(cs_module.UniformFloatHyperparameter(name, domain[0], domain[1]))
    cs.add(hyperparameters) if hasattr(cs, "add") else cs.add_hyperparameters(hyperparameters)
    return cs


def get_fidelity_space(seed: int | None = None):
    """HPOBench's fidelity space: ``budget``, ordinal over 4, 12, 36, 108 (default 108); needs ``hpo``."""
    cs_module = import_optional("ConfigSpace", "hpo", "the nas_benchmarks fidelity space")
    cs = cs_module.ConfigurationSpace(seed=seed)
    budget = cs_module.OrdinalHyperparameter("budget", sequence=[4, 12, 36, 108], default_value=108)
    cs.add([budget]) if hasattr(cs, "add") else cs.add_hyperparameters([budget])
    return cs


def search_space(space: str) -> type[NASCifar10]:
    """The benchmark class of a space name (``"A"``, ``"B"``, ``"C"``)."""
    return {"A": NASCifar10A, "B": NASCifar10B, "C": NASCifar10C}[_check_space(space)]


class NASCifar10:
    """A NAS-Bench-101 objective over one configuration space (base of :class:`NASCifar10A`/B/C).

    Parameters
    ----------
    nb : NASBench
        The dataset; its budget counters and random generator are not touched.
    seed : int, optional
        Seed of the generator that draws a run when ``run_index=None``.

    Attributes
    ----------
    space : str
        ``"A"``, ``"B"`` or ``"C"``.
    """

    space = "A"

    def __init__(self, nb: Any, seed: int | None = None):
        self.nb = nb
        self.rng = random.Random(seed)
        self._table = run_table(nb)

    # -- the space ------------------------------------------------------------

    def get_configuration_space(self, seed: int | None = None):
        """See :func:`get_configuration_space`."""
        return get_configuration_space(self.space, seed)

    @staticmethod
    def get_fidelity_space(seed: int | None = None):
        """See :func:`get_fidelity_space`."""
        return get_fidelity_space(seed)

    def config_to_spec(self, config: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
        """See :func:`config_to_spec`."""
        return config_to_spec(self.space, config)

    # -- evaluation -----------------------------------------------------------

    def _run_indices(self, run_index: int | Sequence[int] | None) -> tuple[int, ...]:
        top = NUM_REPEATS - 1
        if run_index is None:
            return (self.rng.randint(0, top),)
        if isinstance(run_index, (int, np.integer)) and not isinstance(run_index, bool):
            if not 0 <= run_index <= top:
                msg = f"run_index must be in [0, {top}], not {run_index}"
                raise ValueError(msg)
            return (int(run_index),)
        if isinstance(run_index, (tuple, list)):
            if not 0 < len(run_index) <= NUM_REPEATS:
                msg = f"run_index must hold 1 to {NUM_REPEATS} run indices, got {run_index!r}"
                raise ValueError(msg)
            if any(isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r <= top for r in run_index):
                msg = f"all run_index values must be in [0, {top}], but were {run_index!r}"
                raise ValueError(msg)
            return tuple(dict.fromkeys(int(r) for r in run_index))  # drop duplicates, keep order
        msg = f"run_index must be an int, a tuple/list of ints or None, but was {type(run_index).__name__}"
        raise ValueError(msg)  # HPOBench raises ValueError here too

    def _check_budget(self, budget: Any) -> int:
        if isinstance(budget, Mapping):
            budget = budget.get("budget", 108)
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget not in self.nb.valid_epochs:
            msg = f"budget must be one of {sorted(self.nb.valid_epochs)} epochs, got {budget!r}"
            raise ValueError(msg)
        return int(budget)

    def _spec(self, config: Mapping[str, Any]) -> ModelSpec | None:
        """The spec of a configuration, or None where nas_benchmarks records a failure."""
        matrix, ops = config_to_spec(self.space, config)
        if int(matrix.sum()) > MAX_EDGES:
            return None
        spec = ModelSpec(matrix, ops)
        if not self.nb.is_valid(spec):
            return None
        return spec

    def _query(self, spec: ModelSpec | None, budget: int, run: int) -> dict[str, Any]:
        if spec is None:
            return dict(FAILURE)
        row = self._table.row(spec)
        values = self._table.values(row, budget, run)
        index = self._table.index
        return {
            "module_operations": index.operations(row),
            "trainable_parameters": index.parameters(row),
            "training_time": values[FINAL],
            "train_accuracy": values[FINAL + 1],
            "validation_accuracy": values[FINAL + 2],
            "test_accuracy": values[FINAL + 3],
        }

    def objective_function(
        self,
        config: Mapping[str, Any],
        budget: int | Mapping[str, int] = 108,
        run_index: int | Sequence[int] | None = (0, 1, 2),
    ) -> dict[str, Any]:
        """Validation error and cost of a configuration at a budget (HPOBench's ``objective_function``).

        Parameters
        ----------
        config : mapping
            Hyperparameter values (a ``ConfigSpace.Configuration`` or a dict).
        budget : int or {"budget": int}, default 108
            Epochs; one of the dataset's budgets.
        run_index : int, sequence of int, or None, default (0, 1, 2)
            Repeats to average over (see the module docstring).

        Returns
        -------
        dict
            ``function_value`` (1 - mean validation accuracy, fraction),
            ``cost`` (summed training time, seconds), ``info``:
            ``fidelity``, ``train_accuracies``, ``valid_accuracies``,
            ``test_accuracies``, ``training_times``, ``data``
            (``trainable_parameters``, ``module_operations``).

        Raises
        ------
        ValueError
            A budget not in the data, a malformed ``run_index``, a config
            missing a hyperparameter or with a value outside its domain.
        KeyError
            A valid cell the dataset does not hold (a partial dataset).
        """
        epochs = self._check_budget(budget)
        runs = self._run_indices(run_index)
        spec = self._spec(config)
        results = [self._query(spec, epochs, r) for r in runs]
        valid = [r["validation_accuracy"] for r in results]
        return {
            "function_value": float(1 - np.mean(valid)),
            "cost": float(np.sum([r["training_time"] for r in results])),
            "info": {
                "fidelity": {"budget": epochs},
                "train_accuracies": [r["train_accuracy"] for r in results],
                "valid_accuracies": valid,
                "test_accuracies": [r["test_accuracy"] for r in results],
                "training_times": [r["training_time"] for r in results],
                "data": {
                    "trainable_parameters": results[-1]["trainable_parameters"],
                    "module_operations": results[-1]["module_operations"],
                },
            },
        }

    def objective_function_test(self, config: Mapping[str, Any], budget: int | Mapping[str, int] = 108) -> dict[str, Any]:
        """Test error over all three runs at a budget (HPOBench's ``objective_function_test``)."""
        result = self.objective_function(config, budget, run_index=tuple(range(NUM_REPEATS)))
        result["function_value"] = float(1 - np.mean(result["info"]["test_accuracies"]))
        return result


class NASCifar10A(NASCifar10):
    """Space A: 5 ops and the 21 upper-triangular entries as 0/1 (see the module docstring)."""

    space = "A"


class NASCifar10B(NASCifar10):
    """Space B: 5 ops and 9 edge indices in 0..20 (see the module docstring)."""

    space = "B"


class NASCifar10C(NASCifar10):
    """Space C: 5 ops, ``num_edges`` and 21 edge weights in [0, 1] (see the module docstring)."""

    space = "C"
