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
