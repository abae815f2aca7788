"""An original-style, in-memory NAS-Bench-101 loader: the independent reference.

This module redoes, record by record, what ``nasbench.api.NASBench.__init__``
of ``google-research/nasbench`` does, without TensorFlow and without any code
of nasbench-arrow: plain ``struct`` TFRecord framing, ``json.loads``,
``base64.b64decode``, the protobuf runtime with a ``ModelMetrics`` descriptor
built in code, and the same nested dicts (``fixed_statistics``,
``computed_statistics``, ``valid_epochs``). Its ``query``,
``get_metrics_from_hash``, ``get_metrics_from_spec``, ``is_valid`` and budget
counters follow the original semantics, including Python's *global*
``random`` seeded in the constructor.

It serves three purposes:

* tests compare every value the converter wrote with what this loader read;
* facade tests compare ``nasbench_arrow.api.NASBench`` with it;
* benchmarks time it as the "original-style load" baseline
  (``benchmarks/`` put ``tests/`` on ``sys.path`` to import it).

Deliberate differences from the original (none changes a value):

* the TFRecord iterator is a plain Python reader (the original used
  ``tf.python_io.tf_record_iterator``); CRCs are checked with the ``crc32c``
  package when ``verify_crc`` is true, as TensorFlow does;
* the "too many vertices" message uses ``self.config`` (the original indexes
  the ``config`` *module* there, which raises ``TypeError`` instead).

Only the standard library, numpy, crc32c and protobuf are imported.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import struct

import numpy as np

__all__ = [
    "REFERENCE_CONFIG",
    "OriginalStyleNASBench",
    "OutOfDomainError",
    "decode_model_metrics",
    "iter_tfrecord",
    "model_metrics_class",
]

# The search-space part of the original ``config.build_config()`` (literal
# values, deliberately not imported from nasbench_arrow: this is a reference).
REFERENCE_CONFIG = {
    "module_vertices": 7,
    "max_edges": 9,
    "available_ops": ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"],
    "num_repeats": 3,
}


class OutOfDomainError(Exception):
    """Indicates that the requested graph is outside of the search domain."""


# --------------------------------------------------------------------------
# TFRecord framing: uint64 length, uint32 masked crc32c(length), payload,
# uint32 masked crc32c(payload); all little-endian.
# --------------------------------------------------------------------------

_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
    import crc32c

    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def iter_tfrecord(path, verify_crc: bool = True):
    """Yield the payload of each record of a TFRecord file, in file order.

    Parameters
    ----------
    path : path
        TFRecord file.
    verify_crc : bool
        Check both CRCs of each record (as TensorFlow's iterator does).

    Yields
    ------
    bytes
        One record's payload.

    Raises
    ------
    ValueError
        Truncated file or CRC mismatch (a plain error: this is a test helper).
    """
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                msg = f"truncated record header at byte {f.tell() - len(header)}"
                raise ValueError(msg)
            (length,) = struct.unpack("<Q", header[:8])
            (length_crc,) = struct.unpack("<I", header[8:])
            if verify_crc and _masked_crc(header[:8]) != length_crc:
                msg = f"length CRC mismatch at byte {f.tell() - 12}"
                raise ValueError(msg)
            payload = f.read(length)
            footer = f.read(4)
            if len(payload) < length or len(footer) < 4:
                msg = "truncated record"
                raise ValueError(msg)
            if verify_crc and _masked_crc(payload) != struct.unpack("<I", footer)[0]:
                msg = "payload CRC mismatch"
                raise ValueError(msg)
            yield payload


# --------------------------------------------------------------------------
# ModelMetrics through the protobuf runtime, descriptor built in code from
# lib/model_metrics.proto of the original (proto2, package nasbench).
# --------------------------------------------------------------------------

_METRICS_CLASS = None


def model_metrics_class():
    """Return the protobuf message class ``nasbench.ModelMetrics`` (built once)."""
    global _METRICS_CLASS
    if _METRICS_CLASS is not None:
        return _METRICS_CLASS
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "nasbench_arrow_reference/model_metrics.proto"
    fdp.package = "nasbench_reference"
    fdp.syntax = "proto2"
    F = descriptor_pb2.FieldDescriptorProto
    opt = F.LABEL_OPTIONAL

    evaluation = fdp.message_type.add()
    evaluation.name = "EvaluationData"
    for number, name in enumerate(
        (
            "current_epoch",
            "training_time",
            "train_accuracy",
            "validation_accuracy",
            "test_accuracy",
        ),
        start=1,
    ):
        evaluation.field.add(name=name, number=number, label=opt, type=F.TYPE_DOUBLE)
    evaluation.field.add(name="checkpoint_path", number=6, label=opt, type=F.TYPE_STRING)

    metrics = fdp.message_type.add()
    metrics.name = "ModelMetrics"
    metrics.field.add(
        name="evaluation_data",
        number=1,
        label=F.LABEL_REPEATED,
        type=F.TYPE_MESSAGE,
        type_name=".nasbench_reference.EvaluationData",
    )
    metrics.field.add(name="trainable_parameters", number=2, label=opt, type=F.TYPE_INT32)
    metrics.field.add(name="total_time", number=3, label=opt, type=F.TYPE_DOUBLE)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    _METRICS_CLASS = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("nasbench_reference.ModelMetrics")
    )
    return _METRICS_CLASS


def decode_model_metrics(raw: bytes):
    """Parse serialized ``ModelMetrics`` bytes with the protobuf runtime."""
    return model_metrics_class().FromString(raw)


def parse_record(payload: bytes):
    """Decode one payload exactly as the original loop does.

    Returns
    -------
    tuple
        ``(module_hash, epochs, adjacency (np.int8 V x V), operations (list),
        metrics (protobuf ModelMetrics))``.
    """
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = json.loads(
        payload.decode("utf-8")
    )
    dim = int(np.sqrt(len(raw_adjacency)))
    adjacency = np.array([int(e) for e in list(raw_adjacency)], dtype=np.int8)
    adjacency = np.reshape(adjacency, (dim, dim))
    operations = raw_operations.split(",")
    metrics = decode_model_metrics(base64.b64decode(raw_metrics))
    return module_hash, epochs, adjacency, operations, metrics


class OriginalStyleNASBench:
    """The original ``NASBench`` data model, loaded the original way.

    Parameters
    ----------
    dataset_file : path
        Official-format TFRecord.
    seed : int, optional
        Seeds Python's global ``random`` (as the original does).
    verify_crc : bool
        Check TFRecord CRCs while reading (TensorFlow does).
    keep_extra : bool
        Also keep, per run, what the original throws away (start-of-training
        evaluation, ``current_epoch`` of each evaluation, ``total_time``) in
        ``extra_statistics[hash][epochs][repeat]``; off by default so the
        benchmark measures the original's work.

    Attributes
    ----------
    fixed_statistics : dict
        hash -> {"module_adjacency", "module_operations", "trainable_parameters"}.
    computed_statistics : dict
        hash -> epochs -> list (repeats in file order) of metric dicts.
    valid_epochs : set of int
    """

    def __init__(self, dataset_file, seed=None, verify_crc: bool = True, keep_extra: bool = False):
        self.config = copy.deepcopy(REFERENCE_CONFIG)
        random.seed(seed)

        self.fixed_statistics = {}
        self.computed_statistics = {}
        self.extra_statistics = {} if keep_extra else None
        self.valid_epochs = set()
        self.num_records = 0

        for serialized_row in iter_tfrecord(os.fspath(dataset_file), verify_crc=verify_crc):
            module_hash, epochs, adjacency, operations, metrics = parse_record(serialized_row)
            self.num_records += 1

            if module_hash not in self.fixed_statistics:
                new_entry = {}
                new_entry["module_adjacency"] = adjacency
                new_entry["module_operations"] = operations
                new_entry["trainable_parameters"] = metrics.trainable_parameters
                self.fixed_statistics[module_hash] = new_entry
                self.computed_statistics[module_hash] = {}
                if keep_extra:
                    self.extra_statistics[module_hash] = {}

            self.valid_epochs.add(epochs)

            if epochs not in self.computed_statistics[module_hash]:
                self.computed_statistics[module_hash][epochs] = []
                if keep_extra:
                    self.extra_statistics[module_hash][epochs] = []

            data_point = {}
            half_evaluation = metrics.evaluation_data[1]
            data_point["halfway_training_time"] = half_evaluation.training_time
            data_point["halfway_train_accuracy"] = half_evaluation.train_accuracy
            data_point["halfway_validation_accuracy"] = half_evaluation.validation_accuracy
            data_point["halfway_test_accuracy"] = half_evaluation.test_accuracy

            final_evaluation = metrics.evaluation_data[2]
            data_point["final_training_time"] = final_evaluation.training_time
            data_point["final_train_accuracy"] = final_evaluation.train_accuracy
            data_point["final_validation_accuracy"] = final_evaluation.validation_accuracy
            data_point["final_test_accuracy"] = final_evaluation.test_accuracy

            self.computed_statistics[module_hash][epochs].append(data_point)

            if keep_extra:
                extra = {"total_time": metrics.total_time}
                for stage, ev in zip(("start", "halfway", "final"), metrics.evaluation_data[:3]):
                    extra[f"{stage}_current_epoch"] = ev.current_epoch
                    extra[f"{stage}_training_time"] = ev.training_time
                    extra[f"{stage}_train_accuracy"] = ev.train_accuracy
                    extra[f"{stage}_validation_accuracy"] = ev.validation_accuracy
                    extra[f"{stage}_test_accuracy"] = ev.test_accuracy
                self.extra_statistics[module_hash][epochs].append(extra)

        self.history = {}
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def query(self, model_spec, epochs=108, stop_halfway=False):
        """Sample one repeat of a spec at a budget (original semantics and counters)."""
        if epochs not in self.valid_epochs:
            raise OutOfDomainError(f"invalid number of epochs, must be one of {self.valid_epochs}")

        fixed_stat, computed_stat = self.get_metrics_from_spec(model_spec)
        sampled_index = random.randint(0, self.config["num_repeats"] - 1)
        computed_stat = computed_stat[epochs][sampled_index]

        data = {}
        data["module_adjacency"] = fixed_stat["module_adjacency"]
        data["module_operations"] = fixed_stat["module_operations"]
        data["trainable_parameters"] = fixed_stat["trainable_parameters"]

        prefix = "halfway" if stop_halfway else "final"
        data["training_time"] = computed_stat[f"{prefix}_training_time"]
        data["train_accuracy"] = computed_stat[f"{prefix}_train_accuracy"]
        data["validation_accuracy"] = computed_stat[f"{prefix}_validation_accuracy"]
        data["test_accuracy"] = computed_stat[f"{prefix}_test_accuracy"]

        self.training_time_spent += data["training_time"]
        if stop_halfway:
            self.total_epochs_spent += epochs // 2
        else:
            self.total_epochs_spent += epochs
        return data

    def is_valid(self, model_spec):
        """True if the spec is inside the search space (no budget change)."""
        try:
            self._check_spec(model_spec)
        except OutOfDomainError:
            return False
        return True

    def get_budget_counters(self):
        """Return ``(training_time_spent, total_epochs_spent)``."""
        return self.training_time_spent, self.total_epochs_spent

    def reset_budget_counters(self):
        """Reset the time and epoch budget counters."""
        self.training_time_spent = 0.0
        self.total_epochs_spent = 0

    def hash_iterator(self):
        """Iterator over all unique module hashes (insertion = file order)."""
        return self.fixed_statistics.keys()

    def get_metrics_from_hash(self, module_hash):
        """Deep copies of the fixed and computed statistics of a hash."""
        fixed_stat = copy.deepcopy(self.fixed_statistics[module_hash])
        computed_stat = copy.deepcopy(self.computed_statistics[module_hash])
        return fixed_stat, computed_stat

    def get_metrics_from_spec(self, model_spec):
        """Check a spec, hash it and return its statistics."""
        self._check_spec(model_spec)
        module_hash = self._hash_spec(model_spec)
        return self.get_metrics_from_hash(module_hash)

    def _check_spec(self, model_spec):
        if not model_spec.valid_spec:
            raise OutOfDomainError("invalid spec, provided graph is disconnected.")

        num_vertices = len(model_spec.ops)
        num_edges = np.sum(model_spec.matrix)

        if num_vertices > self.config["module_vertices"]:
            raise OutOfDomainError(
                f"too many vertices, got {num_vertices} "
                f"(max vertices = {self.config['module_vertices']})"
            )

        if num_edges > self.config["max_edges"]:
            raise OutOfDomainError(
                f"too many edges, got {num_edges} (max edges = {self.config['max_edges']})"
            )

        if model_spec.ops[0] != "input":
            raise OutOfDomainError("first operation should be 'input'")
        if model_spec.ops[-1] != "output":
            raise OutOfDomainError("last operation should be 'output'")
        for op in model_spec.ops[1:-1]:
            if op not in self.config["available_ops"]:
                raise OutOfDomainError(
                    f"unsupported op {op} (available ops = {self.config['available_ops']})"
                )

    def _hash_spec(self, model_spec):
        return model_spec.hash_spec(self.config["available_ops"])
