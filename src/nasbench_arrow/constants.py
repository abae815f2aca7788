"""The facts of the NAS-Bench-101 search space and dataset, defined once.

Every other module imports these names; none repeats a literal. Values come
from the reference implementation (``google-research/nasbench``:
``lib/config.py``, ``api.py``, ``scripts/generate_graphs.py``) and the paper
(Ying et al., ICML 2019).

Note the original README says "up to 9 vertices and 7 edges"; its code (and
this module) says 7 vertices and 9 edges.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALL_OPS",
    "AVAILABLE_OPS",
    "CELLS_BY_VERTEX_COUNT",
    "CONV1X1",
    "CONV3X3",
    "INPUT",
    "MAXPOOL3X3",
    "MAX_EDGES",
    "MAX_VERTICES",
    "NUM_LABELS",
    "NUM_MODULES_PER_STACK",
    "NUM_RECORDS_108",
    "NUM_RECORDS_FULL",
    "NUM_REPEATS",
    "NUM_STACKS",
    "NUM_UNIQUE_CELLS",
    "OUTPUT",
    "PUBLISHED_FILES",
    "STEM_FILTERS",
    "VALID_EPOCHS",
    "PublishedFile",
    "default_config",
]

# Vertex labels. The first and last vertex of every cell carry these.
INPUT = "input"
OUTPUT = "output"

# Operations of the interior vertices.
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"

#: Interior ops in their canonical order: the hash labels an op by its index
#: here (``config['available_ops']`` of the original), so the order matters.
AVAILABLE_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)

#: Every label a stored cell may carry, input and output included.
ALL_OPS: tuple[str, ...] = (INPUT, *AVAILABLE_OPS, OUTPUT)

#: Vertices per cell, input and output included.
MAX_VERTICES = 7
#: Edges per cell.
MAX_EDGES = 9

#: Training budgets in the full dataset (epochs).
VALID_EPOCHS: tuple[int, ...] = (4, 12, 36, 108)
#: Independent training runs per (cell, budget).
NUM_REPEATS = 3

# The full-size network every cell of the dataset was trained as (``config.py``
# of the original): the parameter counts, the trainer and ``default_config``
# all read these, so they never disagree.
#: Output channels of the stem convolution (doubled at each downsampling).
STEM_FILTERS = 128
#: Stacks of modules, separated by downsampling.
NUM_STACKS = 3
#: Modules (copies of the cell) per stack.
NUM_MODULES_PER_STACK = 3
#: Classes of the classifier (CIFAR-10).
NUM_LABELS = 10

#: Unique cells up to isomorphism in the default space.
NUM_UNIQUE_CELLS = 423_624
#: Unique cells by (pruned) vertex count, from the original generator.
CELLS_BY_VERTEX_COUNT = MappingProxyType({2: 1, 3: 6, 4: 84, 5: 2_441, 6: 62_010, 7: 359_082})
#: Records in ``nasbench_full.tfrecord`` (cells x budgets x repeats).
NUM_RECORDS_FULL = NUM_UNIQUE_CELLS * len(VALID_EPOCHS) * NUM_REPEATS
#: Records in ``nasbench_only108.tfrecord``.
NUM_RECORDS_108 = NUM_UNIQUE_CELLS * NUM_REPEATS


class PublishedFile:
    """One of the official dataset files, as published with the paper.

    Attributes
    ----------
    name : str
        File name as distributed.
    sha256 : str
        Published SHA-256 of the whole file (hex).
    num_records : int
        Records the file holds.
    epochs : tuple of int
        Budgets it covers.
    approx_size : str
        Size as the original README states it (exact byte counts are not published).
    """

    __slots__ = ("approx_size", "epochs", "name", "num_records", "sha256")

    def __init__(self, name: str, sha256: str, num_records: int, epochs: tuple[int, ...], approx_size: str):
        self.name = name
        self.sha256 = sha256
        self.num_records = num_records
        self.epochs = epochs
        self.approx_size = approx_size

    def __repr__(self) -> str:
        return f"PublishedFile({self.name!r}, sha256={self.sha256[:12]}..., records={self.num_records})"


#: The official files, keyed by SHA-256.
PUBLISHED_FILES = MappingProxyType(
    {
        f.sha256: f
        for f in (
            PublishedFile(
                "nasbench_full.tfrecord",
                "3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c",
                NUM_RECORDS_FULL,
                VALID_EPOCHS,
                "~1.95 GB",
            ),
            PublishedFile(
                "nasbench_only108.tfrecord",
                "4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1",
                NUM_RECORDS_108,
                (108,),
                "~499 MB",
            ),
        )
    }
)


def default_config() -> dict:
    """Return a fresh copy of the original ``nasbench.lib.config.build_config()``.

    Same keys, values and key order as the flag defaults of the reference
    implementation; this is what ``NASBench.config`` holds.

    Returns
    -------
    dict
        ``module_vertices``, ``max_edges``, ``available_ops``, ``num_repeats``,
        the training recipe (``batch_size``, ``learning_rate``, ...) and the
        data/TPU flags.
    """
    return {
        "train_data_files": [],
        "valid_data_file": "",
        "test_data_file": "",
        "sample_data_file": "",
        "data_format": "channels_last",
        "num_labels": NUM_LABELS,
        "module_vertices": MAX_VERTICES,
        "max_edges": MAX_EDGES,
        "available_ops": list(AVAILABLE_OPS),
        "stem_filter_size": STEM_FILTERS,
        "num_stacks": NUM_STACKS,
        "num_modules_per_stack": NUM_MODULES_PER_STACK,
        "batch_size": 256,
        "train_epochs": 108,
        "train_seconds": 4.0 * 60 * 60,
        "learning_rate": 0.1,
        "lr_decay_method": "COSINE_BY_STEP",
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "max_attempts": 5,
        "intermediate_evaluations": ["0.5"],
        "num_repeats": NUM_REPEATS,
        "use_tpu": True,
        "tpu_iterations_per_loop": 100,
        "tpu_num_shards": 2,
    }
