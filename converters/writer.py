"""Spilled columns to the dataset files: the writing stage of the converter.

Three steps, each bounded in memory:

1. :class:`SpillWriter` appends the parsed rows of each block to one
   uncompressed Arrow IPC file per bucket (16 buckets by the first hex digit
   of the module hash), so no stage ever holds the whole file.
2. :func:`write_bucket` reads one bucket back (1/16 of the data), sorts it by
   ``(module_hash, epochs, record order)``, numbers the repeats 0, 1, 2 in
   file order, checks the invariants a user relies on (one cell per hash, at
   most 3 repeats, the same budgets for every hash, 3 repeats each), and
   writes the bucket's ``cells`` and ``runs`` Parquet files plus its slice of
   the query index.
3. :func:`write_index` concatenates the index slices, in bucket (= hash)
   order, into memory-mapped ``.npy`` files, and adds the sorted canonical
   isomorphism keys of the cells (:func:`write_canonical_index`).

Every file's size, SHA-256 and CRC32C go into the manifest; Parquet files
carry a CRC per data page too.

The files follow :mod:`nasbench_arrow.layout`; the caller
(:mod:`.pipeline`) writes the manifest and renames the directory into place.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from pathlib import Path

import crc32c
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nasbench_arrow import constants, layout
from nasbench_arrow.errors import ConversionError

from .batches import (
    _NUMPY_OF,
    METRIC_COLUMNS,
    SPILL_SCHEMA,
    adjacency_matrices,
    adjacency_strings,
    hash_hex_matrix,
    numpy_to_arrow,
    ops_codes_matrix,
    to_batch,
)

__all__ = [
    "CELLS_ROW_GROUP",
    "RUNS_ROW_GROUP",
    "SpillWriter",
    "canonical_duplicates",
    "create_run_index",
    "file_checksums",
    "file_digest",
    "fsync_path",
    "write_bucket",
    "write_canonical_index",
    "write_index",
]

#: Rows per Parquet row group. Cells: ~26k per bucket in the full dataset, so
#: a few groups per file and a hash lookup decodes at most 8k rows. Runs:
#: ~318k per bucket; 32k rows (~1/10 of a file) balance pruning and overhead.
CELLS_ROW_GROUP = 8192
RUNS_ROW_GROUP = 32768

_NBUCKETS = len(layout.BUCKETS)
_METRIC_ROW = {name: j for j, name in enumerate(METRIC_COLUMNS)}
_INDEX_METRIC_ROWS = [_METRIC_ROW[c] for c in layout.INDEX_RUN_COLUMNS]
# Built from buffers: pa.array() would import pandas (~0.5 s in every worker).
_OP_NAMES = pa.Array.from_buffers(
    pa.string(),
    len(layout.OP_CODES),
    [
        None,
        pa.py_buffer(np.cumsum([0] + [len(op) for op in layout.OP_CODES]).astype(np.int32)),
        pa.py_buffer("".join(layout.OP_CODES).encode()),
    ],
)
_SPILL_DTYPES = {f.name: _NUMPY_OF[f.type] for f in SPILL_SCHEMA}


def _popcount(bits: np.ndarray) -> np.ndarray:
    """Set bits per uint64 (the edge count of an adjacency mask)."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(bits)
    as_bytes = np.ascontiguousarray(bits, dtype="<u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(as_bytes, axis=1).sum(axis=1)


def fsync_path(path: str | os.PathLike) -> None:
    """fsync a file or directory (directories: so a rename inside it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_checksums(path: str | os.PathLike) -> dict:
    """``{"size" (bytes), "sha256" (hex), "crc32c" (int)}`` of a file, in one read.

    SHA-256 is what ``nasbench-verify --deep`` compares; CRC32C (Castagnoli,
    unmasked, as :func:`nasbench_arrow.verify.file_crc32c`) is cheap enough
    for readers to check the files they use at open and first scan.
    """
    h = hashlib.sha256()
    crc = 0
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            crc = crc32c.crc32c(view[:n], crc)
            size += n
    return {"size": size, "sha256": h.hexdigest(), "crc32c": crc}


def file_digest(path: str | os.PathLike) -> tuple[int, str]:
    """Return ``(size in bytes, sha256 hex)`` of a file."""
    sums = file_checksums(path)
    return sums["size"], sums["sha256"]


# ----------------------------------------------------------------------------- spilling


class SpillWriter:
    """Append parsed blocks to one Arrow IPC file per bucket.

    Parameters
    ----------
    directory : path
        Where ``bucket-<b>.arrow`` files go (created).
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        self._sinks: dict[int, pa.OSFile] = {}
        self.rows = np.zeros(_NBUCKETS, dtype=np.int64)

    def path(self, bucket: int) -> Path:
        return self.directory / f"bucket-{layout.BUCKETS[bucket]}.arrow"

    def write(self, cols: dict) -> None:
        """Split parsed columns (see :func:`.batches.parse_block`) by bucket and append."""
        n = len(cols["record_index"])
        if n == 0:
            return
        bucket = (cols["hash_hi"] >> np.uint64(60)).astype(np.intp)
        order = np.argsort(bucket, kind="stable")
        counts = np.bincount(bucket, minlength=_NBUCKETS)
        batch = to_batch(cols, order)
        start = 0
        for b in np.flatnonzero(counts).tolist():
            end = start + int(counts[b])
            with _writing(self.path(b)):
                self._writer(b).write_batch(batch.slice(start, end - start))
            self.rows[b] += end - start
            start = end

    def _writer(self, b: int):
        w = self._writers.get(b)
        if w is None:
            with _writing(self.path(b)):
                sink = pa.OSFile(str(self.path(b)), "wb")
                w = pa.ipc.new_file(sink, SPILL_SCHEMA)
            self._sinks[b] = sink
            self._writers[b] = w
        return w

    def close(self) -> dict[int, str]:
        """Finish every file; return ``{bucket number: path}`` of the non-empty ones."""
        for b, w in self._writers.items():
            with _writing(self.path(b)):
                w.close()
                self._sinks[b].close()
        return {b: str(self.path(b)) for b in self._writers}


def _column_values(array: pa.Array, dtype) -> np.ndarray:
    """The values of a null-free primitive Arrow array as numpy (no pandas involved)."""
    data = np.frombuffer(array.buffers()[1], dtype=dtype)
    return data[array.offset : array.offset + len(array)]


def _read_spill(inputs: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """Read and concatenate a bucket's spill files, rebasing record indexes."""
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in SPILL_SCHEMA}
    for path, index_base in inputs:
        with pa.memory_map(path) as src:
            reader = pa.ipc.open_file(src)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                for j, f in enumerate(SPILL_SCHEMA):
                    values = _column_values(batch.column(j), _SPILL_DTYPES[f.name])
                    if f.name == "record_index":
                        values = values + index_base
                    parts[f.name].append(values)
            # Copy out of the memory map before it closes.
            out = {
                name: np.concatenate(chunks) if chunks else np.zeros(0, _SPILL_DTYPES[name])
                for name, chunks in parts.items()
            }
            parts = {name: [values] for name, values in out.items()}
    return {
        name: chunks[0] if chunks else np.zeros(0, _SPILL_DTYPES[name])
        for name, chunks in parts.items()
    }


# ----------------------------------------------------------------------------- checks


def _row_hash(cols, row: int) -> str:
    """The module hash of ``row`` as 32 hex digits (from its two uint64 halves)."""
    return f"{int(cols['hash_hi'][row]):016x}{int(cols['hash_lo'][row]):016x}"


def _earliest(rows: np.ndarray, rec: np.ndarray) -> int:
    """The one of ``rows`` (non-empty) whose record comes first in the file."""
    return int(rows[np.argmin(rec[rows])])


def _cell_text(cols, row) -> str:
    nv = np.array([cols["num_vertices"][row]])
    _, data = adjacency_strings(np.array([cols["adj_bits"][row]], dtype=np.uint64), nv)
    codes = ops_codes_matrix(np.array([cols["ops_code"][row]]), nv)[0]
    ops = ",".join(layout.OP_CODES[c] for c in codes if c != 255)
    return f"adjacency {data.tobytes().decode()!r}, operations {ops!r}"


def _fail(msg: str, cols, row: int, source) -> ConversionError:
    return ConversionError(
        msg,
        source=source,
        record_index=int(cols["record_index"][row]),
        byte_offset=int(cols["byte_offset"][row]),
    )


def _check(
    cols,
    cell_id,
    cell_first,
    ref,
    group_start,
    group_cell,
    repeat,
    epochs_all,
    allow_incomplete,
    source,
    errors: list[tuple[int, ConversionError]] | None = None,
):
    """Raise ConversionError for the earliest record that breaks an invariant.

    ``errors`` holds ``(record index, error)`` pairs found by other checks
    (:func:`_cell_errors`); the earliest of all is raised.
    """
    rec = cols["record_index"]
    errors = [] if errors is None else list(errors)

    # One cell per hash: same adjacency and ops in every record of a hash.
    ref_rows = ref[cell_id]
    differs = (
        (cols["adj_bits"] != cols["adj_bits"][ref_rows])
        | (cols["num_vertices"] != cols["num_vertices"][ref_rows])
        | (cols["ops_code"] != cols["ops_code"][ref_rows])
    )
    if differs.any():
        row = _earliest(np.flatnonzero(differs), rec)
        first = int(ref_rows[row])
        h = _row_hash(cols, row)
        msg = (
            f"module hash {h} is stored with two different cells: this record has "
            f"{_cell_text(cols, row)}, but record {int(rec[first])} (byte offset "
            f"{int(cols['byte_offset'][first])}) has {_cell_text(cols, first)}; "
            "the file is inconsistent"
        )
        errors.append((int(rec[row]), _fail(msg, cols, row, source)))
    params_differ = cols["trainable_parameters"] != cols["trainable_parameters"][ref_rows]
    if params_differ.any():
        row = _earliest(np.flatnonzero(params_differ), rec)
        first = int(ref_rows[row])
        h = _row_hash(cols, row)
        msg = (
            f"module hash {h} has trainable_parameters "
            f"{int(cols['trainable_parameters'][row])} here but "
            f"{int(cols['trainable_parameters'][first])} in record {int(rec[first])} "
            f"(byte offset {int(cols['byte_offset'][first])}); one cell has one parameter count"
        )
        errors.append((int(rec[row]), _fail(msg, cols, row, source)))

    # At most NUM_REPEATS runs per (hash, epochs).
    extra = np.flatnonzero(repeat >= constants.NUM_REPEATS)
    if len(extra):
        row = _earliest(extra, rec)
        h = _row_hash(cols, row)
        e = int(cols["epochs"][row])
        start = group_start[np.searchsorted(group_start, row, side="right") - 1]
        earlier = ", ".join(str(int(r)) for r in rec[start : start + constants.NUM_REPEATS])
        msg = (
            f"module hash {h} has more than {constants.NUM_REPEATS} runs at {e} epochs: "
            f"records {earlier} came first; the file holds duplicate records"
        )
        errors.append((int(rec[row]), _fail(msg, cols, row, source)))

    if not allow_incomplete:
        sizes = np.diff(np.append(group_start, len(rec)))
        budgets = np.bincount(group_cell, minlength=len(cell_first))
        short_group = sizes < constants.NUM_REPEATS
        bad_cells = np.union1d(
            np.flatnonzero(budgets != len(epochs_all)), group_cell[short_group]
        ).astype(np.int64)
        if len(bad_cells):
            first_rows = ref[bad_cells]
            c = int(bad_cells[np.argmin(rec[first_rows])])
            row = int(ref[c])
            h = _row_hash(cols, row)
            groups = np.flatnonzero(group_cell == c)
            have = {int(cols["epochs"][group_start[g]]): int(sizes[g]) for g in groups}
            missing = [e for e in epochs_all if e not in have]
            if missing:
                what = f"no runs at {missing} epochs (the file has {list(epochs_all)})"
            else:
                short = {e: k for e, k in have.items() if k < constants.NUM_REPEATS}
                what = ", ".join(f"{k} run(s) at {e} epochs" for e, k in short.items())
                what += f", expected {constants.NUM_REPEATS} each"
            msg = (
                f"module hash {h} (first seen in this record) has {what}; the file is "
                "incomplete (convert with allow_incomplete=True / --allow-incomplete to accept it)"
            )
            errors.append((int(rec[row]), _fail(msg, cols, row, source)))

    if errors:
        raise min(errors, key=lambda e: e[0])[1]


def _cell_errors(cols, ref, source) -> list[tuple[int, ConversionError]]:
    """Check every cell's graph and its stored hash; ``(record index, error)`` of the first bad one.

    Each unique cell (row ``ref[c]`` of ``cols``, the earliest record of its
    hash) is checked once:

    * it is a pruned cell: every vertex but the output has an out-edge and
      every vertex but the input an in-edge (with the upper-triangular order
      the decoders enforce, that is exactly "every vertex lies on an
      input-to-output path", which ``ModelSpec`` would otherwise prune, so
      ``query`` could never find the stored hash);
    * its stored module hash is the exact NAS-Bench-101 hash of its graph
      (:func:`.cellhash.hash_cells`), so ``query(spec)`` (which hashes the
      spec) and ``query_many`` (which finds the cell by its graph) agree.
    """
    from .cellhash import hash_cells, labels_of_codes

    if len(ref) == 0:
        return []
    rec = cols["record_index"]
    nv = cols["num_vertices"][ref].astype(np.int64)
    bits = cols["adj_bits"][ref]
    adjacency = adjacency_matrices(bits, nv).astype(bool)
    out_deg = adjacency.sum(axis=2)
    in_deg = adjacency.sum(axis=1)
    vertex = np.arange(constants.MAX_VERTICES)
    inside = vertex[None, :] < nv[:, None]
    no_out = inside & (out_deg == 0) & (vertex[None, :] != nv[:, None] - 1)
    no_in = inside & (in_deg == 0) & (vertex[None, :] != 0)
    errors = []
    unpruned = np.flatnonzero((no_out | no_in).any(axis=1))
    if len(unpruned):
        c = int(unpruned[np.argmin(rec[ref[unpruned]])])
        row = int(ref[c])
        dangling = np.flatnonzero(no_out[c] | no_in[c]).tolist()
        msg = (
            f"module hash {_row_hash(cols, row)}: the cell ({_cell_text(cols, row)}) is not "
            f"pruned: vertex {dangling[0]} is not on a path from the input to the output "
            "(NAS-Bench-101 stores every cell pruned, and a query for this graph would "
            "look up the hash of its pruned form)"
        )
        errors.append((int(rec[row]), _fail(msg, cols, row, source)))
    labels = labels_of_codes(ops_codes_matrix(cols["ops_code"][ref], nv), nv)
    computed = hash_cells(adjacency, labels, nv)
    stored = hash_hex_matrix(cols["hash_hi"][ref], cols["hash_lo"][ref]).view("S32").reshape(-1)
    wrong = np.flatnonzero(computed != stored)
    if len(wrong):
        c = int(wrong[np.argmin(rec[ref[wrong]])])
        row = int(ref[c])
        msg = (
            f"module hash {_row_hash(cols, row)} does not match its cell "
            f"({_cell_text(cols, row)}), whose NAS-Bench-101 hash is "
            f"{computed[c].decode()}; the record's hash or its cell is wrong"
            + (f" ({len(wrong)} cells of this bucket are affected)" if len(wrong) > 1 else "")
        )
        errors.append((int(rec[row]), _fail(msg, cols, row, source)))
    return errors


# ----------------------------------------------------------------------------- parquet


def _string_array(matrix: np.ndarray) -> pa.Array:
    """(n, w) uint8 ASCII rows -> Arrow string array (zero-copy)."""
    n, w = matrix.shape
    offsets = np.arange(0, n * w + 1, w, dtype=np.int32)
    data = np.ascontiguousarray(matrix)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _write_parquet(
    path: Path, table: pa.Table, row_group_size: int, sorting, *, dictionary: bool = True
) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _writing(path):
        _write_table(table, path, row_group_size, sorting, dictionary)
    fsync_path(path)
    return {"rows": table.num_rows, **file_checksums(path)}


def _write_table(table, path, row_group_size, sorting, dictionary) -> None:
    pq.write_table(
        table,
        path,
        row_group_size=row_group_size,
        compression="zstd",
        write_statistics=True,
        sorting_columns=sorting,
        use_dictionary=dictionary,
        # A CRC per data page: pyarrow readers asked to check them
        # (page_checksum_verification) refuse a damaged page instead of decoding it.
        write_page_checksum=True,
    )


def file_metadata(base: dict, table: str, bucket: str, rows: int) -> dict[bytes, bytes]:
    """Key-value metadata of one Parquet file: the format metadata plus what the file holds."""
    doc = dict(base)
    doc.update({"table": table, "bucket": bucket, "rows": rows})
    return {layout.METADATA_KEY: json.dumps(doc, sort_keys=True).encode()}


def write_bucket(
    bucket: int,
    inputs: list[tuple[str, int]],
    root: str | os.PathLike,
    work: str | os.PathLike,
    *,
    epochs_all: list[int],
    allow_incomplete: bool,
    metadata: dict,
    source: str | None = None,
    run_offset: int | None = None,
) -> dict:
    """Sort, check and write one bucket.

    Parameters
    ----------
    bucket : int
        0..15 (index in :data:`layout.BUCKETS`).
    inputs : list of (path, int)
        Spill files of this bucket and the record index of their part's first record.
    root : path
        Dataset directory being built.
    work : path
        Scratch directory for this bucket's slice of the query index.
    epochs_all : list of int
        Budgets present anywhere in the source (every hash must have all of them).
    allow_incomplete : bool
        Accept hashes with missing budgets or fewer than 3 repeats.
    metadata : dict
        Format metadata for the Parquet key-value metadata.
    source : str, optional
        Source file name for error messages.
    run_offset : int, optional
        Row of this bucket's first run in the run arrays of the query index.
        When given, the bucket writes its runs straight into
        ``root/index/run_epochs.npy`` and ``run_metrics.npy`` (created
        beforehand by :func:`create_run_index`) instead of the scratch directory.

    Returns
    -------
    dict
        ``cells``, ``runs`` (row counts), ``files`` ({relative path: {rows, size,
        sha256}}), ``index`` ({name: .npy path}), ``max_repeats``, ``complete``.

    Raises
    ------
    ConversionError
        For the earliest record (in file order) that breaks an invariant.
    """
    name = layout.BUCKETS[bucket]
    root = Path(root)
    work = Path(work)
    cpu0 = time.process_time()
    cols = _read_spill(inputs)
    n = len(cols["record_index"])
    hi, lo, ep, rec = cols["hash_hi"], cols["hash_lo"], cols["epochs"], cols["record_index"]
    order = np.lexsort((rec, ep, lo, hi))
    cols = {k: v[order] for k, v in cols.items()}
    hi, lo, ep, rec = cols["hash_hi"], cols["hash_lo"], cols["epochs"], cols["record_index"]

    new_cell = np.ones(n, dtype=bool)
    new_cell[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    cell_start = np.flatnonzero(new_cell)
    cell_id = np.cumsum(new_cell) - 1
    ncells = len(cell_start)
    # The earliest record of each hash defines the cell (as the original loader keeps the first).
    if n:
        first_rec = np.minimum.reduceat(rec, cell_start)
        ref = np.flatnonzero(rec == first_rec[cell_id])
    else:
        first_rec = ref = np.zeros(0, dtype=np.int64)
    new_group = new_cell.copy()
    new_group[1:] |= ep[1:] != ep[:-1]
    group_start = np.flatnonzero(new_group)
    group_id = np.cumsum(new_group) - 1
    group_cell = cell_id[group_start]
    repeat = np.arange(n) - group_start[group_id] if n else np.zeros(0, dtype=np.int64)
    cpu_check = time.process_time()
    cell_errors = _cell_errors(cols, ref, source)
    cpu_check = time.process_time() - cpu_check
    _check(
        cols,
        cell_id,
        first_rec,
        ref,
        group_start,
        group_cell,
        repeat,
        epochs_all,
        allow_incomplete,
        source,
        cell_errors,
    )
    sizes = np.diff(np.append(group_start, n))
    complete = bool(
        n == 0
        or (
            (sizes == constants.NUM_REPEATS).all()
            and (np.bincount(group_cell, minlength=ncells) == len(epochs_all)).all()
        )
    )

    files = {}
    # ---- cells
    c_hi, c_lo = hi[ref], lo[ref]
    nv = cols["num_vertices"][ref]
    bits = cols["adj_bits"][ref]
    codes = ops_codes_matrix(cols["ops_code"][ref], nv)
    hex_cells = hash_hex_matrix(c_hi, c_lo)
    adj_off, adj_data = adjacency_strings(bits, nv)
    op_mask = codes != 255
    op_offsets = np.zeros(ncells + 1, dtype=np.int32)
    np.cumsum(op_mask.sum(axis=1), out=op_offsets[1:])
    op_values = _OP_NAMES.take(numpy_to_arrow(codes[op_mask], pa.int32()))
    cells_schema = layout.CELLS_SCHEMA.with_metadata(
        file_metadata(metadata, layout.CELLS_DIR, name, ncells)
    )
    cells = pa.Table.from_arrays(
        [
            _string_array(hex_cells),
            numpy_to_arrow(nv, pa.int8()),
            numpy_to_arrow(_popcount(bits).astype(np.int8), pa.int8()),
            pa.Array.from_buffers(
                pa.string(), ncells, [None, pa.py_buffer(adj_off), pa.py_buffer(adj_data)]
            ),
            pa.ListArray.from_arrays(numpy_to_arrow(op_offsets, pa.int32()), op_values),
            numpy_to_arrow(cols["trainable_parameters"][ref], pa.int32()),
        ],
        schema=cells_schema,
    )
    rel = layout.data_file(layout.CELLS_DIR, name)
    files[rel] = _write_parquet(root / rel, cells, CELLS_ROW_GROUP, [pq.SortingColumn(0)])
    del cells

    # ---- runs
    metrics = (
        np.stack([cols[c] for c in METRIC_COLUMNS]) if n else np.zeros((len(METRIC_COLUMNS), 0))
    )
    runs_schema = layout.RUNS_SCHEMA.with_metadata(
        file_metadata(metadata, layout.RUNS_DIR, name, n)
    )
    run_arrays = [
        _string_array(hex_cells[cell_id]),
        numpy_to_arrow(ep, pa.int16()),
        numpy_to_arrow(repeat.astype(np.int8), pa.int8()),
        *[numpy_to_arrow(metrics[j], pa.float64()) for j in range(len(METRIC_COLUMNS))],
        numpy_to_arrow(rec, pa.int64()),
    ]
    runs = pa.Table.from_arrays(run_arrays, schema=runs_schema)
    rel = layout.data_file(layout.RUNS_DIR, name)
    files[rel] = _write_parquet(
        root / rel,
        runs,
        RUNS_ROW_GROUP,
        [pq.SortingColumn(0), pq.SortingColumn(1), pq.SortingColumn(2)],
        # Plain encoding + zstd is smaller and faster here than dictionaries
        # (the metric values rarely repeat within a row group).
        dictionary=False,
    )
    del runs, run_arrays

    # ---- slice of the query index
    work.mkdir(parents=True, exist_ok=True)
    index = {
        "cell_hash": hex_cells.view("S32").reshape(ncells),
        "cell_num_vertices": nv.astype(np.int8),
        "cell_adjacency": adjacency_matrices(bits, nv),
        "cell_ops": codes,
        "cell_params": cols["trainable_parameters"][ref].astype(np.int32),
        "run_count": np.bincount(cell_id, minlength=ncells).astype(np.int64),
        "run_epochs": ep.astype(np.int16),
        "run_metrics": np.ascontiguousarray(metrics[_INDEX_METRIC_ROWS].T),
    }
    if run_offset is not None:
        for key in ("run_epochs", "run_metrics"):
            _write_rows(root / layout.INDEX_DIR / layout.INDEX_FILES[key], run_offset, index.pop(key))
    paths = {}
    for key, arr in index.items():
        p = work / f"{name}-{key}.npy"
        with _writing(p):
            np.save(p, arr)
        paths[key] = str(p)
    return {
        "bucket": bucket,
        "cells": ncells,
        "runs": n,
        "files": files,
        "index": paths,
        "max_repeats": int(sizes.max()) if n else 0,
        "cpu": time.process_time() - cpu0,
        "cpu_cell_check": cpu_check,
        "complete": complete,
    }


# ----------------------------------------------------------------------------- query index


def _run_specs(nruns: int) -> dict:
    return {
        "run_epochs": ((nruns,), np.int16),
        "run_metrics": ((nruns, len(layout.INDEX_RUN_COLUMNS)), np.float64),
    }


def _npy_header(shape: tuple, dtype) -> bytes:
    """The ``.npy`` (format 1.0) header of a C-order array of ``shape`` and ``dtype``."""
    import io

    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _create_npy(path: Path, shape: tuple, dtype) -> None:
    """Create a ``.npy`` file of ``shape`` with its data blocks allocated (zeros).

    The space is reserved at once (``posix_fallocate``), so a full disk is an
    ``OSError`` (ENOSPC) here, never a SIGBUS later: the index is written with
    plain writes, not through a memory map.
    """
    header = _npy_header(shape, dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    with _writing(path), open(path, "wb") as f:
        f.write(header)
        f.flush()
        if nbytes:
            if hasattr(os, "posix_fallocate"):
                try:
                    os.posix_fallocate(f.fileno(), len(header), nbytes)
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                        raise
                    f.truncate(len(header) + nbytes)
            else:  # pragma: no cover - not Linux
                f.truncate(len(header) + nbytes)


def _write_rows(path: Path, row: int, values: np.ndarray) -> None:
    """Write ``values`` (C order) at ``row`` of an existing ``.npy`` array, with ``pwrite``."""
    with open(path, "rb") as f:
        major, _minor = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(f)
        start = f.tell()
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    if row + len(values) > shape[0]:
        msg = f"{path.name}: {len(values)} rows at row {row} overflow the array ({shape[0]} rows)"
        raise RuntimeError(msg)
    data = memoryview(np.ascontiguousarray(values, dtype=dtype).reshape(-1).view(np.uint8))
    fd = os.open(path, os.O_WRONLY)
    try:
        with _writing(path):
            pos = start + row * row_bytes
            while data:
                n = os.pwrite(fd, data, pos)
                data = data[n:]
                pos += n
    finally:
        os.close(fd)


class _writing:  # noqa: N801 - used as a context manager, like open()
    """Re-raise a write failure of ``path`` as an ``OSError`` naming it (errno kept).

    pyarrow and numpy report a full disk without the file name (pyarrow
    without the errno); the converter turns this into its one-line message.
    """

    def __init__(self, path):
        self.path = str(path)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, OSError) or getattr(exc, "filename", None):
            return False
        code = exc.errno
        if code is None and "No space left on device" in str(exc):
            code = errno.ENOSPC
        if code is None:
            return False
        raise OSError(code, os.strerror(code), self.path) from exc


def _write_npy(path: Path, parts) -> None:
    """Write the arrays ``parts`` (same dtype and row shape) one after another as one ``.npy``."""
    parts = list(parts)
    rows = sum(len(a) for a in parts)
    shape = (rows, *parts[0].shape[1:]) if parts else (0,)
    dtype = parts[0].dtype if parts else np.int64
    with _writing(path), open(path, "wb") as f:
        f.write(_npy_header(shape, dtype))
        for a in parts:
            f.write(memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8)))


