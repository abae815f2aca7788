"""A drop-in for the original ``nasbench.api``, over a converted dataset.

Code written for the original runs unchanged after swapping the import::

    from nasbench_arrow import api            # was: from nasbench import api

    nasbench = api.NASBench("nasbench_full.tfrecord")   # or a converted directory
    spec = api.ModelSpec(
        matrix=[[0, 1, 1, 1, 0, 1, 0],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 0]],
        ops=[api.INPUT, api.CONV1X1, api.CONV3X3, api.CONV3X3, api.CONV3X3, api.MAXPOOL3X3, api.OUTPUT])
    data = nasbench.query(spec)      # same keys, value types, errors and messages

What is the same as the original
--------------------------------
Method names, signatures, return shapes and types, ``OutOfDomainError`` with
the original messages, budget counters, ``config``, ``valid_epochs``, and:

- Random repeats. Like the original, ``NASBench(path, seed)`` calls
  ``random.seed(seed)`` on Python's *global* ``random`` and ``query`` draws
  ``random.randint(0, num_repeats - 1)`` from it, so ``random.seed(s)``
  after construction reproduces a run, and code that mixes its own
  ``random`` calls with queries gets the original's sequence.
  **For new code**, pass ``rng="private"`` (the object's own
  ``random.Random(seed)``, leaving the caller's random state alone) or ask
  for a repeat explicitly with ``query(spec, repeat=k)``.
- ``fixed_statistics`` and ``computed_statistics`` are dicts: the same entry
  object on every access, in-place edits and new keys persist for the life of
  the object and ``query`` / ``get_metrics_*`` see them; ``len``, ``in``,
  iteration in file order, ``keys()``/``items()``. Entries are built from the
  memory-mapped index the first time they are looked up, not at load time.
- ``hash_iterator()`` yields hashes in source-file order.

What differs, and why
---------------------
- Too many vertices. The original's check for more than 7 vertices references
  ``config['module_vertices']`` on the ``config`` *module* and raises
  ``TypeError``; here it raises the intended
  ``OutOfDomainError('too many vertices, got 8 (max vertices = 7)')``.
- A 0/1 matrix given as floats finds its cell (the original's hash of float
  degree sums differs, so it raises ``KeyError``); specs of another class are
  hashed by their own ``hash_spec``, as the original does.
- A matrix with an ``inf`` entry is ``OutOfDomainError('too many edges, got
  inf ...')`` where the original fails with ``OverflowError``.
- A query given something that is not a spec raises
  :class:`~nasbench_arrow.errors.SpecTypeError` (a ``TypeError`` and, as the
  original's error was, an ``AttributeError``).
- Fewer repeats. On a dataset with fewer than ``num_repeats`` repeats of a
  cell (regenerated data converted with ``--allow-incomplete``), ``query``
  draws among the repeats present instead of raising ``IndexError`` as the
  original's list lookup would; with complete data the draws are identical.
- Bulk methods (``query_many``, ``summary``, ``cells()``, ``runs()``) read the
  dataset as stored: edits of the statistics dicts are seen by the drop-in
  methods only.
- The statistics dicts print as a one-line summary (not 423,624 entries).

Beyond the original: ``query(..., repeat=k)``, :meth:`NASBench.query_many`,
:meth:`NASBench.summary`, :meth:`NASBench.top_k`, :meth:`NASBench.random_specs`,
:meth:`NASBench.cells` / :meth:`NASBench.runs` (Polars lazy frames).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _bulk, layout
from . import dataset as _dataset
from ._statistics import CellOrder, ComputedStatistics, FixedStatistics, copy_entry, copy_value
from .constants import (
    AVAILABLE_OPS,
    MAX_VERTICES,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAXPOOL3X3,
    OUTPUT,
    default_config,
)
from .errors import OutOfDomainError, SpecTypeError, import_optional
from .ledger import QueryLedger
from .model_spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

__all__ = [
    "AVAILABLE_OPS",
    "CONV1X1",
    "CONV3X3",
    "INPUT",
    "MAXPOOL3X3",
    "OUTPUT",
    "ModelSpec",
    "NASBench",
    "OutOfDomainError",
]

# Row of a cached spec not looked up in the index yet.
_UNSEEN = object()

# Rebuilt from the dataset path when unpickling (see NASBench.__getstate__).
_UNPICKLED = (
    "_dataset",
    "_index",
    "_order",
    "_cells",
    "fixed_statistics",
    "computed_statistics",
    "_fixed",
    "_computed",
)
# What the original's query calls on self (a subclass may override them).
_QUERY_HOOKS = ("get_metrics_from_spec", "get_metrics_from_hash", "_check_spec", "_hash_spec")
# Cells whose run values query() keeps (about 1 kB each with 12 runs).
_CELL_CACHE_MAX = 1 << 16
# Interior op -> label of the canonical key (its index in AVAILABLE_OPS).
_LABEL_OF = {op: i for i, op in enumerate(AVAILABLE_OPS)}
# Interior ops tuple -> its labeling as a base-3 number (see layout.canonical_key); filled on use.
_LABELINGS: dict[tuple, int] = {}

RngOption = Literal["private", "global"] | random.Random


class NASBench:
    """User-facing API for the NAS-Bench-101 dataset (drop-in for ``nasbench.api.NASBench``).

    Parameters
    ----------
    dataset_file : path
        A dataset directory written by ``nasbench-convert``, or an official
        ``.tfrecord`` (``nasbench_full.tfrecord`` / ``nasbench_only108.tfrecord``
        or one in the same format): it is converted once, into
        ``<file>.nasbench-arrow/`` beside it when that directory is writable,
        else into ``$NASBENCH_ARROW_CACHE`` or ``~/.cache/nasbench-arrow/``, and
        the conversion is reused by later opens.
    seed : int, optional
        Seed of the random choice of repeat in :meth:`query`. As in the
        original, ``random.seed(seed)`` is called on Python's global
        ``random`` (with None: seeded from the operating system).
    rng : {"global", "private"} or random.Random, default "global"
        Where :meth:`query` draws repeats from. ``"global"`` (the original's
        behaviour, the default so that client code reproduces): reseed the
        global ``random`` module now and draw from it, so ``random.seed(s)``
        after construction makes a run reproducible and every ``NASBench``
        shares one stream. ``"private"`` (recommended for new code): its own
        ``random.Random(seed)``, leaving the caller's global random state
        alone. A ``random.Random`` instance: draws from it (then ``seed``
        must be None). ``query(spec, repeat=k)`` draws nothing at all.
    cache_dir : path, optional
        Base directory for the conversion of a ``.tfrecord``.
    ledger : bool or QueryLedger, default False
        Not in the original: record every successful :meth:`query` (hash,
        budget, repeat, metrics, counters) in ``self.ledger``, a new
        :class:`~nasbench_arrow.ledger.QueryLedger` (True) or the one given
        (shared between objects).
    verify : {"index", "deep", "none"} or bool, default "index"
        Not in the original: how much of the dataset's content to check.
        The manifest, file sizes and headers are always checked (missing,
        truncated and replaced files). ``"index"``: also the CRC32C of every
        query index file against the manifest when opening (about 30 ms for
        the full dataset's 380 MB with a warm page cache), and of a table's
        Parquet files when its first lazy frame is made (:meth:`cells`,
        :meth:`runs`), so a byte altered in place is a
        ``DatasetCorruptError``, never a wrong number. ``"deep"`` or True:
        before opening, everything ``nasbench-verify --deep`` checks (SHA-256
        of every file, the data invariants, the query index against the
        tables; about 7 s for the full dataset). ``"none"`` or False: no
        content check, for a copy verified by other means.

    Raises
    ------
    DatasetNotFoundError, DatasetFormatError, DatasetCorruptError
        The dataset is missing, not a dataset / of an unknown version, or
        damaged (the message names the file; with ``verify="deep"``: every
        problem found, listed).
    ValueError
        ``verify`` is not one of the accepted values.

    Attributes
    ----------
    config : dict
        The original's default configuration (``constants.default_config()``).
    valid_epochs : set of int
        Budgets present in the dataset: ``{4, 12, 36, 108}`` or ``{108}``.
    training_time_spent : float
        Seconds of training that the queries so far would have cost.
    total_epochs_spent : int
        Epochs that the queries so far would have trained.
    history : dict
        Unused, kept because the original has it.

    Examples
    --------
    >>> nb = NASBench("nasbench_full/", seed=0)             # doctest: +SKIP
    >>> nb.query(spec)["validation_accuracy"]               # doctest: +SKIP
    0.9376001358032227
    """

    def __init__(
        self,
        dataset_file: str | os.PathLike,
        seed: int | None = None,
        *,
        rng: RngOption = "global",
        cache_dir: str | os.PathLike | None = None,
        ledger: bool | QueryLedger = False,
        verify: bool | str = "index",
    ):
        self.config = default_config()
        if ledger is True:
            ledger = QueryLedger()
        elif ledger is False or ledger is None:
            ledger = None
        elif not isinstance(ledger, QueryLedger):
            msg = f"ledger must be a bool or a nasbench_arrow.ledger.QueryLedger, got {ledger!r}"
            raise TypeError(msg)
        #: The :class:`~nasbench_arrow.ledger.QueryLedger` recording each successful query, or None.
        self.ledger: QueryLedger | None = ledger
        if isinstance(rng, random.Random):
            if seed is not None:
                msg = f"pass either seed={seed!r} or an rng instance, not both; seed the instance yourself"
                raise ValueError(msg)
            self._rng = rng
        elif rng == "global":
            # As the original's first step: reseeds even with seed=None.
            random.seed(seed)
            self._rng = random._inst  # the generator behind the module-level functions
        elif rng == "private":
            self._rng = random.Random(seed)
        else:
            msg = f"rng must be 'global', 'private' or a random.Random instance, got {rng!r}"
            raise ValueError(msg)
        self._rng_mode = rng if isinstance(rng, str) else "instance"

        self._dataset = _dataset.open_dataset(dataset_file, cache_dir=cache_dir, verify=verify)
        self._absolute_root = os.path.abspath(self._dataset.root)
        self._index = self._dataset.index
        # A set filled in the order the file first lists each budget, as the original's:
        # the iteration (and printing) order of a set of these four ints follows it.
        self.valid_epochs = set()
        for e in _file_order_epochs(self._dataset):
            self.valid_epochs.add(e)
        self._source_order: tuple[np.ndarray, list[int]] | None = None
        self._make_statistics()

        self.history: dict = {}
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

        # spec key -> [error message or None, module hash, row (None: not held; _UNSEEN: not
        # looked up yet)]; see _lookup_spec.
        self._spec_cache: dict[tuple, list] = {}
        self._cache_config: tuple | None = None
        self._canonical_ok = False
        self._repeats_at_open = self.config["num_repeats"]

    def _make_statistics(self, *, ensure: bool = True) -> None:
        self._order = CellOrder(self._index, self._source_order_cached, single_budget=len(self._dataset.epochs) == 1)
        # row -> what query() needs of a cell, see _cell_info.
        self._cells: dict[int, tuple] = {}
        #: hash -> fixed statistics: a dict, built lazily (see nasbench_arrow._statistics).
        self.fixed_statistics: dict[str, dict[str, Any]] = FixedStatistics(self._order)
        #: hash -> epochs -> list of per-repeat metric dicts: a dict, built lazily.
        self.computed_statistics: dict[str, dict[int, list[dict[str, float]]]] = ComputedStatistics(self._order)
        # The objects made here; a client may assign its own dicts to the attributes.
        self._fixed = self.fixed_statistics
        self._computed = self.computed_statistics
        if ensure:
            self._ensure_entries()

    def _ensure_entries(self) -> None:
        # One real entry each, so that json.dumps (which looks at a dict's own storage first)
        # sees the cells (the computed one reads its own runs' file order: milliseconds).
        self._fixed.ensure_built_entry()
        self._computed.ensure_built_entry()

    # ------------------------------------------------------------------ drop-in

    def query(
        self,
        model_spec: ModelSpec,
        epochs: int = 108,
        stop_halfway: bool = False,
        repeat: int | None = None,
    ) -> dict[str, Any]:
        """Fetch one of the evaluations of this model spec.

        Each call samples one of ``config['num_repeats']`` repeats, so repeated
        queries of the same (or an isomorphic) model may return the same
        metrics. Increments the budget counters (``training_time_spent``, and
        ``total_epochs_spent`` by ``epochs``, or ``epochs // 2`` when halfway).

        Parameters
        ----------
        model_spec : ModelSpec
            The cell; pruned, then looked up by its isomorphism-invariant hash.
        epochs : int, default 108
            Budget; one of ``valid_epochs``.
        stop_halfway : bool, default False
            Return the evaluation at ``epochs / 2`` instead of the final one.
        repeat : int, optional
            Not in the original: return this repeat (0-based) instead of a
            random one; nothing is drawn from the random generator.

        Returns
        -------
        dict
            ``module_adjacency`` (np.int8 array as stored), ``module_operations``
            (list of str), ``trainable_parameters`` (int), ``training_time``
            (seconds), ``train_accuracy``, ``validation_accuracy``,
            ``test_accuracy`` (fractions 0-1), all fresh objects.

        Raises
        ------
        OutOfDomainError
            ``epochs`` not in the data, or the spec is outside the search space.
        KeyError
            A valid spec whose hash the dataset does not hold (as the original).
        """
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(self._epochs_message())
        if self._hooks_changed():
            return self._query_through_hooks(model_spec, epochs, stop_halfway, repeat)
        # The spec cache's hot path inline (see _lookup_spec for the rest).
        matrix = getattr(model_spec, "matrix", None)
        entry = None
        if type(model_spec) is ModelSpec and type(matrix) is np.ndarray and matrix.dtype.kind in "biuf":
            config = self.config
            if (config["module_vertices"], config["max_edges"], config["available_ops"]) == self._cache_config:
                entry = self._spec_cache.get((matrix.tobytes(), matrix.shape, matrix.dtype.char, tuple(model_spec.ops)))
        if entry is not None and entry[0] is None and entry[2] is not _UNSEEN:
            module_hash, row = entry[1], entry[2]
        else:
            row, module_hash = self._row_of_spec(model_spec)
        fixed, computed = self.fixed_statistics, self.computed_statistics
        # Each half of the result comes from the index as stored unless the caller built,
        # edited, deleted or replaced that dict's entries (then from the dict, as the original).
        fixed_dict = row is None or fixed is not self._fixed or (
            (fixed.touched or module_hash == fixed.prebuilt) and (fixed.deleted or fixed._built(module_hash))
        )
        computed_dict = row is None or computed is not self._computed or (
            (computed.touched or module_hash == computed.prebuilt) and (computed.deleted or computed._built(module_hash))
        )
        if fixed_dict:
            fixed_stat = fixed[module_hash]  # KeyError(hash), as the original
        if computed_dict:
            computed_stat = computed[module_hash]
        if not (fixed_dict and computed_dict):
            info = self._cells.get(row)
            if info is None:
                info = self._cell_info(row)
        prefix = "halfway_" if stop_halfway else "final_"
        if computed_dict:
            if repeat is None:
                # Fewer repeats are drawn among only where the data *as stored* has them:
                # a list the caller shortened (or a cell the caller added) draws as the original.
                present = None
                if row is not None:
                    stored = self._cells.get(row) or self._cell_info(row)
                    runs = stored[4].get(epochs)
                    try:
                        if runs is not None and len(computed_stat[epochs]) == len(runs):
                            present = len(runs)
                    except (KeyError, TypeError, IndexError):
                        present = None
                sampled = self._draw(present)
            else:
                sampled = self._check_repeat(repeat)
            run = computed_stat[epochs][sampled]  # KeyError / IndexError, as the original
            metrics = [run[prefix + name] for name in _bulk.QUERY_METRICS]
        else:
            runs = info[4].get(epochs)
            present = 0 if runs is None else len(runs)
            sampled = self._draw(present) if repeat is None else self._check_repeat(repeat)
            if runs is None:
                raise KeyError(epochs)
            if sampled >= present:
                msg = f"repeat {sampled} is not in the data: cell {module_hash} has {present} repeats at {epochs} epochs"
                raise IndexError(msg)
            offset = _bulk.HALFWAY if stop_halfway else _bulk.FINAL
            metrics = runs[sampled][offset : offset + 4]
        if fixed_dict:
            data = {
                "module_adjacency": copy_value(fixed_stat["module_adjacency"]),
                "module_operations": copy_value(fixed_stat["module_operations"]),
                "trainable_parameters": copy_value(fixed_stat["trainable_parameters"]),
            }
        else:
            data = {"module_adjacency": info[1].copy(), "module_operations": list(info[2]), "trainable_parameters": info[3]}
        data["training_time"], data["train_accuracy"], data["validation_accuracy"], data["test_accuracy"] = metrics
        self._count(data["training_time"], epochs, stop_halfway, module_hash, sampled, repeat is None, data)
        return data

    def _hooks_changed(self) -> bool:
        """Whether a hook the original's query calls is overridden (subclass, class or instance patch)."""
        cls = type(self)
        if (cls.get_metrics_from_spec, cls.get_metrics_from_hash, cls._check_spec, cls._hash_spec) != _ORIGINAL_HOOKS:
            return True
        d = self.__dict__
        return "get_metrics_from_spec" in d or "get_metrics_from_hash" in d or "_check_spec" in d or "_hash_spec" in d

    def _query_through_hooks(self, model_spec, epochs: int, stop_halfway: bool, repeat) -> dict[str, Any]:
        """``query`` step by step as the original's, for a subclass that overrides its hooks.

        The original's ``query`` calls ``self.get_metrics_from_spec`` (which
        calls ``self._check_spec`` and ``self._hash_spec``); a client subclass
        overriding one of them (logging, a cache, another hash) gets them
        called here exactly as there.
        """
        fixed_stat, computed_stat = self.get_metrics_from_spec(model_spec)
        sampled = self._draw(None) if repeat is None else self._check_repeat(repeat)
        run = computed_stat[epochs][sampled]
        prefix = "halfway_" if stop_halfway else "final_"
        data = {
            "module_adjacency": fixed_stat["module_adjacency"],
            "module_operations": fixed_stat["module_operations"],
            "trainable_parameters": fixed_stat["trainable_parameters"],
        }
        for name in _bulk.QUERY_METRICS:
            data[name] = run[prefix + name]
        module_hash = self._lookup_spec(model_spec)[1] if self.ledger is not None else None
        self._count(data["training_time"], epochs, stop_halfway, module_hash, sampled, repeat is None, data)
        return data

    def _draw(self, present: int | None) -> int:
        """The repeat a query draws: ``randint(0, num_repeats - 1)``, as the original.

        Only when the stored data has fewer repeats of the cell at this budget
        (``present``, but some) than ``num_repeats``, and ``config['num_repeats']``
        is still the value it had at open, is the draw ``randint(0, present - 1)``,
        among those present (a documented difference: the original would raise
        ``IndexError`` for draws past the end).
        """
        num_repeats = self.config["num_repeats"]
        if present and present < num_repeats and num_repeats == self._repeats_at_open:
            return self._randint(0, present - 1)
        return self._randint(0, num_repeats - 1)

    def _randint(self, a: int, b: int) -> int:
        # The original calls the module attribute random.randint at each query, so a
        # client's random.seed / mock.patch("random.randint") reaches the draws.
        if self._rng_mode == "global":
            return random.randint(a, b)
        return self._rng.randint(a, b)

    def _count(self, training_time, epochs, stop_halfway, module_hash, sampled, drawn, data) -> None:
        """Budget counters (and ledger) of one successful query."""
        self.training_time_spent += training_time
        if stop_halfway:
            self.total_epochs_spent += epochs // 2
        else:
            self.total_epochs_spent += epochs
        if self.ledger is not None:
            self.ledger.record(
                module_hash,
                epochs,
                stop_halfway,
                sampled,
                drawn,
                data["training_time"],
                data["validation_accuracy"],
                data["test_accuracy"],
                self.training_time_spent,
                self.total_epochs_spent,
            )

    def _cell_info(self, row: int) -> tuple:
        """``(hash, matrix, ops, params, {epochs: [run values per repeat]})`` of a cell row, cached.

        The run values (``layout.INDEX_RUN_COLUMNS``) of the cell are read in
        one ``pread``, so a repeated query of a cell touches no file at all.
        """
        index = self._index
        matrix, ops, params = index.cell(row)
        start, stop = index.runs_of(row)
        budgets: dict[int, list[tuple[float, ...]]] = {}
        for e, values in zip(index.run_budgets(start, stop), index.run_block(start, stop)):
            runs = budgets.get(e)
            if runs is None:
                budgets[e] = [values]
            else:
                runs.append(values)
        info = (index.hash_at(row), matrix, tuple(ops), params, budgets)
        if len(self._cells) >= _CELL_CACHE_MAX:
            self._cells.clear()
        self._cells[row] = info
        return info

    def is_valid(self, model_spec: ModelSpec) -> bool:
        """Whether the spec is inside the search space (does not touch the budget counters).

        Like the original, this checks the space (connectivity, at most 7
        vertices and 9 edges, input/output/available ops), not whether the
        dataset holds the cell.
        """
        try:
            self._check_spec(model_spec)
        except OutOfDomainError:
            return False
        return True

    def get_budget_counters(self) -> tuple[float, int]:
        """Return ``(training_time_spent, total_epochs_spent)``: seconds and epochs."""
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self) -> None:
        """Reset the time and epoch budget counters to zero."""
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def evaluate(self, model_spec: ModelSpec, model_dir: str | os.PathLike) -> dict[str, Any]:
        """Train and evaluate a spec from scratch (does not query the dataset).

        Delegates to :mod:`nasbench_arrow.train` (the ``train`` extra,
        TensorFlow), which runs the dataset's recipe for
        ``config['train_epochs']`` epochs on CIFAR-10 read from
        ``config['cifar10_path']`` or ``$NASBENCH_CIFAR10`` (the official
        ``cifar-10-python.tar.gz`` or its extracted directory). Like the
        original, writes ``metadata.json`` (the run's metrics) into
        ``model_dir``; budget counters are not touched.

        Returns
        -------
        dict
            Same keys as :meth:`query`, from the final evaluation.

        Raises
        ------
        MissingDependencyError
            TensorFlow is not installed: ``pip install 'nasbench-arrow[train]'``.
        ValueError
            No CIFAR-10 location is configured.
        """
        feature = "NASBench.evaluate (training a cell from scratch)"
        train = import_optional("nasbench_arrow.train", "train", feature)
        data_path = self.config.get("cifar10_path") or os.environ.get("NASBENCH_CIFAR10")
        if not data_path:
            msg = (
                "NASBench.evaluate needs CIFAR-10: set nb.config['cifar10_path'] or $NASBENCH_CIFAR10 "
                "to cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted directory"
            )
            raise ValueError(msg)
        # The data first: a wrong path is reported before the trainer (TensorFlow) is imported.
        data = train.load_cifar10(data_path)
        metrics = train.train_and_evaluate(model_spec, data, epochs=self.config["train_epochs"])
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        metadata = dataclasses.asdict(metrics) if dataclasses.is_dataclass(metrics) else metrics
        (model_dir / "metadata.json").write_text(json.dumps(metadata, default=_json_default), encoding="utf-8")
        return train.query_dict(model_spec, metrics)

    def hash_iterator(self):
        """Return ``fixed_statistics.keys()``: all unique module hashes, in source-file order, as the original.

        The first call reads the file order once (the runs table's
        ``record_index`` column, about 0.5 s for the full dataset); later calls
        and passes iterate a list of the hashes.
        """
        keys = self.fixed_statistics.keys()
        if self.computed_statistics is self._computed:
            self._computed.ensure_built_entry()
        return keys

    def get_metrics_from_hash(self, module_hash: str) -> tuple[dict, dict]:
        """Return ``(fixed_stats, computed_stats)`` of a hash: deep copies, no budget counted.

        Copies of ``fixed_statistics[module_hash]`` and
        ``computed_statistics[module_hash]`` (edits included), as the original.

        ``fixed_stats``: ``module_adjacency``, ``module_operations``,
        ``trainable_parameters``. ``computed_stats``: ``{epochs: [per-repeat
        dict of halfway_/final_ training_time, train_accuracy,
        validation_accuracy, test_accuracy]}``.

        Raises
        ------
        KeyError
            The dataset does not hold this hash.
        """
        return copy_entry(self.fixed_statistics[module_hash]), copy_entry(self.computed_statistics[module_hash])

    def get_metrics_from_spec(self, model_spec: ModelSpec) -> tuple[dict, dict]:
        """Return ``(fixed_stats, computed_stats)`` of a spec (see :meth:`get_metrics_from_hash`).

        Raises
        ------
        OutOfDomainError
            The spec is outside the search space.
        KeyError
            A valid spec the dataset does not hold.
        """
        # Step by step as the original, so a subclass's hooks are called as there.
        self._check_spec(model_spec)
        module_hash = self._hash_spec(model_spec)
        return self.get_metrics_from_hash(module_hash)

    def _check_spec(self, model_spec: ModelSpec) -> None:
        """Raise OutOfDomainError with the original's message when the spec is outside the space."""
        message = self._spec_error(model_spec)
        if message is not None:
            raise OutOfDomainError(message)

    def _hash_spec(self, model_spec: ModelSpec) -> str:
        """The spec's module hash (cached per spec contents); no check, as the original's.

        Callers check first (:meth:`_check_spec`); a spec outside the space only
        gets here when a subclass relaxed that check, and is hashed as the
        original would (``model_spec.hash_spec``).
        """
        message, module_hash, _ = self._lookup_spec(model_spec)
        if message is not None:
            return model_spec.hash_spec(self.config["available_ops"])
        return module_hash

    # ------------------------------------------------------------ spec lookup

    def _spec_error(self, model_spec: ModelSpec) -> str | None:
        """The original ``_check_spec`` as a message (None when the spec is valid)."""
        if not _valid_flag(model_spec):
            return "invalid spec, provided graph is disconnected."
        ops = model_spec.ops
        num_vertices = len(ops)
        matrix = model_spec.matrix
        if isinstance(matrix, np.ndarray) and matrix.dtype.kind in "biuf":
            # The value np.sum gives (a sum of entries, not a count of edges), without its overhead.
            num_edges = sum(matrix.ravel().tolist())
        else:
            num_edges = np.sum(matrix)
        config = self.config
        if num_vertices > config["module_vertices"]:
            # The original formats config['module_vertices'] of the config *module* here
            # and dies with TypeError; this is the message it meant to give.
            # %d (not an f-string) as the original: it also formats a float sum.
            return "too many vertices, got %d (max vertices = %d)" % (  # noqa: UP031
                num_vertices,
                config["module_vertices"],
            )
        if num_edges > config["max_edges"]:
            if num_edges == float("inf"):  # '%d' of inf raises OverflowError in the original
                return f"too many edges, got inf (max edges = {config['max_edges']})"
            return "too many edges, got %d (max edges = %d)" % (num_edges, config["max_edges"])  # noqa: UP031
        if ops[0] != "input":
            return "first operation should be 'input'"
        if ops[-1] != "output":
            return "last operation should be 'output'"
        for op in ops[1:-1]:
            if op not in config["available_ops"]:
                return f"unsupported op {op} (available ops = {config['available_ops']})"
        return None

    def _lookup_spec(self, model_spec: ModelSpec) -> list:
        """``[error message, hash, row]`` of a spec; each distinct spec is checked and resolved once.

        ``row`` is ``_UNSEEN`` until :meth:`_row_of_spec` looks the hash up.

        The cache key is the pruned matrix (bytes, shape, dtype) and ops, so
        equal specs built separately share an entry; a change of ``config``
        (ops, limits) empties the cache. A spec not seen before is matched to
        its stored cell by its exact canonical isomorphism key (a few
        microseconds, :func:`nasbench_arrow.layout.canonical_key`); the MD5
        hash is only computed where the key cannot decide (no stored cell has
        it, entries other than 0/1, another ``available_ops``), so the result
        equals hashing.
        """
        if not _valid_flag(model_spec):
            return ["invalid spec, provided graph is disconnected.", None, None]
        cache = self._current_cache()
        matrix = model_spec.matrix
        if type(matrix) is not np.ndarray:
            matrix = np.asarray(matrix)
        key = None
        if matrix.dtype.kind in "biuf":  # object matrices: their bytes are pointers, never cached
            try:
                key = (matrix.tobytes(), matrix.shape, matrix.dtype.char, tuple(model_spec.ops))
                if type(model_spec) is not ModelSpec:  # hashed by its own class: never shared
                    key = (*key, type(model_spec))
                hit = cache.get(key)
            except TypeError:  # unhashable ops
                key = hit = None
            if hit is not None:
                return hit
        message = self._spec_error(model_spec)
        if message is not None:
            entry = [message, None, None]
        else:
            # Specs of another class (the original's ModelSpec, a client subclass) are hashed
            # with their own hash_spec, as the original does; ours resolve by canonical key.
            exact_class = type(model_spec) is ModelSpec
            row = self._row_by_canonical_key(matrix, model_spec.ops) if key is not None and exact_class else None
            if row is not None:
                entry = [None, self._index.hash_at(row), row]
            else:
                entry = [None, model_spec.hash_spec(self.config["available_ops"]), _UNSEEN]
        if key is not None:
            if len(cache) >= _bulk.HASH_CACHE_MAX:
                cache.clear()
            cache[key] = entry
        return entry

    def _row_by_canonical_key(self, matrix: np.ndarray, ops: Any) -> int | None:
        """Row of the one stored cell isomorphic to a checked, valid spec; None when the key cannot tell."""
        if not self._canonical_ok:
            return None
        v = len(ops)
        if matrix.shape != (v, v) or not 2 <= v <= MAX_VERTICES:
            return None
        interior = tuple(ops[1:-1])
        labeling = _LABELINGS.get(interior)
        if labeling is None:
            labels = [_LABEL_OF.get(op) for op in interior]
            if None in labels:
                return None
            labeling = _LABELINGS[interior] = sum(label * 3**k for k, label in enumerate(labels))
        flat = matrix.ravel().tolist()
        if flat.count(0) + flat.count(1) != len(flat):  # other values hash by their value: leave it to MD5
            return None
        key = layout.canonical_key(flat, labeling, v)
        if key < 0:
            return None
        index = self._index
        canon = index.cell_canon
        at = int(canon.searchsorted(key))
        n = index.num_cells
        if at >= n or int(canon[at]) != key or (at + 1 < n and int(canon[at + 1]) == key):
            return None  # no stored cell has the key, or several do: the hash decides
        return int(index.cell_canon_pos[at])

    def _row_of_spec(self, model_spec: ModelSpec) -> tuple[int | None, str]:
        """``(row, module hash)`` of a valid spec; row None when the dataset does not hold the hash.

        Raises
        ------
        OutOfDomainError
            The spec is outside the search space.
        SpecTypeError
            Not a spec.
        """
        entry = self._lookup_spec(model_spec)
        message, module_hash, row = entry
        if message is not None:
            raise OutOfDomainError(message)
        if row is _UNSEEN:
            row = self._index.find(module_hash)
            if type(entry) is list:
                entry[2] = row
        return row, module_hash

    def _check_repeat(self, repeat: Any) -> int:
        if isinstance(repeat, (bool, np.bool_)) or not isinstance(repeat, (int, np.integer)):
            msg = f"repeat must be None or an int in 0..{self.config['num_repeats'] - 1}, got {repeat!r}"
            raise TypeError(msg)
        if not 0 <= repeat < self.config["num_repeats"]:
            msg = f"repeat must be in 0..{self.config['num_repeats'] - 1}, got {repeat!r}"
            raise ValueError(msg)
        return int(repeat)

    # ----------------------------------------------------------- source order

    def _source_order_cached(self) -> tuple[np.ndarray, list[int]]:
        if self._source_order is None:
            self._source_order = self._index.source_order()
        return self._source_order

    def _epochs_message(self) -> str:
        # "%s" of a set, exactly as the original formats it.
        return f"invalid number of epochs, must be one of {self._epochs_for_message()}"

    def _epochs_for_message(self) -> set:
        """``valid_epochs`` as the original would print it (a set filled in file order)."""
        if self.valid_epochs == set(self._dataset.epochs) and not _recorded_file_order(self._dataset):
            _, in_file_order = self._source_order_cached()
            ordered: set = set()
            for e in in_file_order:
                ordered.add(e)
            return ordered
        return self.valid_epochs

    # ---------------------------------------------------------- beyond original

    @property
    def dataset(self) -> _dataset.Dataset:
        """The opened dataset: ``root``, ``manifest``, memory-mapped ``index``."""
        return self._dataset

    @property
    def root(self) -> Path:
        """Directory of the converted dataset."""
        return self._dataset.root

    def hash_spec(self, model_spec: ModelSpec) -> str:
        """Module hash of a spec (checked, pruned; cached, so each spec is hashed once).

        Raises
        ------
        OutOfDomainError
            The spec is outside the search space.
        """
        self._check_spec(model_spec)
        return self._hash_spec(model_spec)

    def spec_from_hash(self, module_hash: str) -> ModelSpec:
        """The stored cell of a hash as a ModelSpec.

        Raises
        ------
        KeyError
            The dataset does not hold this hash.
        """
        row = self._index.find(module_hash)
        if row is None:
            raise KeyError(module_hash)
        matrix, ops, _ = self._index.cell(row)
        return ModelSpec(matrix, ops)

    def random_hashes(self, n: int = 1, *, seed: int | None = None) -> list[str]:
        """``n`` distinct module hashes drawn uniformly from the dataset.

        Uses its own ``numpy.random.default_rng(seed)``; does not touch the
        generator :meth:`query` draws repeats from.
        """
        rows = _bulk.random_rows(self._index, n, seed)
        return self._index.cell_hash[rows].astype("U32").tolist()

    def random_specs(self, n: int = 1, *, seed: int | None = None) -> list[ModelSpec]:
        """``n`` distinct valid cells of the dataset as ModelSpecs, drawn uniformly (seeded).

        See :meth:`random_hashes` for the random generator.
        """
        index = self._index
        return [ModelSpec(*index.cell(r)[:2]) for r in _bulk.random_rows(index, n, seed).tolist()]

    def encode(self, kind: str, hashes: Iterable[str] | None = None, **options: Any) -> np.ndarray:
        """Architecture encodings of dataset cells, one row per cell (see :mod:`nasbench_arrow.encodings`).

        Parameters
        ----------
        kind : {"adjacency", "path", "trunc_path", "adjacency_one_hot", "gcn"}
            The encoding, as BANANAS/naszilla or NASLib define it.
        hashes : iterable of str, optional
            Cells to encode, in this order; default every cell, in the order
            of the stored data's ``hash_iterator()``.
        **options
            ``cutoff`` (``trunc_path``), ``dtype``.

        Returns
        -------
        np.ndarray
            Equal to ``encodings.encode([nb.spec_from_hash(h) for h in hashes], kind)``.
        """
        from . import encodings

        return encodings.encode_dataset(self, kind, hashes, **options)

    def cells(self, hashes: str | Iterable[str] | None = None) -> pl.LazyFrame:
        """Lazy frame over the cells table (one row per unique cell).

        Columns: ``module_hash``, ``num_vertices``, ``num_edges``,
        ``adjacency`` (row-major 0/1 string as stored), ``operations`` (list of
        str), ``trainable_parameters``, ``bucket`` (hive partition).

        Parameters
        ----------
        hashes : str or iterable of str, optional
            Keep only these cells; only their buckets' files are read
            (see :func:`nasbench_arrow.dataset.filter_hashes`).
        """
        lf = self._dataset.scan_cells()
        return lf if hashes is None else _dataset.filter_hashes(lf, hashes)

    def runs(self, hashes: str | Iterable[str] | None = None) -> pl.LazyFrame:
        """Lazy frame over the runs table (one row per training run).

        Columns: ``module_hash``, ``epochs``, ``repeat``, ``{start,halfway,final}_{current_epoch,
        training_time, train_accuracy, validation_accuracy, test_accuracy}``,
        ``total_time``, ``record_index``, ``bucket``; times in seconds,
        accuracies as fractions 0-1.

        Parameters
        ----------
        hashes : str or iterable of str, optional
            Keep only these cells' runs; only their buckets' files are read.

        Examples
        --------
        >>> import polars as pl                                            # doctest: +SKIP
        >>> (nb.runs().filter(pl.col("epochs") == 108)                     # doctest: +SKIP
        ...    .group_by("module_hash").agg(pl.col("final_test_accuracy").mean())
        ...    .collect())
        """
        lf = self._dataset.scan_runs()
        return lf if hashes is None else _dataset.filter_hashes(lf, hashes)

    def query_many(
        self,
        specs_or_hashes: Iterable[ModelSpec | str] | Any,
        epochs: int = 108,
        stop_halfway: bool = False,
        repeat: int | Literal["mean"] | None = None,
        *,
        errors: Literal["raise", "null"] = "raise",
        count_budget: bool = True,
    ) -> pl.DataFrame:
        """Query many cells at once: one row per input, in input order.

        Lookups are vectorised over the memory-mapped index; hashes (str) need
        no hashing at all, and neither do specs: a spec not seen before is
        matched to its stored cell by an exact canonical isomorphism key
        (:func:`nasbench_arrow.layout.canonical_keys`, computed for all new
        specs at once with numpy) instead of the MD5 graph hash of
        :meth:`query`; specs seen before come from the per-object cache. The
        rows are the same as with hashing: a spec whose key no stored cell has
        (or, never in the official files, several) is hashed to decide, and so
        are specs the key does not cover (matrices with entries other than
        0/1, a changed ``config['available_ops']``).

        Parameters
        ----------
        specs_or_hashes : iterable of ModelSpec or str, or a str Series/array
            Cells, as specs or module hashes (may be mixed).
        epochs : int, default 108
            Budget; one of ``valid_epochs``.
        stop_halfway : bool, default False
            Metrics at ``epochs / 2`` instead of the end of training.
        repeat : None, int or "mean", default None
            ``None``: a random repeat per row, drawn exactly like a loop of
            :meth:`query` calls would (same generator, same order), so the rows
            equal ``[nb.query(s) for s in specs]``. An int: that repeat, nothing
            drawn. ``"mean"``: the mean over the repeats, with ``*_std``
            columns (population standard deviation, ``ddof=0``).
        errors : {"raise", "null"}, default "raise"
            ``"raise"``: the first invalid spec raises ``OutOfDomainError``, the
            first unknown hash ``KeyError``, before anything is drawn or
            counted. ``"null"``: such rows get nulls (and draw nothing, like a
            ``query`` that raised).
        count_budget : bool, default True
            Add the rows' training time and epochs to the budget counters (and
            rows to ``ledger``), as the same :meth:`query` calls would.
            ``repeat="mean"`` is an analysis and never charges anything.

        Returns
        -------
        pl.DataFrame
            ``module_hash`` (str), ``epochs`` (i16) and ``repeat`` (i8; null for
            ``"mean"``) as in :meth:`runs`, ``trainable_parameters`` (i64), ``training_time``
            (seconds), ``train_accuracy``, ``validation_accuracy``,
            ``test_accuracy`` (fractions 0-1); with ``repeat="mean"`` also
            ``num_repeats`` and ``training_time_std`` ... ``test_accuracy_std``.

        Raises
        ------
        OutOfDomainError, KeyError
            See ``errors``.
        """
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(self._epochs_message())
        if errors not in ("raise", "null"):
            msg = f"errors must be 'raise' or 'null', got {errors!r}"
            raise ValueError(msg)
        mean = isinstance(repeat, str)
        if mean and repeat != "mean":
            msg = f"repeat must be None, an int or 'mean', got {repeat!r}"
            raise ValueError(msg)
        fixed_repeat = None if (repeat is None or mean) else self._check_repeat(repeat)

        index = self._index
        rows_found = _bulk.rows_of(index, specs_or_hashes, self.config, self._current_cache, self._lookup_spec)
        result = _bulk.query_frame(
            index,
            rows_found,
            epochs,
            stop_halfway,
            mean=mean,
            fixed_repeat=fixed_repeat,
            errors=errors,
            config=self.config,
            randint=self._randint,
        )
        if count_budget and not mean and result.result_ok.any():
            rows = rows_found[0]
            self._charge(rows, result.result_ok, result.values, result.repeats, epochs, stop_halfway, fixed_repeat is None)
        return result.frame

    def _charge(self, rows, result_ok, values, repeats, epochs, stop_halfway, drawn) -> None:
        """Budget counters (and ledger) for the rows of a query_many, exactly as a loop of query()."""
        chosen = np.flatnonzero(result_ok)
        times = values[chosen, 0].tolist()
        per_query = epochs // 2 if stop_halfway else epochs
        ledger = self.ledger
        if ledger is None:
            spent = self.training_time_spent
            for t in times:  # one at a time, so the float sum equals the loop's
                spent += t
            self.training_time_spent = spent
            self.total_epochs_spent += per_query * len(times)
            return
        hashes = self._index.cell_hash[rows[chosen]].astype("U32").tolist()
        validation = values[chosen, 2].tolist()
        test = values[chosen, 3].tolist()
        for k, t in enumerate(times):
            self.training_time_spent += t
            self.total_epochs_spent += per_query
            ledger.record(
                hashes[k],
                epochs,
                stop_halfway,
                int(repeats[chosen[k]]),
                drawn,
                t,
                validation[k],
                test[k],
                self.training_time_spent,
                self.total_epochs_spent,
            )

    def _current_cache(self) -> dict[tuple, list]:
        """The spec cache, emptied first when ``config`` (ops, limits) changed since it was filled."""
        config = self.config
        signature = (config["module_vertices"], config["max_edges"], config["available_ops"])
        if signature != self._cache_config:
            self._spec_cache.clear()
            # A copy of the op list: an in-place edit of config's list must show as a change.
            self._cache_config = (signature[0], signature[1], list(signature[2]))
            # The canonical key encodes labels as indexes in AVAILABLE_OPS, as stored;
            # another op list hashes specs differently, so then every spec is hashed.
            self._canonical_ok = list(signature[2]) == list(AVAILABLE_OPS)
        return self._spec_cache

    def summary(self, epochs: int = 108, stop_halfway: bool = False) -> pl.DataFrame:
        """One row per cell: mean and standard deviation over repeats at one budget.

        Computed from the memory-mapped index with numpy (no Parquet read).

        Parameters
        ----------
        epochs : int, default 108
            Budget; one of ``valid_epochs``.
        stop_halfway : bool, default False
            Metrics at ``epochs / 2``.

        Returns
        -------
        pl.DataFrame
            ``module_hash``, ``num_vertices``, ``num_edges``,
            ``trainable_parameters``, ``num_repeats``, ``training_time`` (mean
            seconds), ``train_accuracy``, ``validation_accuracy``,
            ``test_accuracy`` (mean fractions 0-1) and ``*_std`` of each
            (``ddof=0``), sorted by ``module_hash``. Cells without runs at this
            budget are left out.
        """
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(self._epochs_message())
        return _bulk.summary_frame(self._index, epochs, stop_halfway)

    def top_k(
        self,
        metric: str = "validation_accuracy",
        k: int = 10,
        epochs: int = 108,
        *,
        stop_halfway: bool = False,
        descending: bool | None = None,
    ) -> pl.DataFrame:
        """The ``k`` best cells by the mean of a metric over repeats.

        Parameters
        ----------
        metric : {"validation_accuracy", "test_accuracy", "train_accuracy", "training_time"}
        k : int, default 10
        epochs : int, default 108
        stop_halfway : bool, default False
        descending : bool, optional
            Default: highest first for accuracies, lowest first for training time.

        Returns
        -------
        pl.DataFrame
            Rows of :meth:`summary`, best first.
        """
        if metric not in _bulk.QUERY_METRICS:
            msg = f"metric must be one of {list(_bulk.QUERY_METRICS)}, got {metric!r}"
            raise ValueError(msg)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            msg = f"k must be a non-negative int (number of cells), got {k!r}"
            raise ValueError(msg)
        if descending is None:
            descending = metric != "training_time"
        df = self.summary(epochs, stop_halfway)
        return df.sort([metric, "module_hash"], descending=[descending, False]).head(k)

    def __copy__(self) -> NASBench:
        # As copy.copy of the original: a new object sharing the same attribute objects
        # (the statistics dicts, config, the opened dataset).
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __getstate__(self) -> dict:
        # Pickle (e.g. multiprocessing with "spawn") by path: the receiver re-maps the
        # index instead of receiving a copy of it. What the caller built, edited or
        # added in the statistics dicts travels along, as with the original's dicts.
        state = {k: v for k, v in self.__dict__.items() if k not in _UNPICKLED}
        # Absolute as of the open: a receiver (or this process after a chdir) may be elsewhere.
        state["_root"] = self._absolute_root
        state["_reopen_verify"] = "none" if self._dataset.verify == "none" else "index"
        state["_spec_cache"] = {}
        state["_source_order"] = None
        state["_statistics_state"] = (self._fixed._state(), self._computed._state())
        # Assigned by the caller (not ours): pickled as they are.
        state["_assigned_statistics"] = (
            None if self.fixed_statistics is self._fixed else self.fixed_statistics,
            None if self.computed_statistics is self._computed else self.computed_statistics,
        )
        if self._rng_mode == "global":
            state["_rng"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        root = state.pop("_root")
        # A deep verification is not repeated in every receiving process.
        verify = state.pop("_reopen_verify", "index")
        fixed_state, computed_state = state.pop("_statistics_state")
        assigned_fixed, assigned_computed = state.pop("_assigned_statistics")
        self.__dict__.update(state)
        if self._rng_mode == "global":
            self._rng = random._inst
        self._dataset = _dataset.open_dataset(root, verify=verify)
        self._absolute_root = os.path.abspath(self._dataset.root)
        self._index = self._dataset.index
        self._make_statistics(ensure=False)
        self._fixed._restore(fixed_state)
        self._computed._restore(computed_state)
        self._ensure_entries()
        if assigned_fixed is not None:
            self.fixed_statistics = assigned_fixed
        if assigned_computed is not None:
            self.computed_statistics = assigned_computed

    def __repr__(self) -> str:
        return (
            f"NASBench({str(self.root)!r}, cells={self._index.num_cells}, runs={self._index.num_runs}, "
            f"epochs={sorted(self.valid_epochs)}, rng={self._rng_mode!r})"
        )


_NOT_A_SPEC = object()


def _recorded_file_order(dataset: _dataset.Dataset) -> list[int] | None:
    """Budgets in file order as the converter recorded them (None for older datasets)."""
    order = dataset.manifest.counts.get("epochs_in_file_order")
    if isinstance(order, list) and sorted(order) == list(dataset.epochs):
        return [int(e) for e in order]
    return None


def _file_order_epochs(dataset: _dataset.Dataset) -> list[int]:
    return _recorded_file_order(dataset) or list(dataset.epochs)


_ORIGINAL_HOOKS = tuple(getattr(NASBench, name) for name in _QUERY_HOOKS)


def _valid_flag(model_spec: Any) -> bool:
    """``model_spec.valid_spec``; SpecTypeError for an object that is not a spec."""
    try:
        valid = model_spec.valid_spec
        model_spec.matrix  # noqa: B018 - a spec has both; checked here for the typed error
        model_spec.ops  # noqa: B018
    except AttributeError:
        msg = (
            f"expected a ModelSpec (nasbench_arrow.api.ModelSpec(matrix, ops)), got {type(model_spec).__name__} "
            f"{_short_repr(model_spec)}; to look up a module hash use get_metrics_from_hash or query_many"
        )
        raise SpecTypeError(msg) from None
    return bool(valid)


def _short_repr(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_default(obj: Any) -> Any:
    """Numpy values in training metadata as plain JSON."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    msg = f"cannot serialise {type(obj).__name__} to JSON"
    raise TypeError(msg)
