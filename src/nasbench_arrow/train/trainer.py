"""Train and evaluate one cell with the NAS-Bench-101 recipe; the result is a ``ModelMetrics``.

The recipe (``lib/evaluate.py``, ``lib/model_builder.py`` and ``lib/config.py`` of
``google-research/nasbench``):

- batch 256; ``int(epochs * 40000 / 256)`` steps (16,875 for 108 epochs);
- RMSProp with momentum 0.9, decay 0.9, epsilon 1.0, its mean-square slot starting
  at ones as in TensorFlow 1's ``RMSPropOptimizer`` (Keras starts it at zeros);
- learning rate ``0.5 * lr * (1 + cos(pi * step / total_steps))``, 0 at step 0: the
  first step only initialises (batch-norm moving averages move, weights do not);
- loss: softmax cross-entropy plus ``1e-4 * sum(l2_loss(v))`` over all trainable
  variables (batch-norm gamma/beta and the dense bias included);
- evaluations at the start (after step 0), halfway and at the end, on whole
  batches only (9,984 of each 10,000 images); ``training_time`` counts training
  steps only, ``total_time`` everything from the first step to the last evaluation.

Learning-rate scaling. The original multiplies the base rate 0.1 by
``tpu_num_shards`` (2: one TPU v2 chip) while keeping the global batch at 256 and
averaging gradients across the two shards (``CrossShardOptimizer``'s default), so
every record of the dataset was trained at an effective rate of **0.2** on the
mean gradient of 256 images. :class:`TrainConfig` keeps both numbers apart:
``learning_rate=0.1`` and ``lr_scale=2.0`` reproduce the dataset; ``lr_scale=1.0``
gives the literal 0.1.

Known differences from the TPU runs: batch-norm statistics are computed over the
whole batch of 256 (on TPU each of the 2 shards normalised its 128 images), and
floating-point and random streams differ, so accuracies agree in distribution,
not bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import NUM_LABELS, NUM_MODULES_PER_STACK, NUM_STACKS, STEM_FILTERS
from ..errors import TrainingAbortedError, import_optional
from ..params import _pruned
from ..records import EvaluationData, ModelMetrics
from .data import Cifar10, eval_dataset, num_eval_images, train_dataset
from .model import DATA_FORMATS, MIXED_PRECISION, build_model

# The install hint rather than a bare ModuleNotFoundError when the `train` extra is missing.
tf = import_optional("tensorflow", "train", "Training cells (nasbench_arrow.train)")

__all__ = [
    "Progress",
    "TrainConfig",
    "TrainingAbortedError",
    "learning_rate_at",
    "query_dict",
    "train_and_evaluate",
]


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; the defaults reproduce the dataset.

    Attributes
    ----------
    batch_size : int
        Images per step (256).
    learning_rate : float
        Base rate of the cosine schedule (0.1), multiplied by ``lr_scale``.
    lr_scale : float
        The original's ``tpu_num_shards`` factor (2.0), see the module docstring.
    momentum, rms_decay, rms_epsilon : float
        RMSProp momentum (0.9), mean-square decay (0.9) and epsilon (1.0).
    weight_decay : float
        L2 factor on ``sum(v ** 2) / 2`` over all trainable variables (1e-4).
    intermediate_evaluations : tuple of float
        Fractions of the budget evaluated besides the start and the end (0.5).
    stem_filters, num_stacks, num_modules_per_stack, num_labels : int
        Network size (128, 3, 3, 10). Other values no longer match the dataset.
    data_format : str
        ``"channels_last"`` (NHWC) or ``"channels_first"`` (NCHW, GPU only).
    mixed_precision : None, "float16" or "bfloat16"
        Layer compute dtype; float16 uses dynamic loss scaling.
    jit_compile : bool
        Compile the training step with XLA.
    max_attempts : int
        Restarts from scratch when the loss becomes non-finite (5, as the original).
    seed : int or None
        Seed for initialisation, shuffling and augmentation; ``None``: random,
        as the original.
    """

    batch_size: int = 256
    learning_rate: float = 0.1
    lr_scale: float = 2.0
    momentum: float = 0.9
    rms_decay: float = 0.9
    rms_epsilon: float = 1.0
    weight_decay: float = 1e-4
    intermediate_evaluations: tuple[float, ...] = (0.5,)
    stem_filters: int = STEM_FILTERS
    num_stacks: int = NUM_STACKS
    num_modules_per_stack: int = NUM_MODULES_PER_STACK
    num_labels: int = NUM_LABELS
    data_format: str = "channels_last"
    mixed_precision: str | None = None
    jit_compile: bool = False
    max_attempts: int = 5
    seed: int | None = None

    def __post_init__(self):
        if self.batch_size < 1:
            msg = f"batch_size must be >= 1, got {self.batch_size!r}"
            raise ValueError(msg)
        if self.data_format not in DATA_FORMATS:
            msg = f"data_format must be one of {DATA_FORMATS}, got {self.data_format!r}"
            raise ValueError(msg)
        if self.mixed_precision not in MIXED_PRECISION:
            msg = f"mixed_precision must be one of {list(MIXED_PRECISION)}, got {self.mixed_precision!r}"
            raise ValueError(msg)
        fractions = tuple(float(f) for f in self.intermediate_evaluations)
        if any(not 0.0 < f < 1.0 for f in fractions) or list(fractions) != sorted(set(fractions)):
            msg = f"intermediate_evaluations must be increasing fractions in (0, 1), got {fractions!r}"
            raise ValueError(msg)
        object.__setattr__(self, "intermediate_evaluations", fractions)
        if self.max_attempts < 1:
            msg = f"max_attempts must be >= 1, got {self.max_attempts!r}"
            raise ValueError(msg)

    @property
    def peak_learning_rate(self) -> float:
        """Rate at the start of the cosine: ``learning_rate * lr_scale``."""
        return self.learning_rate * self.lr_scale

    @property
    def model_kwargs(self) -> dict:
        """Keyword arguments of :func:`build_model` this recipe implies."""
        return {
            "stem_filters": self.stem_filters,
            "num_stacks": self.num_stacks,
            "num_modules_per_stack": self.num_modules_per_stack,
            "num_labels": self.num_labels,
            "data_format": self.data_format,
            "mixed_precision": self.mixed_precision,
        }


