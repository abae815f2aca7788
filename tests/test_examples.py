"""Documentation that runs: the tour notebook is executed, README figures keep their shape."""

from __future__ import annotations

import re

import pytest

from conftest import REPO_ROOT

NOTEBOOK = REPO_ROOT / "examples" / "tour.ipynb"


@pytest.mark.slow
def test_tour_notebook_executes_and_shows_its_figures(tmp_path, monkeypatch):
    """examples/tour.ipynb runs top to bottom on the built-in sample, every code cell without an
    error, and the overview and search figures come out as inline PNGs."""
    nbformat = pytest.importorskip("nbformat", reason="needs the test extra (nbclient)")
    nbclient = pytest.importorskip("nbclient", reason="needs the test extra (nbclient)")
    pytest.importorskip("ipykernel", reason="needs the test extra (ipykernel)")
    pytest.importorskip("matplotlib", reason="the tour draws figures: needs the plot extra")
    monkeypatch.setenv("NASBENCH_TOUR_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        # The kernel starts in examples/ so the notebook finds the example scripts beside it.
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any failure
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    images = [c for c in code if any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert len(images) == 2  # the overview and the search comparison
    assert (
        tmp_path / "cache"
    ).is_dir()  # the sample was built where the test asked, not in ~/.cache


def _mask(line: str) -> str:
    """A verify line with its path and numbers replaced, so only its wording remains."""
    line = re.sub(r"^OK \S+:", "OK PATH:", line)
    return re.sub(r"\d[\d,./]*", "N", line)


def test_readme_verify_example_has_the_shape_nasbench_verify_prints(sample_dataset_dir, capsys):
    """The README's nasbench-verify line reads exactly like real output (numbers and path aside)."""
    from nasbench_arrow.verify import main

    readme = (REPO_ROOT / "README.md").read_text()
    shown = next(line for line in readme.splitlines() if line.startswith("OK nasbench_full/:"))
    assert main([str(sample_dataset_dir)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert _mask(shown) == _mask(printed)


def test_ci_runs_the_readme_test_command_verbatim_then_the_wheel_check():
    """.ci/run holds the README's test command exactly, fails on any error (pytest's 5 included),
    installs the hpo and ray extras, and then smoke-tests a built wheel outside the checkout."""
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    command = next(line for line in readme.splitlines() if line.startswith("python3 -m venv .venv") and "pytest" in line)
    assert command in ci.splitlines()
    assert "'.[test,train,plot,hpo,ray]'" in command
    assert "set -euo pipefail" in ci  # pytest's exit status 5 ("no tests collected") fails the run
    assert "pip wheel -q --no-deps" in ci and "wheel_smoke.py" in ci
    assert ci.index(command) < ci.index("pip wheel")
    demo = next(line for line in readme.splitlines() if line.startswith("python3 -m venv .venv") and "demo" in line)
    assert demo.endswith(".venv/bin/python -m nasbench_arrow.demo")
