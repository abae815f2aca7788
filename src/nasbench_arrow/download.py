"""``nasbench-download {full,only108} [DIR]``: fetch an official NAS-Bench-101 file, verified.

The two published files (URLs and SHA-256 from the original README; the checksums
are the ones :data:`nasbench_arrow.constants.PUBLISHED_FILES` recognises)::

    full      https://storage.googleapis.com/nasbench/nasbench_full.tfrecord     ~1.95 GB
    only108   https://storage.googleapis.com/nasbench/nasbench_only108.tfrecord  ~499 MB

How the download behaves:

- **Streamed** in 1 MiB chunks; memory stays flat. A progress line (percent,
  MB, MB/s, time left) is drawn on stderr when it is a terminal.
- **Atomic**: bytes go to ``DIR/<name>.part``; only when the whole file is
  there *and* its SHA-256 equals the published one is it renamed to
  ``DIR/<name>``. The final name never holds a partial or wrong file.
- **Resumable**: an existing ``.part`` is continued with an HTTP ``Range``
  request (its bytes are hashed from disk first); a connection that drops
  mid-way is retried from where it stopped (``--retries``), and after Ctrl-C
  or a failure the next run continues. A server that ignores ``Range``
  (answers 200) makes the download start over, correctly.
- **Checked**: a SHA-256 mismatch deletes the ``.part`` (its bytes cannot be
  trusted to resume from) and exits 1.
- **Clear errors**: offline, DNS failure, HTTP errors, a full disk give one
  line ``nasbench-download: error: ...`` and exit 1; Ctrl-C exits 130.

For tests and mirrors the source can be changed: ``--url URL`` (one file),
or ``$NASBENCH_DOWNLOAD_BASE_URL`` (a folder holding both names);
``--expect-sha256 HEX`` replaces the published checksum.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._version import __version__
from .constants import PUBLISHED_FILES
from .errors import NASBenchError

__all__ = [
    "BASE_URL",
    "FILES",
    "DownloadError",
    "OfficialFile",
    "download",
    "main",
]

_PROG = "nasbench-download"
#: Where the original README says the files are.
BASE_URL = "https://storage.googleapis.com/nasbench/"
#: Environment variable naming another folder URL holding the same file names.
BASE_URL_ENV = "NASBENCH_DOWNLOAD_BASE_URL"
_CHUNK = 1 << 20  # bytes per read: large enough for full speed, small enough to stop promptly


class DownloadError(NASBenchError, OSError):
    """A download failed (network, HTTP status, disk, or a checksum mismatch)."""


@dataclass(frozen=True)
class OfficialFile:
    """One downloadable official file.

    Attributes
    ----------
    key : str
        Command-line name (``full`` or ``only108``).
    name : str
        File name as published.
    sha256 : str
        Published SHA-256 (hex).
    approx_size : str
        Size as the original README states it (exact byte counts are not published).
    """

    key: str
    name: str
    sha256: str
    approx_size: str

    def url(self, base: str | None = None) -> str:
        """Full URL under ``base`` (default ``$NASBENCH_DOWNLOAD_BASE_URL`` or :data:`BASE_URL`)."""
        base = base or os.environ.get(BASE_URL_ENV) or BASE_URL
        return base.rstrip("/") + "/" + self.name


def _official() -> dict[str, OfficialFile]:
    by_name = {f.name: f for f in PUBLISHED_FILES.values()}
    keys = {"full": "nasbench_full.tfrecord", "only108": "nasbench_only108.tfrecord"}
    return {
        k: OfficialFile(k, n, by_name[n].sha256, by_name[n].approx_size) for k, n in keys.items()
    }


#: ``{"full": OfficialFile, "only108": OfficialFile}``.
FILES: dict[str, OfficialFile] = _official()


# --------------------------------------------------------------------------- progress


class _Progress:
    """A one-line progress display on a terminal (nothing otherwise)."""

    def __init__(self, name: str, stream, enabled: bool):
        self.name, self.stream, self.enabled = name, stream, enabled
        self.last = 0.0
        self.start = time.monotonic()
        self.start_bytes: int | None = None

    def __call__(self, done: int, total: int | None, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.start_bytes is None:
            self.start_bytes = done
        if not final and now - self.last < 0.2:
            return
        self.last = now
        rate = (done - self.start_bytes) / max(now - self.start, 1e-6)
        mb = done / 1e6
        if total:
            left = (total - done) / rate if rate > 0 else float("inf")
            eta = f"{left:,.0f} s left" if left != float("inf") else "--"
            text = f"{self.name}  {100 * done / total:5.1f}%  {mb:,.1f}/{total / 1e6:,.1f} MB  {rate / 1e6:.1f} MB/s  {eta}"
        else:
            text = f"{self.name}  {mb:,.1f} MB  {rate / 1e6:.1f} MB/s"
        self.stream.write("\r" + text.ljust(78) + ("\n" if final else ""))
        self.stream.flush()


# --------------------------------------------------------------------------- download


def _hash_file(path: Path, h) -> int:
    """Feed ``path``'s bytes into ``h``; return its size."""
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return n


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _describe(exc: BaseException, url: str) -> str:
    """One line for a network failure, naming the host."""
    host = urllib.parse.urlsplit(url).netloc or url
    if isinstance(exc, urllib.error.HTTPError):
        return f"{url}: HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, socket.gaierror):
        return (
            f"cannot resolve {host} ({reason.strerror or reason}): are you offline? "
            f"Check the network, or download {url} by other means and pass it to nasbench-convert"
        )
    if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
        return f"no answer from {host} (timed out): check the network and rerun to resume"
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection: check the URL and the network, then rerun to resume"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return f"cannot download from {host} ({text}): check the network and rerun to resume"


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` of a ``Content-Range: bytes a-b/n`` header (None where absent)."""
    if not value or not value.startswith("bytes "):
        return None, None
    spec = value[6:]
    rng, _, total = spec.partition("/")
    start = rng.split("-", 1)[0]
    try:
        return int(start), (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None, None


def download(
    which: str,
    directory: str | os.PathLike = ".",
    *,
    url: str | None = None,
    sha256: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    progress: Callable[[int, int | None, bool], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download an official file into ``directory``, resumable and SHA-256 checked.

    Parameters
    ----------
    which : {"full", "only108"}
        Which file.
    directory : path, default "."
        Folder to write into (created).
    url : str, optional
        Download from here instead (mirrors, tests).
    sha256 : str, optional
        Expected SHA-256 (hex) instead of the published one.
    retries : int, default 5
        Extra attempts after a dropped or failed connection, each resuming
        where the last stopped (1, 2, 4, ... s apart, at most 30 s).
    timeout : float, default 60
        Seconds without data before a connection counts as failed.
    progress : callable, optional
        ``progress(bytes_done, total_or_None, final)``.
    log : callable, optional
        Receives one-line notes (resuming, retrying).

    Returns
    -------
    pathlib.Path
        ``directory/<name>``, complete and verified.

    Raises
    ------
    DownloadError
        Network or HTTP failure after the retries (the ``.part`` file is kept
        for the next run), a disk error, or a checksum mismatch (the ``.part``
        file is removed).
    ValueError
        Unknown ``which``.
    """
    if which not in FILES:
        msg = f"which must be one of {sorted(FILES)}, got {which!r}"
        raise ValueError(msg)
    spec = FILES[which]
    source = url or spec.url()
    expected = (sha256 or spec.sha256).lower()
    note = log or (lambda _text: None)
    directory = Path(directory)
    final = directory / spec.name
    part = directory / (spec.name + ".part")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create {str(directory)!r}: {exc.strerror or exc}"
        raise DownloadError(msg) from exc

    if final.exists():
        h = hashlib.sha256()
        _hash_file(final, h)
        if h.hexdigest() == expected:
            note(f"{final} is already there and its SHA-256 matches")
            return final
        msg = (
            f"{str(final)!r} exists but its SHA-256 is {h.hexdigest()}, not {expected}: "
            "move it aside (it is not the published file) and rerun"
        )
        raise DownloadError(msg)

    attempt = 0
    while True:
        h = hashlib.sha256()
        have = _hash_file(part, h) if part.exists() else 0
        try:
            done, total, h = _fetch(source, part, have, h, timeout, progress, note)
            break
        except _Restart:
            attempt = 0
            continue
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
        ) as exc:
            permanent = isinstance(exc, urllib.error.HTTPError) and exc.code not in (
                408,
                429,
                500,
                502,
                503,
                504,
            )
            if permanent or attempt >= retries:
                kept = (
                    f"; {part.stat().st_size:,} bytes kept in {part}, rerun to resume"
                    if part.exists() and part.stat().st_size
                    else ""
                )
                raise DownloadError(_describe(exc, source) + kept) from exc
            wait = min(30.0, 2.0**attempt)
            attempt += 1
            note(
                f"connection lost ({_describe(exc, source)}); retry {attempt}/{retries} in {wait:g} s"
            )
            time.sleep(wait)
        except OSError as exc:  # the local disk (full, read-only, ...)
            msg = f"cannot write {str(part)!r}: {exc.strerror or exc}"
            raise DownloadError(msg) from exc

    if total is not None and done != total:  # pragma: no cover - _fetch retries short reads
        msg = f"{source}: got {done:,} of {total:,} bytes"
        raise DownloadError(msg)
    digest = h.hexdigest()
    if digest != expected:
        with contextlib.suppress(OSError):
            part.unlink()
        msg = (
            f"{source}: SHA-256 of the {done:,} bytes downloaded is {digest}, expected {expected}; "
            "the file was deleted (a damaged download or a changed file): rerun to download it again"
        )
        raise DownloadError(msg)
    os.replace(part, final)
    _fsync_dir(directory)
    return final


class _Restart(Exception):
    """The server ignored or refused the range: start again from byte 0."""


def _fetch(source, part: Path, have: int, h, timeout, progress, note):
    """Append ``source``'s bytes from ``have`` to ``part``, hashing them into ``h``.

    Returns ``(size, total or None, hash object)``; the hash object is a new one
    when the server ignored the range and the file started over.
    """
    headers = {"User-Agent": f"nasbench-arrow/{__version__} (nasbench-download)"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(source, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing past our end: either the .part is already complete or it is
            # longer than the file. Start over unless the checksum says it is whole.
            note(f"server has no bytes after {have:,}; checking {part.name}")
            return have, have, h
        raise
    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        start, total = _content_range_start(response.headers.get("Content-Range"))
        if have and status == 206:
            if start != have:
                note(f"server resumed at byte {start}, not {have}: starting over")
                part.unlink()
                raise _Restart
            note(f"resuming {part.name} at {have / 1e6:,.1f} MB")
        elif have:  # 200: the range was ignored; the body is the whole file
            note("server does not support resuming: starting over")
            have = 0
            h = hashlib.sha256()
        if total is None and length is not None:
            total = have + length
        done = have
        with open(part, "ab" if have else "wb") as out:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total, False)
            finally:
                out.flush()
                os.fsync(out.fileno())
        if total is not None and done < total:
            msg = f"connection closed after {done:,} of {total:,} bytes"
            raise ConnectionError(msg)
    if progress:
        progress(done, total, True)
    return done, total, h


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    lines = [f"  {k:<8} {f.name} ({f.approx_size}), SHA-256 {f.sha256}" for k, f in FILES.items()]
    p = argparse.ArgumentParser(
        prog=_PROG,
        description="Download an official NAS-Bench-101 file: streamed, resumable, SHA-256 checked, "
        "renamed into place only when complete and verified.",
        epilog="files:\n" + "\n".join(lines) + f"\n\nfrom {BASE_URL} (or ${BASE_URL_ENV}).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("which", choices=sorted(FILES), help="full (4 budgets) or only108 (108 epochs)")
    p.add_argument(
        "dir", nargs="?", default=".", help="folder to write into (default: current folder)"
    )
    p.add_argument("--url", help="download from this URL instead (a mirror)")
    p.add_argument(
        "--expect-sha256", metavar="HEX", help="expected SHA-256 instead of the published one"
    )
    p.add_argument(
        "--retries",
        type=int,
        default=5,
        help="extra attempts after a dropped connection (default 5)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds without data before retrying (default 60)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line and no summary")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nasbench-download``.

    Returns
    -------
    int
        0 with the verified file in place, 1 on a failure (one line on stderr),
        2 for bad arguments, 130 on Ctrl-C (the ``.part`` file is kept).
    """
    args = _parser().parse_args(argv)
    if args.retries < 0 or args.timeout <= 0:
        print(f"{_PROG}: error: --retries must be >= 0 and --timeout > 0", file=sys.stderr)
        return 2
    if args.expect_sha256 is not None and (
        len(args.expect_sha256) != 64
        or any(c not in "0123456789abcdefABCDEF" for c in args.expect_sha256)
    ):
        print(f"{_PROG}: error: --expect-sha256 must be 64 hex digits", file=sys.stderr)
        return 2
    spec = FILES[args.which]
    bar = _Progress(spec.name, sys.stderr, enabled=not args.quiet and sys.stderr.isatty())

    def log(text: str) -> None:
        if not args.quiet:
            if bar.enabled:
                sys.stderr.write("\r" + " " * 78 + "\r")
            print(f"{_PROG}: {text}", file=sys.stderr, flush=True)

    t = time.monotonic()
    try:
        path = download(
            args.which,
            args.dir,
            url=args.url,
            sha256=args.expect_sha256,
            retries=args.retries,
            timeout=args.timeout,
            progress=bar,
            log=log,
        )
    except KeyboardInterrupt:
        if bar.enabled:
            sys.stderr.write("\n")
        print(f"{_PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (DownloadError, ValueError) as exc:
        if bar.enabled:
            sys.stderr.write("\n")
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        size = path.stat().st_size
        print(f"{path}: {size:,} bytes, SHA-256 verified ({time.monotonic() - t:.1f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
