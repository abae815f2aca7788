"""An asynchronous multi-worker simulator over the tabular benchmark.

A real cluster of ``N`` workers trains ``N`` cells at once and reports each
when it finishes; an optimizer there sees results in finishing order and
proposes the next cell while the others still train. :class:`Simulator`
replays exactly that in simulated time, from the dataset's training times.

The protocol
------------
An optimizer is any object with

- ``ask()`` returning ``(cell, epochs)`` or ``(cell, epochs, stop_halfway)``,
  where ``cell`` is a :class:`~nasbench_arrow.model_spec.ModelSpec` or a
  module hash (str), or returning ``None`` for "nothing to propose until
  the next result" (a synchronous optimizer waiting for its batch);
- ``tell(cell, epochs, result)``, called with the same ``cell`` object and
  ``result`` a dict: ``module_hash``, ``epochs``, ``repeat``,
  ``stopped_halfway``, ``worker``, ``start``, ``end`` (simulated seconds),
  ``training_time`` (seconds charged), ``train_accuracy``,
  ``validation_accuracy``, ``test_accuracy`` (fractions 0-1),
  ``trainable_parameters``.

Semantics
---------
- Time starts at 0 with every worker free. A free worker asks as soon as it
  is free; several free at the same moment ask in worker-index order.
- An evaluation started at ``start`` on a cell at ``epochs`` draws one of
  the cell's repeats at that budget (uniformly, from the simulator's own
  ``random.Random(seed)``, reset at each :meth:`Simulator.run`: a run is
  deterministic from the seed) and ends at ``start + training_time`` of that
  run. Its result is told at its ``end``; results ending at the same moment
  are all told (in worker-index order) before any free worker asks.
- NAS-Bench-101's budgets 4, 12, 36 and 108 are separate training runs (the
  learning-rate schedule depends on the budget), so evaluating a cell again
  at a larger budget - a promotion - costs that budget's full training time;
  nothing carries over.
- ``stop_halfway=True`` stops the run at its halfway checkpoint (epoch
  ``epochs / 2``): the result is the halfway evaluation, told at the halfway
  time, and only the halfway training time is charged.
- If ``ask`` returns None, that worker (and the other free ones) stay idle
  until the next result is told. Returning None while nothing is running is
  an error (the optimizer would wait forever).
- The optimizer's own thinking time is not charged by default (results are
  then exactly reproducible); with ``charge_decision_time=True`` the
  measured wall-clock time of each ``ask`` delays the start of the
  evaluation it proposes (and of later ones asked at the same moment), so
  slow optimizers pay for it - at the cost of runs that vary with the machine.
- Memory: the first evaluation at a budget reads all the runs of that
  budget into memory once per process (81 MB per budget for the full
  dataset), shared by every later simulator over the same opened dataset; an
  evaluation is then an array look-up.
- Stopping: no evaluation starts at or after ``max_time`` (simulated
  seconds) or after ``max_evaluations`` were started; every started
  evaluation runs to its end and is in the trace, so with one worker a run
  is the colab's sequential loop: the evaluation that crosses the budget counts.
"""

from __future__ import annotations

import heapq
import random
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import OutOfDomainError
from ._table import FINAL, HALFWAY, run_table
from .optimum import Optimum, incumbent_positions, optimum

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["TRACE_COLUMNS", "Simulator"]

#: Columns of :meth:`Simulator.run`'s trace, in order.
TRACE_COLUMNS = (
    "algorithm",
    "seed",
    "n_workers",
    "evaluation",
    "worker",
    "start",
    "end",
    "module_hash",
    "epochs",
    "repeat",
    "stopped_halfway",
    "training_time",
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
    "cost",
    "incumbent_hash",
    "incumbent_validation_accuracy",
    "incumbent_test_accuracy",
    "validation_regret",
    "test_regret",
)


def _algorithm_name(optimizer: Any) -> str:
    name = getattr(optimizer, "name", None)
    return name if isinstance(name, str) else type(optimizer).__name__


