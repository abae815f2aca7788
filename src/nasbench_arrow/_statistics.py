"""``fixed_statistics`` / ``computed_statistics``: the original's plain dicts, built lazily.

The original ``NASBench`` fills two dicts at load time (gigabytes for the full
file), and client code relies on them being plain dicts: the same entry
object on every access, in-place edits that stick (``query`` then returns the
edited values), new keys, deletions, ``len``, iteration in file order.

:class:`LazyStatistics` is a ``dict`` whose entries are built from the
memory-mapped query index the first time they are looked up
(``dict.__missing__``) and stored, so an entry touched once is from then on an
ordinary C-level dict lookup, as fast as the original's. Sequential passes
(in ``hash_iterator()`` order or in hash order, the two orders client loops
use) are detected and served by building a block of following entries at once
with numpy (read-ahead doubling up to :data:`READ_AHEAD_MAX` cells), which
keeps a first pass over all cells close to the cost of the original's loop;
random access builds one entry at a time. Nothing is built until touched.

The mapping methods that a plain dict would answer from its storage alone
(``len``, ``in``, iteration, ``keys``/``values``/``items``, ``get``, ``pop``,
equality, copies, pickling) are overridden to answer for the whole dataset,
materialising entries only where a value is returned.
"""

from __future__ import annotations

import copy
import gc
import itertools
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from typing import TYPE_CHECKING, Any

import numpy as np

from . import layout

if TYPE_CHECKING:  # pragma: no cover
    from .dataset import QueryIndex

__all__ = ["READ_AHEAD_MAX", "CellOrder", "ComputedStatistics", "FixedStatistics", "LazyStatistics", "copy_entry", "copy_value"]

#: Most entries built at once by a sequential pass (a block of the full
#: dataset's computed statistics at this size is about 10 MB of dicts).
READ_AHEAD_MAX = 4096

_OP_NAMES = layout.OP_CODES
_RUN_NAMES = layout.INDEX_RUN_COLUMNS
_FIXED_KEYS = ("module_adjacency", "module_operations", "trainable_parameters")


def _run_dict_builder():
    """A function turning a list of the 8 run values into the original's data point dict.

    A dict display with constant keys builds a dict about twice as fast as
    ``dict(zip(names, values))``; the names are this package's constants.
    """
    body = ", ".join(f"{name!r}: r[{i}]" for i, name in enumerate(_RUN_NAMES))
    return eval(f"lambda r: {{{body}}}")


_run_dict = _run_dict_builder()


class CellOrder:
    """The dataset's cells in source-file order, shared by both statistics mappings.

    Parameters
    ----------
    index : QueryIndex
        The memory-mapped index.
    source_order : callable
        Returns ``(cell rows in source order, budgets in source order)``
        (``NASBench._source_order_cached``); called on first need only.
    """

    def __init__(self, index: QueryIndex, source_order, *, single_budget: bool = False):
        self.index = index
        self._source_order = source_order
        # With one budget in the data there is no budget order to recover.
        self._single_budget = single_budget
        self._rows: np.ndarray | None = None
        self._position: np.ndarray | None = None
        self._hashes: list[str] | None = None
        self._run_order: np.ndarray | None = None
        self._run_order_done = False

    @property
    def rows(self) -> np.ndarray:
        """Cell rows (hash order) in source order."""
        if self._rows is None:
            self._rows = np.asarray(self._source_order()[0], dtype=np.int64)
        return self._rows

    @property
    def position(self) -> np.ndarray:
        """Source position of each cell row (the inverse of :attr:`rows`)."""
        if self._position is None:
            rows = self.rows
            position = np.empty(rows.size, dtype=np.int64)
            position[rows] = np.arange(rows.size, dtype=np.int64)
            self._position = position
        return self._position

    @property
    def has_hashes(self) -> bool:
        """Whether :attr:`hashes` was built (someone iterates in file order)."""
        return self._hashes is not None

    @property
    def hashes(self) -> list[str]:
        """Module hashes in source order (one list of str, built once: ``hash_iterator()``)."""
        if self._hashes is None:
            self._hashes = self.index.cell_hash[self.rows].astype("U32").tolist()
        return self._hashes

    def hashes_of(self, rows: np.ndarray, start: int | None = None) -> list[str]:
        """Hashes of some rows; the shared str objects when they are source positions ``start:``."""
        if start is not None and self._hashes is not None:
            return self._hashes[start : start + rows.size]
        return self.index.cell_hash[rows].astype("U32").tolist()

    def run_order(self) -> np.ndarray | None:
        """Runs of each cell grouped by budget in the order the file first lists each budget.

        The original filled ``computed_statistics[h]`` while reading the file,
        so its budget keys follow file order; the index keeps runs sorted by
        (hash, epochs, repeat). None when the two agree (the usual case, and
        always when the file lists a cell's budgets in ascending order).
        """
        if not self._run_order_done:
            self._run_order = None if self._single_budget else _budget_file_order(self.index)
            self._run_order_done = True
        return self._run_order


