"""Random search on NAS-Bench-101, as in the original colab.

Each step draws a random valid cell the colab's way (every upper-triangular edge
with probability 1/2, interior ops uniform, redrawn until valid; this favours
small cells: ~30% of draws are the seven 2- and 3-vertex cells, see
``--sampling uniform`` for every cell equally likely), queries it (one random
repeat at 108 epochs) and keeps the best validation accuracy so far, with the test accuracy
of that model. A run stops the first time the training time charged exceeds
the budget (the colab: 5e6 s). Selection never looks at test accuracy.

One command, on the built-in sample (built once into ~/.cache/nasbench-arrow)::

    python examples/random_search.py --seeds 10 --budget 2e5

On a converted dataset (or an official .tfrecord, converted on first use)::

    python examples/random_search.py --dataset nasbench_full/ --out results/

Writes ``random_search_trajectories.parquet``, ``random_search_summary.parquet``,
``random_search_ledger.parquet`` and ``random_search.png`` into ``--out``
(see :func:`nasbench_arrow.search.run_example`).

The search function uses only the original API (``query``, ``is_valid``,
``get_budget_counters``, ``reset_budget_counters``), so it runs unchanged
against the original ``nasbench.api.NASBench`` too.
"""

from __future__ import annotations

import sys

from nasbench_arrow import search


def random_search(nb, proposer, *, budget=search.COLAB_BUDGET, max_queries=None):
    """One run of random search until ``budget`` seconds of training are charged.

    Parameters
    ----------
    nb : NASBench
        The benchmark; its budget counters are reset first.
    proposer : nasbench_arrow.search.SpecProposer
        Draws the random cells (from its own seeded generator).
    budget : float
        Training time per run, seconds.
    max_queries : int, optional
        Also stop after this many queries.

    Returns
    -------
    nasbench_arrow.search.TrajectoryRecorder
    """
    nb.reset_budget_counters()
    recorder = search.TrajectoryRecorder(nb)
    while True:
        data = nb.query(proposer.random_spec())
        spent = recorder.add(data)
        if spent > budget or (max_queries is not None and len(recorder) >= max_queries):
            return recorder


def main(argv=None) -> int:
    """Command line: see the module docstring and ``--help``."""
    args = search.example_parser("Random search on NAS-Bench-101 (the colab's experiment).").parse_args(argv)
    search.run_example("random_search", random_search, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
