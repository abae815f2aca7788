"""Exceptions raised by nasbench-arrow.

Every error derives from :class:`NASBenchError`; where a builtin fits, the
error also derives from it, so callers can catch either::

    NASBenchError
    ├── OutOfDomainError                       spec or epochs outside the dataset (original name)
    ├── SpecTypeError(TypeError, AttributeError)   a query given something that is not a ModelSpec
    ├── ConversionError(ValueError)            bad source data; carries record index and byte offset
    │   └── TFRecordError                      framing: truncation, length/payload CRC mismatch
    ├── DatasetError                           a converted dataset cannot be used
    │   ├── DatasetNotFoundError(FileNotFoundError)
    │   ├── DatasetFormatError(ValueError)     not a dataset, unknown format version, bad manifest
    │   ├── DatasetCorruptError                missing, truncated or altered data file
    │   └── DatasetExistsError(FileExistsError)   refusing to overwrite
    ├── MissingDependencyError(ImportError)    an optional extra is not installed
    ├── CompatibilityError(ImportError)        nasbench_arrow.compat would shadow a real nasbench
    ├── EnumerationError(RuntimeError)         nasbench_arrow.space could not enumerate the space
    └── TrainingAbortedError(RuntimeError)     nasbench_arrow.train: a run diverged on every attempt

``EnumerationError`` is also importable from :mod:`nasbench_arrow.space` and
``TrainingAbortedError`` from :mod:`nasbench_arrow.train` (and its ``trainer``
module), where they are raised; all are the same classes.
"""

from __future__ import annotations

__all__ = [
    "CompatibilityError",
    "ConversionError",
    "DatasetCorruptError",
    "DatasetError",
    "DatasetExistsError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "EnumerationError",
    "MissingDependencyError",
    "NASBenchError",
    "OutOfDomainError",
    "SpecTypeError",
    "TFRecordError",
    "TrainingAbortedError",
    "import_optional",
]


class NASBenchError(Exception):
    """Base class of every error raised by nasbench-arrow."""


class OutOfDomainError(NASBenchError):
    """Indicates that the requested graph is outside of the search domain."""


class SpecTypeError(NASBenchError, TypeError, AttributeError):
    """A query was given something that is not a ``ModelSpec`` (a str, None, a dict ...).

    Also an ``AttributeError``: the original fails with one when it reads
    ``model_spec.valid_spec`` of such an object, and client code may catch that.
    """


class ConversionError(NASBenchError, ValueError):
    """Source data that cannot be converted.

    Parameters
    ----------
    message : str
        What was wrong.
    source : str, optional
        File the record came from.
    record_index : int, optional
        0-based index of the record in the file.
    byte_offset : int, optional
        Offset of the record's first byte (its length field) in the file.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        record_index: int | None = None,
        byte_offset: int | None = None,
    ):
        self.reason = message
        self.source = source
        self.record_index = record_index
        self.byte_offset = byte_offset
        where = []
        if source is not None:
            where.append(str(source))
        if record_index is not None:
            where.append(f"record {record_index}")
        if byte_offset is not None:
            where.append(f"byte offset {byte_offset}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def __reduce__(self):  # keep the keyword arguments across pickling (multiprocessing)
        return (
            _rebuild_conversion_error,
            (type(self), self.reason, self.source, self.record_index, self.byte_offset),
        )


def _rebuild_conversion_error(cls, reason, source, record_index, byte_offset):
    return cls(reason, source=source, record_index=record_index, byte_offset=byte_offset)


class TFRecordError(ConversionError):
    """Broken TFRecord framing: truncated file or a CRC that does not match."""


class DatasetError(NASBenchError):
    """A converted dataset that cannot be opened or read."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset path does not exist."""


class DatasetFormatError(DatasetError, ValueError):
    """Not a dataset, a manifest that cannot be parsed, or an unknown format version."""


class DatasetCorruptError(DatasetError):
    """A data file of the dataset is missing, truncated or altered."""


class DatasetExistsError(DatasetError, FileExistsError):
    """The output path exists and overwriting was not asked for."""


class MissingDependencyError(NASBenchError, ImportError):
    """An optional dependency is needed for this feature."""


class CompatibilityError(NASBenchError, ImportError):
    """``nasbench_arrow.compat.install()`` refused to shadow a real, importable ``nasbench`` package."""


class EnumerationError(NASBenchError, RuntimeError):
    """The enumeration could not finish correctly.

    Raised when two non-isomorphic representatives get the same module hash,
    i.e. when deduplicating by hash (the original) and by isomorphism (this
    module) would keep different cells (a bug: please report it), or when a
    hashing worker process dies.
    """


class TrainingAbortedError(NASBenchError, RuntimeError):
    """Training diverged (non-finite loss) on every allowed attempt."""


def import_optional(module: str, extra: str, feature: str):
    """Import an optional module or raise with the install hint.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"tensorflow"``.
    extra : str
        The package extra that provides it, e.g. ``"train"``.
    feature : str
        What the user tried to do, for the message.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        When the import fails; the message carries the exact ``pip install`` line.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = (
            f"{feature} needs the optional dependency {module!r}, which is not installed "
            f"({exc}); install it with: pip install 'nasbench-arrow[{extra}]'"
        )
        raise MissingDependencyError(msg) from exc
