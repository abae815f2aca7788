"""Coverage-guided fuzzing of the byte decoders with atheris (optional; not run in CI).

Targets: ``tfrecord`` (framing reader), ``payload`` (``records.parse_payload``),
``metrics`` (``records.decode_metrics``). Each input must give a result or the
library's typed error; any other exception, a hang or a crash is a finding
that atheris saves as ``crash-*`` in the working directory.

Usage (atheris needs a CPython it has wheels for; ``pip install atheris``)::

    python tests/fuzz/atheris_fuzz.py tfrecord -runs=200000
    python tests/fuzz/atheris_fuzz.py payload -runs=200000 -max_len=4096
    python tests/fuzz/atheris_fuzz.py metrics -runs=200000 -timeout=5 -rss_limit_mb=512

``-rss_limit_mb`` makes an input that allocates from a bogus length a finding too.
Seeds: the genuine record in ``../shared/realdata`` is added to the corpus
when present (pass a corpus directory as a further argument to keep one).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from nasbench_arrow import records, tfrecord
    from nasbench_arrow.errors import ConversionError

_BLOCK_SIZES = (1, 7, 12, 16, 64, 4096, 1 << 20)


def fuzz_tfrecord(data: bytes) -> None:
    if not data:
        return
    block_size = _BLOCK_SIZES[data[0] % len(_BLOCK_SIZES)]
    verify_crc = bool(data[0] & 0x80)
    try:
        for _ in tfrecord.iter_payloads(io.BytesIO(data[1:]), verify_crc=verify_crc, block_size=block_size):
            pass
    except ConversionError:
        pass


def fuzz_payload(data: bytes) -> None:
    try:
        records.parse_payload(data, record_index=0, byte_offset=0)
    except ConversionError:
        pass


def fuzz_metrics(data: bytes) -> None:
    try:
        records.decode_metrics(data)
    except ConversionError:
        pass


TARGETS = {"tfrecord": fuzz_tfrecord, "payload": fuzz_payload, "metrics": fuzz_metrics}


def _seed_corpus(target: str) -> Path | None:
    """A corpus directory with the genuine record (as framing, payload or metrics)."""
    real = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "nasbench_rs_record_00005c14_e4.tfrecord"
    if not real.is_file():
        return None
    raw = real.read_bytes()
    corpus = Path("atheris-corpus") / target
    corpus.mkdir(parents=True, exist_ok=True)
    _, _, payload = next(tfrecord.iter_payloads(real))
    seed = {
        "tfrecord": b"\x85" + raw,
        "payload": payload,
        "metrics": records.encode_metrics(records.parse_payload(payload).metrics),
    }[target]
    (corpus / "seed").write_bytes(seed)
    return corpus


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [corpus dirs]")
    target = sys.argv.pop(1)
    corpus = _seed_corpus(target)
    if corpus is not None and not any(not a.startswith("-") for a in sys.argv[1:]):
        sys.argv.append(str(corpus))
    atheris.Setup(sys.argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
