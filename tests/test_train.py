"""The TensorFlow 2 trainer: model, data, recipe, records, resume, shards, Ray."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from nasbench_arrow.constants import AVAILABLE_OPS, CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT
from nasbench_arrow.params import trainable_parameters

# The Inception-like cell as the original README writes it (not in stored vertex order).
from nasbench_arrow.testing import INCEPTION_MATRIX, INCEPTION_OPS

INCEPTION_PARAMS = 2_694_282

# A network small enough to train in seconds on one CPU core.
TINY = [
    "--stem-filters",
    "8",
    "--num-stacks",
    "1",
    "--num-modules-per-stack",
    "1",
    "--batch-size",
    "32",
]
TINY_CELLS = [
    {"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": [INPUT, CONV3X3, OUTPUT]},
    {"matrix": [[0, 1], [0, 0]], "ops": [INPUT, OUTPUT]},
    {
        "matrix": [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        "ops": [INPUT, CONV1X1, MAXPOOL3X3, OUTPUT],
    },
]


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, or a skip that says how to get it."""
    return pytest.importorskip(
        "tensorflow", reason="needs the train extra: pip install 'nasbench-arrow[train]'"
    )


def _param_count(model) -> int:
    return int(sum(int(np.prod(v.shape)) for v in model.trainable_variables))


def _is_full_dag(m: np.ndarray) -> bool:
    n = len(m)
    reach_from_input, reach_output = {0}, {n - 1}
    for v in range(1, n):
        if any(m[u, v] for u in reach_from_input):
            reach_from_input.add(v)
    for v in range(n - 2, -1, -1):
        if any(m[v, w] for w in reach_output):
            reach_output.add(v)
    return len(reach_from_input) == n and len(reach_output) == n


def _random_cells(rng: np.random.Generator, per_size: int):
    """Random pruned cells (full DAGs, <= 9 edges) with ``per_size`` of each size 2..7."""
    cells = [(np.array([[0, 1], [0, 0]]), [INPUT, OUTPUT])] * min(per_size, 1)
    for v in range(3, 8):
        found = 0
        while found < per_size:
            m = np.triu(rng.random((v, v)) < 0.45, 1).astype(np.int64)
            if m.sum() > 9 or not _is_full_dag(m):
                continue
            ops = [INPUT, *rng.choice(AVAILABLE_OPS, v - 2).tolist(), OUTPUT]
            cells.append((m, ops))
            found += 1
    return cells


# ----------------------------------------------------------------------------- import


def _run_without_tensorflow(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where ``import tensorflow`` fails."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['tensorflow'] = None\n" + code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_without_tensorflow_gives_install_hint():
    """Using nasbench_arrow.train without TensorFlow names the pip install line; importing the
    package alone (what the CLI's argument parsing needs) does not need TensorFlow."""
    code = (
        "from nasbench_arrow.errors import MissingDependencyError\n"
        "import nasbench_arrow.train\n"
        "from nasbench_arrow.train.data import check_cifar10\n"
        "try:\n"
        "    from nasbench_arrow.train import build_model\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
        "try:\n"
        "    import nasbench_arrow.train.trainer\n"
        "except MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    proc = _run_without_tensorflow(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install 'nasbench-arrow[train]'" in line for line in lines)


def test_cli_help_and_argument_errors_do_not_import_tensorflow(tmp_path):
    """--help, a usage error, a bad --shard and --dry-run answer without loading TensorFlow."""
    code = (
        "import contextlib, io, sys\n"
        "from nasbench_arrow.train.cli import main\n"
        "codes = []\n"
        "for argv in (['--help'], ['--bogus'], ['--all', '--shard', '5/2', '--out', 'x'],\n"
        f"             ['--matrix', '[[0,1],[0,0]]', '--ops', '[\"input\",\"output\"]', '--dry-run', '--out', {str(tmp_path / 'o')!r}]):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            codes.append(main(argv))\n"
        "        except SystemExit as exc:\n"
        "            codes.append(exc.code)\n"
        "print(codes, 'tensorflow' in sys.modules)\n"
    )
    # A real interpreter (tensorflow importable): the check is that it is not imported.
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[0,", "2,", "2,", "0]", "False"]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cifar_given", ["archive", "missing"])
def test_cli_without_tensorflow_one_line_hint_and_no_files(synthetic_cifar, tmp_path, cifar_given):
    """nasbench-train without TensorFlow: exit 2, one line with the install hint (even when
    --cifar is wrong too: the missing dependency is the first thing to fix), OUT untouched."""
    out = tmp_path / "runs"
    cifar = synthetic_cifar if cifar_given == "archive" else tmp_path / "no-cifar"
    code = (
        "from nasbench_arrow.train.cli import main\n"
        f"raise SystemExit(main(['--matrix', '[[0,1],[0,0]]', '--ops', '[\"input\",\"output\"]', '--epochs', '4',\n"
        f"                       '--cifar', {str(cifar)!r}, '--out', {str(out)!r}]))\n"
    )
    proc = _run_without_tensorflow(code)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'nasbench-arrow[train]'" in lines[0], proc.stderr
    assert lines[0].startswith("nasbench-train: ")
    assert not out.exists()