def _budget_file_order(index: QueryIndex) -> np.ndarray | None:
    runs = index.num_runs
    if runs == 0:
        return None
    record_index = index.record_index()
    epochs = index.run_epochs
    # Groups: maximal blocks of runs of one cell at one budget (runs are sorted).
    new_cell = np.zeros(runs, dtype=bool)
    new_cell[index.run_start[:-1][index.run_start[:-1] < runs]] = True
    boundary = new_cell.copy()
    boundary[1:] |= epochs[1:] != epochs[:-1]
    boundary[0] = True
    starts = np.flatnonzero(boundary)
    first_record = np.minimum.reduceat(record_index, starts)
    cell_of_group = np.cumsum(new_cell)[starts]
    order = np.lexsort((first_record, cell_of_group))
    if np.array_equal(order, np.arange(order.size)):
        return None
    lengths = np.diff(np.append(starts, runs))
    ordered_starts = starts[order]
    ordered_lengths = lengths[order]
    offsets = np.repeat(ordered_starts - np.concatenate([[0], np.cumsum(ordered_lengths)[:-1]]), ordered_lengths)
    return offsets + np.arange(runs, dtype=np.int64)


class _Keys(KeysView):
    """``keys()`` of a :class:`LazyStatistics`: iterates in the original's (file) order."""

    def __iter__(self) -> Iterator[str]:
        return self._mapping._iter_keys()

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._mapping._iter_keys()))

    def __repr__(self) -> str:
        return f"{type(self._mapping).__name__}.keys(<{len(self)} hashes>)"


class _Values(ValuesView):
    def __iter__(self) -> Iterator[Any]:
        mapping = self._mapping
        for key in mapping._iter_keys():
            yield mapping[key]

    def __repr__(self) -> str:
        return f"{type(self._mapping).__name__}.values(<{len(self)} entries>)"


class _Items(ItemsView):
    def __iter__(self) -> Iterator[tuple[str, Any]]:
        mapping = self._mapping
        for key in mapping._iter_keys():
            yield key, mapping[key]

    def __repr__(self) -> str:
        return f"{type(self._mapping).__name__}.items(<{len(self)} entries>)"


