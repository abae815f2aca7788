"""Converters from the official NAS-Bench-101 files to the nasbench-arrow layout.

Shipped inside the package as ``nasbench_arrow.converters``::

    batches.py    payload blocks -> columns (vectorised fast path, exact fallback)
    writer.py     columns -> spill files -> sorted, checked Parquet per bucket + query index
    pipeline.py   convert(): phases, worker processes, temp directory, atomic rename
    cli.py        the ``nasbench-convert SOURCE OUT_DIR`` command

Example
-------
>>> from nasbench_arrow.converters import convert
>>> manifest = convert("nasbench_full.tfrecord", "nasbench/")  # doctest: +SKIP
"""

from __future__ import annotations

from .pipeline import Progress, convert

__all__ = ["Progress", "convert"]