def test_evaluate_says_cifar_is_missing_before_importing_tensorflow(sample_dataset_dir, tmp_path):
    """NASBench.evaluate without a CIFAR-10 location raises its ValueError without loading
    TensorFlow (the train package no longer imports it on import)."""
    code = (
        "import os, sys\n"
        "os.environ.pop('NASBENCH_CIFAR10', None)\n"
        "from nasbench_arrow.api import NASBench\n"
        f"nb = NASBench({str(sample_dataset_dir)!r})\n"
        "try:\n"
        f"    nb.evaluate(nb.random_specs(1, seed=0)[0], {str(tmp_path / 'model')!r})\n"
        "except ValueError as exc:\n"
        "    print('needs CIFAR-10' in str(exc), 'tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.split() == ["True", "False"], proc.stderr


@pytest.mark.parametrize("kind", ["missing", "text"])
def test_cli_bad_cifar_one_line_and_no_part_file(tmp_path, kind):
    """A missing --cifar path or a text file: one line naming it, exit 2, no (empty) shard file."""
    if kind == "missing":
        cifar = tmp_path / "nowhere" / "cifar-10-python.tar.gz"
        expected = "CIFAR-10 not found"
    else:
        cifar = tmp_path / "notes.txt"
        cifar.write_text("my notes\n" * 10)
        expected = "is not a tar archive"
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "nasbench_arrow.train.cli", "--matrix", "[[0,1],[0,0]]",
         "--ops", '["input","output"]', "--epochs", "4", "--cifar", str(cifar), "--out", str(out)],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(cifar) in lines[0], proc.stderr
    assert not out.exists() or not any(out.iterdir())


def test_cifar_reader_one_line_for_a_corrupt_archive(tmp_path):
    """A gzip file that is not a tar archive gives a one-line DatasetFormatError."""
    import gzip

    from nasbench_arrow.errors import DatasetFormatError
    from nasbench_arrow.train.data import load_cifar10

    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(gzip.compress(b"not a tar archive at all" * 100))
    with pytest.raises(DatasetFormatError) as info:
        load_cifar10(bad)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)


# ----------------------------------------------------------------------------- model


@pytest.mark.train
def test_inception_cell_has_dataset_parameter_count(tf):
    """The README's Inception-like cell builds with exactly 2,694,282 trainable parameters."""
    from nasbench_arrow.model_spec import ModelSpec
    from nasbench_arrow.train import build_model

    model = build_model(ModelSpec(np.array(INCEPTION_MATRIX), INCEPTION_OPS))
    assert _param_count(model) == INCEPTION_PARAMS
    assert tuple(model.input.shape) == (None, 32, 32, 3)
    assert tuple(model.output.shape) == (None, 10)
    tf.keras.backend.clear_session()


