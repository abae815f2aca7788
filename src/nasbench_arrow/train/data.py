"""CIFAR-10 for the trainer: the official python archive in, ``tf.data`` pipelines out.

The splits are the dataset's (``scripts/generate_cifar10_tfrecords.py`` and
``lib/cifar.py`` of ``google-research/nasbench``)::

    train        data_batch_1..4   40,000 images, augmented, shuffled, repeated
    train_eval   data_batch_1      10,000 images, for the train accuracy
    valid        data_batch_5      10,000 images
    test         test_batch        10,000 images

Nothing is downloaded: pass the path of ``cifar-10-python.tar.gz`` (or of the
``cifar-10-batches-py`` folder it unpacks to, or of the folder holding either).
The batches are pickles; they are read with an unpickler that only rebuilds
numpy arrays, so a doctored archive cannot run code.

Evaluation follows the original: whole batches only, so 10,000 images give
39 batches of 256 = 9,984 images (every accuracy in the dataset is a multiple
of 1/9984).
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import DatasetFormatError, DatasetNotFoundError

__all__ = [
    "ARCHIVE_NAME",
    "BATCHES_DIR",
    "PAD",
    "RGB_MEAN",
    "RGB_STD",
    "SPLIT_FILES",
    "Cifar10",
    "Split",
    "check_cifar10",
    "eval_dataset",
    "load_cifar10",
    "num_eval_images",
    "train_dataset",
]

ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
#: Which pickled batches make which split.
SPLIT_FILES = {
    "train": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4"),
    "train_eval": ("data_batch_1",),
    "valid": ("data_batch_5",),
    "test": ("test_batch",),
}
#: Per-channel mean and standard deviation (0-255 pixel scale) of the original pipeline.
RGB_MEAN = (125.31, 122.95, 113.87)
RGB_STD = (62.99, 62.09, 66.70)
#: Zero padding (pixels per side) before the random 32 x 32 crop.
PAD = 4

_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE


@dataclass(frozen=True)
class Split:
    """Images of one split.

    Attributes
    ----------
    images : np.ndarray
        ``(n, 32, 32, 3)`` uint8, channels last.
    labels : np.ndarray
        ``(n,)`` int32 class ids 0-9.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Cifar10:
    """The four splits the trainer uses; ``train_eval`` shares memory with ``train``."""

    train: Split
    train_eval: Split
    valid: Split
    test: Split
    source: str