def create_run_index(root: str | os.PathLike, nruns: int) -> None:
    """Create the run arrays of the query index (zeros), for the buckets to fill in place."""
    directory = Path(root) / layout.INDEX_DIR
    directory.mkdir(parents=True, exist_ok=True)
    for key, (shape, dtype) in _run_specs(nruns).items():
        _create_npy(directory / layout.INDEX_FILES[key], shape, dtype)


def write_index(root: str | os.PathLike, parts: list[dict], ncells: int, nruns: int) -> dict:
    """Concatenate the buckets' index slices (in bucket order) into ``root/index``.

    The run arrays are either among the slices or were filled in place by the
    buckets (see :func:`create_run_index`).

    Parameters
    ----------
    root : path
        Dataset directory being built.
    parts : list of dict
        :func:`write_bucket` results, in bucket order.
    ncells, nruns : int
        Totals (the array lengths).

    Returns
    -------
    dict
        ``{relative path: {rows, size, sha256}}`` of the index files.
    """
    root = Path(root)
    directory = root / layout.INDEX_DIR
    directory.mkdir(parents=True, exist_ok=True)
    specs = {
        "cell_hash": ((ncells,), "S32"),
        "cell_num_vertices": ((ncells,), np.int8),
        "cell_adjacency": ((ncells, constants.MAX_VERTICES, constants.MAX_VERTICES), np.int8),
        "cell_ops": ((ncells, constants.MAX_VERTICES), np.uint8),
        "cell_params": ((ncells,), np.int32),
    }
    in_place = all(k not in part["index"] for part in parts for k in _run_specs(0))
    files = {f"{layout.INDEX_DIR}/{layout.INDEX_FILES[k]}": nruns for k in _run_specs(0)}
    if not in_place:
        specs.update(_run_specs(nruns))
    for key, (shape, dtype) in specs.items():
        rel = f"{layout.INDEX_DIR}/{layout.INDEX_FILES[key]}"
        arrays = [np.load(part["index"][key], mmap_mode="r") for part in parts]
        if sum(len(a) for a in arrays) != shape[0]:
            msg = f"{rel}: the buckets hold {sum(len(a) for a in arrays)} rows, expected {shape[0]}"
            raise RuntimeError(msg)
        _write_npy(root / rel, [np.asarray(a, dtype=dtype).reshape(-1, *shape[1:]) for a in arrays])
        del arrays
        files[rel] = shape[0]
    # run_start: runs of cell i are rows run_start[i] : run_start[i + 1].
    rel = f"{layout.INDEX_DIR}/{layout.INDEX_FILES['run_start']}"
    counts = np.concatenate(
        [np.zeros(1, dtype=np.int64)] + [np.load(part["index"]["run_count"]) for part in parts]
    )
    _write_npy(root / rel, [np.cumsum(counts, dtype=np.int64)])
    files[rel] = ncells + 1
    files.update(write_canonical_index(root))
    result = {}
    for rel, rows in sorted(files.items()):
        fsync_path(root / rel)
        result[rel] = {"rows": rows, **file_checksums(root / rel)}
    return result


