"""Checks against the real, official NAS-Bench-101 files (marker ``full_data``).

The official tfrecords cannot be downloaded on CI machines, so these tests run
only when a user points them at a copy and selects the marker::

    NASBENCH_TFRECORD=/data/nasbench_only108.tfrecord pytest -m full_data
    NASBENCH_DATASET=/data/nasbench108/ pytest -m full_data      # an already converted copy

Everything here is compared with facts published independently of this
package (the paper, the original README, ``../shared/realdata``), never with
our own output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from nasbench_arrow.converters import convert

from nasbench_arrow import api
from nasbench_arrow.constants import (
    CELLS_BY_VERTEX_COUNT,
    NUM_RECORDS_108,
    NUM_RECORDS_FULL,
    NUM_REPEATS,
    NUM_UNIQUE_CELLS,
    PUBLISHED_FILES,
)
from nasbench_arrow.manifest import read_manifest

pytestmark = pytest.mark.full_data

# Best mean-of-3 accuracies at 108 epochs over the whole dataset (realdata README).
BEST_MEAN_TEST_108 = 0.943175752957662
BEST_MEAN_VALIDATION_108 = 0.9505542318026224


@pytest.fixture(scope="module")
def real_root(tmp_path_factory) -> Path:
    """A converted copy of the official file: $NASBENCH_DATASET, or $NASBENCH_TFRECORD converted once."""
    dataset = os.environ.get("NASBENCH_DATASET")
    if dataset:
        return Path(dataset)
    source = os.environ.get("NASBENCH_TFRECORD")
    if not source:
        pytest.skip("needs the official file: set NASBENCH_TFRECORD (or NASBENCH_DATASET for a converted copy)")
    out = tmp_path_factory.mktemp("official") / "dataset"
    convert(source, out)
    return out


@pytest.fixture(scope="module")
def nb(real_root):
    """The facade over the real data, seeded."""
    return api.NASBench(str(real_root), seed=0)


def test_source_is_a_published_file(real_root):
    """The converted source's SHA-256 is one of the two published checksums, with the published record count."""
    manifest = read_manifest(real_root)
    published = PUBLISHED_FILES.get(manifest.source["sha256"])
    assert published is not None, manifest.source
    assert manifest.source["published"] == published.name
    assert manifest.counts["records"] == published.num_records
    assert manifest.counts["records"] in (NUM_RECORDS_FULL, NUM_RECORDS_108)


def test_cell_counts_match_the_paper(nb):
    """423,624 unique cells, split by vertex count as the original generator reports."""
    counts = nb.cells().group_by("num_vertices").len().collect()
    by_v = {int(v): int(n) for v, n in counts.iter_rows()}
    assert by_v == dict(CELLS_BY_VERTEX_COUNT)
    assert sum(by_v.values()) == NUM_UNIQUE_CELLS
    assert len(list(nb.hash_iterator())) == NUM_UNIQUE_CELLS


def test_every_cell_has_three_repeats_per_budget(nb):
    """Each (cell, budget) has exactly NUM_REPEATS runs."""
    per = nb.runs().group_by("module_hash", "epochs").len().collect()
    assert per["len"].min() == per["len"].max() == NUM_REPEATS


def test_inception_cell_matches_published_values(nb, realdata):
    """The Inception-like cell of the original README returns its published runs at every budget held."""
    doc = json.loads((realdata / "inception_28cfc787.json").read_text())
    spec = api.ModelSpec(doc["original_spec"]["matrix"], doc["original_spec"]["ops"])
    fixed, computed = nb.get_metrics_from_spec(spec)
    assert fixed["trainable_parameters"] == doc["trainable_parameters"] == 2_694_282
    compared = 0
    for key, runs in doc["computed_stats"].items():
        epochs = int(key)
        if epochs not in computed:
            continue  # the 108-only file holds one budget
        assert len(computed[epochs]) == len(runs)
        for ours, theirs in zip(computed[epochs], runs):
            for metric, value in theirs.items():
                assert ours[metric] == value, (epochs, metric)
                compared += 1
    assert compared > 0


def test_first_hashes_match_published_cells(nb, realdata):
    """The 1,000 smallest hashes exist with their published matrix, ops and parameter count."""
    cells = json.loads((realdata / "vis_first1000_by_hash.json").read_text())
    hashes = sorted(nb.hash_iterator())[:1000]
    assert hashes == [c["hash"] for c in cells]
    for c in cells:
        fixed, _ = nb.get_metrics_from_hash(c["hash"])
        assert np.array_equal(fixed["module_adjacency"], np.array(c["matrix"], dtype=np.int8))
        assert fixed["module_operations"] == c["ops"]
        assert fixed["trainable_parameters"] == c["trainable_parameters"]


def test_best_mean_accuracies_at_108(nb):
    """The best mean-of-3 test and validation accuracies at 108 epochs equal the published maxima."""
    best = (
        nb.runs()
        .filter(pl.col("epochs") == 108)
        .group_by("module_hash")
        .agg(pl.col("final_test_accuracy").mean().alias("t"), pl.col("final_validation_accuracy").mean().alias("v"))
        .select(pl.col("t").max(), pl.col("v").max())
        .collect()
    )
    assert best["t"][0] == pytest.approx(BEST_MEAN_TEST_108, abs=1e-12)
    assert best["v"][0] == pytest.approx(BEST_MEAN_VALIDATION_108, abs=1e-12)


def test_accuracies_are_multiples_of_one_over_9984(nb):
    """Every final accuracy at 108 epochs is a float32 multiple of 1/9984, as all published values are."""
    acc = (
        nb.runs()
        .filter(pl.col("epochs") == 108)
        .select("final_validation_accuracy", "final_test_accuracy")
        .collect()
        .to_numpy()
        .ravel()
    )
    k = np.rint(acc * 9984)
    assert np.array_equal(np.float32(k / 9984).astype(np.float64), acc)
