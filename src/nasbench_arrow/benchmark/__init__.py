"""Benchmarking search algorithms on NAS-Bench-101: objectives, optimum, regret, a multi-worker simulator.

- :mod:`~nasbench_arrow.benchmark.objectives`: the nas_benchmarks / HPOBench
  objectives over search spaces A, B and C (:class:`NASCifar10A`, ...),
  without TensorFlow; ConfigSpace spaces with the ``hpo`` extra.
- :mod:`~nasbench_arrow.benchmark.optimum`: best mean validation / test
  accuracy per budget from a lazy scan (:func:`optimum_table`,
  :func:`optimum`), incumbent and regret columns (:func:`add_regret`).
- :mod:`~nasbench_arrow.benchmark.simulator`: :class:`Simulator`, N
  asynchronous workers in simulated time with the ask/tell protocol.
- :mod:`~nasbench_arrow.benchmark.optimizers`: random search, regularised
  evolution, local search, successive halving, Hyperband, a synchronous
  wrapper and adapters for external optimizers (Optuna).
- :mod:`~nasbench_arrow.benchmark.cli`: the ``nasbench-bench`` campaign
  command (traces, figures, summary table).

Example
-------
>>> from nasbench_arrow.api import NASBench                         # doctest: +SKIP
>>> from nasbench_arrow.benchmark import LocalSearch, Simulator     # doctest: +SKIP
>>> nb = NASBench("nasbench_full/")                                 # doctest: +SKIP
>>> trace = Simulator(nb, n_workers=8, seed=0).run(LocalSearch(nb, seed=0), max_time=5e6)  # doctest: +SKIP
>>> trace.select("end", "test_regret").tail(1)                      # doctest: +SKIP
"""

from __future__ import annotations

from .objectives import (
    FAILURE,
    NASCifar10,
    NASCifar10A,
    NASCifar10B,
    NASCifar10C,
    config_to_spec,
    get_configuration_space,
    get_fidelity_space,
)
from .optimizers import (
    ALGORITHMS,
    ExternalOptimizer,
    Hyperband,
    LocalSearch,
    OptunaOptimizer,
    RandomSearch,
    RegularizedEvolution,
    SuccessiveHalving,
    Synchronous,
    make_optimizer,
)
from .optimum import Optimum, add_regret, optimum, optimum_table
from .simulator import TRACE_COLUMNS, Simulator

__all__ = [
    "ALGORITHMS",
    "FAILURE",
    "TRACE_COLUMNS",
    "ExternalOptimizer",
    "Hyperband",
    "LocalSearch",
    "NASCifar10",
    "NASCifar10A",
    "NASCifar10B",
    "NASCifar10C",
    "Optimum",
    "OptunaOptimizer",
    "RandomSearch",
    "RegularizedEvolution",
    "Simulator",
    "SuccessiveHalving",
    "Synchronous",
    "add_regret",
    "config_to_spec",
    "get_configuration_space",
    "get_fidelity_space",
    "make_optimizer",
    "optimum",
    "optimum_table",
]
