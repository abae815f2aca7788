"""Vectorised engine behind the bulk methods of :class:`nasbench_arrow.api.NASBench`.

The facade normalises arguments, owns the state (random generator, spec
cache, budget counters, ledger) and hands this module the memory-mapped
:class:`~nasbench_arrow.dataset.QueryIndex` plus explicit arguments:

- :func:`rows_of`: cell rows of many specs or hashes (canonical keys computed
  with numpy, the MD5 hash only where the key cannot decide);
- :func:`query_frame`: the rows of ``query_many`` as a ``pl.DataFrame``;
- :func:`summary_frame`: per-cell mean and standard deviation at one budget;
- :func:`random_rows`: distinct cell rows drawn uniformly.

Nothing here draws from the facade's generator except through the ``randint``
it is given, nor touches the budget counters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import layout
from .constants import AVAILABLE_OPS, MAX_VERTICES
from .errors import OutOfDomainError, SpecTypeError

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

    from .dataset import QueryIndex

__all__ = [
    "FINAL",
    "HALFWAY",
    "HASH_CACHE_MAX",
    "QUERY_METRICS",
    "QueryRows",
    "canonical_vertices",
    "query_frame",
    "random_rows",
    "rows_of",
    "summary_frame",
]

#: Metric keys of a query result, in the original's order.
QUERY_METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
# Column offsets of the halfway and final stage in index/run_metrics.npy.
HALFWAY = layout.INDEX_RUN_COLUMNS.index("halfway_training_time")
FINAL = layout.INDEX_RUN_COLUMNS.index("final_training_time")
# Bounded so a very long search cannot grow the cache without limit (about 250 B an entry).
HASH_CACHE_MAX = 1 << 20

# Interior op -> label of the canonical key (its index in AVAILABLE_OPS).
_LABEL_OF = {op: i for i, op in enumerate(AVAILABLE_OPS)}


def canonical_vertices(ops: tuple, max_vertices: int) -> int:
    """V when a spec with these ops passes ``NASBench._spec_error``'s vertex and op checks and
    the canonical key covers it (2 <= V <= max_vertices, input/output at the ends,
    interior ops of AVAILABLE_OPS); else 0."""
    v = len(ops)
    if not 2 <= v <= max_vertices:
        return 0
    try:
        if ops[0] != "input" or ops[-1] != "output" or not all(op in _LABEL_OF for op in ops[1:-1]):
            return 0
    except TypeError:  # unhashable or odd op objects: leave them to the hashing path
        return 0
    return v


def rows_of(
    index: QueryIndex,
    items: Any,
    config: Mapping[str, Any],
    current_cache: Callable[[], dict[tuple, Any]],
    lookup: Callable[[Any], Any],
) -> tuple[np.ndarray, np.ndarray, dict[int, str], list]:
    """Cell rows of the inputs of ``NASBench.query_many``.

    Parameters
    ----------
    index : QueryIndex
        The memory-mapped index of the dataset.
    items : iterable of ModelSpec or str, or a str Series/array
        The inputs, as given to ``query_many``.
    config : mapping
        The facade's ``config`` (ops and limits of the space).
    current_cache : callable
        Returns the facade's spec cache (``key -> [message, hash, row]``),
        emptied first when ``config`` changed; called once, after the inputs
        are known to be specs or hashes.
    lookup : callable
        The facade's ``_lookup_spec``: checks and hashes one spec, caching it.

    Returns
    -------
    tuple
        ``(rows, found, problems, hashes)``: the row of each input (0 where
        not found), whether it was found, the OutOfDomainError message of each
        invalid spec (or the SpecTypeError of an input that is neither spec nor hash) by position, and the module hash of each input that is
        not found ("" for an invalid spec), for the KeyError.

    Notes
    -----
    Specs not in the cache are checked here with the rules of
    ``NASBench._spec_error`` and matched by canonical key, vectorised per
    vertex count; whatever the key cannot decide goes through ``lookup``
    (checks and MD5 hash), so the outcome equals the hashing path's.
    """
    if isinstance(items, (str, bytes)) or hasattr(items, "valid_spec"):
        msg = f"query_many takes an iterable of specs or hashes, got a single {type(items).__name__}; wrap it in a list"
        raise TypeError(msg)
    if isinstance(items, np.ndarray) and items.dtype.kind in "SU":
        rows, found = index.find_many(items)
        return rows, found, {}, items
    if hasattr(items, "to_numpy") and str(getattr(items, "dtype", "")) in ("String", "str", "object"):
        items = items.to_list()
    if not isinstance(items, (list, tuple)):
        items = list(items)  # read twice below: once to sort, once for the fallback
    cache = current_cache()
    # The key encodes labels as indexes in AVAILABLE_OPS, as stored; another
    # op list hashes specs differently, so then every spec is hashed.
    canon = list(config["available_ops"]) == list(AVAILABLE_OPS)
    max_vertices = min(config["module_vertices"], MAX_VERTICES) if canon else -1
    n = len(items)
    hashes: list[str] = [""] * n
    problems: dict[int, str] = {}
    # ops tuple -> V when _spec_error's vertex and op checks pass, else 0
    ops_ok: dict[tuple, int] = {}
    # (shape, dtype) -> (positions, cache keys) of specs for the canonical key
    groups: dict[tuple, tuple[list[int], list[tuple]]] = {}
    ndarray = np.ndarray
    from .model_spec import ModelSpec

    def exact_spec(item: Any) -> bool:
        # Specs of another class are hashed by their own hash_spec (through lookup).
        return type(item) is ModelSpec

    for i, item in enumerate(items):
        if type(item) is str:
            hashes[i] = item
            continue
        matrix = getattr(item, "matrix", None)
        ops = getattr(item, "ops", None)
        if type(matrix) is ndarray and ops is not None and exact_spec(item) and getattr(item, "valid_spec", False) is True:
            dtype = matrix.dtype
            if dtype.kind in "biuf":
                ops_t = tuple(ops)
                key = (matrix.tobytes(), matrix.shape, dtype.char, ops_t)
                entry = cache.get(key)
                if entry is None:
                    v = ops_ok.get(ops_t)
                    if v is None:
                        v = ops_ok[ops_t] = canonical_vertices(ops_t, max_vertices)
                    if v:
                        group = groups.get((key[1], dtype))
                        if group is None:
                            group = groups[key[1], dtype] = ([], [])
                        group[0].append(i)
                        group[1].append(key)
                        continue
                    entry = lookup(item)
            else:
                entry = lookup(item)
        elif isinstance(item, str):
            hashes[i] = item
            continue
        else:
            try:
                entry = lookup(item)
            except SpecTypeError as exc:  # neither a spec nor a hash: that row's error
                problems[i] = exc
                continue
        if entry[0] is not None:
            problems[i] = entry[0]
        else:
            hashes[i] = entry[1]
    canon_pos: list[np.ndarray] = []
    canon_keys: list[np.ndarray] = []
    canon_cache_keys: list = []
    fallback: list[int] = []
    max_edges = config["max_edges"]
    for (shape, dtype), (positions, keys) in groups.items():
        pos = np.asarray(positions, dtype=np.int64)
        v = shape[0] if len(shape) == 2 and shape[0] == shape[1] else -1
        if not 2 <= v <= MAX_VERTICES:
            fallback.extend(positions)
            continue
        arr = np.frombuffer(b"".join([k[0] for k in keys]), dtype=dtype).reshape(len(keys), v, v)
        # Rows for the key: 0/1 entries (others hash by their values), at most
        # max_edges edges, and as many ops as vertices; the rest are hashed.
        ok = ((arr == 0) | (arr == 1)).all(axis=(1, 2)) & (arr.sum(axis=(1, 2)) <= max_edges)
        ok &= np.fromiter((ops_ok[k[3]] for k in keys), dtype=np.int64, count=len(keys)) == v
        if not ok.all():
            fallback.extend(pos[~ok].tolist())
        sel = np.flatnonzero(ok).tolist()
        if sel:
            labels = np.array([[_LABEL_OF[op] for op in keys[k][3][1:-1]] for k in sel], dtype=np.int64)
            canon_keys.append(layout.canonical_keys(arr[sel], labels.reshape(len(sel), v - 2), v))
            canon_pos.append(pos[sel])
            canon_cache_keys.extend([keys[k] for k in sel])
    rows_c = found_c = pos_c = None
    if canon_keys:
        pos_c = np.concatenate(canon_pos)
        rows_c, found_c, _shared = index.find_canonical(np.concatenate(canon_keys))
        # Missing or shared keys: the MD5 hash decides (see the docstring).
        fallback.extend(pos_c[~found_c].tolist())
        hit = np.flatnonzero(found_c)
        hit_rows = rows_c[hit]
        hit_hashes = index.cell_hash[hit_rows].astype("U32").tolist()
        if len(cache) + len(hit) >= HASH_CACHE_MAX:
            cache.clear()
        for k, h, r in zip(hit.tolist(), hit_hashes, hit_rows.tolist()):
            # A tuple: its row is known (never filled in later), and tuples of
            # atomic values leave the garbage collector's tracking, so a large
            # batch does not set off a full collection.
            cache[canon_cache_keys[k]] = (None, h, r)
    for i in sorted(fallback):
        message, module_hash, _ = lookup(items[i])
        if message is not None:
            problems[i] = message
        else:
            hashes[i] = module_hash
    rows = np.zeros(n, np.int64)
    found = np.zeros(n, bool)
    named = [i for i, h in enumerate(hashes) if h]
    if named:
        named_rows, named_found = index.find_many([hashes[i] for i in named])
        rows[named] = named_rows
        found[named] = named_found
    if rows_c is not None:
        rows[pos_c[found_c]] = rows_c[found_c]
        found[pos_c[found_c]] = True
    return rows, found, problems, hashes


class QueryRows(NamedTuple):
    """Result of :func:`query_frame`: the frame, and what the facade needs to charge the budget."""

    frame: pl.DataFrame
    #: Rows with a result (found, valid, with the chosen repeat in the data).
    result_ok: np.ndarray
    #: (n, 4) metrics of each row (means for ``repeat="mean"``), in QUERY_METRICS order.
    values: np.ndarray
    #: Repeat of each row; None for ``repeat="mean"``.
    repeats: np.ndarray | None


def query_frame(
    index: QueryIndex,
    lookup: tuple[np.ndarray, np.ndarray, dict[int, str], list],
    epochs: int,
    stop_halfway: bool,
    *,
    mean: bool,
    fixed_repeat: int | None,
    errors: str,
    config: Mapping[str, Any],
    randint: Callable[[int, int], int],
) -> QueryRows:
    """The rows of ``NASBench.query_many`` for already resolved inputs.

    Parameters
    ----------
    index : QueryIndex
    lookup : tuple
        ``(rows, found, problems, hashes)`` from :func:`rows_of`.
    epochs : int
        Budget, already checked against the dataset's.
    stop_halfway : bool
        Metrics at ``epochs / 2``.
    mean : bool
        Mean and ``*_std`` over the repeats instead of one repeat per row.
    fixed_repeat : int, optional
        The repeat of every row; None draws one per found row with ``randint``
        (unused when ``mean``).
    errors : {"raise", "null"}
        Raise on the first row without a result, or give it nulls.
    config : mapping
        The facade's ``config`` (``num_repeats``).
    randint : callable
        ``randint(0, num_repeats - 1)`` of the facade's generator, called once
        per found row in input order, as a loop of ``query`` calls would.

    Returns
    -------
    QueryRows

    Raises
    ------
    OutOfDomainError, KeyError, IndexError
        With ``errors="raise"``: an invalid spec, an unknown hash or budget,
        a repeat not in the data (the last after the draws, as ``query``).
    """
    import polars as pl

    rows, found, problems, hashes = lookup
    n = rows.size
    # Why each row has no result: an OutOfDomainError message, a KeyError argument.
    ok = found.copy()
    for i in problems:
        ok[i] = False
    if errors == "raise" and not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        if i in problems:
            problem = problems[i]
            if isinstance(problem, Exception):
                raise problem
            raise OutOfDomainError(problem)
        bad = hashes[i]
        raise KeyError(bad.decode("ascii", "replace") if isinstance(bad, bytes) else bad)

    first, count = index.budget_runs(rows, epochs)
    count = np.where(ok, count, 0)
    if errors == "raise":
        bad = ok & (count == 0)
        if bad.any():
            raise KeyError(epochs)

    offset = HALFWAY if stop_halfway else FINAL
    columns = slice(offset, offset + 4)
    num_repeats = config["num_repeats"]
    repeat_col: np.ndarray | None
    if mean:
        width = int(count.max()) if n else 0
        take = first[:, None] + np.arange(max(width, 1))[None, :]
        valid = np.arange(max(width, 1))[None, :] < count[:, None]
        take = np.where(valid, take, 0)
        values = index.run_metrics[take.reshape(-1), columns].reshape(n, -1, 4)
        weights = valid[:, :, None].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            denom = count[:, None].astype(np.float64)
            means = (values * weights).sum(axis=1) / denom
            stds = np.sqrt((((values - means[:, None, :]) * weights) ** 2).sum(axis=1) / denom)
        result_ok = ok & (count > 0)
        repeat_col = None
    else:
        if fixed_repeat is None:
            chosen = np.zeros(n, np.int64)
            # One draw per found cell, in input order: a loop of query() draws the same.
            for i in np.flatnonzero(ok).tolist():
                chosen[i] = randint(0, num_repeats - 1)
        else:
            chosen = np.full(n, fixed_repeat, np.int64)
        short = ok & (chosen >= count)
        if errors == "raise" and short.any():
            i = int(np.flatnonzero(short)[0])
            msg = f"repeat {int(chosen[i])} is not in the data: cell {index.hash_at(int(rows[i]))} has {int(count[i])} repeats at {epochs} epochs"
            raise IndexError(msg)
        result_ok = ok & ~short
        means = index.run_metrics[np.where(result_ok, first + chosen, 0), columns]
        stds = None
        repeat_col = chosen

    params = index.cell_params[rows].astype(np.int64)
    frame: dict[str, Any] = {
        "module_hash": pl.Series(index.cell_hash[rows], dtype=pl.Binary).cast(pl.String),
        # The stored types, as in runs(): epochs i16, repeat i8 (joins on these keys then match).
        "epochs": np.full(n, int(epochs), np.int16),
        "repeat": repeat_col.astype(np.int8) if repeat_col is not None else pl.Series([None] * n, dtype=pl.Int8),
        "trainable_parameters": params,
    }
    if mean:
        frame["num_repeats"] = count
    for j, name in enumerate(QUERY_METRICS):
        frame[name] = np.ascontiguousarray(means[:, j], dtype=np.float64)
    if stds is not None:
        for j, name in enumerate(QUERY_METRICS):
            frame[f"{name}_std"] = np.ascontiguousarray(stds[:, j], dtype=np.float64)
    df = pl.DataFrame(frame)
    if not result_ok.all():
        # Rows without a result get nulls; a known cell keeps its hash and size.
        keep_cell = pl.lit(pl.Series(ok))
        keep_run = pl.lit(pl.Series(result_ok))
        cell_cols = ("module_hash", "trainable_parameters")
        df = df.with_columns(
            [pl.when(keep_cell).then(pl.col(c)).alias(c) for c in cell_cols]
            + [pl.when(keep_run).then(pl.col(c)).alias(c) for c in df.columns if c not in (*cell_cols, "epochs")]
        )
    return QueryRows(df, result_ok, means, repeat_col)


def summary_frame(index: QueryIndex, epochs: int, stop_halfway: bool) -> pl.DataFrame:
    """The frame of ``NASBench.summary`` (``epochs`` already checked), from the index with numpy."""
    import polars as pl

    positions = np.flatnonzero(index.run_epochs == int(epochs))
    cell_of = np.searchsorted(index.run_start, positions, side="right") - 1
    count = np.bincount(cell_of, minlength=index.num_cells)
    offset = HALFWAY if stop_halfway else FINAL
    values = index.run_metrics[positions, offset : offset + 4]
    has = count > 0
    denom = np.where(has, count, 1).astype(np.float64)
    frame: dict[str, Any] = {
        "module_hash": pl.Series("module_hash", index.cell_hash, dtype=pl.Binary).cast(pl.String),
        "num_vertices": pl.Series("num_vertices", index.cell_num_vertices),
        "num_edges": pl.Series("num_edges", index.cell_adjacency.sum(axis=(1, 2), dtype=np.int8)),
        "trainable_parameters": pl.Series("trainable_parameters", index.cell_params.astype(np.int64)),
        "num_repeats": pl.Series("num_repeats", count.astype(np.int64)),
    }
    stds = {}
    for j, name in enumerate(QUERY_METRICS):
        mu = np.bincount(cell_of, weights=values[:, j], minlength=index.num_cells) / denom
        dev = values[:, j] - mu[cell_of]
        stds[name] = np.sqrt(np.bincount(cell_of, weights=dev * dev, minlength=index.num_cells) / denom)
        frame[name] = pl.Series(name, mu)
    for name in QUERY_METRICS:
        frame[f"{name}_std"] = pl.Series(f"{name}_std", stds[name])
    df = pl.DataFrame(frame)
    return df if has.all() else df.filter(pl.Series(has))


def random_rows(index: QueryIndex, n: int, seed: int | None) -> np.ndarray:
    """``n`` distinct cell rows drawn uniformly with ``numpy.random.default_rng(seed)``."""
    total = index.num_cells
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= total:
        msg = f"n must be an int in 0..{total} (the number of cells), got {n!r}"
        raise ValueError(msg)
    return np.random.default_rng(seed).choice(total, size=int(n), replace=False).astype(np.int64)
