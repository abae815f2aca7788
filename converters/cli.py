"""``nasbench-convert SOURCE OUT_DIR``: the converter's command line.

Exit status: 0 when a complete, verified dataset is in place; 1 for bad
input data or an unusable output path (one line on stderr, starting
``nasbench-convert: error:``); 2 for usage errors; 130 when interrupted.
In every non-zero case OUT_DIR is left as it was, except an interrupt that
comes once the new dataset is in place, which the message then says.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from nasbench_arrow.errors import ConversionError, DatasetExistsError, NASBenchError

__all__ = ["ProgressLine", "build_parser", "main"]

PROG = "nasbench-convert"


def _mb(n: float) -> str:
    if n < 1e6:
        return f"{n / 1e3:,.1f} kB"
    return f"{n / 1e6:,.0f} MB"


class ProgressLine:
    """A one-line progress display on a terminal (records/s, MB, ETA), redrawn in place.

    Parameters
    ----------
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    """

    def __init__(self, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self._width = 0
        self._last = 0.0

    def __call__(self, p) -> None:
        now = time.perf_counter()
        if p.phase not in ("done", "index") and now - self._last < 0.1:
            return
        self._last = now
        if p.phase == "read":
            frac = p.bytes_done / p.bytes_total if p.bytes_total else 0.0
            rate = p.records / p.elapsed if p.elapsed > 0 else 0.0
            mbps = p.bytes_done / 1e6 / p.elapsed if p.elapsed > 0 else 0.0
            eta = (p.elapsed / frac - p.elapsed) if frac > 0.01 else None
            text = (
                f"reading {frac:6.1%}  {p.bytes_done / 1e6:,.0f}/{_mb(p.bytes_total)}  "
                f"{p.records:,} records  {rate:,.0f} records/s  {mbps:,.0f} MB/s"
                + (f"  ETA {eta:,.0f} s" if eta is not None else "")
            )
        elif p.phase == "write":
            text = f"writing Parquet buckets {p.buckets_done}/16  ({p.records:,} records read)"
        elif p.phase == "index":
            text = "writing the query index and manifest"
        else:
            text = f"done in {p.elapsed:,.1f} s"
        pad = max(self._width - len(text), 0)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _sha256_arg(text: str) -> str:
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        msg = f"expected 64 hex digits, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _workers_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nasbench-convert``."""
    p = _Parser(
        prog=PROG,
        description=(
            "Convert an official NAS-Bench-101 tfrecord (nasbench_full.tfrecord or "
            "nasbench_only108.tfrecord) into a nasbench-arrow dataset directory: partitioned "
            "Parquet, a query index and a manifest. Nothing is written to OUT_DIR unless the "
            "whole conversion succeeds."
        ),
    )
    p.add_argument("source", metavar="SOURCE", help="the .tfrecord file to convert")
    p.add_argument("out_dir", metavar="OUT_DIR", help="dataset directory to create")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing dataset at OUT_DIR (only once the new one is complete)",
    )
    p.add_argument(
        "--delete-foreign",
        action="store_true",
        help=(
            "with --overwrite: also delete files in OUT_DIR that are not part of the dataset "
            "(without it such files make the replacement refuse; the source is never deleted)"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress display and no summary")
    p.add_argument(
        "--expect-sha256",
        metavar="HEX",
        type=_sha256_arg,
        help="fail unless the source's SHA256 is HEX (the published files are recognised anyway)",
    )
    p.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="accept cells that lack a budget or have fewer than 3 repeats",
    )
    p.add_argument(
        "--workers",
        metavar="N",
        type=_workers_arg,
        help="worker processes (default: usable CPUs, at most 4; 1 for small files)",
    )
    return p


def _summary(manifest, out_dir: str, seconds: float) -> str:
    c = manifest.counts
    src = manifest.source
    size = sum(f["size"] for f in manifest.files.values())
    if src.get("published"):
        check = f"SHA256 matches the published {src['published']}"
    else:
        check = f"SHA256 {src['sha256']}"
    epochs = "/".join(str(e) for e in c["epochs"])
    lines = [
        f"converted {src['name']} ({_mb(src['size'])}, {check})",
        f"  {c['records']:,} records -> {c['cells']:,} cells, {c['runs']:,} runs, "
        f"epochs {epochs}, {c['repeats']} repeats"
        + ("" if c.get("complete", True) else " (incomplete)"),
        (
            f"  {seconds:,.1f} s, {src['size'] / 1e6 / seconds:,.0f} MB/s, "
            f"{c['records'] / seconds:,.0f} records/s"
        ),
        f"  dataset: {out_dir} ({_mb(size)})",
    ]
    return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    """The message of an error as one line (an OSError without its ``[Errno n]`` prefix)."""
    if isinstance(exc, OSError) and type(exc).__str__ is OSError.__str__ and exc.strerror:
        text = exc.strerror + (f": {exc.filename!r}" if exc.filename else "")
    else:
        text = str(exc)
    return " ".join(text.split())


def _on_disk(out_dir: str, source: str, started: float) -> str:
    """What OUT_DIR holds after an interrupt that convert() could not describe itself."""
    import json
    import os
    from datetime import datetime

    from nasbench_arrow import layout

    try:
        with open(os.path.join(out_dir, layout.MANIFEST_NAME), "rb") as f:
            doc = json.loads(f.read(1 << 20))
        created = datetime.fromisoformat(doc["created"]).timestamp()
        ours = doc["source"]["name"] == os.path.basename(source) and created >= started - 1
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return f"{out_dir!r} was left as it was"
    if ours:
        return f"{out_dir!r} holds the new dataset: the conversion had finished when it was interrupted"
    return f"{out_dir!r} still holds the old dataset, unchanged"


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Run ``nasbench-convert``; return the exit status."""
    from .pipeline import ConversionInterrupted, convert

    args = build_parser().parse_args(argv)
    if args.delete_foreign and not args.overwrite:
        build_parser().error("--delete-foreign only makes sense with --overwrite")
    progress = None
    if not args.quiet and sys.stderr.isatty():
        progress = ProgressLine(sys.stderr)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    t0 = time.perf_counter()
    started = time.time()
    try:
        try:
            manifest = convert(
                args.source,
                args.out_dir,
                overwrite=args.overwrite,
                progress=progress,
                expected_sha256=args.expect_sha256,
                allow_incomplete=args.allow_incomplete,
                workers=args.workers,
                delete_foreign=args.delete_foreign,
            )
        finally:
            signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt as exc:
        if progress is not None:
            progress.close()
        if isinstance(exc, ConversionInterrupted):
            where = exc.on_disk
        else:  # before convert() took charge, or just as it returned: look
            where = _on_disk(args.out_dir, args.source, started)
        print(f"{PROG}: interrupted; {where}", file=sys.stderr)
        return 130
    except (ConversionError, DatasetExistsError, NASBenchError, OSError, ValueError) as exc:
        if progress is not None:
            progress.close()
        message = getattr(exc, "cli_message", None) or _one_line(exc)
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    for note in manifest.extra.get("warnings", []):
        print(f"{PROG}: warning: {note}", file=sys.stderr)
    if not args.quiet:
        print(_summary(manifest, args.out_dir, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