@dataclass(frozen=True)
class Progress:
    """Where a training run is, handed to the ``progress`` callback.

    Attributes
    ----------
    event : str
        ``"epoch"`` at each epoch boundary, ``"evaluation"`` after each evaluation.
    step, total_steps : int
        Steps done and planned.
    epoch : float
        Epochs done (``step * batch_size / train_images``).
    epochs : int
        The budget.
    loss : float
        Training loss of the last step (cross-entropy + weight decay); NaN at evaluations.
    learning_rate : float
        Rate of the last step.
    training_time : float
        Seconds spent in training steps so far.
    evaluation : EvaluationData or None
        The evaluation just made (``event == "evaluation"``).
    attempt : int
        1-based attempt number.
    """

    event: str
    step: int
    total_steps: int
    epoch: float
    epochs: int
    loss: float
    learning_rate: float
    training_time: float
    evaluation: EvaluationData | None = None
    attempt: int = 1


def learning_rate_at(step: int, total_steps: int, peak: float) -> float:
    """Learning rate of the cosine-by-step schedule: 0 at step 0, then cosine to 0.

    Parameters
    ----------
    step : int
        0-based step index.
    total_steps : int
        Steps of the whole budget.
    peak : float
        ``learning_rate * lr_scale``.
    """
    if step == 0:
        return 0.0
    return 0.5 * peak * (1.0 + math.cos(math.pi * step / total_steps))


class _Diverged(Exception):
    pass


def _rmsprop_update(var, grad, ms, mom, lr, decay: float, momentum: float, epsilon: float) -> None:
    """One step of TF1's ApplyRMSProp (epsilon inside the square root, plain momentum)."""
    ms.assign(decay * ms + (1.0 - decay) * tf.square(grad))
    mom.assign(momentum * mom + lr * grad / tf.sqrt(ms + epsilon))
    var.assign_sub(mom)


