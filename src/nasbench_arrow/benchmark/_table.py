"""Lookups of runs by cell, budget and repeat straight from the memory-mapped index.

The simulator and the objectives read results without ``NASBench.query`` so
that they never touch the facade's random generator or budget counters; they
use only public methods of ``NASBench`` (``hash_spec``) and of the dataset's
``QueryIndex``.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .._bulk import FINAL, HALFWAY
from ..model_spec import ModelSpec

__all__ = ["FINAL", "HALFWAY", "RunTable", "run_table"]

# Look-ups shared by every table over one opened index: they cost about 0.1 s per budget for the
# full dataset, too much to redo for every simulator run of a campaign. The values hold no
# reference to the index or the NASBench, so the cache never keeps a dataset open.
_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Lookups:
    def __init__(self) -> None:
        self.first: dict[int, list[int]] = {}
        self.count: dict[int, list[int]] = {}
        self.blocks: dict[int, np.ndarray] = {}
        self.hash_rows: dict[str, int] = {}
        self.params: list[int] | None = None


def run_table(nb: Any) -> RunTable:
    """A :class:`RunTable` of a NASBench, sharing the look-ups already made over its index."""
    index = nb.dataset.index
    shared = _SHARED.get(index)
    if shared is None:
        shared = _SHARED[index] = _Lookups()
    return RunTable(nb, shared)


class RunTable:
    """Rows, repeats and run values of one dataset.

    Parameters
    ----------
    nb : NASBench
    """

    def __init__(self, nb: Any, shared: _Lookups | None = None):
        self.nb = nb
        self.index = nb.dataset.index
        self.epochs = tuple(sorted(nb.valid_epochs))
        shared = _Lookups() if shared is None else shared
        self._first = shared.first
        self._count = shared.count
        self._shared = shared
        #: module hash -> row, filled as hashes are looked up.
        self.hash_rows = shared.hash_rows

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
            row = self.hash_rows.get(cell)
            if row is not None:
                return row
            module_hash = cell
        elif isinstance(cell, ModelSpec):
            module_hash = self.nb.hash_spec(cell)
        else:
            msg = f"expected a ModelSpec or a module hash (str), got {type(cell).__name__}"
            raise TypeError(msg)
        row = self.index.find(module_hash)
        if row is None:
            raise KeyError(module_hash)
        self.hash_rows[module_hash] = row
        return row

    def budget(self, epochs: int) -> tuple[list[int], list[int]]:
        """Per cell row: the run row of repeat 0 and the number of repeats at ``epochs`` (lists)."""
        first = self._first.get(epochs)
        if first is None:
            rows = np.arange(self.index.num_cells, dtype=np.int64)
            first_array, count_array = self.index.budget_runs(rows, epochs)
            # Python lists: one look-up per evaluation, without numpy's scalar overhead.
            first, self._count[epochs] = first_array.tolist(), count_array.tolist()
            self._first[epochs] = first
        return first, self._count[epochs]

    def block(self, epochs: int) -> np.ndarray:
        """Every run at one budget in memory: ``(num_cells, repeats, 8)`` float64 (81 MB for the full dataset).

        Read once per budget and process (a consistent snapshot); a simulated
        evaluation then costs an array index instead of a file read. Entries
        beyond a cell's repeat count are padding (never read: the repeat is
        drawn below the count).
        """
        block = self._shared.blocks.get(epochs)
        if block is None:
            first, count = self.budget(epochs)
            width = max(count) if count else 0
            runs = np.asarray(first, dtype=np.int64)[:, None] + np.arange(max(width, 1))
            np.minimum(runs, max(self.index.num_runs - 1, 0), out=runs)
            block = self._shared.blocks[epochs] = np.ascontiguousarray(self.index.run_metrics[runs])
        return block

    def params(self) -> list[int]:
        """Trainable parameters of every cell, by row (a list, read once)."""
        if self._shared.params is None:
            self._shared.params = self.index.cell_params.tolist()
        return self._shared.params

    def repeats(self, row: int, epochs: int) -> int:
        """Number of repeats of a cell at a budget (0 when none)."""
        return self.budget(epochs)[1][row]

    def values(self, row: int, epochs: int, repeat: int) -> list[float]:
        """The 8 ``layout.INDEX_RUN_COLUMNS`` of one run (seconds, fractions 0-1)."""
        first, count = self.budget(epochs)
        if not 0 <= repeat < count[row]:
            msg = f"repeat {repeat} is not in the data: cell {self.index.hash_at(row)} has {count[row]} repeats at {epochs} epochs"
            raise IndexError(msg)
        # pread, not the mapping: random single rows through a mapping fault in their neighbours too.
        return self.index.run_values(first[row] + repeat)

    def mean(self, row: int, epochs: int, column: int) -> float:
        """Mean over the repeats of one run column (numpy's mean of the repeats in order)."""
        first, count = self.budget(epochs)
        start = first[row]
        return float(np.mean(self.index.run_metrics[start : start + count[row], column]))