class LazyStatistics(dict):
    """A ``dict`` of per-cell statistics whose entries are built on first lookup.

    Behaves as the original's plain dict for the life of the object: the same
    entry object on each access; in-place edits, new keys and deletions
    persist; ``len``, ``in``, iteration (file order, new keys last),
    ``keys()``/``values()``/``items()``, ``get``, ``pop``, ``setdefault``,
    ``update``, equality, ``copy()`` and pickling as a dict of the same
    content. ``repr`` is short (not 423,624 entries).

    Parameters
    ----------
    order : CellOrder
        The dataset's cells and their source order.
    build : callable
        ``build(index, rows, order) -> list`` of the entries of some cell rows.
    """

    def __init__(self, order: CellOrder, build, first_entry=None):
        super().__init__()
        self._order = order
        self._build_rows = build
        # Optional: (index, order) -> the entry of cell row 0, for ensure_built_entry.
        self._first_entry = first_entry
        self._index = order.index
        # Stored hashes no longer at their file position: deleted, or deleted and set again.
        self._gone: set[str] = set()
        self._all_gone = False  # after clear(): every stored hash is gone
        # Keys kept after the stored ones, in insertion order: new keys, and stored ones set again.
        self._extra: dict[Any, None] = {}
        # Read-ahead state: the next source position / row a sequential pass would touch.
        self._next_position = 0
        self._next_row = 0
        self._span = 1
        #: Whether anything was built, set or deleted (query() reads such entries through the dict).
        self.touched = False
        #: The key of the entry built by ensure_built_entry while nothing else was (else None).
        self.prebuilt: str | None = None
        # Whether a delete that empties the storage builds another entry (see ensure_built_entry).
        self._ensure_on_delete = False

    @property
    def deleted(self) -> bool:
        """Whether a stored hash was deleted (or the dict cleared)."""
        return self._all_gone or bool(self._gone)

    # -- building -------------------------------------------------------------

    def __missing__(self, key: Any) -> Any:
        row = self._stored_row(key)
        if row is None:
            raise KeyError(key)
        order = self._order
        # A pass in file order walks the hashes of hash_iterator(): only once that list
        # exists can (and need) a lookup be placed in file order.
        position = int(order.position[row]) if order.has_hashes else -1
        span = self._span
        if position == self._next_position and position >= 0:
            span = min(span * 2, READ_AHEAD_MAX)
            stop = min(position + span, self._index.num_cells)
            rows = order.rows[position:stop]
            keys = order.hashes_of(rows, position)
            self._next_position, self._next_row = stop, -1
        elif row == self._next_row:
            span = min(span * 2, READ_AHEAD_MAX)
            stop = min(row + span, self._index.num_cells)
            rows = np.arange(row, stop, dtype=np.int64)
            keys = order.hashes_of(rows)
            self._next_row, self._next_position = stop, -1
        else:
            span = 1
            rows = np.array([row], dtype=np.int64)
            keys = [key]
            self._next_position = position + 1 if position >= 0 else -1
            self._next_row = row + 1
        self._span = span
        # Building thousands of dicts at once would set off full garbage collections that
        # walk every entry built before (quadratic over a pass); none is needed here.
        enabled = gc.isenabled()
        gc.disable()
        try:
            entries = self._build_rows(self._index, rows, order)
        finally:
            if enabled:
                gc.enable()
        self.touched = True
        setdefault = dict.setdefault
        if self._gone:
            gone = self._gone
            for k, entry in zip(keys, entries):
                if k not in gone:
                    setdefault(self, k, entry)
        else:
            for k, entry in zip(keys, entries):
                setdefault(self, k, entry)
        return dict.__getitem__(self, key)

    def ensure_built_entry(self) -> None:
        """Hold at least one real entry whenever the mapping is not empty.

        ``json.dumps`` (its C encoder) answers ``{}`` for a dict whose own
        storage is empty without asking ``len`` or ``items``; with one entry
        built it goes through ``items()`` and sees every cell.
        """
        if dict.__len__(self) or self._all_gone or len(self) == 0:
            return
        self._ensure_on_delete = True
        if self._first_entry is not None and self._index.num_cells and self._index.hash_at(0) not in self._gone:
            # A cheap exact entry where the general build would need the whole file order.
            key = self._index.hash_at(0)
            dict.setdefault(self, key, self._first_entry(self._index, self._order))
            self._mark_prebuilt(key)
            return
        for row in range(self._index.num_cells):
            key = self._index.hash_at(row)
            if key not in self._gone:
                entry = self._build_rows(self._index, np.array([row], dtype=np.int64), self._order)[0]
                dict.setdefault(self, key, entry)
                self._mark_prebuilt(key)
                return

    def _mark_prebuilt(self, key: str) -> None:
        # The one entry built for json, not by the caller: query() keeps its fast path for
        # every other cell (this one it reads through the dict, edits included).
        if self.touched:
            return
        self.prebuilt = key

    def _stored_row(self, key: Any) -> int | None:
        """Row of a key that the dataset holds and that is still at its file position."""
        # str subclasses too (numpy.str_ from np.random.choice(hashes)): a dict finds them.
        if not isinstance(key, str) or self._all_gone or key in self._gone:
            return None
        return self._index.find(str(key))

    def _is_stored(self, key: Any) -> bool:
        return self._stored_row(key) is not None

    # -- the dict protocol ----------------------------------------------------

    def _iter_keys(self) -> Iterator[str]:
        if self._all_gone:
            return iter(list(self._extra))
        hashes = self._order.hashes
        if self._gone:
            gone = self._gone
            stored: Iterator[str] = (h for h in hashes if h not in gone)
        else:
            stored = iter(hashes)
        if self._extra:
            return itertools.chain(stored, list(self._extra))
        return stored

    def __iter__(self) -> Iterator[str]:
        self.ensure_built_entry()
        return self._iter_keys()

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._iter_keys()))

    def __len__(self) -> int:
        stored = 0 if self._all_gone else self._index.num_cells - len(self._gone)
        return stored + len(self._extra)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, key: Any) -> bool:
        return dict.__contains__(self, key) or self._is_stored(key)

    def keys(self) -> KeysView:
        self.ensure_built_entry()
        return _Keys(self)

    def values(self) -> ValuesView:
        self.ensure_built_entry()
        return _Values(self)

    def items(self) -> ItemsView:
        self.ensure_built_entry()
        return _Items(self)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        self.touched = True
        if dict.__contains__(self, key) or self._is_stored(key):
            dict.__setitem__(self, key, value)  # keeps its position, as in a dict
            return
        dict.__setitem__(self, key, value)
        self._extra[key] = None

    def __delitem__(self, key: Any) -> None:
        self.touched = True
        if key in self._extra:
            del self._extra[key]
            dict.__delitem__(self, key)
            return
        if not (dict.__contains__(self, key) or self._is_stored(key)):
            raise KeyError(key)
        dict.pop(self, key, None)
        self._gone.add(key)
        if self._ensure_on_delete:
            self.ensure_built_entry()

    _MISSING = object()

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default is LazyStatistics._MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[Any, Any]:
        if self._extra:
            key = next(reversed(self._extra))
        else:
            key = next(reversed(list(self._iter_keys())), LazyStatistics._MISSING)
            if key is LazyStatistics._MISSING:
                msg = "popitem(): dictionary is empty"
                raise KeyError(msg)
        return key, self.pop(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        if hasattr(other, "keys"):
            for key in other.keys():
                self[key] = other[key]
        else:
            for key, value in other:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def clear(self) -> None:
        self.touched = True
        dict.clear(self)
        self._extra.clear()
        self._gone.clear()
        self._all_gone = True

    @classmethod
    def fromkeys(cls, iterable: Any, value: Any = None) -> dict:  # type: ignore[override]
        """``dict.fromkeys``: a plain dict (the class method of the dict this stands for)."""
        return dict.fromkeys(iterable, value)

    def copy(self) -> dict:
        """A plain dict with the same entries (shallow, as ``dict.copy``); builds every entry."""
        return dict(self.items())

    def __copy__(self) -> dict:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> dict:
        return copy.deepcopy(self.copy(), memo)

    def __reduce__(self):
        # Pickles as the plain dict it stands for (all entries built).
        return (dict, (list(self.items()),))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyStatistics) and other is self:
            return True
        if not isinstance(other, dict):
            return NotImplemented
        if len(self) != len(other):
            return False
        return self.copy() == dict(other)

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]  # a dict is unhashable

    def __or__(self, other: Any) -> dict:
        if not isinstance(other, dict):
            return NotImplemented
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: Any) -> dict:
        if not isinstance(other, dict):
            return NotImplemented
        out = dict(other)
        out.update(self.items())
        return out

    def __ior__(self, other: Any) -> LazyStatistics:
        self.update(other)
        return self

    def __repr__(self) -> str:
        built = dict.__len__(self)
        return f"<{type(self).__name__}: {len(self)} cells, {built} built (a lazily filled dict)>"

    def __sizeof__(self) -> int:
        return dict.__sizeof__(self)

    # -- state for NASBench pickling -------------------------------------------

    def _state(self) -> tuple:
        """What was built or changed: the stored entries, gone hashes, extra keys."""
        return (dict(dict.items(self)), set(self._gone), self._all_gone, list(self._extra))

    def _restore(self, state: tuple) -> None:
        entries, gone, all_gone, extra = state
        self.touched = bool(entries or gone or all_gone or extra)
        dict.update(self, entries)
        self._gone = set(gone)
        self._all_gone = bool(all_gone)
        self._extra = dict.fromkeys(extra)

    def _built(self, key: Any) -> bool:
        """Whether a value for ``key`` is held in the dict itself (built, set or edited)."""
        return dict.__contains__(self, key)

    def _pristine(self) -> bool:
        """Nothing was built, set or deleted: every lookup would come from the index as stored."""
        return dict.__len__(self) == 0 and not self._gone and not self._all_gone and not self._extra