@pytest.mark.train
def test_real_cells_build_with_dataset_counts(tf, realdata):
    """Full-size models of real cells of each size have the dataset's parameter counts."""
    from nasbench_arrow.train import build_model

    rows = json.loads((realdata / "vis_first1000_by_hash.json").read_text())
    by_size = {}
    for r in rows:
        by_size.setdefault(len(r["ops"]), r)
    for r in by_size.values():
        model = build_model(r["matrix"], r["ops"], prune=False)
        assert _param_count(model) == r["trainable_parameters"], r["hash"]
        tf.keras.backend.clear_session()


@pytest.mark.train
def test_output_shapes_and_layouts(tf):
    """Logits are (batch, labels) float32 in every layout and precision; NCHW builds too."""
    from nasbench_arrow.train import build_model

    kw = {"stem_filters": 8, "num_stacks": 2, "num_modules_per_stack": 1, "prune": False}
    m, o = INCEPTION_MATRIX, INCEPTION_OPS
    model = build_model(m, o, num_labels=7, **kw)
    logits = model(np.zeros((2, 32, 32, 3), np.float32), training=False)
    assert tuple(logits.shape) == (2, 7)
    nchw = build_model(m, o, data_format="channels_first", **kw)
    assert tuple(nchw.input.shape) == (None, 3, 32, 32)
    assert _param_count(nchw) == trainable_parameters(
        m, o, stem_filters=8, num_stacks=2, num_modules_per_stack=1
    )
    half = build_model(m, o, mixed_precision="float16", **kw)
    assert half(np.zeros((1, 32, 32, 3), np.float32)).dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in half.trainable_variables)
    with pytest.raises(ValueError, match="data_format must be one of"):
        build_model(m, o, data_format="NHWC", **kw)
    tf.keras.backend.clear_session()


@pytest.mark.train
@pytest.mark.slow
def test_analytic_count_equals_keras_on_random_cells(tf):
    """trainable_parameters equals the Keras model's count on 201 random cells of every size."""
    from nasbench_arrow.train import build_model

    rng = np.random.default_rng(101)
    cells = _random_cells(rng, per_size=40)
    assert len(cells) == 201
    # Full widths (128/256/512) with one module per stack keep each build short; the
    # module count only multiplies per-module terms, checked at full size above.
    kw = {"num_modules_per_stack": 1}
    mismatches = []
    for i, (m, o) in enumerate(cells):
        if i % 20 == 0:  # now and then an odd stem, so uneven splits and truncation appear
            kw = {"num_modules_per_stack": 1, "stem_filters": int(rng.integers(5, 40))}
        model = build_model(m, o, prune=False, **kw)
        if _param_count(model) != trainable_parameters(m, o, prune=False, **kw):
            mismatches.append((m.tolist(), o, kw))
        tf.keras.backend.clear_session()
        kw = {"num_modules_per_stack": 1}
    assert mismatches == []


# ----------------------------------------------------------------------------- recipe and data


@pytest.mark.train
def test_learning_rate_schedule(tf):
    """Zero at step 0, then cosine from 0.1 x 2 shards = 0.2 down to 0 at the last step."""
    from nasbench_arrow.train import TrainConfig, learning_rate_at

    peak = TrainConfig().peak_learning_rate
    assert peak == pytest.approx(0.2)
    total = 16875  # int(108 * 40000 / 256)
    assert learning_rate_at(0, total, peak) == 0.0
    assert learning_rate_at(1, total, peak) == pytest.approx(0.2, rel=1e-6)
    assert learning_rate_at(total // 2, total, peak) == pytest.approx(0.1, rel=1e-3)
    assert learning_rate_at(total, total, peak) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="intermediate_evaluations"):
        TrainConfig(intermediate_evaluations=(0.7, 0.2))


