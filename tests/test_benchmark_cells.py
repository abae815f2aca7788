"""The optimizers' vectorised proposals agree with the ModelSpec path they replace."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings

from nasbench_arrow import encodings
from nasbench_arrow.api import ModelSpec, NASBench
from nasbench_arrow.benchmark import _cells
from nasbench_arrow.constants import AVAILABLE_OPS
from nasbench_arrow.search import SpecProposer
from strategies import valid_specs


@pytest.fixture(scope="module")
def nb(sample_dataset_dir):
    return NASBench(sample_dataset_dir, seed=0)


def spec_row(nb, matrix, labels):
    """Row by the facade: ModelSpec (pruning), is_valid, MD5 hash, look-up; -1 where any step says no."""
    spec = ModelSpec(np.asarray(matrix), ["input", *[AVAILABLE_OPS[c] for c in labels], "output"])
    if not nb.is_valid(spec):
        return -1
    row = nb.dataset.index.find(nb.hash_spec(spec))
    return -1 if row is None else row


@pytest.mark.parametrize("v", [3, 5, 7])
def test_cell_rows_equal_hash_lookups(nb, v):
    """cell_rows (prune + canonical key) gives the row the facade finds by hashing, -1 for invalid or not held."""
    rng = np.random.default_rng(v)
    b = 600
    adjacency = np.zeros((b, v, v), dtype=np.int8)
    iu, ju = np.triu_indices(v, 1)
    adjacency[:, iu, ju] = rng.integers(0, 2, (b, len(iu)))
    labels = rng.integers(0, 3, (b, v - 2))
    rows = _cells.cell_rows(nb.dataset.index, adjacency, labels)
    expected = [spec_row(nb, adjacency[k], labels[k]) for k in range(b)]
    assert rows.tolist() == expected
    flat = [_cells.flat_row(nb.dataset.index, adjacency[k].ravel().tolist(), labels[k].tolist(), v) for k in range(b)]
    assert flat == expected
    if v <= 5:  # the sample holds every cell of at most 5 vertices
        assert (rows >= 0).sum() > 0


@settings(max_examples=40)
@given(valid_specs(max_vertices=5))
def test_neighbour_rows_equal_encodings_neighbours(nb, cell):
    """neighbour_rows of a stored cell is the set of encodings.neighbours() of that cell the dataset holds."""
    spec = ModelSpec(np.array(cell[0]), cell[1])
    if not nb.is_valid(spec):
        return
    row = nb.dataset.index.find(nb.hash_spec(spec))
    got = set(_cells.neighbour_rows(nb.dataset.index, row, 5).tolist())
    # Single-edge edits of an upper-triangular matrix depend on the vertex order (an edge
    # i -> j needs i < j), so compare with the neighbours of the cell as stored.
    stored = nb.spec_from_hash(nb.dataset.index.hash_at(row))
    want = set()
    for n in encodings.neighbours(stored, num_vertices=5):
        r = nb.dataset.index.find(nb.hash_spec(n))
        if r is not None:
            want.add(r)
    assert got == want


def test_mutation_draws_exactly_as_spec_proposer(nb):
    """mutate_flat on random.Random(s) gives the same children as SpecProposer.mutate on random.Random(s)."""
    index = nb.dataset.index
    proposer = SpecProposer(nb, random.Random(3), num_vertices=5)
    parents = [proposer.random_spec() for _ in range(30)]
    rng_a, rng_b = random.Random(99), random.Random(99)
    reference = SpecProposer(nb, rng_b, num_vertices=5)
    for parent in parents:
        matrix = np.asarray(parent.original_matrix)
        labels = [AVAILABLE_OPS.index(op) for op in parent.original_ops[1:-1]]
        row, child_flat, _ = _cells.mutate_flat(index, matrix.ravel().tolist(), labels, 5, rng_a)
        child = reference.mutate(parent)
        assert child_flat == np.asarray(child.original_matrix).ravel().tolist()
        assert row == index.find(nb.hash_spec(child))


def test_colab_sampler_matches_the_colab_distribution(nb):
    """ColabSampler's draws: valid held cells, vertex counts distributed like SpecProposer's (same law)."""
    index = nb.dataset.index
    sampler = _cells.ColabSampler(index, np.random.default_rng(0), num_vertices=5)
    draws = [sampler.draw()[0] for _ in range(4000)]
    ours = np.bincount(np.asarray(index.cell_num_vertices)[draws], minlength=6)[2:] / 4000
    proposer = SpecProposer(nb, random.Random(0), num_vertices=5)
    ref_rows = [index.find(nb.hash_spec(proposer.random_spec())) for _ in range(4000)]
    theirs = np.bincount(np.asarray(index.cell_num_vertices)[ref_rows], minlength=6)[2:] / 4000
    assert np.abs(ours - theirs).max() < 0.03  # 4,000 draws each: a few standard errors