class Simulator:
    """Simulated parallel workers evaluating an optimizer's proposals (see the module docstring).

    Parameters
    ----------
    nb : NASBench
        The dataset. Its random generator and budget counters are not used.
    n_workers : int, default 1
        Workers training at once.
    seed : int, optional
        Seed of the repeats drawn (default: random, so runs differ).
    charge_decision_time : bool, default False
        Delay each evaluation by the measured time of the ``ask`` that proposed it.
    opt : Optimum, optional
        ``y_star_valid`` / ``y_star_test`` for the regret columns (default
        :func:`~nasbench_arrow.benchmark.optimum` of ``nb``, computed once per dataset).

    Examples
    --------
    >>> from nasbench_arrow.benchmark import RandomSearch, Simulator        # doctest: +SKIP
    >>> trace = Simulator(nb, n_workers=8, seed=0).run(RandomSearch(nb, seed=0), max_time=5e6)  # doctest: +SKIP
    """

    def __init__(
        self,
        nb: Any,
        n_workers: int = 1,
        seed: int | None = None,
        *,
        charge_decision_time: bool = False,
        opt: Optimum | None = None,
    ):
        if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
            msg = f"n_workers must be a positive int, got {n_workers!r}"
            raise ValueError(msg)
        self.nb = nb
        self.n_workers = int(n_workers)
        self.seed = seed
        self.charge_decision_time = bool(charge_decision_time)
        self._opt = opt
        self._table = run_table(nb)

    @property
    def optimum(self) -> Optimum:
        """The :class:`Optimum` the regrets are measured against."""
        if self._opt is None:
            self._opt = optimum(self.nb)
        return self._opt

    # ------------------------------------------------------------------ helpers

    def _proposal(self, proposal: Any, worker: int, now: float) -> tuple[Any, int, bool, int]:
        """Normalise one ``ask()`` answer to ``(cell, epochs, stop_halfway, row)``."""
        try:
            size = len(proposal)
        except TypeError:
            size = -1
        if size not in (2, 3):
            msg = f"ask() must return (cell, epochs), (cell, epochs, stop_halfway) or None, got {proposal!r}"
            raise TypeError(msg)
        cell, epochs = proposal[0], proposal[1]
        stop = bool(proposal[2]) if size == 3 else False
        if epochs not in self.nb.valid_epochs or isinstance(epochs, bool):
            msg = f"ask() proposed epochs={epochs!r}; the dataset has {sorted(self.nb.valid_epochs)}"
            raise ValueError(msg)
        try:
            row = self._table.row(cell)
        except OutOfDomainError as exc:
            msg = f"{exc} (proposed for worker {worker} at simulated time {now:g} s)"
            raise OutOfDomainError(msg) from None
        return cell, int(epochs), stop, row

    # ---------------------------------------------------------------------- run

    def run(
        self,
        optimizer: Any,
        max_time: float | None = None,
        max_evaluations: int | None = None,
    ) -> pl.DataFrame:
        """Run ``optimizer`` until ``max_time`` simulated seconds or ``max_evaluations`` evaluations.

        Parameters
        ----------
        optimizer : object with ``ask()`` and ``tell(cell, epochs, result)``
        max_time : float, optional
            Simulated wall-clock seconds after which no evaluation starts.
        max_evaluations : int, optional
            Evaluations started at most.

        Returns
        -------
        pl.DataFrame
            One row per evaluation in the order results were told (finishing
            order): :data:`TRACE_COLUMNS`. ``cost`` is the training time
            charged so far (all workers together, seconds); incumbent and
            regrets as in :mod:`nasbench_arrow.benchmark.optimum`.

        Raises
        ------
        ValueError
            Neither limit given, or a bad proposal (epochs not in the data).
        OutOfDomainError, KeyError
            A proposed spec outside the space, or one the dataset does not hold.
        RuntimeError
            ``ask()`` returned None while no evaluation was running.
        """
        if max_time is None and max_evaluations is None:
            msg = "give max_time (simulated seconds) or max_evaluations, or the run never ends"
            raise ValueError(msg)
        if max_time is not None and not max_time >= 0:
            msg = f"max_time must be a non-negative number of seconds, got {max_time!r}"
            raise ValueError(msg)
        if max_evaluations is not None and (isinstance(max_evaluations, bool) or max_evaluations < 0):
            msg = f"max_evaluations must be a non-negative int, got {max_evaluations!r}"
            raise ValueError(msg)
        limit_time = float("inf") if max_time is None else float(max_time)
        limit_evals = float("inf") if max_evaluations is None else int(max_evaluations)

        rng = random.Random(self.seed)
        table = self._table
        index = table.index
        ask, tell = optimizer.ask, optimizer.tell
        valid_epochs = {e for e in self.nb.valid_epochs if not isinstance(e, bool)}
        hash_rows = table.hash_rows  # hashes already looked up
        charge = self.charge_decision_time
        clock = time.perf_counter

        records: list[tuple] = []
        blocks: dict[int, np.ndarray] = {}
        params = table.params()
        rows: list[int] = []
        running: list[tuple[float, int, tuple]] = []  # (end, worker, payload)
        free = list(range(self.n_workers))
        now = 0.0
        started = 0
        while True:
            # Free workers ask, in index order, until the optimizer has nothing or the run must stop.
            free.sort()
            delay = 0.0
            while free and started < limit_evals and now < limit_time:
                t0 = clock() if charge else 0.0
                proposal = ask()
                if charge:
                    delay += clock() - t0
                if proposal is None:
                    break
                worker = free.pop(0)
                row = None
                if type(proposal) is tuple and len(proposal) == 2 and proposal[1] in valid_epochs:
                    cell, epochs = proposal  # the common case, checked without the general path
                    stop = False
                    row = hash_rows.get(cell) if type(cell) is str else None
                if row is None:
                    cell, epochs, stop, row = self._proposal(proposal, worker, now)
                count = table.budget(epochs)[1][row]
                if count == 0:
                    msg = f"cell {index.hash_at(row)} has no runs at {epochs} epochs"
                    raise KeyError(msg)
                repeat = rng.randrange(count)
                block = blocks.get(epochs)
                if block is None:
                    block = blocks[epochs] = table.block(epochs)
                values = block[row, repeat].tolist()
                offset = HALFWAY if stop else FINAL
                start = now + delay
                end = start + values[offset]
                heapq.heappush(running, (end, worker, (cell, epochs, stop, row, repeat, start, values, offset)))
                started += 1
            if not running:
                if free and started < limit_evals and now < limit_time:
                    msg = "ask() returned None while no evaluation was running: the optimizer waits for nothing"
                    raise RuntimeError(msg)
                break
            # Tell every result that ends at the earliest end time, in worker order.
            now = running[0][0]
            while running and running[0][0] == now:
                end, worker, (cell, epochs, stop, row, repeat, start, values, offset) = heapq.heappop(running)
                module_hash = cell if type(cell) is str else index.hash_at(row)
                t, train, valid, test = values[offset : offset + 4]
                records.append((worker, start, end, module_hash, epochs, repeat, stop, t, train, valid, test))
                rows.append(row)
                free.append(worker)
                tell(
                    cell,
                    epochs,
                    {
                        "module_hash": module_hash,
                        "epochs": epochs,
                        "repeat": repeat,
                        "stopped_halfway": stop,
                        "worker": worker,
                        "start": start,
                        "end": end,
                        "training_time": t,
                        "train_accuracy": train,
                        "validation_accuracy": valid,
                        "test_accuracy": test,
                        "trainable_parameters": params[row],
                    },
                )
        names = (
            "worker", "start", "end", "module_hash", "epochs", "repeat", "stopped_halfway",
            "training_time", "train_accuracy", "validation_accuracy", "test_accuracy",
        )  # fmt: skip
        columns = dict(zip(names, (list(c) for c in zip(*records)))) if records else {k: [] for k in names}
        return self._frame(columns, rows, _algorithm_name(optimizer))

    def _frame(self, columns: dict[str, list], rows: list[int], algorithm: str) -> pl.DataFrame:
        import polars as pl

        n = len(rows)
        opt = self.optimum
        valid = np.asarray(columns["validation_accuracy"], dtype=np.float64)
        positions = incumbent_positions(valid)
        row_array = np.asarray(rows, dtype=np.int64)
        incumbent_rows = row_array[positions] if n else row_array
        mean_test = {r: self._table.mean(r, 108, FINAL + 3) for r in np.unique(incumbent_rows).tolist()}
        inc_test = np.array([mean_test[r] for r in incumbent_rows.tolist()], dtype=np.float64)
        inc_valid = valid[positions] if n else valid
        hashes = columns["module_hash"]
        return pl.DataFrame(
            {
                "algorithm": pl.Series([algorithm] * n, dtype=pl.String),
                "seed": pl.Series([self.seed] * n, dtype=pl.Int64),
                "n_workers": pl.Series([self.n_workers] * n, dtype=pl.Int64),
                "evaluation": pl.Series(range(n), dtype=pl.Int64),
                "worker": pl.Series(columns["worker"], dtype=pl.Int64),
                "start": pl.Series(columns["start"], dtype=pl.Float64),
                "end": pl.Series(columns["end"], dtype=pl.Float64),
                "module_hash": pl.Series(hashes, dtype=pl.String),
                "epochs": pl.Series(columns["epochs"], dtype=pl.Int64),
                "repeat": pl.Series(columns["repeat"], dtype=pl.Int64),
                "stopped_halfway": pl.Series(columns["stopped_halfway"], dtype=pl.Boolean),
                "training_time": pl.Series(columns["training_time"], dtype=pl.Float64),
                "train_accuracy": pl.Series(columns["train_accuracy"], dtype=pl.Float64),
                "validation_accuracy": pl.Series(valid, dtype=pl.Float64),
                "test_accuracy": pl.Series(columns["test_accuracy"], dtype=pl.Float64),
                "cost": pl.Series(np.cumsum(np.asarray(columns["training_time"], dtype=np.float64)), dtype=pl.Float64),
                "incumbent_hash": pl.Series([hashes[p] for p in positions.tolist()], dtype=pl.String),
                "incumbent_validation_accuracy": pl.Series(inc_valid, dtype=pl.Float64),
                "incumbent_test_accuracy": pl.Series(inc_test, dtype=pl.Float64),
                "validation_regret": pl.Series((1 - inc_valid) - opt.y_star_valid, dtype=pl.Float64),
                "test_regret": pl.Series((1 - inc_test) - opt.y_star_test, dtype=pl.Float64),
            }
        )