@pytest.mark.train
def test_optimizer_matches_tf1_rmsprop(tf):
    """Our update equals TF1's RMSPropOptimizer (mean square starting at ones) step for step."""
    from nasbench_arrow.train.trainer import _rmsprop_update

    rng = np.random.default_rng(0)
    start = rng.standard_normal((3, 4)).astype(np.float32)
    grads = [tf.constant(rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(6)]
    rates = [0.0, 0.2, 0.19, 0.15, 0.1, 0.05]
    ours = tf.Variable(start)
    ms, mom = tf.Variable(tf.ones_like(start)), tf.Variable(tf.zeros_like(start))
    theirs = tf.Variable(start)
    lr = tf.Variable(0.0)
    opt = tf.compat.v1.train.RMSPropOptimizer(
        lambda: lr.read_value(), decay=0.9, momentum=0.9, epsilon=1.0
    )
    for g, r in zip(grads, rates):
        _rmsprop_update(ours, g, ms, mom, r, 0.9, 0.9, 1.0)
        lr.assign(r)
        opt.apply_gradients([(g, theirs)])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    assert not np.allclose(ours.numpy(), start)


@pytest.mark.train
def test_cifar_reader_splits_and_pixels(tf, synthetic_cifar, tmp_path):
    """The archive gives the original splits; planes become HWC pixels; folders work too."""
    import pickle
    import tarfile

    from nasbench_arrow.errors import DatasetFormatError, DatasetNotFoundError
    from nasbench_arrow.train import load_cifar10

    data = load_cifar10(synthetic_cifar)
    assert (len(data.train), len(data.train_eval), len(data.valid), len(data.test)) == (
        256,
        64,
        64,
        64,
    )
    with tarfile.open(synthetic_cifar) as tar:
        first = pickle.loads(
            tar.extractfile("cifar-10-batches-py/data_batch_1").read(), encoding="bytes"
        )
    raw = first[b"data"][3]
    assert data.train.images[3, 5, 7].tolist() == [
        raw[5 * 32 + 7],
        raw[1024 + 5 * 32 + 7],
        raw[2048 + 5 * 32 + 7],
    ]
    assert data.train_eval.labels.tolist() == first[b"labels"]
    with tarfile.open(synthetic_cifar) as tar:
        tar.extractall(tmp_path, filter="data")
    assert len(load_cifar10(tmp_path).valid) == 64  # the folder holding cifar-10-batches-py
    with pytest.raises(DatasetNotFoundError, match="never downloaded"):
        load_cifar10(tmp_path / "nowhere")
    evil = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    evil.write_bytes(pickle.dumps({"data": print}))  # a global no CIFAR batch holds
    with pytest.raises(DatasetFormatError, match="refusing to unpickle builtins.print"):
        load_cifar10(tmp_path)


@pytest.mark.train
def test_train_and_evaluate_recipe(tf, synthetic_cifar):
    """A run has start/halfway/final evaluations, whole-batch accuracies and time without eval."""
    from nasbench_arrow.train import TrainConfig, load_cifar10, query_dict, train_and_evaluate

    data = load_cifar10(synthetic_cifar)
    cfg = TrainConfig(batch_size=32, stem_filters=8, num_stacks=1, num_modules_per_stack=1, seed=3)
    events = []
    m, o = TINY_CELLS[0]["matrix"], TINY_CELLS[0]["ops"]
    metrics = train_and_evaluate(m, data, 4, cfg, ops=o, prune=False, progress=events.append)
    ev = metrics.evaluation_data
    assert [e.current_epoch for e in ev] == [0.0, 2.0, 4.0]
    assert (
        ev[0].training_time == 0.0 < ev[1].training_time < ev[2].training_time < metrics.total_time
    )
    for e in ev:
        for acc in (e.train_accuracy, e.validation_accuracy, e.test_accuracy):
            assert 0.0 <= acc <= 1.0 and (acc * 64) == pytest.approx(
                round(acc * 64)
            )  # 64 = 2 batches
    assert metrics.trainable_parameters == trainable_parameters(
        m, o, prune=False, stem_filters=8, num_stacks=1, num_modules_per_stack=1
    )
    epochs_seen = [round(p.epoch) for p in events if p.event == "epoch"]
    assert epochs_seen == [1, 2, 3, 4]
    assert all(math.isfinite(p.loss) for p in events if p.event == "epoch")
    q = query_dict(m, metrics, ops=o)
    assert q["test_accuracy"] == ev[-1].test_accuracy and q["module_operations"] == o


@pytest.mark.train
def test_mixed_precision_float16_trains(tf, synthetic_cifar):
    """Mixed float16 (dynamic loss scaling) trains to finite, valid evaluations."""
    from nasbench_arrow.train import TrainConfig, load_cifar10, train_and_evaluate

    cfg = TrainConfig(
        batch_size=32,
        stem_filters=8,
        num_stacks=1,
        num_modules_per_stack=1,
        mixed_precision="float16",
    )
    m, o = TINY_CELLS[2]["matrix"], TINY_CELLS[2]["ops"]
    metrics = train_and_evaluate(m, load_cifar10(synthetic_cifar), 2, cfg, ops=o, prune=False)
    assert [e.current_epoch for e in metrics.evaluation_data] == [0.0, 1.0, 2.0]
    assert all(0.0 <= e.test_accuracy <= 1.0 for e in metrics.evaluation_data)


# ----------------------------------------------------------------------------- CLI, records, resume, shards


def _cli(*args: str) -> int:
    from nasbench_arrow.train.cli import main

    return main(list(args))


def _records(out):
    from nasbench_arrow.records import parse_payload
    from nasbench_arrow.tfrecord import iter_payloads

    rows = []
    for path in sorted(out.glob("*.tfrecord")):
        rows += [parse_payload(p, record_index=i, byte_offset=b) for i, b, p in iter_payloads(path)]
    return rows


@pytest.mark.train
@pytest.mark.slow
def test_cli_end_to_end_resume_convert_and_query(tf, synthetic_cifar, tmp_path, capsys):
    """nasbench-train writes official records that resume, convert and open with NASBench."""
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps(TINY_CELLS))
    out = tmp_path / "runs"
    common = [
        "--list",
        str(cells),
        "--epochs",
        "4",
        "--cifar",
        str(synthetic_cifar),
        "--out",
        str(out),
        *TINY,
    ]
    assert _cli(*common, "--repeats", "1", "--seed", "0") == 0
    err = capsys.readouterr().err
    assert "epoch 4/4" in err and "0 already in" in err

    rows = _records(out)
    assert len(rows) == 3 and {r.epochs for r in rows} == {4}
    for r in rows:
        ev = r.metrics.evaluation_data
        assert [e.current_epoch for e in ev] == [0.0, 2.0, 4.0]
        matrix = np.array([int(b) for b in r.adjacency]).reshape(-1, int(len(r.adjacency) ** 0.5))
        ops = r.operations.split(",")
        assert r.metrics.trainable_parameters == trainable_parameters(
            matrix, ops, prune=False, stem_filters=8, num_stacks=1, num_modules_per_stack=1
        )

    # Resume: nothing left to do for one repeat; a second repeat adds one record per cell.
    assert _cli(*common, "--repeats", "1") == 0
    assert "0 to do" in capsys.readouterr().err and len(_records(out)) == 3
    assert _cli(*common, "--repeats", "2", "--quiet") == 0
    assert len(_records(out)) == 6

    # A run killed mid-write leaves a torn record: it is cut off, the good records stay.
    part = out / "part-00000-of-00001.tfrecord"
    before = part.read_bytes()
    with open(part, "ab") as f:
        f.write(b"\x99\x01\x00\x00\x00\x00\x00\x00")  # half a header
    assert _cli(*common, "--repeats", "3", "--quiet") == 0
    assert "cut a torn 8-byte record" in capsys.readouterr().err
    assert part.read_bytes().startswith(before) and len(_records(out)) == 9

    # The output converts like the official file and answers queries.
    converters = pytest.importorskip("nasbench_arrow.converters")
    if not hasattr(converters, "convert"):
        pytest.skip("nasbench_arrow.converters.convert not available yet")
    from nasbench_arrow.api import NASBench
    from nasbench_arrow.model_spec import ModelSpec

    # One budget only: incomplete by the official file's standard.
    converters.convert(part, tmp_path / "dataset", allow_incomplete=True)
    nb = NASBench(tmp_path / "dataset")
    spec = ModelSpec(np.array(TINY_CELLS[0]["matrix"]), TINY_CELLS[0]["ops"])
    data = nb.query(spec, epochs=4)
    assert data["module_operations"] == TINY_CELLS[0]["ops"]
    assert data["trainable_parameters"] == trainable_parameters(
        spec, stem_filters=8, num_stacks=1, num_modules_per_stack=1
    )
    _fixed, computed = nb.get_metrics_from_spec(spec)
    assert len(computed[4]) == 3