def _reconstruct():
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _scalar():
    try:
        from numpy._core.multiarray import scalar as fn
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar as fn
    return fn


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and builtins, and nothing else."""

    _ALLOWED: ClassVar[dict] = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "scalar"): _scalar,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        # Python 3 writes bytes into protocol-2 pickles through codecs.encode.
        ("_codecs", "encode"): lambda: __import__("codecs").encode,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]()
        except KeyError:
            msg = f"refusing to unpickle {module}.{name}: a CIFAR-10 batch holds only numpy arrays and lists"
            raise pickle.UnpicklingError(msg) from None


def _read_batch(raw: bytes, where: str) -> Split:
    """Decode one pickled batch: a dict with ``data`` (n x 3072 uint8) and ``labels``."""
    try:
        # encoding="bytes": the official pickles come from Python 2 (byte-string keys).
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:
        msg = f"{where}: not a CIFAR-10 python batch ({exc})"
        raise DatasetFormatError(msg) from exc
    if not isinstance(batch, dict):
        msg = f"{where}: expected a pickled dict, got {type(batch).__name__}"
        raise DatasetFormatError(msg)
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        msg = f"{where}: expected keys 'data' and 'labels', got {sorted(batch)}"
        raise DatasetFormatError(msg)
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != _PIXELS
        or data.shape[0] != labels.shape[0]
    ):
        msg = (
            f"{where}: expected data of shape (n, {_PIXELS}) uint8 and n labels, "
            f"got data {data.shape} {data.dtype} and {labels.shape[0]} labels"
        )
        raise DatasetFormatError(msg)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        msg = f"{where}: labels must be 0-9, got {labels.min()}..{labels.max()}"
        raise DatasetFormatError(msg)
    # Stored as 3 planes of 32 x 32 (R, G, B); the model reads height, width, channel.
    images = data.reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1)
    return Split(np.ascontiguousarray(images), labels.astype(np.int32))


def _find(path: Path) -> Path:
    """The archive or batches folder at or inside ``path``."""
    candidates = [path, path / ARCHIVE_NAME, path / BATCHES_DIR]
    for c in candidates:
        if c.is_file() or (c.is_dir() and (c / "data_batch_1").is_file()):
            return c
    msg = (
        f"CIFAR-10 not found at {str(path)!r}: pass the path of {ARCHIVE_NAME} (the official "
        f"python version), or of the {BATCHES_DIR} folder it unpacks to; it is never downloaded"
    )
    raise DatasetNotFoundError(msg)


def _read_members(source: Path) -> dict[str, bytes]:
    names = {n for files in SPLIT_FILES.values() for n in files}
    found: dict[str, bytes] = {}
    if source.is_dir():
        for n in names:
            if (source / n).is_file():
                found[n] = (source / n).read_bytes()
    else:
        _check_archive(source)
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    base = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and base in names:
                        found[base] = tar.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError) as exc:
            # tarfile's messages can span lines (one per compression tried): keep the first.
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"{str(source)!r} is not a readable {ARCHIVE_NAME} ({detail})"
            raise DatasetFormatError(msg) from exc
    missing = sorted(names - set(found))
    if missing:
        msg = f"{str(source)!r} lacks CIFAR-10 batches {missing}; expected the official {ARCHIVE_NAME} layout"
        raise DatasetFormatError(msg)
    return found


def _check_archive(source: Path) -> None:
    """One clear line when a file given as the archive is not a tar archive at all."""
    try:
        is_tar = tarfile.is_tarfile(source)
    except OSError as exc:
        msg = f"cannot read {str(source)!r}: {exc.strerror or exc}"
        raise DatasetNotFoundError(msg) from exc
    if not is_tar:
        msg = (
            f"{str(source)!r} is not a tar archive: pass the official {ARCHIVE_NAME} "
            f"(the CIFAR-10 python version) or the {BATCHES_DIR} folder it unpacks to"
        )
        raise DatasetFormatError(msg)


def check_cifar10(path: str | Path) -> Path:
    """Cheap check that ``path`` is a CIFAR-10 archive or batches folder, without reading it.

    Returns
    -------
    pathlib.Path
        The archive or folder found at or inside ``path``.

    Raises
    ------
    DatasetNotFoundError
        Nothing CIFAR-like at ``path``.
    DatasetFormatError
        A file that is not a tar archive.
    """
    source = _find(Path(path))
    if source.is_file():
        _check_archive(source)
    return source


def load_cifar10(path: str | Path) -> Cifar10:
    """Read the four splits from the official CIFAR-10 python archive.

    Parameters
    ----------
    path : str or path-like
        ``cifar-10-python.tar.gz``, the ``cifar-10-batches-py`` folder, or a
        folder holding either.

    Returns
    -------
    Cifar10
        uint8 images (about 180 MB for the full archive) and int32 labels.

    Raises
    ------
    DatasetNotFoundError
        Nothing CIFAR-like at ``path``.
    DatasetFormatError
        A batch is missing, is not a pickled CIFAR batch, or has bad shapes.
    """
    source = _find(Path(path))
    raw = _read_members(source)
    batches = {n: _read_batch(b, f"{source}:{n}") for n, b in raw.items()}

    def split(name: str) -> Split:
        parts = [batches[n] for n in SPLIT_FILES[name]]
        if len(parts) == 1:
            return parts[0]
        return Split(
            np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts])
        )

    return Cifar10(split("train"), split("train_eval"), split("valid"), split("test"), str(source))


def num_eval_images(split: Split, batch_size: int) -> int:
    """Images an evaluation sees: whole batches only, as the original (10,000 -> 9,984)."""
    return len(split) // batch_size * batch_size


def _normalise(tf, image):
    mean = tf.constant(RGB_MEAN, dtype=tf.float32, shape=(1, 1, 3))
    std = tf.constant(RGB_STD, dtype=tf.float32, shape=(1, 1, 3))
    return (image - mean) / std


def train_dataset(
    split: Split, batch_size: int, *, seed: int | None = None, channels_first: bool = False
):
    """Endless, shuffled, augmented training batches.

    Each image is zero-padded by 4 pixels, randomly cropped back to 32 x 32,
    randomly flipped left-right, then normalised per channel. The shuffle buffer
    holds the whole split and reshuffles every pass; batches run across epoch
    boundaries and all have ``batch_size`` images (the original's
    shuffle-and-repeat with dropped remainder).

    Returns
    -------
    tf.data.Dataset
        ``(images float32 (b, 32, 32, 3), labels int32 (b,))``.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True).repeat()

    def augment(image, label):
        image = tf.cast(image, tf.float32)
        image = tf.image.resize_with_crop_or_pad(image, _SIDE + 2 * PAD, _SIDE + 2 * PAD)
        image = tf.image.random_crop(image, (_SIDE, _SIDE, 3), seed=seed)
        image = tf.image.random_flip_left_right(image, seed=seed)
        image = _normalise(tf, image)
        if channels_first:
            image = tf.transpose(image, (2, 0, 1))
        return image, label

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def eval_dataset(split: Split, batch_size: int, *, channels_first: bool = False):
    """Normalised, unaugmented batches over the first whole batches of a split, in order."""
    import tensorflow as tf

    n = num_eval_images(split, batch_size)
    ds = tf.data.Dataset.from_tensor_slices((split.images[:n], split.labels[:n]))

    def prepare(image, label):
        image = _normalise(tf, tf.cast(image, tf.float32))
        if channels_first:
            image = tf.transpose(image, (2, 0, 1))
        return image, label

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
