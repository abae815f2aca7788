"""The on-disk layout of a converted dataset: one home for its facts.

Both the converter (writer) and the reader import everything they need to
agree on from here: format version, table schemas, the partition rule, file
names, and the manifest. A converted dataset looks like::

    OUT_DIR/
      manifest.json                      format version, source, counts, files, checksums
      cells/bucket=0/part-0.parquet      one row per unique cell, sorted by module_hash
      ...
      cells/bucket=f/part-0.parquet
      runs/bucket=0/part-0.parquet       one row per training run, sorted by (module_hash, epochs, repeat)
      ...
      index/*.npy                        query index (uncompressed, memory-mapped by NASBench)

Buckets are hive-style (``bucket=<first hex digit of module_hash>``), so a
filter on ``module_hash`` (or ``bucket``) opens one file of sixteen, and rows
sorted by hash let Parquet row-group statistics skip the rest of that file.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "CELLS_DIR",
    "RUNS_DIR",
    "INDEX_DIR",
    "BUCKETS",
    "BUCKET_COLUMN",
    "STAGES",
    "METRICS",
    "CELLS_SCHEMA",
    "RUNS_SCHEMA",
    "INDEX_FILES",
    "INDEX_RUN_COLUMNS",
    "OP_CODES",
    "bucket_of",
    "data_file",
    "METADATA_KEY",
]

#: Name written into every manifest and Parquet file, so a reader can tell ours apart.
FORMAT_NAME = "nasbench-arrow"
#: Bumped on any incompatible change; readers refuse versions they do not know.
FORMAT_VERSION = 1

MANIFEST_NAME = "manifest.json"
CELLS_DIR = "cells"
RUNS_DIR = "runs"
INDEX_DIR = "index"

#: Key of the JSON blob in each Parquet file's key-value metadata.
METADATA_KEY = b"nasbench_arrow"

#: Partition column and its values: the first hex digit of the module hash.
BUCKET_COLUMN = "bucket"
BUCKETS: tuple[str, ...] = tuple("0123456789abcdef")


def bucket_of(module_hash: str) -> str:
    """Return the bucket (partition value) of a module hash.

    Parameters
    ----------
    module_hash : str
        32 lowercase hex digits.

    Returns
    -------
    str
        Its first hex digit.
    """
    return module_hash[0]


def data_file(table: str, bucket: str) -> str:
    """Relative path (POSIX separators) of one table's file in one bucket."""
    return f"{table}/{BUCKET_COLUMN}={bucket}/part-0.parquet"


#: Evaluation points of a training run: ``evaluation_data[0..2]`` of ModelMetrics.
STAGES: tuple[str, ...] = ("start", "halfway", "final")
#: Fields of one evaluation (ModelMetrics ``EvaluationData``), all doubles.
METRICS: tuple[str, ...] = (
    "current_epoch",  # epochs trained at this evaluation
    "training_time",  # seconds of training up to here, evaluation excluded
    "train_accuracy",  # fraction 0-1 on a fixed 10,000 training images
    "validation_accuracy",  # fraction 0-1 on the 10,000 held-out images
    "test_accuracy",  # fraction 0-1 on the CIFAR-10 test set
)

#: One row per unique cell.
CELLS_SCHEMA = pa.schema(
    [
        pa.field("module_hash", pa.string(), nullable=False),  # 32 hex digits
        pa.field("num_vertices", pa.int8(), nullable=False),
        pa.field("num_edges", pa.int8(), nullable=False),
        # Row-major 0/1 string of the V x V matrix exactly as stored in the source.
        pa.field("adjacency", pa.string(), nullable=False),
        pa.field("operations", pa.list_(pa.string()), nullable=False),  # V labels, input..output
        pa.field("trainable_parameters", pa.int32(), nullable=False),  # from ModelMetrics
    ]
)

#: One row per training run (record of the source file).
RUNS_SCHEMA = pa.schema(
    [
        pa.field("module_hash", pa.string(), nullable=False),
        pa.field("epochs", pa.int16(), nullable=False),  # budget: 4, 12, 36 or 108
        pa.field("repeat", pa.int8(), nullable=False),  # 0-based, in source file order
        *[
            pa.field(f"{stage}_{metric}", pa.float64(), nullable=False)
            for stage in STAGES
            for metric in METRICS
        ],
        pa.field("total_time", pa.float64(), nullable=False),  # seconds, training + evaluation
        pa.field("record_index", pa.int64(), nullable=False),  # 0-based position in the source
    ]
)

#: Columns of ``index/run_metrics.npy`` (float64, one row per run, same order as RUNS).
INDEX_RUN_COLUMNS: tuple[str, ...] = tuple(
    f"{stage}_{metric}"
    for stage in ("halfway", "final")
    for metric in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
)

#: Codes of op labels in ``index/cell_ops.npy``; 255 pads cells with fewer vertices.
OP_CODES: tuple[str, ...] = ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "output")

#: The query index, written by the converter, memory-mapped by the facade.
#: All arrays are ordered by module_hash (cells) and by (module_hash, epochs, repeat) (runs).
INDEX_FILES = {
    # (num_cells,) |S32: ASCII hex hashes, sorted, for np.searchsorted.
    "cell_hash": "cell_hash.npy",
    # (num_cells,) int8: vertex count V.
    "cell_num_vertices": "cell_num_vertices.npy",
    # (num_cells, 7, 7) int8: adjacency padded with zeros beyond V.
    "cell_adjacency": "cell_adjacency.npy",
    # (num_cells, 7) uint8: OP_CODES index per vertex, 255 beyond V.
    "cell_ops": "cell_ops.npy",
    # (num_cells,) int32: trainable parameters.
    "cell_params": "cell_params.npy",
    # (num_cells + 1,) int64: runs of cell i are rows run_start[i] : run_start[i + 1].
    "run_start": "run_start.npy",
    # (num_runs,) int16: budget of each run.
    "run_epochs": "run_epochs.npy",
    # (num_runs, 8) float64: INDEX_RUN_COLUMNS.
    "run_metrics": "run_metrics.npy",
}
