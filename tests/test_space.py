"""The whole search space: nasbench_arrow.space against brute force and real data."""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import sys
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nasbench_arrow import graph, space
from nasbench_arrow.constants import (
    AVAILABLE_OPS,
    CELLS_BY_VERTEX_COUNT,
    INPUT,
    NUM_UNIQUE_CELLS,
    OUTPUT,
)
from nasbench_arrow.errors import DatasetExistsError, NASBenchError
from nasbench_arrow.layout import METADATA_KEY
from nasbench_arrow.space import Cell, EnumerationError, cells_table, enumerate_cells

# ----------------------------------------------------------------------------- helpers


def _original_loop(
    max_vertices: int, max_edges: int, num_ops: int, *, literal: bool = True
) -> list[tuple]:
    """The original generator's loop: first (matrix, labelling) per hash, in insertion order.

    ``literal=False`` builds each matrix with ``graph.bits_to_matrix`` instead of
    ``np.fromfunction(gen_is_edge_fn(bits))`` and hashes its rows with
    ``graph.hash_rows`` (same matrix, same digest, much faster).
    """
    buckets: dict[str, tuple] = {}
    for v in range(2, max_vertices + 1):
        for bits in range(2 ** (v * (v - 1) // 2)):
            if literal:
                matrix = np.fromfunction(graph.gen_is_edge_fn(bits), (v, v), dtype=np.int8)
            else:
                matrix = graph.bits_to_matrix(bits, v)
            if not graph.is_full_dag(matrix) or graph.num_edges(matrix) > max_edges:
                continue
            rows = matrix.tolist()
            for labeling in itertools.product(*[range(num_ops) for _ in range(v - 2)]):
                labeling = [-1, *labeling, -2]
                if literal:
                    fingerprint = graph.hash_module(matrix, labeling)
                else:
                    fingerprint = graph.hash_rows(rows, labeling)
                if fingerprint not in buckets:
                    buckets[fingerprint] = (matrix.tolist(), labeling)
    return [(h, m, lab) for h, (m, lab) in buckets.items()]


@functools.cache
def _smallest_renumberings(matrix: tuple[tuple[int, ...], ...]) -> tuple[tuple, list]:
    """Smallest edge list over all V! vertex renumberings, and the renumberings giving it."""
    v = len(matrix)
    edges = [(x, y) for x in range(v) for y in range(v) if matrix[x][y]]
    renumbered: dict[tuple, list] = {}
    for perm in itertools.permutations(range(v)):  # input and output move too
        key = tuple(sorted((perm[x], perm[y]) for x, y in edges))
        renumbered.setdefault(key, []).append(perm)
    best = min(renumbered)
    return best, renumbered[best]


def _canonical_form(matrix: list[list[int]], labeling: list[int]) -> tuple:
    """Smallest (edges, labels) over all vertex renumberings: equal iff isomorphic."""
    best_edges, perms = _smallest_renumberings(tuple(map(tuple, matrix)))
    # Lexicographic order: the labels only break ties between the smallest edge lists.
    best_labels = min(tuple(labeling[p.index(i)] for i in range(len(p))) for p in perms)
    return (len(matrix), best_edges, best_labels)


def _labels(ops: list[str]) -> list[int]:
    """Original integer labelling of a cell's op names."""
    return [-1, *(AVAILABLE_OPS.index(o) for o in ops[1:-1]), -2]


def _real_cells(realdata) -> list[tuple[str, list, list]]:
    """(hash, stored matrix, stored ops) of the 1,030 real cells in realdata."""
    cells = [
        (d["hash"], d["matrix"], d["ops"])
        for d in json.loads((realdata / "vis_first1000_by_hash.json").read_text())
    ]
    naslib = json.loads((realdata / "naslib_nb101_dummy_30.json").read_text())
    cells += [(h, d["module_adjacency"], d["module_operations"]) for h, d in naslib.items()]
    return cells


@pytest.fixture(scope="module")
def full_space() -> list[Cell]:
    """Every cell of the default space (computed once for the slow tests)."""
    return list(enumerate_cells())


# ----------------------------------------------------------------------------- small spaces


@pytest.mark.parametrize(
    ("max_vertices", "max_edges", "num_ops"),
    [(5, 9, 3), (5, 5, 3), (5, 4, 2), (4, 9, 1), (4, 3, 3), (3, 2, 2), (2, 9, 3)],
)
def test_small_space_equals_original_loop(max_vertices, max_edges, num_ops):
    """Cells, order, hashes and representatives equal the original loop's buckets."""
    expected = _original_loop(max_vertices, max_edges, num_ops)
    got = list(enumerate_cells(max_vertices, max_edges, num_ops, workers=1))
    assert [(c.module_hash, c.matrix.tolist(), _labels(c.ops)) for c in got] == expected


@pytest.mark.slow
def test_six_vertex_space_equals_original_loop():
    """Up to 6 vertices (64,542 cells) the cells and their order equal the original loop's."""
    expected = _original_loop(6, 9, 3, literal=False)
    got = list(enumerate_cells(max_vertices=6))
    assert len(got) == len(expected) == 64_542
    assert [(c.module_hash, c.matrix.tolist(), _labels(c.ops)) for c in got] == expected


@pytest.mark.parametrize(("max_vertices", "max_edges", "num_ops"), [(5, 9, 3), (5, 6, 2)])
def test_small_space_count_equals_isomorphism_classes(max_vertices, max_edges, num_ops):
    """Cells per vertex count equal a brute-force count of exact isomorphism classes."""
    classes: dict[int, set] = {}
    for v in range(2, max_vertices + 1):
        for bits in range(2 ** (v * (v - 1) // 2)):
            m = [
                [(bits >> (x + y * (y - 1) // 2)) & 1 if x < y else 0 for y in range(v)]
                for x in range(v)
            ]
            if any(not any(m[x]) for x in range(v - 1)) or any(
                not any(m[x][y] for x in range(v)) for y in range(1, v)
            ):
                continue
            if sum(map(sum, m)) > max_edges:
                continue
            for lab in itertools.product(range(num_ops), repeat=v - 2):
                classes.setdefault(v, set()).add(_canonical_form(m, [-1, *lab, -2]))
    cells = list(enumerate_cells(max_vertices, max_edges, num_ops, workers=1))
    assert Counter(c.num_vertices for c in cells) == {v: len(s) for v, s in classes.items()}
    forms = {_canonical_form(c.matrix.tolist(), _labels(c.ops)) for c in cells}
    assert len(forms) == len(cells)


def test_cells_are_full_dags_with_their_hash():
    """Every cell is a read-only int8 full DAG within the limits whose hash_module is its hash."""
    for cell in enumerate_cells(max_vertices=5, max_edges=7, workers=1):
        m = cell.matrix
        assert m.dtype == np.int8 and not m.flags.writeable
        assert m.shape == (cell.num_vertices, cell.num_vertices)
        assert np.array_equal(m, np.triu(m, 1))
        assert graph.is_full_dag(m)
        assert cell.num_edges == int(m.sum()) <= 7
        assert cell.ops[0] == INPUT and cell.ops[-1] == OUTPUT
        assert set(cell.ops[1:-1]) <= set(AVAILABLE_OPS)
        assert graph.hash_module(m, _labels(cell.ops)) == cell.module_hash
        assert cell.adjacency == "".join(str(b) for b in m.ravel())


def test_cells_hash_the_same_through_model_spec():
    """ModelSpec of a cell keeps its matrix (nothing to prune) and hashes to module_hash."""
    for cell in enumerate_cells(max_vertices=5, max_edges=6, workers=1):
        spec = cell.to_spec()
        assert np.array_equal(spec.matrix, cell.matrix)
        assert spec.hash_spec(list(AVAILABLE_OPS)) == cell.module_hash


def test_enumeration_is_deterministic_and_workers_agree(monkeypatch):
    """Two runs give the same cells in the same order, in-process or with 2 workers."""
    monkeypatch.setattr(space, "_PARALLEL_MIN_CELLS", 50)  # make 2 workers really start
    one = list(enumerate_cells(max_vertices=5, workers=1))
    again = list(enumerate_cells(max_vertices=5, workers=1))
    two = list(enumerate_cells(max_vertices=5, workers=2))
    assert one == again == two
    assert [c.module_hash for c in one] == [c.module_hash for c in two]


def _child_pids() -> set[int]:
    """Live child processes of this process (Linux /proc)."""
    pids: set[int] = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
            pids.update(int(pid) for pid in f.read().split())
    return pids


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
def test_abandoned_enumeration_ends_its_workers(monkeypatch):
    """Closing a half-consumed enumeration ends its hashing worker processes."""
    monkeypatch.setattr(space, "_PARALLEL_MIN_CELLS", 50)
    before = _child_pids()
    cells = enumerate_cells(max_vertices=5, workers=3)
    first = list(itertools.islice(cells, 100))  # into the 5-vertex block: workers started
    assert len(first) == 100 and len(_child_pids() - before) == 2
    cells.close()
    assert _child_pids() - before == set()


def test_dead_worker_raises_enumeration_error(monkeypatch):
    """A hashing worker that cannot run gives EnumerationError naming the fix, not a hang."""
    monkeypatch.setattr(space, "_PARALLEL_MIN_CELLS", 50)
    monkeypatch.setattr(sys, "executable", shutil.which("false") or "/bin/false")
    with pytest.raises(EnumerationError, match="workers=1"):
        list(enumerate_cells(max_vertices=4, workers=2))


def test_empty_space_when_edges_too_few():
    """With max_edges=0 no cell qualifies; a table of the space is empty but typed."""
    assert list(enumerate_cells(max_edges=0, workers=1)) == []
    table = cells_table(max_vertices=4, max_edges=0, workers=1)
    assert table.num_rows == 0 and table.schema.names == space.space_schema().names


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_ops": 4}, ValueError, "num_ops must be 1..3"),
        ({"num_ops": 0}, ValueError, "num_ops"),
        ({"max_vertices": 8}, ValueError, "max_vertices must be 2..7, got 8"),
        ({"max_vertices": 1}, ValueError, "max_vertices"),
        ({"max_edges": -1}, ValueError, "max_edges must be >= 0, got -1"),
        ({"workers": 0}, ValueError, "workers must be >= 1"),
        ({"max_vertices": 7.0}, TypeError, "max_vertices must be an int"),
        ({"max_edges": True}, TypeError, "max_edges must be an int"),
    ],
)
def test_bad_parameters_raise_at_call(kwargs, error, match):
    """Invalid parameters raise a clear TypeError/ValueError when called, before iterating."""
    with pytest.raises(error, match=match):
        enumerate_cells(**kwargs)


def test_hash_collision_raises_enumeration_error(monkeypatch):
    """If two non-isomorphic representatives shared a hash, enumeration refuses to go on."""
    monkeypatch.setattr(space, "hash_rows", lambda rows, labeling: "0" * 32)
    with pytest.raises(EnumerationError, match="share a module hash"):
        list(enumerate_cells(max_vertices=3, workers=1))
    assert issubclass(EnumerationError, NASBenchError)


def test_cell_equality_and_hash():
    """Cells compare by hash, matrix and ops, hash by module_hash, and are frozen."""
    a, b = list(enumerate_cells(max_vertices=3, workers=1))[:2]
    a2 = Cell(a.module_hash, a.matrix.copy(), list(a.ops), a.num_vertices, a.num_edges)
    assert a == a2 and hash(a) == hash(a2) and a != b
    assert len({a, a2, b}) == 2
    with pytest.raises(AttributeError):
        a.module_hash = "x"  # type: ignore[misc]
    assert "module_hash=" in repr(a)


def test_exported_names():
    """The module exports exactly its public API."""
    assert set(space.__all__) == {
        "Cell",
        "EnumerationError",
        "cells_table",
        "enumerate_cells",
        "main",
        "space_schema",
        "write_space",
    }


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_parquet_with_the_columns(tmp_path, capsys):
    """nasbench-space writes one typed row per cell, matching enumerate_cells, and a summary."""
    out = tmp_path / "sub" / "space.parquet"
    assert space.main([str(out), "--max-vertices", "4", "--workers", "1"]) == 0
    summary = capsys.readouterr().out.strip()
    assert "\n" not in summary and "91 cells" in summary and "4:84" in summary
    table = pq.read_table(out)
    assert table.schema.names == [
        "module_hash",
        "num_vertices",
        "num_edges",
        "adjacency",
        "matrix",
        "operations",
    ]
    assert table.schema.field("matrix").type == pa.list_(pa.list_(pa.int8()))
    assert table.schema.field("operations").type == pa.list_(pa.string())
    assert table.schema.field("num_vertices").type == pa.int8()
    rows = table.to_pylist()
    cells = list(enumerate_cells(max_vertices=4, workers=1))
    assert len(rows) == len(cells) == 91
    for row, cell in zip(rows, cells):
        assert row["module_hash"] == cell.module_hash and len(row["module_hash"]) == 32
        assert row["matrix"] == cell.matrix.tolist()
        assert row["operations"] == cell.ops
        assert row["adjacency"] == cell.adjacency
        assert (row["num_vertices"], row["num_edges"]) == (cell.num_vertices, cell.num_edges)
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    assert meta["cells_by_vertex_count"] == {"2": 1, "3": 6, "4": 84}
    assert meta["order"] == "generation"
    assert [p.name for p in out.parent.iterdir()] == ["space.parquet"]  # no temp file left


def test_cli_refuses_existing_file_unless_overwrite(tmp_path, capsys):
    """An existing OUT is left untouched (exit 1) unless --overwrite replaces it."""
    out = tmp_path / "space.parquet"
    out.write_bytes(b"keep me")
    assert space.main([str(out), "--max-vertices", "3"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert space.main([str(out), "--max-vertices", "3", "--overwrite", "--order", "hash"]) == 0
    hashes = pq.read_table(out).column("module_hash").to_pylist()
    assert len(hashes) == 7 and hashes == sorted(hashes)
    with pytest.raises(DatasetExistsError):
        space.write_space(out, 3)


def test_cli_rejects_bad_parameters(tmp_path, capsys):
    """Out-of-range parameters exit with status 2 and a message, writing nothing."""
    out = tmp_path / "space.parquet"
    assert space.main([str(out), "--max-vertices", "8"]) == 2
    assert "max_vertices must be 2..7" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------- default space


@pytest.mark.slow
def test_default_space_totals(full_space):
    """The default space has 423,624 cells with distinct hashes, per vertex count as published."""
    assert len(full_space) == NUM_UNIQUE_CELLS
    # One cell per isomorphism class (distinct canonical codes) and one per hash.
    assert len({c.module_hash for c in full_space}) == NUM_UNIQUE_CELLS
    assert Counter(c.num_vertices for c in full_space) == dict(CELLS_BY_VERTEX_COUNT)
    assert max(c.num_edges for c in full_space) == 9


@pytest.mark.slow
def test_representatives_are_the_real_stored_cells(full_space, realdata):
    """For 1,030 real cells, the dataset stores exactly the matrix and ops enumerated."""
    by_hash = {c.module_hash: c for c in full_space}
    real = _real_cells(realdata)
    assert len(real) == 1030
    for h, matrix, ops in real:
        cell = by_hash[h]
        assert cell.matrix.tolist() == matrix, h
        assert cell.ops == ops, h
    # The raw adjacency string of the genuine record in realdata/README.md.
    genuine = by_hash["00005c142e6f48ac74fdcf73e3439874"]
    assert genuine.adjacency == "0100110001000000010010000010000001000000010000000"


def test_real_cells_up_to_five_vertices_are_representatives(realdata):
    """Real cells with at most 5 vertices are stored as the first-seen representative."""
    real = [(h, m, o) for h, m, o in _real_cells(realdata) if len(m) <= 5]
    by_hash = {c.module_hash: c for c in enumerate_cells(max_vertices=5, workers=1)}
    assert real
    for h, matrix, ops in real:
        assert by_hash[h].matrix.tolist() == matrix and by_hash[h].ops == ops