class _Run:
    """One attempt: model, optimizer state and compiled functions."""

    def __init__(self, matrix, ops, config: TrainConfig, total_steps: int):
        self.config = config
        self.model = build_model(matrix, ops, prune=False, **config.model_kwargs)
        self.variables = list(self.model.trainable_variables)
        # TF1's RMSPropOptimizer starts the mean square at ones, Keras at zeros;
        # with epsilon 1.0 this changes the first few hundred steps' step size.
        self.ms = [tf.Variable(tf.ones_like(v), trainable=False) for v in self.variables]
        self.mom = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.fp16 = config.mixed_precision == "float16"
        self.loss_scale = tf.Variable(2.0**15, trainable=False)
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.total_steps = float(max(total_steps, 1))
        self.train_step = tf.function(self._train_step, jit_compile=config.jit_compile)
        self.predict = tf.function(self._predict, jit_compile=config.jit_compile)

    def _lr(self):
        c = self.config
        progress = tf.cast(self.step, tf.float32) / self.total_steps
        lr = 0.5 * c.peak_learning_rate * (1.0 + tf.cos(math.pi * progress))
        return tf.where(tf.equal(self.step, 0), 0.0, lr)

    def _apply(self, grads, lr):
        c = self.config
        for v, g, ms, mom in zip(self.variables, grads, self.ms, self.mom):
            _rmsprop_update(v, g, ms, mom, lr, c.rms_decay, c.momentum, c.rms_epsilon)

    def _train_step(self, images, labels):
        c = self.config
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            xent = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=labels, logits=tf.cast(logits, tf.float32)
                )
            )
            l2 = tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in self.variables])
            loss = xent + c.weight_decay * l2
            target = loss * self.loss_scale if self.fp16 else loss
        grads = tape.gradient(target, self.variables)
        lr = self._lr()
        if self.fp16:
            # Dynamic loss scaling: skip a step whose gradients overflowed and halve
            # the scale; double it after 2,000 clean steps (Keras' defaults).
            grads = [g / self.loss_scale for g in grads]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

            def ok():
                self._apply(grads, lr)
                self.good_steps.assign_add(1)
                grow = self.good_steps >= 2000
                self.loss_scale.assign(tf.where(grow, self.loss_scale * 2.0, self.loss_scale))
                self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), self.good_steps))
                return tf.constant(True)

            def overflow():
                self.loss_scale.assign(tf.maximum(self.loss_scale / 2.0, 1.0))
                self.good_steps.assign(0)
                return tf.constant(False)

            tf.cond(finite, ok, overflow)
        else:
            self._apply(grads, lr)
        self.step.assign_add(1)
        return loss, lr

    def _predict(self, images, labels):
        logits = self.model(images, training=False)
        hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels)
        return tf.reduce_sum(tf.cast(hits, tf.int64))


def _accuracy(run: _Run, dataset, n: int) -> float:
    if n == 0:
        return float("nan")
    correct = 0
    for images, labels in dataset:
        correct += int(run.predict(images, labels))
    # As tf.metrics.accuracy: a float32 ratio, stored as double.
    return float(np.float32(correct) / np.float32(n))


def _evaluation_points(
    epochs: int, train_images: int, config: TrainConfig
) -> list[tuple[float, int]]:
    """(current_epoch, step) of each evaluation after the start, as the original computes them."""
    points = []
    for fraction in (*config.intermediate_evaluations, 1.0):
        epoch = fraction * epochs
        points.append((float(epoch), int(epoch * train_images / config.batch_size)))
    return points


def train_and_evaluate(
    spec: Any,
    data: Cifar10,
    epochs: int = 108,
    config: TrainConfig | None = None,
    *,
    ops: Sequence[str] | None = None,
    prune: bool = True,
    progress: Callable[[Progress], None] | None = None,
) -> ModelMetrics:
    """Train one cell from scratch and evaluate it at the start, halfway and end.

    Parameters
    ----------
    spec : ModelSpec or array-like
        The cell (pruned ModelSpec, or a matrix with ``ops``; pruned first).
    data : Cifar10
        From :func:`nasbench_arrow.train.load_cifar10`.
    epochs : int
        Budget in epochs (the dataset has 4, 12, 36 and 108).
    config : TrainConfig, optional
        Recipe; defaults reproduce the dataset.
    ops : sequence of str, optional
        Labels when ``spec`` is a matrix.
    prune : bool, default True
        Prune a raw matrix through ``ModelSpec`` first; ``False`` when it already is.
    progress : callable, optional
        Called with a :class:`Progress` at every epoch boundary and evaluation.

    Returns
    -------
    ModelMetrics
        Three ``EvaluationData`` (start, halfway, end: epochs, training seconds,
        train/validation/test accuracy as fractions 0-1), trainable parameters,
        total seconds. Exactly what one record of the dataset holds.

    Raises
    ------
    TrainingAbortedError
        The loss became non-finite on ``config.max_attempts`` attempts.
    """
    config = config or TrainConfig()
    if int(epochs) != epochs or epochs < 1:
        msg = f"epochs must be a positive integer, got {epochs!r}"
        raise ValueError(msg)
    epochs = int(epochs)
    matrix, labels = _pruned(spec, ops, prune)
    channels_first = config.data_format == "channels_first"
    n_train = len(data.train)
    if n_train < config.batch_size:
        msg = (
            f"the training split has {n_train} images, fewer than one batch of {config.batch_size}"
        )
        raise ValueError(msg)
    total_steps = int(epochs * n_train / config.batch_size)
    evals = [
        (
            name,
            eval_dataset(split, config.batch_size, channels_first=channels_first),
            num_eval_images(split, config.batch_size),
        )
        for name, split in (("train", data.train_eval), ("valid", data.valid), ("test", data.test))
    ]
    last_error = None
    for attempt in range(1, config.max_attempts + 1):
        tf.keras.backend.clear_session()
        if config.seed is not None:
            tf.keras.utils.set_random_seed(config.seed + attempt - 1)
        try:
            return _attempt(
                matrix, labels, data, epochs, config, total_steps, evals, progress, attempt
            )
        except (_Diverged, tf.errors.InvalidArgumentError) as exc:
            last_error = exc
    msg = (
        f"training diverged on all {config.max_attempts} attempts ({last_error}); "
        "lower the learning rate or check the data"
    )
    raise TrainingAbortedError(msg)