def write_canonical_index(root: str | os.PathLike) -> dict[str, int]:
    """Write ``cell_canon.npy`` and ``cell_canon_pos.npy`` from the cell arrays already in ``root/index``.

    The canonical isomorphism key of every cell (:func:`layout.canonical_keys_of_index`;
    about 1 s for the full dataset's 423,624 cells), sorted, and the row of
    each key's cell, so a reader finds the cell of a spec with a vectorised
    ``np.searchsorted`` instead of hashing it.

    Returns
    -------
    dict
        ``{relative path: rows}`` of the two files.
    """
    directory = Path(root) / layout.INDEX_DIR

    def load(key: str) -> np.ndarray:
        return np.load(directory / layout.INDEX_FILES[key], mmap_mode="r")

    keys = layout.canonical_keys_of_index(load("cell_adjacency"), load("cell_ops"), load("cell_num_vertices"))
    order = np.argsort(keys, kind="stable")
    out = {}
    for key, values in (("cell_canon", keys[order]), ("cell_canon_pos", order.astype(np.int32))):
        with _writing(directory / layout.INDEX_FILES[key]):
            np.save(directory / layout.INDEX_FILES[key], values)
        out[f"{layout.INDEX_DIR}/{layout.INDEX_FILES[key]}"] = len(values)
    return out


def canonical_duplicates(root: str | os.PathLike) -> int:
    """Number of stored cells whose canonical key another stored cell also has (isomorphic duplicates).

    None in the official files; readers resolve specs hitting such a key by hashing.
    """
    keys = np.load(Path(root) / layout.INDEX_DIR / layout.INDEX_FILES["cell_canon"], mmap_mode="r")
    keys = keys[keys >= 0]
    if len(keys) < 2:
        return 0
    same = keys[1:] == keys[:-1]
    dup = np.zeros(len(keys), dtype=bool)
    dup[1:] |= same
    dup[:-1] |= same
    return int(dup.sum())
