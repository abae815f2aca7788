"""A record of every query a search made: what it asked, what it drew, what it paid.

The original ``NASBench.query`` charges the training time of every call to the
budget counters, also when the cell (or an isomorphic spec of it, which has the
same hash) was queried before. A search that re-proposes cells therefore pays
for them again without noticing. A :class:`QueryLedger` keeps one row per
successful ``query`` so this can be seen and measured afterwards::

    nb = NASBench("out/", seed=0, ledger=True)
    ...                                   # run a search
    df = nb.ledger.to_polars()            # one row per query
    df.filter(pl.col("repeated_cell"))    # the cells it paid for more than once
    nb.ledger.write_parquet("ledger.parquet")

Rows are appended by the facade (``NASBench.query`` calls :meth:`QueryLedger.record`
after a successful lookup); failed queries (``OutOfDomainError``, unknown hash)
charge nothing and are not recorded, as they change no counter. The ledger is
independent of the budget counters: ``reset_budget_counters`` does not clear
it (call :meth:`QueryLedger.clear`), so one ledger can span several runs.

Columns of :meth:`QueryLedger.to_polars` (see :data:`LEDGER_SCHEMA`):

=======================  ========  ===============================================
column                   type      meaning
=======================  ========  ===============================================
``query``                Int64     0-based position of the query in the ledger
``module_hash``          String    hash of the queried cell (isomorphism-invariant)
``epochs``               Int16     budget asked for (4, 12, 36 or 108)
``stop_halfway``         Boolean   whether the halfway evaluation was returned
``repeat``               Int8      0-based repeat returned (drawn or given)
``repeat_drawn``         Boolean   True when the repeat was drawn at random
``training_time``        Float64   seconds charged by this query
``validation_accuracy``  Float64   fraction 0-1 returned
``test_accuracy``        Float64   fraction 0-1 returned
``training_time_spent``  Float64   budget counter after the query, seconds
``total_epochs_spent``   Int64     budget counter after the query, epochs
``wall_time``            Float64   ``time.time()`` at the query, seconds since the epoch
``repeated_cell``        Boolean   the same hash was queried before in this ledger
``times_seen``           Int32     earlier queries of this hash in this ledger
=======================  ========  ===============================================
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = ["LEDGER_COLUMNS", "LEDGER_SCHEMA", "LedgerEntry", "QueryLedger"]

#: Column names of the ledger table, in order.
LEDGER_COLUMNS: tuple[str, ...] = (
    "query",
    "module_hash",
    "epochs",
    "stop_halfway",
    "repeat",
    "repeat_drawn",
    "training_time",
    "validation_accuracy",
    "test_accuracy",
    "training_time_spent",
    "total_epochs_spent",
    "wall_time",
    "repeated_cell",
    "times_seen",
)

#: Polars dtype name of each column (resolved lazily so importing this module stays cheap).
LEDGER_SCHEMA: dict[str, str] = {
    "query": "Int64",
    "module_hash": "String",
    "epochs": "Int16",
    "stop_halfway": "Boolean",
    "repeat": "Int8",
    "repeat_drawn": "Boolean",
    "training_time": "Float64",
    "validation_accuracy": "Float64",
    "test_accuracy": "Float64",
    "training_time_spent": "Float64",
    "total_epochs_spent": "Int64",
    "wall_time": "Float64",
    "repeated_cell": "Boolean",
    "times_seen": "Int32",
}


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One successful query as the facade reports it: what it asked, drew and paid.

    Attributes
    ----------
    module_hash : str
        Hash of the queried cell.
    epochs : int
        Budget asked for.
    stop_halfway : bool
        Whether the halfway evaluation was returned.
    repeat : int
        0-based repeat returned.
    repeat_drawn : bool
        True when the repeat was drawn at random, False when the caller chose it.
    training_time : float
        Seconds charged by this query.
    validation_accuracy, test_accuracy : float
        Fractions 0-1 returned.
    training_time_spent : float
        Budget counter after the query (seconds).
    total_epochs_spent : int
        Budget counter after the query (epochs).
    """

    module_hash: str
    epochs: int
    stop_halfway: bool
    repeat: int
    repeat_drawn: bool
    training_time: float
    validation_accuracy: float
    test_accuracy: float
    training_time_spent: float
    total_epochs_spent: int


# Positions in a stored row (a plain tuple in LEDGER_COLUMNS order: the cheapest
# append, and Polars builds the frame from the tuples directly).
_TRAINING_TIME = LEDGER_COLUMNS.index("training_time")
_REPEATED_CELL = LEDGER_COLUMNS.index("repeated_cell")


