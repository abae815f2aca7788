"""The analytic parameter counter (no TensorFlow) against the real dataset."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import nasbench_arrow
from nasbench_arrow.constants import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from nasbench_arrow.errors import OutOfDomainError
from nasbench_arrow.params import module_parameters, trainable_parameters, vertex_channels

# The Inception-like cell as the original README writes it (not in stored vertex order).
from nasbench_arrow.testing import INCEPTION_MATRIX, INCEPTION_OPS

INCEPTION_PARAMS = 2_694_282


def _real_cells(realdata):
    """Every real (hash, matrix, ops, trainable_parameters) in shared/realdata."""
    cells = {}
    for r in json.loads((realdata / "vis_first1000_by_hash.json").read_text()):
        cells[r["hash"]] = (r["matrix"], r["ops"], r["trainable_parameters"])
    for h, r in json.loads((realdata / "naslib_nb101_dummy_30.json").read_text()).items():
        cells[h] = (r["module_adjacency"], r["module_operations"], r["trainable_parameters"])
    inc = json.loads((realdata / "inception_28cfc787.json").read_text())
    cells[inc["hash"]] = (inc["pruned_matrix"], inc["pruned_ops"], inc["trainable_parameters"])
    first = json.loads((realdata / "first_arch_00005c14.json").read_text())
    cells[first["hash"]] = (first["matrix"], first["ops"], first["trainable_parameters"])
    return cells


def test_all_real_cells_match_dataset(realdata):
    """The count equals the dataset's trainable_parameters for all 1,031 real cells."""
    cells = _real_cells(realdata)
    assert len(cells) == 1031
    wrong = {
        h: (n, trainable_parameters(m, o, prune=False))
        for h, (m, o, n) in cells.items()
        if trainable_parameters(m, o, prune=False) != n
    }
    assert wrong == {}
    sizes = {len(o) for m, o, n in cells.values()}
    assert sizes >= {4, 5, 6, 7}


def test_real_cells_through_model_spec(realdata):
    """Counting through ModelSpec (pruning on) gives the same numbers for real cells."""
    from nasbench_arrow.model_spec import ModelSpec

    for m, o, n in list(_real_cells(realdata).values())[::50]:
        assert trainable_parameters(ModelSpec(np.array(m), o)) == n
        assert trainable_parameters(m, o) == n


def test_inception_cell_from_readme():
    """The README's Inception-like cell has 2,694,282 parameters, as a ModelSpec or matrix."""
    from nasbench_arrow.model_spec import ModelSpec

    assert (
        trainable_parameters(ModelSpec(np.array(INCEPTION_MATRIX), INCEPTION_OPS))
        == INCEPTION_PARAMS
    )
    assert trainable_parameters(INCEPTION_MATRIX, INCEPTION_OPS) == INCEPTION_PARAMS
    assert nasbench_arrow.trainable_parameters(INCEPTION_MATRIX, INCEPTION_OPS) == INCEPTION_PARAMS


def test_two_vertex_cell_by_hand():
    """input -> output only: every module is one 1x1 projection; the total checked by hand."""
    stem = 3 * 3 * 3 * 128 + 2 * 128
    stack0 = 3 * (128 * 128 + 2 * 128)
    stack1 = (128 * 256 + 2 * 256) + 2 * (256 * 256 + 2 * 256)
    stack2 = (256 * 512 + 2 * 512) + 2 * (512 * 512 + 2 * 512)
    dense = 512 * 10 + 10
    expected = stem + stack0 + stack1 + stack2 + dense
    assert expected == 882_570
    assert trainable_parameters([[0, 1], [0, 0]], [INPUT, OUTPUT], prune=False) == expected


def test_network_size_is_configurable():
    """Smaller networks count stem, stacks and head with the given sizes."""
    m, o = [[0, 1], [0, 0]], [INPUT, OUTPUT]
    # stem 3x3x3x16 + BN; one module 16->16; dense 16x7 + 7
    assert trainable_parameters(
        m, o, prune=False, stem_filters=16, num_stacks=1, num_modules_per_stack=1, num_labels=7
    ) == (27 * 16 + 32) + (16 * 16 + 32) + (16 * 7 + 7)
    with pytest.raises(ValueError, match="num_stacks must be a positive integer"):
        trainable_parameters(m, o, prune=False, num_stacks=0)


