"""Lookups of runs by cell, budget and repeat straight from the memory-mapped index.

The simulator and the objectives read results without ``NASBench.query`` so
that they never touch the facade's random generator or budget counters; they
use only public methods of ``NASBench`` (``hash_spec``) and of the dataset's
``QueryIndex``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._bulk import FINAL, HALFWAY
from ..model_spec import ModelSpec

__all__ = ["FINAL", "HALFWAY", "RunTable"]


class RunTable:
    """Rows, repeats and run values of one dataset.

    Parameters
    ----------
    nb : NASBench
    """

    def __init__(self, nb: Any):
        self.nb = nb
        self.index = nb.dataset.index
        self.epochs = tuple(sorted(nb.valid_epochs))
        self._first: dict[int, np.ndarray] = {}
        self._count: dict[int, np.ndarray] = {}

    def row(self, cell: ModelSpec | str) -> int:
        """Cell row of a spec or module hash.

        Raises
        ------
        OutOfDomainError
            A spec outside the search space.
        KeyError
            A cell (or hash) the dataset does not hold.
        TypeError
            Neither a ModelSpec nor a str.
        """
        if isinstance(cell, str):
            module_hash = cell
        elif isinstance(cell, ModelSpec):
            module_hash = self.nb.hash_spec(cell)
        else:
            msg = f"expected a ModelSpec or a module hash (str), got {type(cell).__name__}"
            raise TypeError(msg)
        row = self.index.find(module_hash)
        if row is None:
            raise KeyError(module_hash)
        return row

    def _budget(self, epochs: int) -> tuple[np.ndarray, np.ndarray]:
        first = self._first.get(epochs)
        if first is None:
            rows = np.arange(self.index.num_cells, dtype=np.int64)
            first, count = self.index.budget_runs(rows, epochs)
            self._first[epochs], self._count[epochs] = first, count
        return first, self._count[epochs]

    def repeats(self, row: int, epochs: int) -> int:
        """Number of repeats of a cell at a budget (0 when none)."""
        return int(self._budget(epochs)[1][row])

    def values(self, row: int, epochs: int, repeat: int) -> tuple[float, ...]:
        """The 8 ``layout.INDEX_RUN_COLUMNS`` of one run (seconds, fractions 0-1)."""
        first, count = self._budget(epochs)
        if not 0 <= repeat < count[row]:
            msg = f"repeat {repeat} is not in the data: cell {self.index.hash_at(row)} has {int(count[row])} repeats at {epochs} epochs"
            raise IndexError(msg)
        return self.index.run_values(int(first[row]) + repeat)

    def mean(self, row: int, epochs: int, column: int) -> float:
        """Mean over the repeats of one run column (numpy's mean of the repeats in order)."""
        first, count = self._budget(epochs)
        start = int(first[row])
        return float(np.mean([v[column] for v in self.index.run_block(start, start + int(count[row]))]))
