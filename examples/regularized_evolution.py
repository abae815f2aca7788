"""Regularised evolution on NAS-Bench-101, as in the original colab.

The population is seeded with ``population_size`` random cells (50). Then, per
step: sample ``tournament_size`` (10) members without replacement, mutate the
one with the best validation accuracy (each edge flips with probability
``mutation_rate / 7``, each interior op is resampled with probability
``mutation_rate / 5``; rate 1.0; redrawn until valid), query the child, add it
and remove the *oldest* member (the "regularised" part). The trajectory keeps
the best validation accuracy so far and the test accuracy of that model; a run
stops the first time the training time charged exceeds the budget (5e6 s).

One command, on the built-in sample (built once into ~/.cache/nasbench-arrow)::

    python examples/regularized_evolution.py --seeds 10 --budget 2e5

On a converted dataset (or an official .tfrecord, converted on first use)::

    python examples/regularized_evolution.py --dataset nasbench_full/ --out results/

Writes ``regularized_evolution_trajectories.parquet``, ``..._summary.parquet``,
``..._ledger.parquet`` and ``regularized_evolution.png`` into ``--out``.

The search function uses only the original API, so it runs unchanged against
the original ``nasbench.api.NASBench`` too (``benchmarks/bench_search.py``
times it on both).
"""

from __future__ import annotations

import collections
import sys

from nasbench_arrow import search


def regularized_evolution(
    nb,
    proposer,
    *,
    budget=search.COLAB_BUDGET,
    max_queries=None,
    population_size=50,
    tournament_size=10,
    mutation_rate=1.0,
):
    """One run of regularised evolution until ``budget`` seconds of training are charged.

    Parameters
    ----------
    nb : NASBench
        The benchmark; its budget counters are reset first.
    proposer : nasbench_arrow.search.SpecProposer
        Draws random cells and mutations (from its own seeded generator).
    budget : float
        Training time per run, seconds.
    max_queries : int, optional
        Also stop after this many queries.
    population_size, tournament_size : int
        50 and 10 in the colab.
    mutation_rate : float
        Expected edge flips (1.0 in the colab).

    Returns
    -------
    nasbench_arrow.search.TrajectoryRecorder
    """
    if not 1 <= tournament_size <= population_size:
        msg = f"tournament_size must be in 1..population_size={population_size}, got {tournament_size!r}"
        raise ValueError(msg)
    nb.reset_budget_counters()
    recorder = search.TrajectoryRecorder(nb)
    rng = proposer.rng
    population = collections.deque()  # (validation accuracy, spec), oldest first

    def done(spent):
        return spent > budget or (max_queries is not None and len(recorder) >= max_queries)

    for _ in range(population_size):
        spec = proposer.random_spec()
        data = nb.query(spec)
        population.append((data["validation_accuracy"], spec))
        if done(recorder.add(data)):
            return recorder

    while True:
        members = [population[i] for i in sorted(rng.sample(range(len(population)), tournament_size))]
        # The best validation accuracy wins; among equals the youngest, as the colab's stable sort picks.
        parent = members[0]
        for member in members[1:]:
            if member[0] >= parent[0]:
                parent = member
        child = proposer.mutate(parent[1], mutation_rate)
        data = nb.query(child)
        population.append((data["validation_accuracy"], child))
        population.popleft()
        if done(recorder.add(data)):
            return recorder


def main(argv=None) -> int:
    """Command line: see the module docstring and ``--help``."""
    parser = search.example_parser("Regularised evolution on NAS-Bench-101 (the colab's experiment).")
    parser.add_argument("--population-size", type=int, default=50)
    parser.add_argument("--tournament-size", type=int, default=10)
    parser.add_argument("--mutation-rate", type=float, default=1.0)
    args = parser.parse_args(argv)
    options = {
        "population_size": args.population_size,
        "tournament_size": args.tournament_size,
        "mutation_rate": args.mutation_rate,
    }
    search.run_example("regularized_evolution", regularized_evolution, args, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