class FixedStatistics(LazyStatistics):
    """``hash -> {'module_adjacency', 'module_operations', 'trainable_parameters'}``.

    ``module_adjacency`` is a writable ``(V, V)`` int8 array, ``module_operations``
    a list of str, ``trainable_parameters`` an int, as the original loads them.
    """

    def __init__(self, order: CellOrder):
        super().__init__(order, lambda index, rows, _order: fixed_entries(index, rows))


class ComputedStatistics(LazyStatistics):
    """``hash -> {epochs: [one dict per repeat of the 8 halfway_/final_ metrics]}``.

    Budgets in the order the source file first lists them for the cell,
    repeats in file order, values in seconds and fractions 0-1.
    """

    def __init__(self, order: CellOrder):
        super().__init__(
            order, lambda index, rows, order: computed_entries(index, rows, order.run_order()), _first_computed_entry
        )


def _first_computed_entry(index: QueryIndex, order: CellOrder) -> dict:
    """The computed entry of cell row 0, its budgets in file order from its own runs' record indexes."""
    if order._single_budget or order._run_order_done:
        return computed_entries(index, np.array([0], dtype=np.int64), order.run_order())[0]
    count = int(index.run_start[1])
    record_index = index.leading_record_index(count)
    epochs = index.run_epochs[:count]
    first = {int(e): int(record_index[epochs == e].min()) for e in np.unique(epochs)}
    ranks = np.array([first[int(e)] for e in epochs.tolist()], dtype=np.int64)
    runs = np.lexsort((np.arange(count), ranks)).astype(np.int64)  # budget groups in file order, repeats kept
    return computed_entries(index, np.array([0], dtype=np.int64), None, runs=runs)[0]


