"""nasbench-doctor: versions, trainer probe, source files, dataset directories, known problems."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from types import MappingProxyType

import pytest

from nasbench_arrow import doctor, layout
from nasbench_arrow.constants import PublishedFile


def _statuses(checks, status):
    return [c for c in checks if c.status == status]


def test_environment_lists_dependencies():
    """The environment section names each declared core dependency with its version."""
    checks = doctor.environment_checks()
    text = "\n".join(c.message for c in checks)
    for name in ("numpy", "pyarrow", "polars", "crc32c"):
        assert name in text
    assert not _statuses(checks, doctor.FAIL)


def test_main_without_tensorflow_probe(capsys):
    """`nasbench-doctor --no-tf` prints every section and the known problems, exit 0."""
    assert doctor.main(["--no-tf"]) == 0
    out = capsys.readouterr().out
    for section in ("environment", "conflicts", "trainer", "known problems"):
        assert section in out
    assert "float" in out and "python_io" in out


def test_json_output(capsys):
    """--json prints a machine-readable report."""
    doctor.main(["--no-tf", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    assert {"section", "status", "message", "fix", "problem"} <= set(doc["checks"][0])


# --------------------------------------------------------------------------- trainer probe


def test_probe_timeout_is_reported():
    """A TensorFlow import that hangs is cut off by the timeout, not waited for."""
    res = doctor.probe_tensorflow(timeout=1.0, script="import time; time.sleep(30)")
    assert res.get("timeout") is True
    assert res["seconds"] < 10


def test_probe_crash_is_reported():
    """A TensorFlow import that fails (or crashes the child) is an error entry, not an exception."""
    res = doctor.probe_tensorflow(timeout=30, script="import sys; sys.stderr.write('boom'); sys.exit(3)")
    assert "status 3" in res["error"] and "boom" in res["error"]


@pytest.fixture
def fake_tf(monkeypatch):
    """Pretend tensorflow is installed and make the probe answer what the test says."""
    monkeypatch.setattr(doctor, "_installed", lambda dist: "9.9" if dist == "tensorflow" else None)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)

    def answer(result):
        monkeypatch.setattr(doctor, "probe_tensorflow", lambda timeout=None: dict(result, seconds=0.1))

    return answer


def test_tf1_only_environment_detected(fake_tf):
    """TensorFlow 1 fails the trainer check and is flagged as the known TF1-only problem."""
    fake_tf({"version": "1.15.5", "python_io": True, "compat_v1": True, "gpus": []})
    checks = doctor.tensorflow_checks()
    bad = _statuses(checks, doctor.FAIL)
    assert bad and bad[0].problem == "tf1-only"
    assert f">= {doctor._tf_minimum()}" in bad[0].message


def test_tensorflow_minimum_is_the_train_extras_pin():
    """Regression (issue 13/14: doctor said 2.13, the extra pins 2.16): the doctor's minimum is pyproject's pin."""
    import re
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    train = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["train"]
    pin = next(re.search(r">=\s*([0-9.]+)", r).group(1) for r in train if r.startswith("tensorflow"))
    assert doctor._TF_MINIMUM_FALLBACK == pin
    assert doctor._tf_minimum() == pin
    assert f"TensorFlow {pin} or newer" in doctor.KNOWN_PROBLEMS["tf1-only"][1]
    fake = {"version": "2.14.0", "python_io": False, "compat_v1": True, "gpus": []}
    old = doctor.probe_tensorflow, doctor._installed
    try:
        doctor.probe_tensorflow = lambda timeout=None: dict(fake, seconds=0.1)
        doctor._installed = lambda dist: "2.14.0" if dist == "tensorflow" else None
        (warn,) = [c for c in doctor.tensorflow_checks() if c.status == doctor.WARN]
    finally:
        doctor.probe_tensorflow, doctor._installed = old
    assert f"older than {pin}" in warn.message


def test_tf2_without_python_io_noted(fake_tf):
    """TF2 passes; the missing tf.python_io (why the original cannot load) is noted."""
    fake_tf({"version": "2.16.1", "python_io": False, "compat_v1": True, "gpus": ["/physical_device:GPU:0"]})
    checks = doctor.tensorflow_checks()
    assert not _statuses(checks, doctor.FAIL)
    text = " ".join(c.message for c in checks)
    assert "python_io" in text and "1 GPU" in text


def test_tf_import_error_fails(fake_tf):
    """An installed TensorFlow that does not import is a failure with a reinstall hint."""
    fake_tf({"error": "ImportError: libcudart.so.12 not found"})
    (bad,) = _statuses(doctor.tensorflow_checks(), doctor.FAIL)
    assert "libcudart" in bad.message and "nasbench-arrow[train]" in bad.fix


def test_tf_timeout_warns(fake_tf):
    """A probe timeout is a warning naming the likely cause."""
    fake_tf({"timeout": True})
    (warn,) = _statuses(doctor.tensorflow_checks(timeout=3), doctor.WARN)
    assert "3 s" in warn.message and "CUDA" in warn.fix


def test_no_tensorflow_is_fine(monkeypatch):
    """Without TensorFlow the trainer is merely unavailable (info with the install line)."""
    monkeypatch.setattr(doctor, "_installed", lambda dist: None)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    (check,) = doctor.tensorflow_checks()
    assert check.status == doctor.INFO and "nasbench-arrow[train]" in check.fix


@pytest.mark.train
def test_real_tensorflow_probe():
    """With the train extra installed, the real probe imports TensorFlow 2 in a child process."""
    if doctor._installed("tensorflow") is None and doctor._installed("tensorflow-cpu") is None:
        pytest.skip("TensorFlow is not installed (the `train` extra)")
    res = doctor.probe_tensorflow(timeout=300)
    assert "error" not in res and not res.get("timeout"), res
    assert res["version"].startswith("2.")
    # The doctor process itself never imports it. Checked in a fresh interpreter: this test
    # process may have imported TensorFlow in other tests (it passed only in file order before).
    code = (
        "import sys\nfrom nasbench_arrow import doctor\n"
        "doctor.tensorflow_checks(timeout=300)\nprint('tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout


# --------------------------------------------------------------------------- conflicts


def test_original_nasbench_installed_is_detected(tmp_path, monkeypatch):
    """A `nasbench` package on the path is reported as the original-installed problem."""
    pkg = tmp_path / "nasbench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported by the doctor')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (check,) = doctor.conflict_checks()
    assert check.status == doctor.WARN and check.problem == "original-installed"
    assert "nasbench_arrow" in check.fix


# --------------------------------------------------------------------------- source files


def test_genuine_record_file(realdata):
    """The genuine one-record file: framing and first record parse; not a published checksum."""
    checks = doctor.path_checks(realdata / "nasbench_rs_record_00005c14_e4.tfrecord")
    assert not _statuses(checks, doctor.FAIL)
    text = "\n".join(c.message for c in checks)
    assert "00005c142e6f48ac74fdcf73e3439874" in text
    assert "8,555,530 parameters" in text
    assert hashlib.sha256((realdata / "nasbench_rs_record_00005c14_e4.tfrecord").read_bytes()).hexdigest() in text
    assert "not one of the published" in text


def test_published_checksum_recognised(realdata, tmp_path, monkeypatch):
    """A file whose SHA-256 is a published one is named as that file."""
    src = realdata / "nasbench_rs_record_00005c14_e4.tfrecord"
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    fake = PublishedFile("nasbench_only108.tfrecord", digest, 1, (4,), "417 B")
    monkeypatch.setattr(doctor, "PUBLISHED_FILES", MappingProxyType({digest: fake}))
    checks = doctor.path_checks(src)
    assert any(c.status == doctor.OK and "is the published nasbench_only108.tfrecord" in c.message for c in checks)


def test_partial_download_of_published_name(realdata, tmp_path, capsys):
    """A file named like a published one whose checksum differs fails as a partial download."""
    data = (realdata / "nasbench_rs_record_00005c14_e4.tfrecord").read_bytes()
    bad = tmp_path / "nasbench_only108.tfrecord"
    bad.write_bytes(data + data[:100])  # a second record cut short
    assert doctor.main(["--no-tf", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "is not the published nasbench_only108.tfrecord" in out
    assert "DETECTED" in out


def test_garbage_file_is_not_a_tfrecord(tmp_path):
    """A file that is not TFRecord framing fails with the reader's typed error."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not a tfrecord at all" * 3)
    (bad,) = _statuses(doctor.path_checks(path, hash_file=False), doctor.FAIL)
    assert "not a TFRecord file" in bad.message
    assert bad.problem != "partial-download" and "interrupted" not in (bad.fix or "")