@pytest.mark.train
def test_shards_partition_cells_deterministically(tf, tmp_path, capsys, realdata):
    """--shard i/N splits cells disjointly and completely, the same way every time."""
    rows = json.loads((realdata / "vis_first1000_by_hash.json").read_text())[:40]
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps([{"matrix": r["matrix"], "ops": r["ops"]} for r in rows]))
    base = [
        "--list",
        str(cells),
        "--epochs",
        "4",
        "108",
        "--repeats",
        "2",
        "--out",
        str(tmp_path / "o"),
        "--dry-run",
    ]

    def units(shard):
        assert _cli(*base, "--shard", shard) == 0
        return [tuple(line.split("\t")) for line in capsys.readouterr().out.splitlines()]

    shards = [units(f"{i}/3") for i in range(3)]
    assert shards == [units(f"{i}/3") for i in range(3)]
    hashes = [{u[0] for u in s} for s in shards]
    assert not (hashes[0] & hashes[1] or hashes[0] & hashes[2] or hashes[1] & hashes[2])
    assert set.union(*hashes) == {r["hash"] for r in rows}
    assert sorted(u for s in shards for u in s) == sorted(units("0/1"))
    assert len(units("0/1")) == 40 * 2 * 2
    assert _cli(*base, "--shard", "3/3") == 2
    assert "0 <= i < N" in capsys.readouterr().err


