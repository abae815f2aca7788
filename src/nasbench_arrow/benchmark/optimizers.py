"""Search algorithms on the ask/tell protocol of :class:`~nasbench_arrow.benchmark.Simulator`.

Every optimizer is asynchronous by nature (each ``ask`` proposes one
evaluation from what has been told so far); :class:`Synchronous` turns any
of them into the synchronous (batch) version, which proposes ``batch_size``
evaluations and waits until all are told. Successive halving and Hyperband
have their own synchronous (rung by rung) and asynchronous (ASHA-style)
schedules.

Each optimizer draws from its own generators seeded from its seed
(``random.Random(seed)`` and ``numpy.random.default_rng(seed)``; never the
global ``random`` module, never the dataset's generator), so a run is
reproducible from the optimizer seed and the simulator seed. Cells are
proposed as module hashes, drawn, mutated and neighboured as arrays and
matched to the dataset by canonical isomorphism keys
(:mod:`nasbench_arrow.benchmark._cells`): no ``ModelSpec`` and no graph hash
per proposal.

- :class:`RandomSearch`: ``sampler="colab"`` draws like the original colab
  (every upper-triangular edge with probability 1/2, ops uniform, redrawn
  until valid; then pruned), in numpy batches. Pruning makes small cells far
  more likely than uniform: about 30% of the colab's draws are cells of 2 or
  3 vertices (30.4% of 10,000 draws on the full space: a 7-vertex matrix
  whose input reaches its output through few interior vertices prunes to a
  tiny cell), and there are only 7 such cells among 423,624.
  ``sampler="uniform"`` draws uniformly among the dataset's unique cells.
- :class:`RegularizedEvolution`: Real et al. (2019), as the colab: a
  population of the last ``population_size`` results, tournament of
  ``sample_size``, the colab's mutation of the parent's unpruned matrix,
  drawn exactly as ``search.SpecProposer.mutate`` draws it.
- :class:`LocalSearch`: White et al. (2020, "Local search is state of the
  art for NAS benchmarks"), naszilla's version: best of ``num_init`` random
  cells, then evaluate the whole neighbourhood (the cells of
  :func:`nasbench_arrow.encodings.neighbours` of the cell in the vertex order
  the dataset stores, in random order) and move to
  its best cell while that improves; at a local optimum restart from random
  cells. With several workers, a worker that finds the current
  neighbourhood fully handed out (results pending) evaluates a random cell.
- :class:`SuccessiveHalving` and :class:`Hyperband` over the dataset's
  budgets (4, 12, 36, 108 with ``eta=3``); a promotion re-trains at the
  larger budget (the simulator charges its full time).

Also :class:`ExternalOptimizer` and :class:`OptunaOptimizer` for
optimizers from other libraries (see their docstrings).
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..constants import MAX_EDGES
from ..model_spec import ModelSpec
from ..search import is_complete_space
from . import _cells
from .objectives import PARAMETERS, config_to_spec

__all__ = [
    "ALGORITHMS",
    "ExternalOptimizer",
    "Hyperband",
    "LocalSearch",
    "OptunaOptimizer",
    "RandomSearch",
    "RegularizedEvolution",
    "SuccessiveHalving",
    "Synchronous",
    "make_optimizer",
]

_SHAPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _space_shape(nb: Any) -> tuple[bool, int]:
    """``is_complete_space(nb)``, cached per opened index (it scans the cells table)."""
    key = nb.dataset.index
    if key not in _SHAPES:
        _SHAPES[key] = is_complete_space(nb)
    return _SHAPES[key]


class _Base:
    """What every shipped optimizer shares: the dataset, seeded generators, a colab sampler.

    Cells are proposed as module hashes (the simulator accepts them), drawn
    and mutated as arrays by :mod:`nasbench_arrow.benchmark._cells` (no
    ModelSpec, no graph hash per proposal).
    """

    name = "optimizer"

    def __init__(self, nb: Any, seed: int | None = None, epochs: int = 108):
        if epochs not in nb.valid_epochs:
            msg = f"epochs must be one of {sorted(nb.valid_epochs)}, got {epochs!r}"
            raise ValueError(msg)
        self.nb = nb
        self.index = nb.dataset.index
        self.seed = seed
        self.epochs = int(epochs)
        self.rng = random.Random(seed)
        _, largest = _space_shape(nb)
        self.num_vertices = largest
        # Its own numpy stream for batched colab draws, derived from the same seed.
        self.sampler = _cells.ColabSampler(self.index, np.random.default_rng(seed), num_vertices=largest)

    def _random_cell(self) -> str:
        return self.index.hash_at(self.sampler.draw()[0])


class RandomSearch(_Base):
    """Random search at one budget.

    Parameters
    ----------
    nb : NASBench
    seed : int, optional
    sampler : {"colab", "uniform"}, default "colab"
        See the module docstring. On a dataset that is not a complete space
        the colab's draws that the dataset does not hold are redrawn.
    epochs : int, default 108
    """

    def __init__(self, nb: Any, seed: int | None = None, *, sampler: str = "colab", epochs: int = 108):
        super().__init__(nb, seed, epochs)
        if sampler not in ("colab", "uniform"):
            msg = f"sampler must be 'colab' or 'uniform', got {sampler!r}"
            raise ValueError(msg)
        self.sampler_kind = sampler
        self.name = "random" if sampler == "colab" else "random-uniform"
        self._np = np.random.default_rng(seed)
        self._batch: list[int] = []

    def _uniform_hash(self) -> str:
        if not self._batch:
            self._batch = self._np.integers(0, self.index.num_cells, 4096).tolist()[::-1]
        return self.index.hash_at(self._batch.pop())

    def ask(self) -> tuple[str, int]:
        if self.sampler_kind == "uniform":
            return self._uniform_hash(), self.epochs
        return self._random_cell(), self.epochs

    def tell(self, cell: Any, epochs: int, result: Mapping[str, Any]) -> None:
        pass


class RegularizedEvolution(_Base):
    """Regularised (ageing) evolution, asynchronous: each ask mutates a tournament winner.

    The first ``population_size`` asks are colab random cells; later ones
    mutate the best of ``sample_size`` members drawn from the population
    (the last ``population_size`` results told). Mutation is the colab's, on
    the parent's unpruned matrix, drawn from ``random.Random(seed)`` exactly
    as ``search.SpecProposer.mutate`` draws it.

    Parameters
    ----------
    population_size : int, default 50
    sample_size : int, default 10
    mutation_rate : float, default 1.0
        The colab's (expected number of edge flips).
    """

    name = "evolution"

    def __init__(
        self,
        nb: Any,
        seed: int | None = None,
        *,
        population_size: int = 50,
        sample_size: int = 10,
        mutation_rate: float = 1.0,
        epochs: int = 108,
    ):
        super().__init__(nb, seed, epochs)
        if not 1 <= sample_size <= population_size:
            msg = f"need 1 <= sample_size <= population_size, got {sample_size} and {population_size}"
            raise ValueError(msg)
        self.population_size = population_size
        self.sample_size = sample_size
        self.mutation_rate = mutation_rate
        self.population: deque[tuple[float, list, list]] = deque()  # (validation, flat matrix, labels)
        self._unpruned: dict[str, tuple[list, list]] = {}  # proposed hash -> its unpruned cell
        self._asked = 0

    def ask(self) -> tuple[str, int]:
        self._asked += 1
        if self._asked <= self.population_size or len(self.population) < self.sample_size:
            row, adjacency, labels = self.sampler.draw()
            flat, labs = adjacency.ravel().tolist(), labels.tolist()
        else:
            candidates = self.rng.sample(range(len(self.population)), self.sample_size)
            _, parent_flat, parent_labels = max((self.population[i] for i in candidates), key=lambda p: p[0])
            row, flat, labs = _cells.mutate_flat(
                self.index, parent_flat, parent_labels, self.num_vertices, self.rng, self.mutation_rate
            )
        h = self.index.hash_at(row)
        self._unpruned[h] = (flat, labs)
        return h, self.epochs

    def tell(self, cell: Any, epochs: int, result: Mapping[str, Any]) -> None:
        flat, labels = self._unpruned.get(result["module_hash"]) or _flat_of(self.index, result["module_hash"], self.num_vertices)
        self.population.append((float(result["validation_accuracy"]), flat, labels))
        if len(self.population) > self.population_size:
            self.population.popleft()


def _flat_of(index: Any, module_hash: str, num_vertices: int) -> tuple[list, list]:
    adjacency, labels = _cells.row_arrays(index, index.find(module_hash), num_vertices)
    return adjacency.ravel().tolist(), labels.tolist()


class LocalSearch(_Base):
    """Local search with restarts (naszilla's), asynchronous (see the module docstring).

    Parameters
    ----------
    num_init : int, default 10
        Random cells evaluated before the first climb, and at each restart.
    """

    name = "local"

    def __init__(self, nb: Any, seed: int | None = None, *, num_init: int = 10, epochs: int = 108):
        super().__init__(nb, seed, epochs)
        if num_init < 1:
            msg = f"num_init must be at least 1, got {num_init!r}"
            raise ValueError(msg)
        self.num_init = num_init
        self.center: tuple[str, float] | None = None  # (hash, validation accuracy)
        self._init_left = num_init
        self._init_told = 0
        self._init_best: tuple[str, float] | None = None
        self._queue: list[str] = []
        self._pending: set[str] = set()  # neighbours of the centre handed out, not told yet
        self._round_best: tuple[str, float] | None = None
        self.seen: set[str] = set()
        self.restarts = 0

    def _open(self, center_hash: str) -> None:
        """Queue the centre's unevaluated neighbours in random order."""
        rows = _cells.neighbour_rows(self.index, self.index.find(center_hash), self.num_vertices).tolist()
        fresh = [h for h in (self.index.hash_at(r) for r in rows) if h not in self.seen]
        self.rng.shuffle(fresh)
        self._queue = fresh
        self._round_best = None

    def _restart(self) -> None:
        self.restarts += 1
        self.center = None
        self._init_left = self.num_init
        self._init_told = 0
        self._init_best = None

    def ask(self) -> tuple[str, int]:
        if self.center is None:
            # Initial (or restart) random cells; once num_init are handed out, more random
            # cells keep idle workers busy until num_init results are in.
            self._init_left = max(0, self._init_left - 1)
            return self._random_cell(), self.epochs
        if not self._queue and not self._pending:
            self._step()
            if self.center is None:
                return self.ask()
        if self._queue:
            h = self._queue.pop()
            self._pending.add(h)
            return h, self.epochs
        return self._random_cell(), self.epochs  # neighbourhood handed out, results pending

    def _step(self) -> None:
        """The centre's neighbourhood is fully told: move to its best cell, or restart."""
        if self._round_best is not None and self._round_best[1] > self.center[1]:
            self.center = self._round_best
            self._open(self.center[0])
            if not self._queue:
                self._restart()
        else:
            self._restart()

    def tell(self, cell: Any, epochs: int, result: Mapping[str, Any]) -> None:
        h = result["module_hash"]
        value = float(result["validation_accuracy"])
        self.seen.add(h)
        if h in self._pending:
            self._pending.discard(h)
            if self._round_best is None or value > self._round_best[1]:
                self._round_best = (h, value)
            return
        if self.center is None:
            self._init_told += 1
            if self._init_best is None or value > self._init_best[1]:
                self._init_best = (h, value)
            if self._init_told >= self.num_init:
                self.center = self._init_best
                self._open(self.center[0])
                if not self._queue:
                    self._restart()


class _Rungs:
    """One asynchronous successive-halving bracket: each rung's results, ranked, and its promotions.

    Every result of a rung is either waiting (a heap, best first) or
    promoted. The cells better than the best waiting one are all promoted,
    so its rank is the number of promoted results better than it: a bisect
    in the (smaller) sorted list of promoted results, instead of a sort per
    ask. ``dirty`` skips the search until something changed.
    """

    def __init__(self, budgets: tuple[int, ...]):
        self.budgets = budgets
        self.counts = [0] * len(budgets)
        self.waiting: list[list[tuple[float, str]]] = [[] for _ in budgets]  # (-validation, hash) heaps
        self.promoted_keys: list[list[tuple[float, str]]] = [[] for _ in budgets]  # sorted
        self.promoted: list[set[str]] = [set() for _ in budgets]
        self.dirty = False

    def add(self, rung: int, module_hash: str, value: float) -> None:
        self.counts[rung] += 1
        heapq.heappush(self.waiting[rung], (-value, module_hash))
        self.dirty = True

    def promotable(self, eta: int) -> tuple[str, int] | None:
        """A cell in the top ``1/eta`` of its rung and not promoted yet (highest rung first)."""
        if not self.dirty:
            return None
        for k in range(len(self.budgets) - 2, -1, -1):
            waiting = self.waiting[k]
            while waiting and waiting[0][1] in self.promoted[k]:
                heapq.heappop(waiting)  # told twice at this rung (a repeated random draw)
            if not waiting:
                continue
            rank = bisect.bisect_left(self.promoted_keys[k], waiting[0])
            if rank < self.counts[k] // eta:
                key = heapq.heappop(waiting)
                bisect.insort(self.promoted_keys[k], key)
                self.promoted[k].add(key[1])
                return key[1], k
        self.dirty = False
        return None


class SuccessiveHalving(_Base):
    """Successive halving over the dataset's budgets, synchronous or asynchronous (ASHA).

    Parameters
    ----------
    eta : int, default 3
        Keep the best ``1/eta`` of each rung.
    min_epochs : int, default 4
        Lowest budget used (rungs are the dataset's budgets from there up).
    asynchronous : bool, default True
        ``True``: ASHA (Li et al. 2020): whenever asked, promote a cell that
        is in the top ``1/eta`` of its rung's results so far and not yet
        promoted, else start a new random cell at the lowest rung.
        ``False``: classic brackets: ``eta ** (rungs - 1)`` random cells at
        the lowest budget, wait for all, promote the best ``1/eta``, and so
        on; then the next bracket.
    """

    name = "successive-halving"

    def __init__(
        self,
        nb: Any,
        seed: int | None = None,
        *,
        eta: int = 3,
        min_epochs: int = 4,
        asynchronous: bool = True,
    ):
        super().__init__(nb, seed, 108 if 108 in nb.valid_epochs else max(nb.valid_epochs))
        if eta < 2:
            msg = f"eta must be at least 2, got {eta!r}"
            raise ValueError(msg)
        self.eta = eta
        self.budgets = tuple(e for e in sorted(nb.valid_epochs) if e >= min_epochs)
        if not self.budgets:
            msg = f"no budget >= min_epochs={min_epochs} in {sorted(nb.valid_epochs)}"
            raise ValueError(msg)
        self.asynchronous = asynchronous
        if not asynchronous:
            self.name = "successive-halving-sync"
        self._rungs = _Rungs(self.budgets)
        self._specs: dict[str, Any] = {}  # hash -> the cell as proposed (re-proposed on promotion)
        self._bracket: _SyncBracket | None = None

    def _new_cell(self) -> str:
        return self._random_cell()

    # -- ASHA
    def _ask_async(self, rungs: _Rungs, bottom: int = 0) -> tuple[ModelSpec, int]:
        found = rungs.promotable(self.eta)
        if found is not None:
            h, k = found
            return self._specs[h], rungs.budgets[k + 1]
        return self._new_cell(), rungs.budgets[bottom]

    def ask(self) -> tuple[ModelSpec, int] | None:
        if self.asynchronous:
            return self._ask_async(self._rungs)
        if self._bracket is None or self._bracket.done():
            self._bracket = _SyncBracket(self, self.eta ** (len(self.budgets) - 1), self.budgets)
        return self._bracket.ask()

    def tell(self, cell: Any, epochs: int, result: Mapping[str, Any]) -> None:
        h = result["module_hash"]
        self._specs.setdefault(h, cell)
        if self.asynchronous:
            self._rungs.add(self.budgets.index(epochs), h, float(result["validation_accuracy"]))
        else:
            self._bracket.tell(h, epochs, float(result["validation_accuracy"]))


class _SyncBracket:
    """One synchronous successive-halving bracket: ``n`` cells at ``budgets[0]``, then the top 1/eta..."""

    def __init__(self, owner: Any, n: int, budgets: tuple[int, ...]):
        self.owner = owner
        self.budgets = budgets
        self.rung = 0
        self.todo: list[Any] = [owner._new_cell() for _ in range(n)]
        self.todo.reverse()
        self.outstanding = 0
        self.results: dict[str, float] = {}

    def done(self) -> bool:
        return self.rung >= len(self.budgets)

    def ask(self) -> tuple[Any, int] | None:
        if self.todo:
            self.outstanding += 1
            return self.todo.pop(), self.budgets[self.rung]
        return None  # wait for the rung to finish

    def tell(self, h: str, epochs: int, value: float) -> None:
        self.outstanding -= 1
        self.results[h] = value
        if self.outstanding == 0 and not self.todo:
            keep = max(1, len(self.results) // self.owner.eta)
            best = sorted(self.results.items(), key=lambda kv: (-kv[1], kv[0]))[:keep]
            self.rung += 1
            self.results = {}
            if not self.done():
                self.todo = [self.owner._specs[k] for k, _ in best][::-1]


class Hyperband(SuccessiveHalving):
    """Hyperband (Li et al. 2018) over the dataset's budgets, synchronous or asynchronous.

    Synchronous: the classic loop over brackets ``s = s_max .. 0``, bracket
    ``s`` starting ``ceil((s_max + 1) / (s + 1) * eta ** s)`` cells at budget
    ``budgets[s_max - s]`` and halving synchronously. Asynchronous: each new
    cell joins an ASHA bracket chosen in turn (``s_max .. 0``), promotions
    within that bracket as in :class:`SuccessiveHalving`.
    """

    name = "hyperband"

    def __init__(self, nb: Any, seed: int | None = None, *, eta: int = 3, min_epochs: int = 4, asynchronous: bool = True):
        super().__init__(nb, seed, eta=eta, min_epochs=min_epochs, asynchronous=asynchronous)
        self.name = "hyperband" if asynchronous else "hyperband-sync"
        self.s_max = len(self.budgets) - 1
        self._brackets = [_Rungs(self.budgets) for _ in range(self.s_max + 1)]  # index = start rung
        self._cell_bracket: dict[str, int] = {}
        self._next_s = self.s_max
        self._turn = 0

    def ask(self) -> tuple[ModelSpec, int] | None:
        if self.asynchronous:
            for start in range(self.s_max + 1):
                found = self._brackets[start].promotable(self.eta)
                if found is not None:
                    h, k = found
                    return self._specs[h], self.budgets[k + 1]
            start = self.s_max - self._turn % (self.s_max + 1)
            self._turn += 1
            return self._tagged(self._new_cell(), start)
        if self._bracket is None or self._bracket.done():
            s = self._next_s
            self._next_s = self.s_max if s == 0 else s - 1
            n = math.ceil((self.s_max + 1) / (s + 1) * self.eta**s)
            self._bracket = _SyncBracket(self, n, self.budgets[self.s_max - s :])
        return self._bracket.ask()

    def _tagged(self, cell: str, start: int) -> tuple[str, int]:
        self._cell_bracket[cell] = start
        return cell, self.budgets[start]

    def tell(self, cell: Any, epochs: int, result: Mapping[str, Any]) -> None:
        h = result["module_hash"]
        self._specs.setdefault(h, cell)
        value = float(result["validation_accuracy"])
        if not self.asynchronous:
            self._bracket.tell(h, epochs, value)
            return
        start = self._cell_bracket.get(h, 0)
        self._brackets[start].add(self.budgets.index(epochs), h, value)


class Synchronous:
    """The synchronous (batch) version of any ask/tell optimizer.

    Proposes ``batch_size`` evaluations, then returns None (the simulator's
    "wait") until all of them are told, then the next batch. With
    ``batch_size`` equal to the number of workers this is the usual
    synchronous parallel search: workers that finish early idle.

    Parameters
    ----------
    optimizer : object with ``ask`` / ``tell``
    batch_size : int
    """

    def __init__(self, optimizer: Any, batch_size: int):
        if batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size!r}"
            raise ValueError(msg)
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.name = f"{getattr(optimizer, 'name', type(optimizer).__name__)}-sync"
        self._asked = 0
        self._outstanding = 0

    def ask(self) -> Any:
        if self._asked == self.batch_size:
            if self._outstanding:
                return None
            self._asked = 0
        proposal = self.optimizer.ask()
        if proposal is not None:
            self._asked += 1
            self._outstanding += 1
        return proposal

    def tell(self, cell: Any, epochs: int, result: Mapping[str, Any]) -> None:
        self._outstanding -= 1
        self.optimizer.tell(cell, epochs, result)


class ExternalOptimizer:
    """Adapter for an external ask/tell optimizer that proposes configurations of space A, B or C.

    Parameters
    ----------
    nb : NASBench
    ask : callable
        ``ask() -> (token, config)``: a new trial and its configuration (a
        mapping of the space's hyperparameters, see
        :data:`~nasbench_arrow.benchmark.objectives.PARAMETERS`).
    tell : callable
        ``tell(token, value)`` with the validation error (1 - validation
        accuracy, fraction) to minimise.
    space : {"A", "B", "C"}, default "A"
    epochs : int, default 108
    max_invalid : int, default 10000
        Invalid configurations in a row before giving up (``RuntimeError``).

    Notes
    -----
    An invalid configuration (more than 9 edges, disconnected) never
    reaches a worker: it is told the nas_benchmarks failure value 1.0 at
    once, at no cost, and the optimizer is asked again. So is a valid cell
    the dataset does not hold (never with the official files; the built-in
    sample holds only cells of at most 5 vertices). Tokens of configs
    that prune to the same cell are kept apart, so each trial is told its
    own result.
    """

    def __init__(
        self,
        nb: Any,
        ask: Callable[[], tuple[Any, Mapping[str, Any]]],
        tell: Callable[[Any, float], None],
        *,
        space: str = "A",
        epochs: int = 108,
        max_invalid: int = 10_000,
        name: str = "external",
    ):
        if space not in PARAMETERS:
            msg = f"space must be 'A', 'B' or 'C', got {space!r}"
            raise ValueError(msg)
        self.nb = nb
        self._ask, self._tell = ask, tell
        self.space = space
        self.epochs = epochs
        self.max_invalid = max_invalid
        self.name = name
        self.invalid = 0
        self._tokens: dict[int, tuple[ModelSpec, Any]] = {}

    def ask(self) -> tuple[ModelSpec, int]:
        for _ in range(self.max_invalid):
            token, config = self._ask()
            matrix, ops = config_to_spec(self.space, config)
            spec = ModelSpec(matrix, ops)
            if int(matrix.sum()) <= MAX_EDGES and self.nb.is_valid(spec) and self._held(spec):
                self._tokens[id(spec)] = (spec, token)
                return spec, self.epochs
            self.invalid += 1
            self._tell(token, 1.0)
        msg = f"{self.max_invalid} invalid configurations in a row from the external optimizer"
        raise RuntimeError(msg)

    def _held(self, spec: ModelSpec) -> bool:
        # Every valid cell is in the official files; a sample (or partial) dataset lacks some.
        return self.nb.hash_spec(spec) in self.nb.fixed_statistics

    def tell(self, cell: ModelSpec, epochs: int, result: Mapping[str, Any]) -> None:
        # The simulator hands back the very spec object asked, so its identity finds the trial.
        _, token = self._tokens.pop(id(cell))
        self._tell(token, 1.0 - float(result["validation_accuracy"]))


class OptunaOptimizer(ExternalOptimizer):
    """Optuna (the ``hpo`` extra) on space A, B or C through :class:`ExternalOptimizer`.

    Parameters
    ----------
    nb : NASBench
    seed : int, optional
        Seed of the sampler.
    space : {"A", "B", "C"}, default "A"
    sampler : optuna sampler, optional
        Default ``optuna.samplers.TPESampler(seed=seed)``.
    """

    def __init__(self, nb: Any, seed: int | None = None, *, space: str = "A", sampler: Any = None, epochs: int = 108):
        from ..errors import import_optional

        optuna = import_optional("optuna", "hpo", "OptunaOptimizer")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed) if sampler is None else sampler
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        parameters = PARAMETERS.get(space, [])

        def ask():
            trial = self.study.ask()
            config = {}
            for name, kind, domain in parameters:
                if kind == "categorical":
                    config[name] = trial.suggest_categorical(name, list(domain))
                elif kind == "integer":
                    config[name] = trial.suggest_int(name, domain[0], domain[1])
                else:
                    config[name] = trial.suggest_float(name, domain[0], domain[1])
            return trial, config

        def tell(trial, value):
            self.study.tell(trial, value)

        super().__init__(nb, ask, tell, space=space, epochs=epochs, name=f"optuna-{space}")


