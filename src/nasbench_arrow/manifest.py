"""The dataset manifest: what a converted dataset holds and how to check it.

``manifest.json`` at the dataset root is written last by the converter (after
every data file is complete) and read first by every reader. Its keys::

    format            "nasbench-arrow"
    format_version    int, see layout.FORMAT_VERSION
    converter_version package version that wrote it
    created           UTC time, ISO 8601
    source            {"name", "size" (bytes), "sha256", "published" (official name or null)}
    counts            {"records", "cells", "runs", "epochs" (sorted list), "repeats" (per cell and budget;
                      the most seen), "complete" (every cell has every budget x 3 repeats)}
    conversion        (written by nasbench-convert) seconds, phase_seconds, cpu_seconds, workers,
                      parts, fast_path_records, exact_path_records, allow_incomplete
    warnings          (only when there are some) e.g. an official-looking source whose checksum differs
    index             (only when there are some) {"canonical_duplicates": stored cells isomorphic to another
                      stored cell; readers then decide such specs by hashing}
    files             {relative POSIX path: {"rows", "size" (bytes), "sha256", "crc32c" (int, Castagnoli,
                      checked by readers: index files at open, a table's files at its first scan)}}
    schema            {"cells": [[name, type], ...], "runs": [[name, type], ...]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import layout
from .errors import DatasetCorruptError, DatasetFormatError, DatasetNotFoundError

__all__ = ["Manifest", "read_manifest", "schema_as_list"]


def schema_as_list(schema) -> list[list[str]]:
    """A pyarrow schema as ``[[name, type string], ...]`` for the manifest."""
    return [[f.name, str(f.type)] for f in schema]


@dataclass
class Manifest:
    """Parsed ``manifest.json``.

    Attributes mirror the JSON keys listed in the module docstring.
    """

    format_version: int
    converter_version: str
    created: str
    source: dict[str, Any]
    counts: dict[str, Any]
    files: dict[str, dict[str, Any]]
    schema: dict[str, list[list[str]]]
    format: str = layout.FORMAT_NAME
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> tuple[int, ...]:
        """Budgets present in the dataset (sorted)."""
        return tuple(int(e) for e in self.counts["epochs"])

    def to_json(self) -> str:
        """Serialise with stable key order."""
        doc = {
            "format": self.format,
            "format_version": self.format_version,
            "converter_version": self.converter_version,
            "created": self.created,
            "source": self.source,
            "counts": self.counts,
            "files": self.files,
            "schema": self.schema,
        }
        doc.update(self.extra)
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"

    def write(self, root: str | os.PathLike) -> None:
        """Write ``manifest.json`` into ``root`` atomically (temp file, fsync, rename)."""
        path = Path(root) / layout.MANIFEST_NAME
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


_REQUIRED = ("format", "format_version", "converter_version", "created", "source", "counts", "files", "schema")


def read_manifest(root: str | os.PathLike) -> Manifest:
    """Read and validate the manifest of a converted dataset.

    Parameters
    ----------
    root : path
        Dataset directory.

    Returns
    -------
    Manifest

    Raises
    ------
    DatasetNotFoundError
        ``root`` does not exist.
    DatasetFormatError
        ``root`` is not a directory, has no manifest, the manifest is not valid
        JSON, lacks keys, names another format, or has an unknown format version.
    DatasetCorruptError
        A file the manifest lists is missing or has another size.
    """
    root = Path(root)
    if not root.exists():
        msg = f"no dataset at {str(root)!r}: the path does not exist; convert a tfrecord with `nasbench-convert SOURCE {root}`"
        raise DatasetNotFoundError(msg)
    if not root.is_dir():
        msg = f"{str(root)!r} is a file, not a converted dataset directory; pass the directory written by nasbench-convert (or an official .tfrecord)"
        raise DatasetFormatError(msg)
    path = root / layout.MANIFEST_NAME
    if not path.is_file():
        msg = f"{str(root)!r} is not a nasbench-arrow dataset: it has no {layout.MANIFEST_NAME} (an interrupted conversion never leaves one); convert with `nasbench-convert SOURCE OUT_DIR`"
        raise DatasetFormatError(msg)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{str(path)!r} is not valid JSON ({exc}); the manifest is damaged, reconvert the dataset"
        raise DatasetFormatError(msg) from exc
    if not isinstance(doc, dict):
        msg = f"{str(path)!r} holds a {type(doc).__name__}, expected a JSON object"
        raise DatasetFormatError(msg)
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        msg = f"{str(path)!r} lacks the keys {missing}; the manifest is damaged, reconvert the dataset"
        raise DatasetFormatError(msg)
    if doc["format"] != layout.FORMAT_NAME:
        msg = f"{str(path)!r} describes format {doc['format']!r}, expected {layout.FORMAT_NAME!r}"
        raise DatasetFormatError(msg)
    version = doc["format_version"]
    if version != layout.FORMAT_VERSION:
        msg = (
            f"{str(root)!r} has dataset format version {version!r}; this nasbench-arrow reads version "
            f"{layout.FORMAT_VERSION} only: upgrade nasbench-arrow or reconvert the source tfrecord"
        )
        raise DatasetFormatError(msg)
    extra = {k: v for k, v in doc.items() if k not in _REQUIRED}
    manifest = Manifest(
        format=doc["format"],
        format_version=version,
        converter_version=doc["converter_version"],
        created=doc["created"],
        source=doc["source"],
        counts=doc["counts"],
        files=doc["files"],
        schema=doc["schema"],
        extra=extra,
    )
    for rel, info in manifest.files.items():
        fpath = root / rel
        try:
            size = fpath.stat().st_size
        except FileNotFoundError:
            msg = f"dataset {str(root)!r} is incomplete: {rel} is listed in the manifest but missing; run `nasbench-verify {root}` and reconvert"
            raise DatasetCorruptError(msg) from None
        if size != info["size"]:
            msg = f"dataset {str(root)!r} is damaged: {rel} has {size} bytes, the manifest says {info['size']}; run `nasbench-verify {root}` and reconvert"
            raise DatasetCorruptError(msg)
    return manifest