def fixed_entries(index: QueryIndex, rows: np.ndarray) -> list[dict[str, Any]]:
    """Fixed-statistics entries of some cell rows, built with one numpy pass per vertex count."""
    k = rows.size
    num_vertices = index.cell_num_vertices[rows]
    adjacency = index.cell_adjacency[rows]  # fancy indexing: a writable copy
    ops = index.cell_ops[rows].astype(np.int64)
    params = index.cell_params[rows].tolist()
    # One integer per op sequence (codes < 256, at most 7 of them) to look its names up once.
    op_keys = (ops << (8 * np.arange(ops.shape[1], dtype=np.int64))).sum(axis=1).tolist()
    names_of: dict[int, tuple[str, ...]] = {}
    for key, code in zip(*np.unique(op_keys, return_index=True)):
        v = int(num_vertices[code])
        names_of[int(key)] = tuple(_op_name(c) for c in ops[code, :v].tolist())
    matrices: list[Any] = [None] * k
    for v in np.unique(num_vertices).tolist():
        sel = np.flatnonzero(num_vertices == v)
        # One contiguous (n, V, V) block per vertex count; each entry is a (V, V) view of it.
        block = np.ascontiguousarray(adjacency[sel, :v, :v])
        for i, matrix in zip(sel.tolist(), list(block)):
            matrices[i] = matrix
    return [
        {"module_adjacency": m, "module_operations": list(names_of[o]), "trainable_parameters": p}
        for m, o, p in zip(matrices, op_keys, params)
    ]