def _attempt(
    matrix, labels, data, epochs, config, total_steps, evals, progress, attempt
) -> ModelMetrics:
    n_train = len(data.train)
    run = _Run(matrix, labels, config, total_steps)
    batches = iter(
        train_dataset(
            data.train,
            config.batch_size,
            seed=config.seed,
            channels_first=config.data_format == "channels_first",
        )
    )
    start = time.perf_counter()

    def evaluate(epoch: float, training_time: float) -> EvaluationData:
        acc = {name: _accuracy(run, ds, n) for name, ds, n in evals}
        return EvaluationData(
            current_epoch=float(epoch),
            # The original kept this in a float32 variable.
            training_time=float(np.float32(training_time)),
            train_accuracy=acc["train"],
            validation_accuracy=acc["valid"],
            test_accuracy=acc["test"],
        )

    def report(event, step, loss, lr, training_time, evaluation=None):
        if progress is not None:
            progress(
                Progress(
                    event=event,
                    step=step,
                    total_steps=total_steps,
                    epoch=step * config.batch_size / n_train,
                    epochs=epochs,
                    loss=loss,
                    learning_rate=lr,
                    training_time=training_time,
                    evaluation=evaluation,
                    attempt=attempt,
                )
            )

    # Step 0 at learning rate 0 initialises (and traces the step function);
    # like the original, it is not counted as training time.
    images, labels_ = next(batches)
    loss, lr = run.train_step(images, labels_)
    step = 1
    training_time = 0.0
    results = [evaluate(0.0, training_time)]
    report("evaluation", 0, float("nan"), 0.0, training_time, results[0])

    next_epoch = 1
    for epoch_at, stop in _evaluation_points(epochs, n_train, config):
        t0 = time.perf_counter()
        while step < stop:
            images, labels_ = next(batches)
            loss, lr = run.train_step(images, labels_)
            step += 1
            if step * config.batch_size >= next_epoch * n_train:
                loss_value = float(loss)  # syncs; once per epoch only
                if not math.isfinite(loss_value):
                    raise _Diverged(f"loss {loss_value} at step {step}")
                report(
                    "epoch", step, loss_value, float(lr), training_time + time.perf_counter() - t0
                )
                next_epoch = step * config.batch_size // n_train + 1
        float(loss)  # wait for the last step before stopping the clock
        training_time += time.perf_counter() - t0
        results.append(evaluate(epoch_at, training_time))
        report("evaluation", step, float("nan"), float(lr), training_time, results[-1])

    total_time = time.perf_counter() - start
    params = int(sum(int(np.prod(v.shape)) for v in run.variables))
    return ModelMetrics(
        evaluation_data=tuple(results), trainable_parameters=params, total_time=total_time
    )


def query_dict(
    spec: Any,
    metrics: ModelMetrics,
    *,
    ops: Sequence[str] | None = None,
    prune: bool = True,
    stop_halfway: bool = False,
) -> dict:
    """The dict ``NASBench.query`` returns, built from a freshly trained run.

    Parameters
    ----------
    spec : ModelSpec or array-like
        The cell trained (pruned ModelSpec, or a matrix with ``ops``).
    metrics : ModelMetrics
        From :func:`train_and_evaluate`.
    ops : sequence of str, optional
        Labels when ``spec`` is a matrix.
    prune : bool, default True
        Prune a raw matrix through ``ModelSpec`` first; ``False`` when it already is.
    stop_halfway : bool
        Report the halfway evaluation instead of the final one.

    Returns
    -------
    dict
        ``module_adjacency``, ``module_operations``, ``trainable_parameters``,
        ``training_time`` (seconds), ``train_accuracy``, ``validation_accuracy``,
        ``test_accuracy`` (fractions 0-1).
    """
    matrix, labels = _pruned(spec, ops, prune)
    ev = metrics.evaluation_data[1] if stop_halfway else metrics.evaluation_data[-1]
    return {
        "module_adjacency": np.asarray(matrix).copy(),
        "module_operations": list(labels),
        "trainable_parameters": int(metrics.trainable_parameters),
        "training_time": ev.training_time,
        "train_accuracy": ev.train_accuracy,
        "validation_accuracy": ev.validation_accuracy,
        "test_accuracy": ev.test_accuracy,
    }
