"""Official-format files holding the real published values of ``shared/realdata``.

A test helper, not part of the package: it knows the file names and JSON
layouts of the test data folder (``shared/realdata``, see its README), which
an installed ``nasbench_arrow`` has no business knowing. The synthetic fixture
writer it builds on (:mod:`nasbench_arrow.testing`) is shipped.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np

from nasbench_arrow.constants import NUM_REPEATS, VALID_EPOCHS
from nasbench_arrow.records import (
    decode_metrics_values,
    encode_metrics_values,
    format_payload,
    parse_payload,
)
from nasbench_arrow.testing import (
    INCEPTION_HASH,
    ExpectedRecord,
    FixtureInfo,
    quantize_accuracy,
    record_values,
    synthetic_values,
)
from nasbench_arrow.tfrecord import TFRecordWriter, iter_payloads

__all__ = ["GENUINE_RECORD_FILE", "write_realdata_tfrecords"]

#: The one genuine record of the official file in ``shared/realdata``.
GENUINE_RECORD_FILE = "nasbench_rs_record_00005c14_e4.tfrecord"


def _published_values(stats: dict, epochs: int, cell_hash: str, repeat: int, params: int) -> tuple:
    """Flat values of one published run: halfway/final as published, the rest synthetic.

    The start evaluation and ``total_time`` were not published; they are drawn
    (chance-level accuracies, 230-330 s of overhead) from a generator seeded
    by the hash, budget and repeat, so they are the same on every call.
    """
    rng = np.random.default_rng([int(cell_hash, 16) % 2**63, epochs, repeat])
    start = quantize_accuracy(rng.normal(0.1, 0.004, size=3)).tolist()
    values = [0.0, 0.0, *start]
    for stage, epoch in (("halfway", epochs / 2), ("final", float(epochs))):
        values += [
            float(epoch),
            stats[f"{stage}_training_time"],
            stats[f"{stage}_train_accuracy"],
            stats[f"{stage}_validation_accuracy"],
            stats[f"{stage}_test_accuracy"],
        ]
    overhead = float(rng.uniform(230.0, 330.0))
    return (*values, params, stats["final_training_time"] + overhead)


def _realdata_cells(realdata: Path) -> dict[str, dict]:
    """hash -> {matrix, ops, params, runs: {epochs: [stats, ...]}} from the realdata files."""
    first = json.loads((realdata / "first_arch_00005c14.json").read_text())
    inception = json.loads((realdata / "inception_28cfc787.json").read_text())
    naslib = json.loads((realdata / "naslib_nb101_dummy_30.json").read_text())
    cells = {
        first["hash"]: {
            "matrix": first["matrix"],
            "ops": first["ops"],
            "params": first["trainable_parameters"],
            "runs": {108: first["computed_stats_108"]},
        },
        inception["hash"]: {
            "matrix": inception["pruned_matrix"],
            "ops": inception["pruned_ops"],
            "params": inception["trainable_parameters"],
            "runs": {int(e): runs for e, runs in inception["computed_stats"].items()},
        },
    }
    for h, entry in naslib.items():
        cells.setdefault(
            h,
            {
                "matrix": entry["module_adjacency"],
                "ops": entry["module_operations"],
                "params": entry["trainable_parameters"],
                "runs": {int(e): runs for e, runs in entry["computed"].items()},
            },
        )
    return cells


def _write_published(path: Path, cells: dict[str, dict], budgets: tuple[int, ...], genuine=None):
    """Write the published runs of ``cells`` for ``budgets``; see write_realdata_tfrecords."""
    records: list[ExpectedRecord] = []
    stored = {}
    with TFRecordWriter(path) as writer:
        for h in sorted(cells):
            cell = cells[h]
            adjacency = "".join(str(int(b)) for row in cell["matrix"] for b in row)
            operations = ",".join(cell["ops"])
            stored[h] = (np.array(cell["matrix"], dtype=np.int8), list(cell["ops"]))
            for e in budgets:
                for r in range(NUM_REPEATS):
                    if genuine is not None and (h, e, r) == genuine[0]:
                        payload, values = genuine[1], genuine[2]
                        source = "genuine"
                    elif e in cell["runs"]:
                        values = _published_values(cell["runs"][e][r], e, h, r, cell["params"])
                        payload = format_payload(
                            h, e, adjacency, operations, encode_metrics_values(values)
                        )
                        source = "published"
                    else:
                        values = _filler_values(h, e, r, cell)
                        payload = format_payload(
                            h, e, adjacency, operations, encode_metrics_values(values)
                        )
                        source = "synthetic"
                    writer.write(payload)
                    records.append(
                        ExpectedRecord(len(records), h, e, r, adjacency, operations, values, source)
                    )
    return FixtureInfo(
        path=path,
        num_records=len(records),
        hashes=tuple(sorted(cells)),
        epochs=budgets,
        repeats=NUM_REPEATS,
        cells=stored,
        trainable_parameters={h: cells[h]["params"] for h in cells},
        records=records,
    )


def _filler_values(cell_hash: str, epochs: int, repeat: int, cell: dict) -> tuple:
    """Synthetic values for a run that was not published (seeded by hash, budget, repeat)."""
    rng = np.random.default_rng([int(cell_hash, 16) % 2**63, epochs, repeat, 7])
    values = synthetic_values(1, (epochs,), 1, [cell["params"]], rng)[0, 0, 0]
    return record_values(values)


def write_realdata_tfrecords(realdata_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict:
    """Write official-format files holding the real values of ``shared/realdata``.

    Published values (halfway and final training time and accuracies,
    trainable parameters, the stored adjacency and ops) are written bit for
    bit; the start-of-training evaluation and ``total_time``, which were not
    published, get plausible values drawn from a generator seeded by the
    hash, budget and repeat: chance-level start accuracies (float32
    multiples of 1/9984, ``current_epoch`` and ``training_time`` 0) and a
    ``total_time`` of the final training time plus 230-330 s.

    Files written in ``out_dir``:

    ``"only108"`` -> ``realdata_only108.tfrecord``
        Every cell with all three 108-epoch runs published: 00005c14...,
        the Inception cell 28cfc787... and the 30 NASLib cells (32 cells, 96 records).
    ``"inception_full"`` -> ``realdata_inception_full.tfrecord``
        The Inception cell at all 4 budgets x 3 repeats, all published (12 records).
    ``"first_arch_full"`` -> ``realdata_first_arch_full.tfrecord``
        Cell 00005c14... at all 4 budgets x 3 repeats: repeat 0 at 4 epochs
        is the genuine record of the official file, byte for byte; the 108-epoch
        runs are published; the other runs (4-epoch repeats 1 and 2, 12 and 36
        epochs) are synthetic. This is where the genuine record fits in a
        complete file.

    Parameters
    ----------
    realdata_dir : str or os.PathLike
        The ``shared/realdata`` directory.
    out_dir : str or os.PathLike
        Existing directory to write into.

    Returns
    -------
    dict
        name -> :class:`FixtureInfo`; each record's ``source`` tells
        ``"genuine"``, ``"published"`` or ``"synthetic"``.
    """
    realdata = Path(realdata_dir)
    out = Path(out_dir)
    cells = _realdata_cells(realdata)
    complete_108 = {h: c for h, c in cells.items() if len(c["runs"].get(108, ())) == NUM_REPEATS}
    result = {
        "only108": _write_published(out / "realdata_only108.tfrecord", complete_108, (108,)),
        "inception_full": _write_published(
            out / "realdata_inception_full.tfrecord",
            {INCEPTION_HASH: cells[INCEPTION_HASH]},
            VALID_EPOCHS,
        ),
    }
    (_, _, payload) = next(iter_payloads(realdata / GENUINE_RECORD_FILE))
    row = parse_payload(payload)
    raw = base64.b64decode(json.loads(payload)[4])
    genuine = ((row.module_hash, row.epochs, 0), payload, decode_metrics_values(raw))
    first = cells[row.module_hash]
    result["first_arch_full"] = _write_published(
        out / "realdata_first_arch_full.tfrecord",
        {row.module_hash: first},
        VALID_EPOCHS,
        genuine=genuine,
    )
    return result