#: ``name -> factory(nb, seed, synchronous=False, n_workers=1)`` of the shipped algorithms (CLI names).
ALGORITHMS: dict[str, Callable[..., Any]] = {}


def make_optimizer(name: str, nb: Any, seed: int | None, *, n_workers: int = 1, synchronous: bool = False) -> Any:
    """A shipped optimizer by its CLI name.

    Names: ``random`` (colab sampler), ``random-uniform``, ``evolution``,
    ``local``, ``successive-halving``, ``hyperband``, ``optuna`` (space A,
    TPE; needs the ``hpo`` extra). ``synchronous=True`` gives the batch
    version with batch size ``n_workers`` (:class:`Synchronous`; successive
    halving and Hyperband use their own synchronous schedule).

    Raises
    ------
    ValueError
        Unknown name.
    """
    if name in ("successive-halving", "hyperband"):
        cls = SuccessiveHalving if name == "successive-halving" else Hyperband
        return cls(nb, seed, asynchronous=not synchronous)
    factories = {
        "random": lambda: RandomSearch(nb, seed),
        "random-uniform": lambda: RandomSearch(nb, seed, sampler="uniform"),
        "evolution": lambda: RegularizedEvolution(nb, seed),
        "local": lambda: LocalSearch(nb, seed),
        "optuna": lambda: OptunaOptimizer(nb, seed),
    }
    if name not in factories:
        msg = f"unknown algorithm {name!r}; known: {sorted([*factories, 'successive-halving', 'hyperband'])}"
        raise ValueError(msg)
    optimizer = factories[name]()
    return Synchronous(optimizer, n_workers) if synchronous else optimizer


def _factory(name: str) -> Callable[..., Any]:
    def factory(nb: Any, seed: int | None, **kwargs: Any) -> Any:
        return make_optimizer(name, nb, seed, **kwargs)

    return factory


ALGORITHMS.update(
    {n: _factory(n) for n in ("random", "random-uniform", "evolution", "local", "successive-halving", "hyperband", "optuna")}
)