@pytest.mark.parametrize(
    ("matrix", "cin", "cout", "expected"),
    [
        # chains keep the output width everywhere inside
        ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], 8, 16, [8, 16, 16, 16]),
        ([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], 16, 8, [16, 8, 8, 8]),
        # two vertices feed the output: an uneven split gives the first one the extra channel
        ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], 8, 15, [8, 8, 7, 15]),
        (
            [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5],
            8,
            8,
            [8, 3, 3, 2, 8],
        ),
        # a vertex that feeds only interior vertices takes the widest of them
        (
            [[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5],
            8,
            9,
            [8, 5, 5, 4, 9],
        ),
        ([[0, 1], [0, 0]], 5, 1, [5, 1]),
    ],
)
def test_vertex_channels(matrix, cin, cout, expected):
    """Interior widths split the output evenly and never grow along an edge."""
    assert vertex_channels(cin, cout, np.array(matrix)) == expected


def test_module_parameters_of_one_conv_vertex():
    """input -> conv3x3 -> output: projection 1x1 plus the 3x3 conv, each with BN."""
    m = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert module_parameters(m, [INPUT, CONV3X3, OUTPUT], 4, 6) == (4 * 6 + 12) + (9 * 36 + 12)
    assert module_parameters(m, [INPUT, MAXPOOL3X3, OUTPUT], 4, 6) == 4 * 6 + 12


def test_pruning_drops_dangling_vertices():
    """A vertex that reaches no output is pruned away before counting."""
    dangling = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    ops = [INPUT, CONV3X3, CONV1X1, OUTPUT]
    pruned = trainable_parameters(
        [[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT], prune=False
    )
    assert trainable_parameters(dangling, ops) == pruned


def test_errors_say_what_was_wrong():
    """Invalid specs, unknown ops and bad shapes raise typed errors with the value given."""
    from nasbench_arrow.model_spec import ModelSpec

    with pytest.raises(OutOfDomainError, match="invalid spec"):
        trainable_parameters(ModelSpec(np.array([[0, 0], [0, 0]]), [INPUT, OUTPUT]))
    with pytest.raises(OutOfDomainError, match="unknown op 'conv5x5'"):
        trainable_parameters(
            [[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT], prune=False
        )
    with pytest.raises(ValueError, match="got 2 ops for a 3-vertex matrix"):
        trainable_parameters([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, OUTPUT], prune=False)
    with pytest.raises(ValueError, match="square matrix"):
        trainable_parameters([[0, 1, 0]], [INPUT, OUTPUT], prune=False)
    with pytest.raises(TypeError, match="expected a ModelSpec"):
        trainable_parameters("28cfc7874f6d200472e1a9dcd8650aa0")
    with pytest.raises(ValueError, match="not pruned"):
        vertex_channels(8, 8, np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]))


def test_counter_never_imports_tensorflow():
    """nasbench_arrow.trainable_parameters works without loading TensorFlow."""
    code = (
        "import sys, nasbench_arrow as na;"
        "n = na.trainable_parameters([[0, 1], [0, 0]], ['input', 'output']);"
        "assert n == 882570, n;"
        "assert 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_network_recipe_has_one_home():
    """The full-size network (128 filters, 3 stacks, 3 modules, 10 labels) is defined in
    constants; params re-exports the same values, the original's config and the trainer's
    command line default to them."""
    from nasbench_arrow import constants, params
    from nasbench_arrow.train.cli import _parser

    recipe = (
        constants.STEM_FILTERS,
        constants.NUM_STACKS,
        constants.NUM_MODULES_PER_STACK,
        constants.NUM_LABELS,
    )
    assert recipe == (128, 3, 3, 10)
    assert (
        params.STEM_FILTERS,
        params.NUM_STACKS,
        params.NUM_MODULES_PER_STACK,
        params.NUM_LABELS,
    ) == recipe
    config = constants.default_config()
    assert (
        config["stem_filter_size"],
        config["num_stacks"],
        config["num_modules_per_stack"],
        config["num_labels"],
    ) == recipe
    args = _parser().parse_args(["--out", "x"])
    assert (args.stem_filters, args.num_stacks, args.num_modules_per_stack) == recipe[:3]