def test_tfrecord_with_foreign_payload(tmp_path):
    """Valid framing with a payload that is not a NAS-Bench-101 row fails naming the record."""
    from nasbench_arrow.tfrecord import write_tfrecord

    path = tmp_path / "other.tfrecord"
    write_tfrecord(path, [b'{"not": "a nasbench row"}'])
    (bad,) = _statuses(doctor.path_checks(path, hash_file=False), doctor.FAIL)
    assert "not a NAS-Bench-101 record" in bad.message


# --------------------------------------------------------------------------- directories and misplaced paths


def test_missing_path(tmp_path):
    """A path that does not exist fails."""
    (bad,) = doctor.path_checks(tmp_path / "nope")
    assert bad.status == doctor.FAIL and "does not exist" in bad.message


def test_plain_directory_is_not_a_dataset(tmp_path):
    """A directory without manifest fails with the convert hint and names tfrecords inside it."""
    (tmp_path / "nasbench_full.tfrecord").write_bytes(b"")
    checks = doctor.path_checks(tmp_path)
    (bad,) = _statuses(checks, doctor.FAIL)
    assert "not a nasbench-arrow dataset" in bad.message and "nasbench_full.tfrecord" in bad.message
    assert "nasbench-convert" in bad.fix


def test_leftover_temp_directory(tmp_path):
    """An interrupted conversion's temporary directory is named as such."""
    tmp = tmp_path / ".out.nasbench-convert-tmp-1234"
    (tmp / "cells").mkdir(parents=True)
    (bad,) = _statuses(doctor.path_checks(tmp), doctor.FAIL)
    assert "temporary directory" in bad.message


