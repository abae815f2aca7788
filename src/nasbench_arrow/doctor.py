"""Diagnose an installation, a source file or a dataset: ``nasbench-doctor [PATH ...]``.

What it prints, section by section:

environment
    Python, nasbench-arrow and the versions of its dependencies against the
    requirements the package declares; optional extras that are installed.
trainer
    Whether TensorFlow imports, its version, whether it is TF2 (the trainer
    needs it), and which GPUs it sees. TensorFlow is imported only in a
    child process with a timeout, so the doctor stays fast and cannot be
    crashed or hung by a broken TensorFlow or CUDA install.
conflicts
    The original ``nasbench`` package installed alongside (``from nasbench
    import api`` would then load the TensorFlow 1 original, not this one).
PATH arguments
    A ``.tfrecord`` (or any file): size, streamed SHA-256, whether it is one
    of the published files, and whether its first record parses. A
    directory: whether it is a dataset, its format version, a manifest
    summary and a fast :func:`~nasbench_arrow.verify.verify_dataset`.
known problems
    Symptoms users hit with NAS-Bench-101 and their fixes; those the checks
    above detected are marked.

The exit status is 1 when a check failed (a missing dependency, a path that
is not what it should be, a dataset that does not verify), else 0.

Example
-------
``nasbench-doctor nasbench_only108.tfrecord out/``
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import layout
from ._version import __version__
from .constants import PUBLISHED_FILES

__all__ = [
    "KNOWN_PROBLEMS",
    "Check",
    "environment_checks",
    "main",
    "path_checks",
    "probe_tensorflow",
    "tensorflow_checks",
]

OK, INFO, WARN, FAIL = "ok", "info", "warn", "FAIL"
#: Seconds the TensorFlow probe may take (importing TF with CUDA can take tens of seconds).
DEFAULT_TF_TIMEOUT = 120.0
_DIST = "nasbench-arrow"
_HASH_CHUNK = 8 << 20  # bytes per read while hashing a source file (constant memory)
#: Oldest TensorFlow the trainer supports. The ``train`` extra's pin in pyproject.toml
#: is the home of this fact: :func:`_tf_minimum` reads it from the installed metadata,
#: and this is only the fallback when the metadata is unavailable (a bare checkout).
_TF_MINIMUM_FALLBACK = "2.16"
# The end-of-file check looks for the last record's framing in this many final bytes;
# NAS-Bench-101 records are a few hundred bytes, so one MiB holds thousands of them.
_TAIL_WINDOW = 1 << 20


@dataclass
class Check:
    """One finding of the doctor.

    Attributes
    ----------
    section : str
        ``"environment"``, ``"trainer"``, ``"conflicts"``, or the path checked.
    status : str
        ``"ok"``, ``"info"``, ``"warn"`` or ``"FAIL"``.
    message : str
        What was found.
    fix : str or None
        What to do about it, when something is wrong.
    problem : str or None
        Key into :data:`KNOWN_PROBLEMS` when this is one of them.
    """

    section: str
    status: str
    message: str
    fix: str | None = None
    problem: str | None = None


#: Known failures: key -> (symptom, cause and fix).
KNOWN_PROBLEMS: dict[str, tuple[str, str]] = {
    "float-matrix": (
        (
            "a spec you know is in NAS-Bench-101 is reported as not in the dataset "
            "(OutOfDomainError / KeyError in the original)"
        ),
        (
            "the adjacency matrix was built with a float (or bool) dtype: the original hashes "
            "str() of row/column sums, so 1.0 and 1 give different hashes. Build it with integers: "
            "np.array(matrix, dtype=np.int64). nasbench-arrow hashes 0/1 float and bool matrices as "
            "integers, so it finds them; the original does not."
        ),
    ),
    "tf1-only": (
        (
            "AttributeError: module 'tensorflow' has no attribute 'python_io' (or 'gfile') when the "
            "original nasbench.api loads the dataset"
        ),
        (
            "the original loader calls TensorFlow 1 APIs that TensorFlow 2 removed. nasbench-arrow "
            "needs no TensorFlow to read data: `from nasbench_arrow import api`. The trainer "
            f"(`pip install 'nasbench-arrow[train]'`) needs TensorFlow {_TF_MINIMUM_FALLBACK} or newer; a "
            "TensorFlow 1 environment cannot run it."
        ),
    ),
    "original-installed": (
        "`from nasbench import api` still needs TensorFlow, or behaves unlike nasbench-arrow",
        (
            "the original `nasbench` package is installed in the same environment and owns the "
            "`nasbench` module name. Import `from nasbench_arrow import api` (same API), or remove "
            "the original with `pip uninstall nasbench`."
        ),
    ),
    "tfrecord-as-dataset": (
        (
            "DatasetFormatError '... is a file, not a converted dataset directory' from "
            "nasbench-verify or a dataset reader"
        ),
        (
            "an official .tfrecord was passed where a converted dataset directory is expected. "
            "Convert it once: `nasbench-convert nasbench_full.tfrecord OUT_DIR`, then pass OUT_DIR "
            "(api.NASBench also accepts the .tfrecord and converts it into a cache)."
        ),
    ),
    "partial-download": (
        (
            "the converter stops with a TFRecordError (truncated record, CRC mismatch) or the "
            "checksum is not a published one"
        ),
        (
            "the .tfrecord is incomplete or altered (interrupted download, full disk). Download it "
            "again and compare its SHA-256 with the published value (`nasbench-doctor FILE`)."
        ),
    ),
    "damaged-dataset": (
        "DatasetCorruptError, or nasbench-verify lists problems",
        (
            "a converted dataset was truncated, edited or only partly copied. Reconvert with "
            "`nasbench-convert SOURCE OUT_DIR --overwrite`, or copy it again and check with "
            "`nasbench-verify OUT_DIR --deep`."
        ),
    ),
}


# --------------------------------------------------------------------------- environment


def _installed(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _satisfies(version: str, spec: str) -> bool | None:
    """Whether ``version`` meets a specifier like ``>=1.24,<3``; None when it cannot tell."""
    try:
        from packaging.specifiers import SpecifierSet  # usually present; not a dependency
    except ImportError:
        return None
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except ValueError:
        return None


_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*([^;]*?)\s*(?:;\s*(.*))?$")


def _requirements() -> list[tuple[str, str, str | None]]:
    """(distribution, specifier, extra) for each requirement nasbench-arrow declares."""
    try:
        reqs = md.requires(_DIST) or []
    except md.PackageNotFoundError:
        return []
    out = []
    for req in reqs:
        m = _REQ.match(req)
        if not m:
            continue
        name, _extras, spec, marker = m.groups()
        extra = None
        if marker:
            em = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            extra = em.group(1) if em else None
        out.append((name, spec, extra))
    return out


def _tf_minimum() -> str:
    """The lowest TensorFlow version the ``train`` extra accepts, e.g. ``"2.16"``."""
    for name, spec, extra in _requirements():
        if extra == "train" and name.lower().startswith(("tensorflow", "tf-nightly")):
            m = re.search(r">=\s*([0-9][0-9.]*)", spec)
            if m:
                return m.group(1)
    return _TF_MINIMUM_FALLBACK


def environment_checks() -> list[Check]:
    """Python, package and dependency versions (reads metadata; imports nothing heavy)."""
    sec = "environment"
    checks = [
        Check(sec, INFO, f"Python {platform.python_version()} ({sys.executable}) on {platform.platform()}"),
    ]
    installed = _installed(_DIST)
    here = Path(__file__).resolve().parent
    if installed is None:
        checks.append(
            Check(
                sec, WARN, f"nasbench-arrow {__version__} imported from {here} but not installed as a distribution",
                fix="install it: pip install nasbench-arrow (or pip install -e . in a checkout)",
            )
        )
    elif installed != __version__:
        checks.append(
            Check(
                sec, WARN,
                f"nasbench-arrow: the installed metadata says {installed}, the imported code ({here}) is {__version__}",
                fix="a stale copy shadows the install: reinstall, or check sys.path / PYTHONPATH",
            )
        )
    else:
        checks.append(Check(sec, OK, f"nasbench-arrow {__version__} ({here})"))
    seen = set()
    for name, spec, extra in _requirements():
        if name.lower().replace("_", "-") in {_DIST, "nasbench-arrow"} or name in seen:
            continue
        seen.add(name)
        version = _installed(name)
        need = f" (needs {spec})" if spec else ""
        if extra is None:
            if version is None:
                checks.append(
                    Check(sec, FAIL, f"{name} is not installed{need}", fix=f"pip install '{name}{spec}'")
                )
            elif _satisfies(version, spec) is False:
                checks.append(
                    Check(sec, FAIL, f"{name} {version} does not meet {spec}", fix=f"pip install '{name}{spec}'")
                )
            else:
                checks.append(Check(sec, OK, f"{name} {version}{need}"))
        elif version is not None:
            note = "" if _satisfies(version, spec) is not False else f"; extra [{extra}] wants {spec}"
            checks.append(Check(sec, INFO if not note else WARN, f"{name} {version} (extra [{extra}]){note}"))
    return checks


def conflict_checks() -> list[Check]:
    """The original ``nasbench`` package installed alongside."""
    sec = "conflicts"
    try:
        spec = importlib.util.find_spec("nasbench")  # locates without importing
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return [Check(sec, OK, "the original `nasbench` package is not installed (no name clash)")]
    where = spec.origin or (list(spec.submodule_search_locations or []) or ["?"])[0]
    _symptom, fix = KNOWN_PROBLEMS["original-installed"]
    return [
        Check(
            sec, WARN, f"the original `nasbench` package is importable from {where}",
            fix=fix, problem="original-installed",
        )
    ]


# --------------------------------------------------------------------------- trainer

_TF_PROBE = r"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
out = {}
try:
    import tensorflow as tf
except BaseException as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
else:
    out["version"] = getattr(tf, "__version__", "?")
    out["python_io"] = hasattr(tf, "python_io")
    out["compat_v1"] = hasattr(getattr(tf, "compat", None), "v1")
    try:
        out["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    except BaseException as exc:
        out["gpus_error"] = f"{type(exc).__name__}: {exc}"
    try:
        out["cuda"] = bool(tf.test.is_built_with_cuda())
    except BaseException:
        out["cuda"] = None
sys.stdout.write("\n@@TFPROBE@@" + json.dumps(out) + "\n")
"""


