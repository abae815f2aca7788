"""Shared fixtures: where the real data points live, and the hypothesis profile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# CI runs on shared machines: no example database, no deadline flakiness.
settings.register_profile(
    "ci",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _realdata_dir() -> Path | None:
    """``$NASBENCH_REALDATA`` or ``../shared/realdata`` beside the checkout."""
    env = os.environ.get("NASBENCH_REALDATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "realdata")
    for c in candidates:
        if (c / "README.md").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def realdata() -> Path:
    """Directory of real NAS-Bench-101 data points (see its README)."""
    path = _realdata_dir()
    if path is None:
        pytest.skip("real data points not found: set NASBENCH_REALDATA to shared/realdata")
    return path


# ----------------------------------------------------------------------------- H6: trainer fixtures


def write_synthetic_cifar(path: Path, per_batch: int = 64, seed: int = 0) -> Path:
    """Write a small ``cifar-10-python.tar.gz`` in the official layout (6 pickled batches).

    Like the real archive: ``cifar-10-batches-py/data_batch_1..5`` and ``test_batch``,
    each a protocol-2 pickle of a dict with byte-string keys, ``data`` an
    ``(n, 3072)`` uint8 array of R, G, B planes and ``labels`` a list of ints.
    Images get a label-dependent brightness so a model can learn something.
    """
    import io
    import pickle
    import tarfile

    import numpy as np

    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            labels = rng.integers(0, 10, per_batch)
            noise = rng.integers(0, 128, (per_batch, 3072))
            data = (noise + labels[:, None] * 12).astype(np.uint8)
            batch = {
                b"batch_label": name.encode(),
                b"labels": labels.tolist(),
                b"data": data,
                b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
            }
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


@pytest.fixture(scope="session")
def synthetic_cifar(tmp_path_factory) -> Path:
    """A 384-image ``cifar-10-python.tar.gz`` (64 per batch) in the official layout."""
    return write_synthetic_cifar(tmp_path_factory.mktemp("cifar") / "cifar-10-python.tar.gz")


# --- H5 fixtures: converted datasets for the NASBench facade (tests/test_api.py, test_dataset.py) ---


class ConvertedFixture:
    """A fixture tfrecord in the official format and its conversion.

    Attributes
    ----------
    tfrecord : Path
        The official-format file (what the original API and the reference loader read).
    root : Path
        The converted dataset directory.
    info : nasbench_arrow.testing.FixtureInfo
        Everything the file holds (cells, records in file order, isomorphic variants).
    """

    def __init__(self, tfrecord: Path, root: Path, info):
        self.tfrecord = tfrecord
        self.root = root
        self.info = info


def _converted(directory: Path, name: str, cells, **kwargs) -> ConvertedFixture:
    from nasbench_arrow.converters import convert

    from nasbench_arrow.testing import write_fixture_tfrecord

    tfrecord = directory / f"{name}.tfrecord"
    info = write_fixture_tfrecord(tfrecord, cells, **kwargs)
    root = directory / name
    convert(tfrecord, root)
    return ConvertedFixture(tfrecord, root, info)


@pytest.fixture(scope="session")
def converted_fixture(tmp_path_factory) -> ConvertedFixture:
    """80 cells x 4 budgets x 3 repeats, records shuffled, converted once per session."""
    from nasbench_arrow.testing import sample_cells

    directory = tmp_path_factory.mktemp("h5-full")
    return _converted(
        directory, "mini_full", sample_cells(80, seed=11), order="shuffled", seed=3, isomorphic_variants=True
    )


@pytest.fixture(scope="session")
def converted_fixture_108(tmp_path_factory) -> ConvertedFixture:
    """40 cells at 108 epochs only (like ``nasbench_only108.tfrecord``), converted once per session."""
    from nasbench_arrow.testing import sample_cells

    directory = tmp_path_factory.mktemp("h5-108")
    return _converted(directory, "mini_108", sample_cells(40, seed=12), epochs=(108,), seed=4)


@pytest.fixture(scope="session")
def converted_realdata(realdata, tmp_path_factory) -> dict:
    """The real published values (``realdata_loader.write_realdata_tfrecords``), each file converted.

    Returns a dict name -> ConvertedFixture for ``only108``, ``inception_full``
    and ``first_arch_full``.
    """
    from nasbench_arrow.converters import convert

    from realdata_loader import write_realdata_tfrecords

    directory = tmp_path_factory.mktemp("h5-realdata")
    out = {}
    for name, info in write_realdata_tfrecords(realdata, directory).items():
        root = directory / f"{name}.dataset"
        convert(info.path, root)
        out[name] = ConvertedFixture(Path(info.path), root, info)
    return out


# --- end of H5 fixtures ---


# ---------------------------------------------------------------------------
# Reliability fixtures (H7: verify, doctor, damage, kill-safety, concurrency)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def reliability_source(tmp_path_factory) -> Path:
    """A small official-format tfrecord: 40 sampled cells x 4 budgets x 3 repeats (480 records)."""
    from nasbench_arrow import testing

    path = tmp_path_factory.mktemp("reliability") / "fixture.tfrecord"
    testing.write_fixture_tfrecord(path, testing.sample_cells(40, seed=7), seed=7)
    return path


@pytest.fixture(scope="session")
def reliability_dataset(reliability_source) -> Path:
    """The converted ``reliability_source`` (read-only: copy it before damaging it)."""
    from nasbench_arrow.converters import convert

    out = reliability_source.parent / "dataset"
    convert(reliability_source, out, workers=1)
    return out


# --- H8 fixtures: research workflows (test_workflows, test_plot, test_interop, test_ledger) ---


@pytest.fixture(scope="session")
def sample_dataset_dir(tmp_path_factory) -> Path:
    """The built-in sample of ``nasbench_arrow.search.sample_dataset`` (2,532 cells), built once."""
    from nasbench_arrow.search import sample_dataset

    return sample_dataset(tmp_path_factory.mktemp("h8-sample"))


@pytest.fixture(scope="session")
def complete_v4(tmp_path_factory):
    """Every cell with at most 4 vertices (91 cells x 4 budgets x 3 repeats): tfrecord and conversion.

    A complete (small) search space, so search algorithms run on it unchanged
    with both ``NASBench`` and the original-style reference loader.
    """
    from nasbench_arrow.converters import convert

    from nasbench_arrow.space import enumerate_cells
    from nasbench_arrow.testing import write_fixture_tfrecord

    directory = tmp_path_factory.mktemp("h8-v4")
    tfrecord = directory / "v4.tfrecord"
    info = write_fixture_tfrecord(tfrecord, enumerate_cells(max_vertices=4), seed=5)
    root = directory / "v4"
    convert(tfrecord, root, workers=1)
    return ConvertedFixture(tfrecord, root, info)


def png_size(path) -> tuple[int, int]:
    """``(width, height)`` in pixels from a PNG's header; fails unless it is a non-empty PNG (H8)."""
    import struct

    data = Path(path).read_bytes()
    assert len(data) > 33 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


# --- end of H8 fixtures ---
