"""Train NAS-Bench-101 cells with TensorFlow 2: the dataset's recipe, records in its format.

Needs the ``train`` extra (``pip install 'nasbench-arrow[train]'``). The package
itself imports lazily: ``import nasbench_arrow.train`` and the command line's
argument handling (``nasbench-train --help``, usage errors, ``--dry-run``) do not
load TensorFlow; the first use of a name that needs it (``build_model``,
``train_and_evaluate``, ...) does, and raises
:class:`~nasbench_arrow.errors.MissingDependencyError` with that hint when it is
missing. Nothing outside this package imports TensorFlow.

Stages::

    data.py          official CIFAR-10 python archive -> splits -> tf.data pipelines
    model.py         cell -> Keras model (same parameters as the dataset)
    trainer.py       model + data -> ModelMetrics (the dataset's recipe)
    units.py         one run (cell, budget, repeat) -> record; the shard store it is appended to
    cli.py           `nasbench-train`: cells -> records appended to tfrecord shards, resumable
    ray_launcher.py  the same on a Ray cluster, one task per (cell, budget, repeat)

Example
-------
>>> from nasbench_arrow.train import build_model, load_cifar10, train_and_evaluate  # doctest: +SKIP
>>> data = load_cifar10("cifar-10-python.tar.gz")                                  # doctest: +SKIP
>>> metrics = train_and_evaluate(spec, data, epochs=4)                             # doctest: +SKIP
>>> metrics.evaluation_data[-1].test_accuracy                                       # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import import_optional

# Where each public name lives. Resolved on first access (PEP 562), so that
# `nasbench-train --help` answers in a fraction of a second instead of paying
# TensorFlow's multi-second import (and its log lines) first.
_LAZY = {
    "Cifar10": "data",
    "Split": "data",
    "load_cifar10": "data",
    "build_model": "model",
    "Progress": "trainer",
    "TrainConfig": "trainer",
    "TrainingAbortedError": "trainer",
    "learning_rate_at": "trainer",
    "query_dict": "trainer",
    "train_and_evaluate": "trainer",
}

__all__ = [
    "Cifar10",
    "Progress",
    "Split",
    "TrainConfig",
    "TrainingAbortedError",
    "build_model",
    "learning_rate_at",
    "load_cifar10",
    "query_dict",
    "train_and_evaluate",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    if module != "data":  # data.py reads the archive without TensorFlow
        # Fail with the install hint rather than deep inside a training run.
        import_optional("tensorflow", "train", "Training cells (nasbench_arrow.train)")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