def probe_tensorflow(timeout: float = DEFAULT_TF_TIMEOUT, python: str | None = None, script: str = _TF_PROBE) -> dict:
    """Import TensorFlow in a child process and report what it offers.

    Parameters
    ----------
    timeout : float
        Seconds before the child is killed.
    python : str, optional
        Interpreter to run; this one by default.
    script : str
        The probe's source (replaceable for tests).

    Returns
    -------
    dict
        ``version``, ``python_io``, ``compat_v1``, ``gpus``, ``cuda`` on
        success; ``error`` when the import failed; ``timeout`` when it did
        not finish in time; plus ``seconds``.
    """
    t0 = time.perf_counter()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        proc = subprocess.run(
            [python or sys.executable, "-c", script],
            capture_output=True, text=True, timeout=timeout, check=False, env=env, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"timeout": True, "seconds": time.perf_counter() - t0}
    except OSError as exc:
        return {"error": f"cannot start {python or sys.executable}: {exc}", "seconds": time.perf_counter() - t0}
    result: dict = {"seconds": time.perf_counter() - t0}
    marker = "@@TFPROBE@@"
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(marker)), None)
    if line is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        result["error"] = f"the TensorFlow probe exited with status {proc.returncode}: {' | '.join(tail) or 'no output'}"
        return result
    try:
        result.update(json.loads(line[len(marker):]))
    except json.JSONDecodeError:
        result["error"] = "the TensorFlow probe printed an unreadable report"
    return result