@pytest.mark.train
def test_record_scan_cuts_only_own_torn_tail(tf, tmp_path):
    """A torn tail is cut from this shard's file, skipped in others; mid-file damage is an error."""
    from nasbench_arrow.errors import TFRecordError
    from nasbench_arrow.records import EvaluationData, ModelMetrics, format_payload
    from nasbench_arrow.tfrecord import write_tfrecord
    from nasbench_arrow.train.cli import count_records, shard_path

    metrics = ModelMetrics((EvaluationData(),) * 3, 882570, 1.0)
    payload = format_payload("ab" * 16, 4, [[0, 1], [0, 0]], [INPUT, OUTPUT], metrics)
    own, other = shard_path(tmp_path, 0, 2), shard_path(tmp_path, 1, 2)
    for path in (own, other):
        write_tfrecord(path, [payload, payload])
        with open(path, "ab") as f:
            f.write(b"\x00" * 20)  # a crash can leave zeros at the end of a file
    other_size = other.stat().st_size
    counts, cut = count_records(tmp_path, own)
    assert counts == {("ab" * 16, 4): 4} and cut == 20
    assert other.stat().st_size == other_size  # another shard's file is never changed
    raw = bytearray(own.read_bytes())
    raw[20] ^= 0xFF  # damage inside the first record's payload
    own.write_bytes(bytes(raw))
    with pytest.raises(TFRecordError, match="not an interrupted write"):
        count_records(tmp_path, own)