def _op_name(code: int) -> str:
    return _OP_NAMES[code] if code < len(_OP_NAMES) else f"<op code {code}>"


def computed_entries(
    index: QueryIndex, rows: np.ndarray, run_order: np.ndarray | None, *, runs: np.ndarray | None = None
) -> list[dict]:
    """Computed-statistics entries of some cell rows (runs read in one gather).

    ``runs``, if given, are the run rows to read for ``rows`` (cell after cell, in order).
    """
    starts = index.run_start[rows]
    counts = index.run_start[rows + 1] - starts
    total = int(counts.sum())
    if runs is None:
        # Run positions of all rows, cell after cell: a ragged arange.
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        runs = offsets + np.arange(total, dtype=np.int64)
        if run_order is not None:
            runs = run_order[runs]
    epochs = index.run_epochs[runs]
    made = list(map(_run_dict, index.run_metrics[runs].tolist()))
    # Groups of consecutive runs of one cell at one budget (the repeats of that budget).
    cell_start = np.zeros(total, dtype=bool)
    cell_start[(np.cumsum(counts) - counts)[counts > 0]] = True
    group_start = cell_start.copy()
    group_start[1:] |= epochs[1:] != epochs[:-1]
    bounds = np.flatnonzero(group_start)
    group_epochs = epochs[bounds].tolist()
    ends = np.append(bounds[1:], total).tolist()
    groups_per_cell = np.add.reduceat(group_start, np.flatnonzero(cell_start)) if total else np.zeros(0, np.int64)
    out = []
    g = 0
    bounds_list = bounds.tolist()
    for n in groups_per_cell.tolist():
        out.append({group_epochs[k]: made[bounds_list[k] : ends[k]] for k in range(g, g + n)})
        g += n
    if len(out) < rows.size:  # cells without runs (possible only in hand-made data)
        full = iter(out)
        out = [next(full) if c else {} for c in counts.tolist()]
    return out


_ATOMS = (int, float, str, bool, type(None), bytes, np.generic)


def copy_value(value: Any) -> Any:
    """``copy.deepcopy(value)`` of one statistics value, fast for arrays, lists of atoms and atoms."""
    kind = type(value)
    if kind in _ATOMS or isinstance(value, np.generic):
        return value
    if kind is np.ndarray and value.dtype.kind in "biuf":
        return value.copy()
    if kind is list and all(type(x) in _ATOMS for x in value):
        return list(value)
    return copy.deepcopy(value)


def copy_entry(entry: Any) -> Any:
    """``copy.deepcopy(entry)`` of a statistics entry, fast for the shapes the loader builds.

    The original's ``get_metrics_from_hash`` deep-copies both entries; the
    generic ``deepcopy`` costs tens of microseconds per entry. Entries of the
    shapes built here (dicts of arrays, lists of str and numbers; dicts of
    lists of dicts of floats) are copied directly with the same result;
    anything else (a user put other objects in, or one object twice) goes
    through ``copy.deepcopy``.
    """
    if type(entry) is not dict:
        return copy.deepcopy(entry)
    out = {}
    seen: set[int] = set()
    for key, value in entry.items():
        kind = type(value)
        if kind in _ATOMS or isinstance(value, np.generic):
            out[key] = value
            continue
        if id(value) in seen:
            return copy.deepcopy(entry)
        seen.add(id(value))
        if kind is np.ndarray and value.dtype.kind in "biuf":
            out[key] = value.copy()
        elif kind is list:
            if all(type(x) in _ATOMS for x in value):
                out[key] = list(value)
            elif all(type(x) is dict for x in value):
                copied = []
                for run in value:
                    if id(run) in seen or not all(type(x) in _ATOMS for x in run.values()):
                        return copy.deepcopy(entry)
                    seen.add(id(run))
                    copied.append(dict(run))
                out[key] = copied
            else:
                return copy.deepcopy(entry)
        else:
            return copy.deepcopy(entry)
    return out
