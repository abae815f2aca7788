"""nasbench-arrow: NAS-Bench-101 without TensorFlow.

The data flows through one module per stage::

    tfrecord.py        official .tfrecord bytes -> payloads (CRC-checked framing)
    records.py         payload -> row fields + ModelMetrics (JSON, base64, proto2 wire format)
    converters/        rows -> Arrow batches -> partitioned Parquet + query index + manifest
    layout.py          the on-disk format both sides agree on; manifest.py reads/writes its manifest
    dataset.py         Polars lazy scans and the memory-mapped query index over a converted dataset
    api.py             the NASBench facade, a drop-in for the original nasbench.api

Example
-------
>>> from nasbench_arrow import api                      # doctest: +SKIP
>>> nb = api.NASBench("out/")                           # doctest: +SKIP
>>> spec = api.ModelSpec([[0, 1], [0, 0]], [api.INPUT, api.OUTPUT])  # doctest: +SKIP
>>> nb.query(spec)["test_accuracy"]                     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .constants import (
    AVAILABLE_OPS,
    CONV1X1,
    CONV3X3,
    INPUT,
    MAX_EDGES,
    MAX_VERTICES,
    MAXPOOL3X3,
    NUM_REPEATS,
    OUTPUT,
    VALID_EPOCHS,
)
from .errors import (
    ConversionError,
    DatasetCorruptError,
    DatasetError,
    DatasetExistsError,
    DatasetFormatError,
    DatasetNotFoundError,
    MissingDependencyError,
    NASBenchError,
    OutOfDomainError,
    TFRecordError,
)

if TYPE_CHECKING:  # pragma: no cover
    from . import api
    from .api import NASBench
    from .model_spec import ModelSpec
    from .params import trainable_parameters

__all__ = [  # noqa: RUF022 -- grouped by topic, not alphabetically
    "__version__",
    # the facade and the spec
    "api",
    "NASBench",
    "ModelSpec",
    "trainable_parameters",
    # search-space constants
    "INPUT",
    "OUTPUT",
    "CONV3X3",
    "CONV1X1",
    "MAXPOOL3X3",
    "AVAILABLE_OPS",
    "MAX_VERTICES",
    "MAX_EDGES",
    "VALID_EPOCHS",
    "NUM_REPEATS",
    # errors
    "NASBenchError",
    "OutOfDomainError",
    "ConversionError",
    "TFRecordError",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "DatasetCorruptError",
    "DatasetExistsError",
    "MissingDependencyError",
]

# Heavier names load on first use, so `import nasbench_arrow` stays cheap
# (opening a dataset, import included, has a 1 s budget).
_LAZY = {
    "api": ("nasbench_arrow.api", None),
    "NASBench": ("nasbench_arrow.api", "NASBench"),
    "ModelSpec": ("nasbench_arrow.model_spec", "ModelSpec"),
    "trainable_parameters": ("nasbench_arrow.params", "trainable_parameters"),
}


def __getattr__(name: str):
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        msg = f"module 'nasbench_arrow' has no attribute {name!r}"
        raise AttributeError(msg) from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
