"""The public surface: exactly the intended names, all importable."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nasbench_arrow

INTENDED = [
    "__version__",
    "api",
    "NASBench",
    "ModelSpec",
    "trainable_parameters",
    "INPUT",
    "OUTPUT",
    "CONV3X3",
    "CONV1X1",
    "MAXPOOL3X3",
    "AVAILABLE_OPS",
    "MAX_VERTICES",
    "MAX_EDGES",
    "VALID_EPOCHS",
    "NUM_REPEATS",
    "NASBenchError",
    "OutOfDomainError",
    "ConversionError",
    "TFRecordError",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "DatasetCorruptError",
    "DatasetExistsError",
    "MissingDependencyError",
]


def test_package_exports_exactly_the_intended_names():
    """nasbench_arrow.__all__ is the intended list, in order."""
    assert nasbench_arrow.__all__ == INTENDED


@pytest.mark.parametrize("name", INTENDED)
def test_every_exported_name_resolves(name):
    """Each exported name is an attribute of the package (lazy ones load on access)."""
    assert getattr(nasbench_arrow, name) is not None


def test_unknown_attribute_raises_attribute_error():
    """A name the package does not have raises AttributeError, not something else."""
    with pytest.raises(AttributeError, match="no attribute 'query'"):
        nasbench_arrow.query  # noqa: B018


def test_drop_in_imports():
    """`from nasbench_arrow import api, NASBench, ModelSpec, OutOfDomainError` give the same objects as api's."""
    from nasbench_arrow import ModelSpec, NASBench, OutOfDomainError, api, errors, model_spec

    assert api.NASBench is NASBench
    assert api.ModelSpec is ModelSpec is model_spec.ModelSpec
    assert api.OutOfDomainError is OutOfDomainError is errors.OutOfDomainError
    assert (api.INPUT, api.OUTPUT, api.CONV3X3, api.CONV1X1, api.MAXPOOL3X3) == (
        "input",
        "output",
        "conv3x3-bn-relu",
        "conv1x1-bn-relu",
        "maxpool3x3",
    )


def test_api_module_surface():
    """api.__all__ holds the original module's public names and nothing else."""
    from nasbench_arrow import api

    assert sorted(api.__all__) == sorted(
        ["NASBench", "ModelSpec", "OutOfDomainError", "INPUT", "OUTPUT", "CONV3X3", "CONV1X1", "MAXPOOL3X3", "AVAILABLE_OPS"]
    )
    for name in api.__all__:
        assert hasattr(api, name)


def test_dataset_module_surface():
    """dataset.__all__ names exist."""
    from nasbench_arrow import dataset

    assert set(dataset.__all__) >= {"QueryIndex", "Dataset", "open_dataset", "scan_cells", "scan_runs", "filter_hashes"}
    for name in dataset.__all__:
        assert hasattr(dataset, name)


def test_importing_the_package_is_light():
    """`import nasbench_arrow` loads neither Polars, pyarrow nor TensorFlow."""
    code = "import sys, nasbench_arrow; print(sorted(m for m in ('polars', 'pyarrow', 'tensorflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_error_class_is_in_the_errors_tree():
    """errors.py holds every exception class of the library, and its docstring tree names each;
    the classes raised by space and train stay importable there, as the same objects."""
    import inspect

    from nasbench_arrow import errors, space

    classes = [
        name
        for name in errors.__all__
        if inspect.isclass(getattr(errors, name)) and issubclass(getattr(errors, name), Exception)
    ]
    assert {"EnumerationError", "TrainingAbortedError"} <= set(classes)
    tree = errors.__doc__
    for name in classes:
        assert f" {name}" in tree, name
        assert issubclass(getattr(errors, name), errors.NASBenchError)
    assert space.EnumerationError is errors.EnumerationError
    # train.trainer imports TensorFlow; check the name there only where it is installed.
    code = (
        "from nasbench_arrow import errors\n"
        "try:\n"
        "    from nasbench_arrow.train.trainer import TrainingAbortedError\n"
        "except errors.MissingDependencyError:\n"
        "    print('no-tensorflow')\n"
        "else:\n"
        "    print(TrainingAbortedError is errors.TrainingAbortedError)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] in {"True", "no-tensorflow"}