class QueryLedger:
    """Append-only log of queries; cheap to record (a tuple append per query).

    Parameters
    ----------
    clock : callable, default time.time
        Source of the ``wall_time`` column (seconds); replaceable for tests.

    Examples
    --------
    >>> ledger = QueryLedger()
    >>> ledger.record("28cfc7874f6d200472e1a9dcd8650aa0", 108, False, 0, True,
    ...               1155.85, 0.9376, 0.9312, 1155.85, 108)
    >>> ledger.record("28cfc7874f6d200472e1a9dcd8650aa0", 108, False, 2, True,
    ...               1154.29, 0.9398, 0.9316, 2310.14, 216)
    >>> len(ledger), ledger.num_repeated
    (2, 1)
    """

    def __init__(self, clock=time.time):
        self._clock = clock
        self._rows: list[tuple] = []
        self._seen: dict[str, int] = {}

    def record(
        self,
        module_hash: str,
        epochs: int,
        stop_halfway: bool,
        repeat: int,
        repeat_drawn: bool,
        training_time: float,
        validation_accuracy: float,
        test_accuracy: float,
        training_time_spent: float,
        total_epochs_spent: int,
    ) -> None:
        """Append one query (called by ``NASBench.query`` after the counters were updated).

        The positional form of :meth:`add`, kept for the facade's hot path (no
        object built per query); the parameters are the fields of
        :class:`LedgerEntry`, in order. ``wall_time``, ``repeated_cell`` and
        ``times_seen`` are filled in here.

        Parameters
        ----------
        module_hash, epochs, stop_halfway, repeat, repeat_drawn, training_time, validation_accuracy, test_accuracy, training_time_spent, total_epochs_spent
            As the attributes of :class:`LedgerEntry` (units there).
        """
        seen = self._seen.get(module_hash, 0)
        self._seen[module_hash] = seen + 1
        self._rows.append(
            (
                len(self._rows),
                module_hash,
                epochs,
                stop_halfway,
                repeat,
                repeat_drawn,
                training_time,
                validation_accuracy,
                test_accuracy,
                training_time_spent,
                total_epochs_spent,
                self._clock(),
                seen > 0,
                seen,
            )
        )

    def add(self, entry: LedgerEntry) -> None:
        """Append one query given as a :class:`LedgerEntry` (same row as :meth:`record`)."""
        self.record(
            entry.module_hash,
            entry.epochs,
            entry.stop_halfway,
            entry.repeat,
            entry.repeat_drawn,
            entry.training_time,
            entry.validation_accuracy,
            entry.test_accuracy,
            entry.training_time_spent,
            entry.total_epochs_spent,
        )

    def clear(self) -> None:
        """Forget every row (and which cells were seen)."""
        self._rows.clear()
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def num_unique_cells(self) -> int:
        """Distinct hashes queried."""
        return len(self._seen)

    @property
    def num_repeated(self) -> int:
        """Queries of a cell that had been queried before (charged again by the original API)."""
        return len(self._rows) - len(self._seen)

    @property
    def repeated_training_time(self) -> float:
        """Seconds charged by queries of cells that had been queried before."""
        return float(sum(r[_TRAINING_TIME] for r in self._rows if r[_REPEATED_CELL]))

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts (column name -> value), oldest first."""
        return [dict(zip(LEDGER_COLUMNS, r)) for r in self._rows]

    def to_polars(self) -> pl.DataFrame:
        """The ledger as a Polars DataFrame (columns and types: :data:`LEDGER_SCHEMA`)."""
        import polars as pl

        schema = {name: getattr(pl, dtype) for name, dtype in LEDGER_SCHEMA.items()}
        return pl.DataFrame(self._rows, schema=schema, orient="row")

    def write_parquet(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_polars` to a Parquet file (parent directories are created).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_polars().write_parquet(path)
        return path

    def summary(self) -> dict[str, float | int]:
        """Totals: queries, unique cells, repeated queries and the seconds they were charged."""
        return {
            "queries": len(self),
            "unique_cells": self.num_unique_cells,
            "repeated_queries": self.num_repeated,
            "training_time": float(sum(r[_TRAINING_TIME] for r in self._rows)),
            "repeated_training_time": self.repeated_training_time,
        }

    def __repr__(self) -> str:
        return f"QueryLedger(queries={len(self)}, unique_cells={self.num_unique_cells}, repeated={self.num_repeated})"
