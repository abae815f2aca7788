"""Train NAS-Bench-101 cells with TensorFlow 2: the dataset's recipe, records in its format.

Needs the ``train`` extra (``pip install 'nasbench-arrow[train]'``); importing this
package without TensorFlow raises :class:`~nasbench_arrow.errors.MissingDependencyError`
with that hint. Nothing outside this package imports TensorFlow.

Stages::

    data.py          official CIFAR-10 python archive -> splits -> tf.data pipelines
    model.py         cell -> Keras model (same parameters as the dataset)
    trainer.py       model + data -> ModelMetrics (the dataset's recipe)
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

from ..errors import import_optional

# Fail at import, with the install hint, rather than deep inside a training run.
import_optional("tensorflow", "train", "Training cells (nasbench_arrow.train)")

from .data import Cifar10, Split, load_cifar10
from .model import build_model
from .trainer import (
    Progress,
    TrainConfig,
    TrainingAbortedError,
    learning_rate_at,
    query_dict,
    train_and_evaluate,
)

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
