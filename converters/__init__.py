"""Converters from the official NAS-Bench-101 files to the nasbench-arrow layout.

Shipped inside the package as ``nasbench_arrow.converters``.
"""