@pytest.mark.train
def test_cells_by_hash_from_space_parquet(tf, tmp_path, capsys):
    """--hash looks cells up in a nasbench-space file; --list reads the whole file."""
    from nasbench_arrow.space import enumerate_cells, write_space

    space = tmp_path / "space.parquet"
    write_space(space, max_vertices=4)
    cells = list(enumerate_cells(max_vertices=4))
    wanted = sorted(c.module_hash for c in cells[5:8])
    base = ["--out", str(tmp_path / "o"), "--epochs", "12", "--repeats", "1", "--dry-run"]
    assert _cli("--hash", *wanted, "--cells", str(space), *base) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == wanted
    assert _cli("--list", str(space), *base) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(cells) == 91
    assert _cli("--hash", "0" * 32, "--cells", str(space), *base) == 2
    assert "hashes not in" in capsys.readouterr().err
    assert _cli("--hash", wanted[0], *base) == 2
    assert "--hash needs --cells" in capsys.readouterr().err


# ----------------------------------------------------------------------------- Ray


@pytest.mark.train
@pytest.mark.slow
def test_ray_launcher_tiny(tf, synthetic_cifar, tmp_path):
    """The Ray launcher runs one task per run on a local cluster and collects the records."""
    ray = pytest.importorskip(
        "ray", reason="needs the ray extra: pip install 'nasbench-arrow[ray]'"
    )
    from nasbench_arrow.train import TrainConfig
    from nasbench_arrow.train.cli import load_cells
    from nasbench_arrow.train.ray_launcher import launch

    cells_file = tmp_path / "cells.json"
    cells_file.write_text(json.dumps(TINY_CELLS[:2]))
    cells = load_cells(list_file=cells_file)
    cfg = TrainConfig(batch_size=32, stem_filters=8, num_stacks=1, num_modules_per_stack=1)
    out = tmp_path / "ray"
    try:
        summary = launch(
            cells,
            cifar=synthetic_cifar,
            out=out,
            epochs=(4,),
            repeats=2,
            config=cfg,
            init_kwargs={"num_cpus": 2, "include_dashboard": False, "log_to_driver": False},
            log=lambda _: None,
        )
        assert (summary.planned, summary.written, summary.failed) == (4, 4, 0)
        rows = _records(out)
        assert sorted((r.module_hash, r.epochs) for r in rows) == sorted(
            (c.module_hash, 4) for c in cells for _ in range(2)
        )
        again = launch(
            cells,
            cifar=synthetic_cifar,
            out=out,
            epochs=(4,),
            repeats=2,
            config=cfg,
            log=lambda _: None,
        )
        assert again.planned == 0
    finally:
        ray.shutdown()


# ----------------------------------------------------------------------------- benchmarks/bench_train.py --gpu-run


@pytest.mark.train
@pytest.mark.slow
def test_bench_train_gpu_run_tiny_on_cpu(tf, tmp_path):
    """The GPU benchmark's code path on a CPU: all six precision/XLA variants measured through the
    input pipeline, the pipeline alone, the parameter check, and the learning check (the loss of
    a few hundred steps on learnable synthetic data falls), written as one markdown table."""
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location(
        "bench_train", REPO_ROOT / "benchmarks" / "bench_train.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "train_gpu.md"
    code = bench.main(
        ["--gpu-run", "--tiny", "--steps", "1", "--learn-steps", "120", "--out", str(out)]
    )
    text = out.read_text()
    assert code == 0, text
    for name, _mixed, _xla in bench.GPU_VARIANTS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        assert "failed" not in row and float(row.split("|")[2].replace(",", "")) > 0
    assert "| input pipeline alone |" in text
    assert "Trainable parameters:" in text and ": OK." in text
    assert "Loss down by at least 20%: OK" in text