def tensorflow_checks(timeout: float = DEFAULT_TF_TIMEOUT, probe: bool = True) -> list[Check]:
    """Whether the trainer can run: TensorFlow 2 importable, GPUs visible."""
    sec = "trainer"
    checks = []
    install = "pip install 'nasbench-arrow[train]'"
    tf_dist = next((d for d in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly") if _installed(d)), None)
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False, stdin=subprocess.DEVNULL)
            gpus = [ln for ln in out.stdout.splitlines() if ln.startswith("GPU ")]
            checks.append(Check(sec, INFO, f"nvidia-smi sees {len(gpus)} GPU(s)" + (f": {gpus[0]}" if gpus else "")))
        except (OSError, subprocess.SubprocessError):
            checks.append(Check(sec, INFO, "nvidia-smi is present but did not answer"))
    if tf_dist is None:
        checks.append(
            Check(
                sec, INFO,
                "TensorFlow is not installed: reading datasets does not need it; the trainer "
                "(NASBench.evaluate, nasbench-train) does",
                fix=install,
            )
        )
        return checks
    if not probe:
        checks.append(Check(sec, INFO, f"{tf_dist} {_installed(tf_dist)} installed (import not tried: --no-tf)"))
        return checks
    res = probe_tensorflow(timeout)
    took = f"import took {res['seconds']:.1f} s"
    if res.get("timeout"):
        checks.append(
            Check(
                sec, WARN, f"importing TensorFlow ({tf_dist}) did not finish within {timeout:.0f} s",
                fix="a hung CUDA/driver initialisation is the usual cause: try CUDA_VISIBLE_DEVICES= to test "
                "on CPU, or reinstall a TensorFlow build that matches your driver",
            )
        )
        return checks
    if "error" in res:
        checks.append(
            Check(sec, FAIL, f"{tf_dist} is installed but `import tensorflow` fails: {res['error']}", fix=f"reinstall: {install}")
        )
        return checks
    version = str(res.get("version", "?"))
    major = version.split(".", 1)[0]
    minimum = _tf_minimum()
    if major.isdigit() and int(major) < 2:
        _symptom, fix = KNOWN_PROBLEMS["tf1-only"]
        checks.append(
            Check(
                sec, FAIL, f"TensorFlow {version} is TensorFlow 1: the trainer needs TensorFlow >= {minimum} ({took})",
                fix=fix, problem="tf1-only",
            )
        )
        return checks
    if _satisfies(version, f">={minimum}") is False:
        checks.append(
            Check(
                sec, WARN,
                f"TensorFlow {version} is older than {minimum}, the oldest the trainer supports (the [train] extra's pin)",
                fix=install,
            )
        )
    else:
        checks.append(Check(sec, OK, f"TensorFlow {version} imports ({took}); the trainer can run"))
    if not res.get("python_io"):
        checks.append(
            Check(
                sec, INFO,
                "this TensorFlow has no tf.python_io: the original nasbench.api cannot load data with it "
                "(nasbench-arrow does not need it)",
                problem="tf1-only",
            )
        )
    gpus = res.get("gpus")
    if gpus:
        checks.append(Check(sec, OK, f"TensorFlow sees {len(gpus)} GPU(s): {', '.join(gpus)}"))
    else:
        why = res.get("gpus_error") or ("this build has no CUDA" if res.get("cuda") is False else "none visible")
        checks.append(
            Check(
                sec, INFO, f"TensorFlow sees no GPU ({why}); training runs on CPU",
                fix="for GPU training install `tensorflow[and-cuda]` matching your driver" if smi else None,
            )
        )
    return checks


# --------------------------------------------------------------------------- paths


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _size(n: int) -> str:
    return f"{n:,} bytes ({n / 1e9:.2f} GB)" if n >= 1e8 else f"{n:,} bytes"


def _first_frame_problem(fd: int, size: int) -> str | None:
    """Why the file's first 12 bytes are not a TFRecord length header, or None when they are."""
    from .tfrecord import HEADER_SIZE, masked_crc32c

    head = os.pread(fd, HEADER_SIZE, 0)
    if len(head) < HEADER_SIZE:
        return f"not a TFRecord file: it has {size:,} bytes, fewer than one record header ({HEADER_SIZE} bytes)"
    if masked_crc32c(head[:8]) != int.from_bytes(head[8:HEADER_SIZE], "little"):
        return (
            "not a TFRecord file: its first bytes are not TFRecord framing (the length header's CRC does "
            f"not match; the file starts with {head[:8]!r})"
        )
    return None


def _ends_with_a_record(fd: int, size: int) -> bool:
    """Whether the file's last bytes are one complete TFRecord frame ending exactly at the end of the file.

    A frame is ``length (8) | masked CRC of length (4) | payload | masked CRC
    of payload (4)``. Looks in the last ``_TAIL_WINDOW`` bytes for an offset
    whose length field reaches exactly the end of the file and whose two CRCs
    match (a chance match needs two 32-bit CRCs to agree). Reads at most one
    MiB, so a truncated multi-GB download is told in milliseconds.
    """
    import numpy as np

    from .tfrecord import FOOTER_SIZE, HEADER_SIZE, masked_crc32c

    framing = HEADER_SIZE + FOOTER_SIZE
    window = min(size, _TAIL_WINDOW + framing)
    tail = os.pread(fd, window, size - window)
    if len(tail) != window or window < framing:
        return False
    u8 = np.frombuffer(tail, dtype=np.uint8).astype(np.int64)
    starts = np.arange(window - framing + 1)
    want = window - framing - starts  # the payload length a frame starting there must declare
    # The length is a little-endian u64: compare its 8 bytes with those of `want`.
    hit = np.ones(starts.size, dtype=bool)
    for k in range(8):
        hit &= u8[starts + k] == (want >> (8 * k)) & 0xFF
    for start in np.flatnonzero(hit)[::-1].tolist():
        header = tail[start : start + HEADER_SIZE]
        payload = tail[start + HEADER_SIZE : window - FOOTER_SIZE]
        if masked_crc32c(header[:8]) == int.from_bytes(header[8:], "little") and masked_crc32c(
            payload
        ) == int.from_bytes(tail[window - FOOTER_SIZE :], "little"):
            return True
    return False


def _first_record_checks(path: Path, sec: str, checks: list[Check]) -> bool:
    """Frame and parse the first record (framing already known to start right); True when it is NAS-Bench-101."""
    from .errors import ConversionError
    from .records import parse_payload
    from .tfrecord import iter_payloads

    try:
        first = next(iter(iter_payloads(path, block_size=1 << 20)), None)
    except ConversionError as exc:
        _symptom, fix = KNOWN_PROBLEMS["partial-download"]
        checks.append(Check(sec, FAIL, f"the first record is damaged: {exc}", fix=fix, problem="partial-download"))
        return False
    if first is None:
        checks.append(Check(sec, FAIL, "holds no records", fix=KNOWN_PROBLEMS["partial-download"][1]))
        return False
    try:
        row = parse_payload(first[2], record_index=0, byte_offset=0, source=str(path))
    except ConversionError as exc:
        checks.append(
            Check(
                sec, FAIL, f"the first record is not a NAS-Bench-101 record: {exc}",
                fix="pass the official nasbench_full.tfrecord or nasbench_only108.tfrecord",
            )
        )
        return False
    checks.append(
        Check(
            sec, OK,
            f"first record parses: hash {row.module_hash}, {row.epochs} epochs, "
            f"{row.metrics.trainable_parameters:,} parameters",
        )
    )
    return True


def _tfrecord_checks(path: Path, sec: str, hash_file: bool) -> list[Check]:
    from .manifest import open_regular

    checks = []
    try:
        fd = open_regular(path)
    except (OSError, ValueError) as exc:
        return [Check(sec, FAIL, f"cannot be read: {getattr(exc, 'strerror', None) or exc}", fix="check the path and its permissions")]
    try:
        size = os.fstat(fd).st_size
        checks.append(Check(sec, INFO, f"file of {_size(size)}"))
        not_framing = _first_frame_problem(fd, size) if size else None
        complete_end = _ends_with_a_record(fd, size) if size and not_framing is None else None
    except OSError as exc:
        return [*checks, Check(sec, FAIL, f"cannot be read: {exc.strerror or exc}", fix="check the disk and permissions")]
    finally:
        os.close(fd)
    named = next((p for p in PUBLISHED_FILES.values() if p.name == path.name), None)
    if size == 0:
        checks.append(Check(sec, FAIL, "holds no records (empty file)", fix=KNOWN_PROBLEMS["partial-download"][1], problem="partial-download"))
        return checks
    if not_framing is not None:
        fix = (
            "download it again: this is not the published file (`nasbench-doctor FILE` checks the result)"
            if named is not None
            else "pass the official nasbench_full.tfrecord or nasbench_only108.tfrecord (or a dataset directory)"
        )
        checks.append(Check(sec, FAIL, not_framing, fix=fix))
        return checks
    first_ok = _first_record_checks(path, sec, checks)
    if complete_end:
        checks.append(Check(sec, OK, "the file ends with a complete record (last frame's length and CRCs match)"))
    else:
        _symptom, fix = KNOWN_PROBLEMS["partial-download"]
        checks.append(
            Check(
                sec, FAIL,
                f"the file does not end with a complete record: none of the last {min(size, _TAIL_WINDOW):,} bytes "
                "starts a frame that reaches the end of the file with matching CRCs (truncated: an interrupted "
                "download, a full disk, or a copy cut short)",
                fix=fix, problem="partial-download",
            )
        )
        first_ok = False
    if hash_file:
        t0 = time.perf_counter()
        digest = _sha256_file(path)
        took = time.perf_counter() - t0
        pub = PUBLISHED_FILES.get(digest)
        if pub is not None:
            checks.append(
                Check(
                    sec, OK,
                    f"SHA-256 {digest} is the published {pub.name} ({pub.num_records:,} records, "
                    f"epochs {'/'.join(map(str, pub.epochs))}; hashed in {took:.1f} s)",
                )
            )
        else:
            named = next((p for p in PUBLISHED_FILES.values() if p.name == path.name), None)
            if named is not None:
                _symptom, fix = KNOWN_PROBLEMS["partial-download"]
                checks.append(
                    Check(
                        sec, FAIL,
                        f"SHA-256 {digest} is not the published {named.name} ({named.sha256}, {named.approx_size}; "
                        f"this file has {_size(size)})",
                        fix=fix, problem="partial-download",
                    )
                )
            else:
                checks.append(
                    Check(
                        sec, INFO,
                        f"SHA-256 {digest}: not one of the published files "
                        f"({', '.join(p.name for p in PUBLISHED_FILES.values())}); fine for a generated or subset file",
                    )
                )
    if first_ok:
        _symptom, fix = KNOWN_PROBLEMS["tfrecord-as-dataset"]
        checks.append(
            Check(
                sec, INFO, "a source file, not a dataset: readers and nasbench-verify want the converted directory",
                fix=f"nasbench-convert {path} OUT_DIR", problem="tfrecord-as-dataset",
            )
        )
    return checks


def _leftover_checks(path: Path, sec: str) -> list[Check]:
    """Temporary directories an interrupted nasbench-convert left beside ``path``."""
    parent = path.resolve().parent
    if not parent.is_dir():
        return []
    prefix = f".{path.resolve().name}.nasbench-convert-"
    tmp = sorted(p.name for p in parent.glob(prefix + "tmp-*"))
    old = sorted(p.name for p in parent.glob(prefix + "old-*"))
    checks = []
    if tmp:
        checks.append(
            Check(
                sec, WARN, f"leftovers of interrupted conversions beside it: {', '.join(tmp)}",
                fix="readers never use them; delete them once no conversion is running",
            )
        )
    if old:
        fix = "delete it once no conversion is running"
        if not path.exists():
            fix = (
                f"an --overwrite was interrupted after moving the old dataset aside: rename "
                f"{parent / old[-1]} back to {path}, or convert again"
            )
        checks.append(Check(sec, WARN, f"a dataset moved aside by --overwrite: {', '.join(old)}", fix=fix))
    return checks


def _dataset_checks(path: Path, sec: str, deep: bool) -> list[Check]:
    from .verify import verify_dataset

    checks = []
    manifest_path = path / layout.MANIFEST_NAME
    if not os.path.lexists(manifest_path):  # one that is there but unreadable or not a file: verify says which
        leftovers = sorted(p.name for p in path.glob("*nasbench-convert-tmp*"))
        looks_partial = any((path / d).is_dir() for d in (layout.CELLS_DIR, layout.RUNS_DIR, layout.INDEX_DIR))
        tfrecords = sorted(p.name for p in path.glob("*.tfrecord"))
        if "nasbench-convert-tmp" in path.name:
            msg = "a temporary directory of an interrupted or running nasbench-convert, not a dataset"
            fix = "delete it once no conversion is running, and convert again"
        elif looks_partial:
            msg = f"has dataset folders but no {layout.MANIFEST_NAME}: an incomplete copy or not a dataset root"
            fix = "copy the whole dataset directory again, or reconvert with nasbench-convert"
        elif (path.parent / layout.MANIFEST_NAME).is_file():
            msg = "a folder inside a dataset, not its root"
            fix = f"pass {path.parent}"
        else:
            msg = f"not a nasbench-arrow dataset (no {layout.MANIFEST_NAME})"
            fix = "convert a source file with `nasbench-convert SOURCE OUT_DIR`"
        if tfrecords:
            msg += f"; it holds the source file(s) {', '.join(tfrecords)}"
        checks.append(Check(sec, FAIL, msg, fix=fix))
        if leftovers:
            checks.append(
                Check(
                    sec, WARN, f"leftovers of interrupted conversions: {', '.join(leftovers)}",
                    fix="delete them once no conversion is running",
                )
            )
        return checks
    report = verify_dataset(path, deep=deep)
    m = report.manifest
    if m is not None:
        src = m.source if isinstance(m.source, dict) else {}
        c = m.counts
        checks.append(
            Check(
                sec, OK,
                f"nasbench-arrow dataset, format version {m.format_version}, written by nasbench-arrow "
                f"{m.converter_version} on {m.created}",
            )
        )
        pub = src.get("published")
        checks.append(
            Check(
                sec, INFO,
                f"source {src.get('name')!r}{f' (the published {pub})' if pub else ''}, "
                f"{src.get('size', 0):,} bytes, SHA-256 {src.get('sha256')}",
            )
        )
        checks.append(
            Check(
                sec, INFO,
                f"{c.get('cells', 0):,} cells, {c.get('runs', 0):,} runs, epochs "
                f"{'/'.join(map(str, c.get('epochs', [])))}, {c.get('repeats')} repeats, {len(m.files)} files",
            )
        )
    if report.ok:
        checks.append(Check(sec, OK, f"verify{' --deep' if deep else ''}: {report.summary()}"))
    else:
        _symptom, fix = KNOWN_PROBLEMS["damaged-dataset"]
        if report.kinds() & {"format-version"}:
            fix = "upgrade nasbench-arrow, or reconvert the source with this version"
        checks.append(
            Check(
                sec, FAIL,
                f"verify{' --deep' if deep else ''} found {len(report.problems)} problem(s):\n"
                + "\n".join(f"    - {p}" for p in report.problems),
                fix=fix, problem="damaged-dataset",
            )
        )
    checks += _leftover_checks(path, sec)
    return checks


def path_checks(path: str | os.PathLike, *, hash_file: bool = True, deep: bool = False) -> list[Check]:
    """What a path is and whether it is usable: a source .tfrecord, a dataset, or neither.

    Parameters
    ----------
    path : path
        A file (checked as a TFRecord source) or a directory (checked as a dataset).
    hash_file : bool, default True
        Compute a file's SHA-256 (reads it all: about 1-2 s per GB).
    deep : bool, default False
        Verify a dataset with ``deep=True`` (checksums and invariants).
    """
    import stat

    from .manifest import file_kind

    p = Path(path)
    sec = str(p)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        return [
            Check(sec, FAIL, "does not exist", fix="check the path (relative paths are from the current directory)"),
            *_leftover_checks(p, sec),
        ]
    except OSError as exc:
        return [Check(sec, FAIL, f"cannot be examined: {exc.strerror or exc}", fix="check the path and its permissions")]
    if stat.S_ISDIR(mode):
        return _dataset_checks(p, sec, deep)
    if not stat.S_ISREG(mode):
        # Never opened: a FIFO would block the doctor, /dev/zero would be hashed forever.
        return [
            Check(
                sec, FAIL, f"is {file_kind(mode)}, not a regular file or a directory",
                fix="pass a .tfrecord source file or a dataset directory",
            )
        ]
    if p.name == layout.MANIFEST_NAME:
        return [Check(sec, FAIL, "is a dataset's manifest file", fix=f"pass its directory: {p.parent}")]
    if p.suffix == ".parquet":
        return [Check(sec, FAIL, "is one Parquet file of a dataset", fix="pass the dataset root directory (the one with manifest.json)")]
    return _tfrecord_checks(p, sec, hash_file)


# --------------------------------------------------------------------------- report


def _render(checks: list[Check], detected: set[str], out) -> None:
    section = None
    for c in checks:
        if c.section != section:
            section = c.section
            print(f"\n{section}", file=out)
        lines = c.message.splitlines() or [""]
        print(f"  {c.status:<4}  {lines[0]}", file=out)
        for extra in lines[1:]:
            print(f"        {extra}", file=out)
        if c.fix and c.status in (WARN, FAIL):
            print(f"        fix: {c.fix}", file=out)
    print("\nknown problems (symptom, then the fix)", file=out)
    for key, (symptom, fix) in KNOWN_PROBLEMS.items():
        mark = "DETECTED" if key in detected else "-"
        print(textwrap.fill(symptom, 100, initial_indent=f"  {mark:<9}", subsequent_indent=" " * 11, break_on_hyphens=False), file=out)
        print(textwrap.fill(fix, 100, initial_indent=" " * 11 + "fix: ", subsequent_indent=" " * 16, break_on_hyphens=False), file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """``nasbench-doctor [PATH ...] [--no-tf] [--no-hash] [--deep] [--json]``.

    Returns
    -------
    int
        1 when any check failed, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="nasbench-doctor",
        description="Report versions, trainer readiness, and what a source file or dataset directory is.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="a .tfrecord source file or a dataset directory")
    parser.add_argument("--no-tf", action="store_true", help="do not import TensorFlow (skip the trainer probe)")
    parser.add_argument(
        "--tf-timeout", type=float, default=DEFAULT_TF_TIMEOUT, metavar="SECONDS",
        help=f"limit for the TensorFlow probe (default {DEFAULT_TF_TIMEOUT:.0f})",
    )
    parser.add_argument("--no-hash", action="store_true", help="skip the SHA-256 of source files")
    parser.add_argument("--deep", action="store_true", help="verify datasets with --deep (checksums, invariants)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)
    checks = environment_checks()
    checks += conflict_checks()
    checks += tensorflow_checks(timeout=args.tf_timeout, probe=not args.no_tf)
    for path in args.paths:
        checks += path_checks(path, hash_file=not args.no_hash, deep=args.deep)
    detected = {c.problem for c in checks if c.problem and c.status in (WARN, FAIL)}
    failed = any(c.status == FAIL for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks], "detected": sorted(detected)}, indent=2))
    else:
        print(f"nasbench-doctor {__version__}")
        _render(checks, detected, sys.stdout)
        print(f"\n{'some checks FAILED' if failed else 'all checks passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