def test_parquet_and_manifest_files_point_to_the_root(tmp_path):
    """A dataset's Parquet file or manifest passed alone fails with 'pass the directory'."""
    parquet = tmp_path / "part-0.parquet"
    parquet.write_bytes(b"PAR1")
    manifest = tmp_path / layout.MANIFEST_NAME
    manifest.write_text("{}")
    assert "root directory" in doctor.path_checks(parquet)[0].fix
    assert str(tmp_path) in doctor.path_checks(manifest)[0].fix


def test_dataset_summary_and_quick_verify(reliability_dataset):
    """A good dataset: format version, manifest summary, verify OK."""
    checks = doctor.path_checks(reliability_dataset)
    assert not _statuses(checks, doctor.FAIL)
    text = "\n".join(c.message for c in checks)
    assert f"format version {layout.FORMAT_VERSION}" in text
    assert "cells" in text and "runs" in text
    assert "verify: OK" in text


def test_damaged_dataset_fails(reliability_dataset, tmp_path, capsys):
    """A dataset with a deleted file fails, listing the problem, and is flagged as damaged."""
    root = tmp_path / "ds"
    shutil.copytree(reliability_dataset, root)
    victim = next(p for p in sorted((root / layout.RUNS_DIR).rglob("*.parquet")))
    victim.unlink()
    assert doctor.main(["--no-tf", str(root)]) == 1
    out = capsys.readouterr().out
    assert "missing-file" in out and victim.name in out
    assert "DETECTED DatasetCorruptError" in " ".join(out.split())


