"""Converting an official ``.tfrecord`` on first open, in a clean child interpreter.

``NASBench("nasbench_full.tfrecord")`` converts the file once and reuses the
result (see :func:`nasbench_arrow.dataset.resolve_dataset` for where it goes).
The conversion runs in a fresh ``python`` process started with
:mod:`subprocess`, never in the caller's process with ``multiprocessing``:

- a ``spawn`` worker pool started from the caller would re-import the
  caller's ``__main__``; an unguarded script (no ``if __name__ ==
  "__main__":``, as many client scripts are) would then run again in every
  worker and the pool would break. The child's ``__main__`` is a two-line
  ``-c`` program, so its own workers have nothing to re-import;
- it works the same from a script, a notebook, the REPL, ``python -c``, a
  module run with ``-m`` and from inside a daemonic ``multiprocessing``
  worker (which may not start a pool of its own);
- the child uses every core (its worker pool), shows the converter's progress
  line when the caller's stderr is a terminal, and dies with the caller.

Errors come back typed: the child writes the exception's type and fields to a
small JSON file, and the caller raises the same error (``ConversionError``
with its record index and byte offset, ``FileNotFoundError``, ...). A lock
on the source file makes concurrent first opens of the same file convert it
once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import (
    ConversionError,
    DatasetExistsError,
    DatasetFormatError,
    NASBenchError,
    TFRecordError,
)

__all__ = ["conversion_lock", "convert_in_child"]

# The parent's import path, handed to the child so it imports this very package
# (an editable checkout, a sys.path.insert in the caller's script, a zipapp).
_SYSPATH_ENV = "NASBENCH_ARROW_CHILD_SYSPATH"
_CHILD_CODE = (
    "import json, os, sys\n"
    f"sys.path[:0] = [p for p in json.loads(os.environ[{_SYSPATH_ENV!r}]) if p not in sys.path]\n"
    "from nasbench_arrow.autoconvert import _child_main\n"
    "sys.exit(_child_main(sys.argv[1:]))\n"
)
# Exception types the child reports by name; anything else comes back as ConversionError.
_ERRORS: dict[str, type[BaseException]] = {
    "ConversionError": ConversionError,
    "TFRecordError": TFRecordError,
    "DatasetExistsError": DatasetExistsError,
    "DatasetFormatError": DatasetFormatError,
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "OSError": OSError,
    "ValueError": ValueError,
}
_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def conversion_lock(source: Path) -> Iterator[None]:
    """Hold an exclusive lock for converting ``source`` (blocks while another process holds it).

    The lock is taken on the source file itself (``flock`` on a read-only
    descriptor), so nothing is created or left behind; where locks are not
    available (no ``fcntl``, a file system without them) this does not lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(source, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # e.g. a network file system without flock
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


def convert_in_child(source: Path, root: Path, *, overwrite: bool) -> None:
    """Convert ``source`` into the dataset directory ``root`` in a fresh interpreter.

    Parameters
    ----------
    source : Path
        The ``.tfrecord`` to convert.
    root : Path
        Dataset directory to create (replaced when ``overwrite``).
    overwrite : bool
        Replace an existing (stale) conversion at ``root``.

    Raises
    ------
    ConversionError, FileNotFoundError, DatasetExistsError, OSError
        What the converter raised in the child, same type and message.
    KeyboardInterrupt
        The conversion was interrupted (Ctrl-C reaches the child too; nothing
        is left at ``root``).
    """
    executable = sys.executable
    if not executable or not os.path.exists(executable):
        # An embedded interpreter with no python binary to start: convert here,
        # in this process only (no worker pool, so nothing re-imports __main__).
        from .converters import convert

        convert(source, root, overwrite=overwrite, workers=1, quiet=not _stderr_is_terminal())
        return
    fd, result_path = tempfile.mkstemp(prefix="nasbench-arrow-convert-", suffix=".json")
    os.close(fd)
    try:
        argv = [executable, "-c", _CHILD_CODE, os.fspath(source), os.fspath(root), result_path]
        if overwrite:
            argv.append("--overwrite")
        env = dict(os.environ)
        env[_SYSPATH_ENV] = json.dumps([p for p in sys.path if isinstance(p, str)])
        inherit = _stderr_is_fd2()
        # The child's summary and progress go to stderr: stdout belongs to the caller.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=2 if inherit else subprocess.PIPE,
            stderr=None if inherit else subprocess.STDOUT,
            env=env,
        )
        with proc:  # closes the pipe
            try:
                if proc.stdout is not None:
                    # A notebook's sys.stderr is not file descriptor 2: relay the child's lines.
                    for line in iter(proc.stdout.readline, b""):
                        sys.stderr.write(line.decode("utf-8", "replace"))
                rc = proc.wait()
            except BaseException:
                # Interrupted while waiting. A Ctrl-C at a terminal reached the child too (one
                # process group) and it is cleaning up: give it a moment before asking it to
                # stop, so that a second signal does not cut its clean-up short.
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(OSError):
                        proc.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=60)
                _remove_leftovers(root)
                raise
        if rc != 0:
            # Killed by a signal (SIGKILL, the OOM killer) or interrupted: a temp directory may
            # stay behind (nobody else is converting into root: this process holds the lock).
            _remove_leftovers(root)
        _raise_child_error(rc, result_path, source)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(result_path)


def _remove_leftovers(root: Path) -> None:
    """Remove temp/backup directories a dead conversion into ``root`` left beside it."""
    from .converters.pipeline import remove_stale_siblings

    with contextlib.suppress(OSError):
        remove_stale_siblings(Path(os.path.abspath(root)))


def _raise_child_error(rc: int, result_path: str, source: Path) -> None:
    if rc == 0:
        return
    if rc == 130:
        raise KeyboardInterrupt
    try:
        with open(result_path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        report = None
    if not isinstance(report, dict) or "type" not in report:
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        msg = f"converting {str(source)!r} failed: the converter process {how}; run `nasbench-convert {source} OUT_DIR` to see why"
        raise ConversionError(msg, source=str(source))
    cls = _ERRORS.get(report["type"], ConversionError)
    message = str(report.get("message", ""))
    if issubclass(cls, ConversionError):
        raise cls(
            report.get("reason", message),
            source=report.get("source"),
            record_index=report.get("record_index"),
            byte_offset=report.get("byte_offset"),
        )
    raise cls(message)


def _stderr_is_fd2() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, OSError, ValueError):
        return False


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def _child_main(argv: list[str]) -> int:
    """Entry point of the child: ``SOURCE ROOT RESULT_JSON [--overwrite]``; returns the exit status."""
    _die_with_parent()
    signal.signal(signal.SIGTERM, _on_sigterm)
    source, root, result_path = argv[:3]
    overwrite = "--overwrite" in argv[3:]
    from .converters import convert
    from .converters.cli import ProgressLine

    progress = ProgressLine(sys.stderr) if _stderr_is_terminal() else None
    try:
        convert(source, root, overwrite=overwrite, progress=progress)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        return 130
    except (NASBenchError, OSError, ValueError) as exc:
        if progress is not None:
            progress.close()
        report: dict = {"type": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, ConversionError):
            report.update(
                reason=getattr(exc, "reason", str(exc)),
                source=getattr(exc, "source", None),
                record_index=getattr(exc, "record_index", None),
                byte_offset=getattr(exc, "byte_offset", None),
            )
        with open(result_path, "w", encoding="utf-8") as f:
            json.dump(report, f)
        return 1
    if progress is not None:
        progress.close()
    return 0