def test_unknown_format_version_says_upgrade(reliability_dataset, tmp_path):
    """A manifest of a future format version fails with the upgrade hint."""
    root = tmp_path / "ds"
    shutil.copytree(reliability_dataset, root)
    doc = json.loads((root / layout.MANIFEST_NAME).read_text())
    doc["format_version"] = layout.FORMAT_VERSION + 1
    (root / layout.MANIFEST_NAME).write_text(json.dumps(doc))
    (bad,) = _statuses(doctor.path_checks(root), doctor.FAIL)
    assert "format-version" in bad.message and "upgrade" in bad.fix



def test_dataset_moved_aside_by_interrupted_overwrite(tmp_path):
    """A missing OUT_DIR with an -old- directory beside it: the fix says to rename it back."""
    out = tmp_path / "out"
    (tmp_path / ".out.nasbench-convert-old-4242").mkdir()
    (tmp_path / ".out.nasbench-convert-tmp-4243").mkdir()
    checks = doctor.path_checks(out)
    warns = _statuses(checks, doctor.WARN)
    assert any("rename" in (c.fix or "") and "old-4242" in c.fix for c in warns)
    assert any("tmp-4243" in c.message for c in warns)


# --------------------------------------------------------------------------- framing at both ends (issue 14)


def test_truncated_source_fails_at_its_end(reliability_source, tmp_path, capsys):
    """Regression: the first 5,000 bytes of a valid file passed every check; the end-of-file framing check fails it."""
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(reliability_source.read_bytes()[:5000])
    checks = doctor.path_checks(cut, hash_file=False)
    (bad,) = _statuses(checks, doctor.FAIL)
    assert "does not end with a complete record" in bad.message and bad.problem == "partial-download"
    assert doctor.main(["--no-tf", "--no-hash", str(cut)]) == 1
    assert "all checks passed" not in capsys.readouterr().out


def test_whole_source_ends_with_a_complete_record(reliability_source):
    """The intact multi-record file: the last frame is found and its CRCs match."""
    checks = doctor.path_checks(reliability_source, hash_file=False)
    assert not _statuses(checks, doctor.FAIL)
    assert any("ends with a complete record" in c.message for c in _statuses(checks, doctor.OK))


@pytest.mark.parametrize("cut", [1, 4, 17])
def test_source_cut_inside_its_last_record(reliability_source, tmp_path, cut):
    """A file missing only its last few bytes (the payload CRC, or part of the payload) is truncated."""
    path = tmp_path / "short.tfrecord"
    path.write_bytes(reliability_source.read_bytes()[:-cut])
    (bad,) = _statuses(doctor.path_checks(path, hash_file=False), doctor.FAIL)
    assert "does not end with a complete record" in bad.message


def test_text_file_named_tfrecord_is_not_a_partial_download(tmp_path):
    """Regression: a text file given as a .tfrecord is 'not a TFRecord file', never an interrupted download."""
    path = tmp_path / "nasbench_full.tfrecord"
    path.write_text("this is a README, not data\n" * 20)
    checks = doctor.path_checks(path, hash_file=False)
    (bad,) = _statuses(checks, doctor.FAIL)
    assert bad.message.startswith("not a TFRecord file")
    assert bad.problem is None and "download it again" in bad.fix


def test_tiny_file_is_not_a_tfrecord(tmp_path):
    """A file shorter than one record header says so."""
    path = tmp_path / "x.tfrecord"
    path.write_bytes(b"abc")
    (bad,) = _statuses(doctor.path_checks(path, hash_file=False), doctor.FAIL)
    assert "not a TFRecord file" in bad.message and "3 bytes" in bad.message
