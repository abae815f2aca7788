"""Fuzzing the three decoders of untrusted bytes: TFRecord framing, payload rows, ModelMetrics.

Every input, random or a mutated valid one, must give a result or the
library's typed error (``TFRecordError`` / ``ConversionError``): never
another exception type, never a hang (each test has a timeout), and never an
allocation sized by a length field read from the input.

The TFRecord reader is also checked differentially against the small
independent reader below (plain ``struct`` + the ``crc32c`` package): both
must agree on every input about the payloads, whether it fails, and which
record (index and byte offset) is bad.

Volume: ``NASBENCH_FUZZ_EXAMPLES`` examples per test (default 300, which
keeps this file well under a minute); raise it for a long run, e.g.
``NASBENCH_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py --hypothesis-show-statistics``.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import struct
import tracemalloc

import crc32c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasbench_arrow import records
from nasbench_arrow.constants import AVAILABLE_OPS, INPUT, OUTPUT, VALID_EPOCHS
from nasbench_arrow.errors import ConversionError, TFRecordError
from nasbench_arrow.tfrecord import iter_payload_blocks, iter_payloads, write_tfrecord

FUZZ_EXAMPLES = int(os.environ.get("NASBENCH_FUZZ_EXAMPLES", "300"))
# Seconds per test: generous for the default volume on a loaded 2-core machine,
# scaled with the volume so a long run is not cut short.
TIMEOUT = max(120, FUZZ_EXAMPLES // 20)

fuzz = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# --------------------------------------------------------------------------- independent reference reader


def _masked(data: bytes) -> int:
    c = crc32c.crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class _RefError(Exception):
    def __init__(self, index: int, offset: int):
        super().__init__(index, offset)
        self.index, self.offset = index, offset


def _reference_read(data: bytes, verify_crc: bool = True) -> tuple[list[bytes], _RefError | None]:
    """Payloads of a TFRecord byte string, and the first framing error (index, offset) if any."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        err = _RefError(len(out), pos)
        if len(data) - pos < 12:
            return out, err
        (length,) = struct.unpack_from("<Q", data, pos)
        (length_crc,) = struct.unpack_from("<I", data, pos + 8)
        if verify_crc and _masked(data[pos : pos + 8]) != length_crc:
            return out, err
        end = pos + 12 + length
        if end + 4 > len(data):
            return out, err
        payload = data[pos + 12 : end]
        (payload_crc,) = struct.unpack_from("<I", data, end)
        if verify_crc and _masked(payload) != payload_crc:
            return out, err
        out.append(payload)
        pos = end + 4
    return out, None


def _frame(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", _masked(length)) + payload + struct.pack("<I", _masked(payload))


# --------------------------------------------------------------------------- sources


class _Stream(io.RawIOBase):
    """A non-seekable binary stream that hands out at most ``chunk`` bytes per read (like a pipe)."""

    def __init__(self, data: bytes, chunk: int):
        self._data, self._pos, self._chunk = data, 0, max(1, chunk)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._chunk if n is None or n < 0 else min(n, self._chunk)
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def _read_all(data: bytes, kind: str, block_size: int, verify_crc: bool, tmp_path=None):
    """Run our reader over ``data``; return (payloads, error or None)."""
    if kind == "bytesio":
        source = io.BytesIO(data)
    elif kind == "stream":
        source = _Stream(data, chunk=max(1, block_size // 3))
    else:
        source = tmp_path / "fuzz.tfrecord"
        source.write_bytes(data)
    out: list[tuple[int, int, bytes]] = []
    try:
        # A loop, not list(): the records yielded before an error are part of the answer.
        for item in iter_payloads(source, verify_crc=verify_crc, block_size=block_size):
            out.append(item)  # noqa: PERF402
    except TFRecordError as exc:
        return out, exc
    return out, None


def _check_agrees(data: bytes, kind: str, block_size: int, verify_crc: bool, tmp_path=None) -> None:
    got, err = _read_all(data, kind, block_size, verify_crc, tmp_path)
    want, want_err = _reference_read(data, verify_crc)
    assert [p for _, _, p in got] == want
    assert [i for i, _, _ in got] == list(range(len(want)))
    # byte offsets of the records
    offsets, pos = [], 0
    for p in want:
        offsets.append(pos)
        pos += len(p) + 16
    assert [o for _, o, _ in got] == offsets
    if want_err is None:
        assert err is None
    else:
        assert err is not None, "the reference reader found a framing error, ours did not"
        assert err.record_index == want_err.index
        assert err.byte_offset == want_err.offset


block_sizes = st.sampled_from([1, 5, 12, 16, 17, 64, 1000, 1 << 16, 1 << 24])
kinds = st.sampled_from(["bytesio", "stream", "path"])
payload_lists = st.lists(st.binary(max_size=200), max_size=8)


@st.composite
def mutated_files(draw):
    """A valid TFRecord byte string, then a few random mutations of it."""
    data = bytearray(b"".join(_frame(p) for p in draw(payload_lists)))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "huge-length", "set-length"]))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate" and n:
            del data[draw(st.integers(0, n - 1)) :]
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=20))
        elif op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            del data[i : i + draw(st.integers(1, 20))]
        elif op in ("huge-length", "set-length") and n >= 12:
            # Rewrite a length field (at a record boundary or anywhere) with a
            # matching CRC, so only the size check can stop the reader.
            i = draw(st.integers(0, n - 12))
            length = (
                draw(st.integers(1 << 32, (1 << 64) - 1)) if op == "huge-length" else draw(st.integers(0, 1 << 20))
            )
            head = struct.pack("<Q", length)
            data[i : i + 12] = head + struct.pack("<I", _masked(head))
    return bytes(data)


# --------------------------------------------------------------------------- TFRecord reader


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(data=st.binary(max_size=600), kind=kinds, block_size=block_sizes, verify_crc=st.booleans())
def test_tfrecord_random_bytes_match_reference(tmp_path_factory, data, kind, block_size, verify_crc):
    """Random bytes: our reader and the reference agree on payloads and on the bad record."""
    _check_agrees(data, kind, block_size, verify_crc, tmp_path_factory.mktemp("f") if kind == "path" else None)


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(data=mutated_files(), kind=kinds, block_size=block_sizes, verify_crc=st.booleans())
def test_tfrecord_mutated_files_match_reference(tmp_path_factory, data, kind, block_size, verify_crc):
    """Mutated valid files (bit flips, truncation, insertion, deletion, rewritten lengths) agree with the reference."""
    _check_agrees(data, kind, block_size, verify_crc, tmp_path_factory.mktemp("f") if kind == "path" else None)


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(payloads=payload_lists, block_size=block_sizes)
def test_tfrecord_blocks_equal_records(payloads, block_size):
    """The block reader yields the same payloads, indices and offsets as the record reader."""
    buf = io.BytesIO()
    write_tfrecord(buf, payloads)
    data = buf.getvalue()
    flat = []
    for block in iter_payload_blocks(io.BytesIO(data), block_size=block_size):
        flat.extend(block)
    assert flat == list(iter_payloads(io.BytesIO(data), block_size=block_size))
    assert [p for _, _, p in flat] == payloads


def _huge_record_file(length: int, prefix_records: int = 2, tail: bytes = b"x" * 100) -> bytes:
    good = b"".join(_frame(b"ok %d" % i) for i in range(prefix_records))
    head = struct.pack("<Q", length)
    return good + head + struct.pack("<I", _masked(head)) + tail


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["path", "bytesio", "stream"])
@pytest.mark.parametrize("verify_crc", [True, False])
@pytest.mark.parametrize("length", [1 << 31, 1 << 40, (1 << 64) - 1])
def test_tfrecord_huge_length_does_not_allocate(tmp_path, kind, verify_crc, length):
    """A length field claiming up to 2**64 bytes is a TFRecordError after the good records, with < 64 MiB allocated."""
    data = _huge_record_file(length)
    tracemalloc.start()
    try:
        got, err = _read_all(data, kind, 1 << 24, verify_crc, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p for _, _, p in got] == [b"ok 0", b"ok 1"]
    assert isinstance(err, TFRecordError)
    assert err.record_index == 2
    assert err.byte_offset == 2 * (16 + 4)
    # One read block (16 MiB) may be allocated; gigabytes never.
    assert peak < 64 << 20, f"peak allocation {peak / 2**20:.1f} MiB"


@pytest.mark.timeout(60)
def test_tfrecord_errors_are_conversion_errors(tmp_path):
    """Framing errors carry the source path and are ConversionError and ValueError too."""
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(_huge_record_file(1 << 40))
    with pytest.raises(TFRecordError) as info:
        list(iter_payloads(path))
    assert isinstance(info.value, ConversionError)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- payload rows

doubles = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def model_metrics(draw, min_evals=0, max_evals=5):
    evals = tuple(
        records.EvaluationData(*draw(st.tuples(doubles, doubles, doubles, doubles, doubles)),
                               draw(st.sampled_from(["", "", "ckpt/model-12", "é/∂"])))
        for _ in range(draw(st.integers(min_evals, max_evals)))
    )
    return records.ModelMetrics(evals, draw(st.integers(-(2**31), 2**31 - 1)), draw(doubles))


@st.composite
def valid_payloads(draw):
    """A payload in the official style for a random (not necessarily canonical) cell."""
    v = draw(st.integers(2, 7))
    bits = [[int(j > i and draw(st.booleans())) for j in range(v)] for i in range(v)]
    ops = [INPUT, *draw(st.lists(st.sampled_from(AVAILABLE_OPS), min_size=v - 2, max_size=v - 2)), OUTPUT]
    h = draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    epochs = draw(st.sampled_from(VALID_EPOCHS))
    return records.format_payload(h, epochs, bits, ops, draw(model_metrics(min_evals=3, max_evals=4)))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_payloads(draw):
    """A valid payload mutated at the byte, JSON-field or protobuf level."""
    payload = bytearray(draw(valid_payloads()))
    level = draw(st.sampled_from(["bytes", "field", "count", "metrics", "base64"]))
    if level == "bytes":
        for _ in range(draw(st.integers(1, 4))):
            n = len(payload)
            op = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
            i = draw(st.integers(0, n - 1))
            if op == "flip":
                payload[i] ^= 1 << draw(st.integers(0, 7))
            elif op == "truncate":
                del payload[i:]
            elif op == "insert":
                payload[i:i] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\\n", b'"', b"\\u00e9", b"\\"]))
            else:
                del payload[i : i + draw(st.integers(1, 8))]
            if not payload:
                break
        return bytes(payload)
    fields = json.loads(payload)
    if level == "field":
        fields[draw(st.integers(0, 4))] = draw(_JSON_VALUES)
    elif level == "count":
        if draw(st.booleans()) and fields:
            del fields[draw(st.integers(0, len(fields) - 1))]
        else:
            fields.insert(draw(st.integers(0, len(fields))), draw(_JSON_VALUES))
    elif level == "metrics":
        raw = bytearray(base64.b64decode(fields[4]))
        for _ in range(draw(st.integers(1, 3))):
            if not raw:
                break
            i = draw(st.integers(0, len(raw) - 1))
            op = draw(st.sampled_from(["flip", "truncate", "insert"]))
            if op == "flip":
                raw[i] ^= 1 << draw(st.integers(0, 7))
            elif op == "truncate":
                del raw[i:]
            else:
                raw[i:i] = draw(st.binary(min_size=1, max_size=6))
        fields[4] = base64.encodebytes(bytes(raw)).decode()
    else:  # base64 text damage
        text = fields[4]
        i = draw(st.integers(0, max(0, len(text) - 1)))
        fields[4] = text[:i] + draw(st.sampled_from(["=", "==", "*", " ", "\n\n", "é", "", "A"])) + text[i + 1 :]
    return json.dumps(fields).encode()


def _bits(x):
    """Floats compared by bit pattern (NaN payloads and -0.0 included)."""
    if isinstance(x, float):
        return struct.pack("<d", x)
    if isinstance(x, (tuple, list)):
        return type(x)(_bits(v) for v in x)
    if isinstance(x, records.EvaluationData):
        return _bits(tuple(x.__dict__.values()))
    if isinstance(x, records.ModelMetrics):
        return (_bits(x.evaluation_data), x.trainable_parameters, _bits(x.total_time))
    return x


def _flat_values(m: records.ModelMetrics) -> tuple:
    flat = []
    for e in m.evaluation_data[:3]:
        flat += [e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy, e.test_accuracy]
    return (*flat, m.trainable_parameters, m.total_time)


def _check_payload(payload: bytes) -> str:
    """parse_payload on bytes (fast path) and bytearray (JSON path), and parse_payload_values: all agree."""
    outcomes = []
    for variant in (payload, bytearray(payload), memoryview(payload)):
        try:
            outcomes.append(records.parse_payload(variant, record_index=7, byte_offset=99))
        except ConversionError as exc:
            assert exc.record_index == 7 and exc.byte_offset == 99
            outcomes.append(None)
    try:
        values = records.parse_payload_values(payload, record_index=7, byte_offset=99)
    except ConversionError:
        values = None
    first = outcomes[0]
    for other in outcomes[1:]:
        assert (first is None) == (other is None), (payload, outcomes)
        if first is not None:
            assert first[:4] == other[:4] and _bits(first.metrics) == _bits(other.metrics)
    assert (values is None) == (first is None)
    if first is not None:
        assert values[:4] == tuple(first[:4])
        assert _bits(values[4]) == _bits(_flat_values(first.metrics))
        # What was accepted is what a plain json/base64 reading says.
        fields = json.loads(bytes(payload).decode("utf-8"))
        assert fields[:4] == [first.module_hash, first.epochs, first.adjacency, first.operations]
        assert math.isqrt(len(first.adjacency)) ** 2 == len(first.adjacency)
        return "ok"
    return "error"


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(payload=st.binary(max_size=400))
def test_parse_payload_random_bytes(payload):
    """Random bytes: a Row or a ConversionError carrying the record location, on every code path."""
    _check_payload(payload)


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(payload=valid_payloads())
def test_parse_payload_valid_round_trip(payload):
    """Generated official-style payloads parse, identically on the fast and the JSON path."""
    assert _check_payload(payload) == "ok"


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(payload=mutated_payloads())
def test_parse_payload_mutated(payload):
    """Mutated payloads (bytes, JSON fields, field count, protobuf, base64): a Row or a ConversionError."""
    _check_payload(payload)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000,
        b'["' + b"0" * 32 + b'", 4, "0100", "input,output", ' + b"[" * 100_000 + b"]" * 100_000 + b"]",
    ],
    ids=["array", "object", "nested-field"],
)
def test_parse_payload_deeply_nested_json_regression(payload):
    """Regression: JSON nested 50,000 deep is a ConversionError, not a RecursionError."""
    with pytest.raises(ConversionError):
        records.parse_payload(payload)


# --------------------------------------------------------------------------- ModelMetrics wire decoder


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


@st.composite
def wire_values(draw, field: int, depth: int = 0):
    """One field of any wire type with a plausible (or deliberately broken) value."""
    wire = draw(st.sampled_from([0, 1, 2, 5] + ([3] if depth < 3 else [])))
    if wire == 0:
        return _tag(field, 0) + _varint(draw(st.integers(0, (1 << 64) - 1)))
    if wire == 1:
        return _tag(field, 1) + draw(st.binary(min_size=8, max_size=8))
    if wire == 5:
        return _tag(field, 5) + draw(st.binary(min_size=4, max_size=4))
    if wire == 2:
        body = draw(st.binary(max_size=30))
        return _tag(field, 2) + _varint(len(body)) + body
    inner = b"".join(draw(st.lists(wire_values(draw(st.integers(1, 40)), depth + 1), max_size=3)))
    return _tag(field, 3) + inner + _tag(field, 4)


@st.composite
def evaluation_wire(draw):
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        f = draw(st.integers(1, 9))
        if f <= 5 and draw(st.integers(0, 9)):
            parts.append(_tag(f, 1) + struct.pack("<d", draw(doubles)))
        elif f == 6 and draw(st.integers(0, 9)):
            s = draw(st.sampled_from([b"", b"ckpt", "é".encode(), b"\xff\xfe"]))
            parts.append(_tag(6, 2) + _varint(len(s)) + s)
        else:
            parts.append(draw(wire_values(f)))
    return b"".join(parts)


@st.composite
def metrics_wire(draw):
    """Structured ModelMetrics wire data: known fields (right or wrong wire type), unknown fields, groups."""
    parts = []
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.sampled_from(["eval", "eval", "eval", "params", "time", "unknown", "wrong"]))
        if kind == "eval":
            body = draw(evaluation_wire())
            parts.append(_tag(1, 2) + _varint(len(body)) + body)
        elif kind == "params":
            parts.append(_tag(2, 0) + _varint(draw(st.integers(-(2**63), 2**64 - 1))))
        elif kind == "time":
            parts.append(_tag(3, 1) + struct.pack("<d", draw(doubles)))
        elif kind == "unknown":
            parts.append(draw(wire_values(draw(st.integers(4, 2**29 - 1)))))
        else:
            parts.append(draw(wire_values(draw(st.integers(1, 3)))))
    data = bytearray(b"".join(parts))
    if data and draw(st.integers(0, 3)) == 0:  # sometimes damage the bytes as well
        i = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[i] ^= 1 << draw(st.integers(0, 7))
        else:
            del data[i:]
    return bytes(data)


def _protobuf_view(raw: bytes):
    """(evaluations, params, total_time) as the protobuf runtime parses raw, or None when it refuses."""
    reference_loader = pytest.importorskip("reference_loader")
    pytest.importorskip("google.protobuf")
    from google.protobuf.message import DecodeError

    try:
        m = reference_loader.decode_model_metrics(raw)
    except DecodeError:
        return None
    evals = tuple(
        records.EvaluationData(e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy,
                               e.test_accuracy, e.checkpoint_path)
        for e in m.evaluation_data
    )
    return records.ModelMetrics(evals, m.trainable_parameters, m.total_time)


def _check_metrics(raw: bytes, differential: bool = True) -> None:
    try:
        ours = records.decode_metrics(raw)
        error = None
    except ConversionError as exc:
        ours, error = None, exc
    try:
        values = records.decode_metrics_values(raw)
    except ConversionError:
        values = None
    if ours is None or len(ours.evaluation_data) < 3:
        assert values is None
    else:
        assert _bits(values) == _bits(_flat_values(ours))
        # Canonical re-encoding decodes to the same metrics.
        assert _bits(records.decode_metrics(records.encode_metrics(ours))) == _bits(ours)
    if not differential:
        return
    theirs = _protobuf_view(raw)
    if theirs is None:
        assert ours is None, "accepted wire data that protobuf refuses"
    elif ours is None:
        # Documented differences: a known field with the wrong wire type, or a
        # checkpoint path that is not UTF-8, are errors here (corruption in this data).
        assert "wire type" in error.reason or "UTF-8" in error.reason, error.reason
    else:
        assert _bits(ours) == _bits(theirs)


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(raw=st.binary(max_size=300))
def test_decode_metrics_random_bytes(raw):
    """Random wire bytes: decoded as protobuf decodes them, or a ConversionError."""
    _check_metrics(raw)


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(raw=metrics_wire())
def test_decode_metrics_structured(raw):
    """Structured wire data (any field order, unknown fields, groups, wrong wire types): agrees with protobuf."""
    _check_metrics(raw)


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(m=model_metrics(), data=st.data())
def test_decode_metrics_mutated_canonical(m, data):
    """Canonical encodings round-trip; after a bit flip or cut they still decode like protobuf or fail typed."""
    raw = records.encode_metrics(m)
    assert _bits(records.decode_metrics(raw)) == _bits(m)
    if raw:
        buf = bytearray(raw)
        i = data.draw(st.integers(0, len(buf) - 1))
        if data.draw(st.booleans()):
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        else:
            del buf[i:]
        _check_metrics(bytes(buf))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [50, 100, 101, 5_000, 100_000])
def test_decode_metrics_nested_groups_regression(depth):
    """Regression: unknown groups nested deeply give protobuf's answer or a ConversionError, never RecursionError."""
    raw = _tag(4, 3) * depth + _tag(4, 4) * depth
    _check_metrics(raw)
    _check_metrics(_tag(4, 3) * depth)  # unterminated


@pytest.mark.timeout(60)
def test_decode_metrics_huge_lengths_do_not_allocate():
    """Length prefixes claiming up to 2**64 bytes are a ConversionError with < 1 MiB allocated."""
    cases = [
        _tag(1, 2) + _varint(2**63),  # evaluation_data message
        _tag(9, 2) + _varint(2**64 - 1),  # unknown length-delimited field
        _tag(1, 2) + _varint(20) + _tag(6, 2) + _varint(2**40),  # checkpoint_path
    ]
    tracemalloc.start()
    try:
        for raw in cases:
            with pytest.raises(ConversionError):
                records.decode_metrics(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# --------------------------------------------------------------------------- the converter's vectorised fast path


@st.composite
def canonical_payloads(draw):
    """Payloads in the exact layout the converter's vectorised path decodes (3 evaluations, no paths)."""
    v = draw(st.integers(2, 7))
    bits = [[int(j > i and draw(st.booleans())) for j in range(v)] for i in range(v)]
    ops = [INPUT, *draw(st.lists(st.sampled_from(AVAILABLE_OPS), min_size=v - 2, max_size=v - 2)), OUTPUT]
    evals = tuple(records.EvaluationData(*draw(st.tuples(doubles, doubles, doubles, doubles, doubles))) for _ in range(3))
    m = records.ModelMetrics(evals, draw(st.integers(-(2**31), 2**31 - 1)), draw(doubles))
    h = draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    return records.format_payload(h, draw(st.sampled_from(VALID_EPOCHS)), bits, ops, m)


_NEAR = b'0123456789abcdefABCDEF+/=",\\n[] xyz'


@st.composite
def near_miss_payloads(draw):
    """A canonical payload with one byte replaced by a plausible one: same length, so offsets still line up."""
    p = bytearray(draw(canonical_payloads()))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(p) - 1))
        p[i] = draw(st.sampled_from(_NEAR)) if draw(st.booleans()) else p[i] ^ (1 << draw(st.integers(0, 7)))
    return bytes(p)


def _block_of(payloads):
    buf = io.BytesIO()
    write_tfrecord(buf, payloads)
    blocks = list(iter_payload_blocks(io.BytesIO(buf.getvalue()), block_size=1 << 24))
    assert len(blocks) == 1
    return blocks[0]


@pytest.mark.timeout(TIMEOUT)
@fuzz
@given(payloads=st.lists(near_miss_payloads() | canonical_payloads() | mutated_payloads(), min_size=1, max_size=12))
def test_converter_fast_path_agrees_with_exact_path(payloads):
    """The converter's vectorised parse of a block equals the exact per-record parse, or fails at the same record."""
    batches = pytest.importorskip("nasbench_arrow.converters.batches")
    block = _block_of(payloads)
    expected, first_bad = [], None
    for i, p in enumerate(payloads):
        try:
            expected.append(batches.exact_values(p, record_index=i))
        except ConversionError:
            if first_bad is None:
                first_bad = i
            expected.append(None)
    try:
        cols = batches.parse_block(block)
    except ConversionError as exc:
        assert first_bad is not None, f"the block parser refused a payload the exact parser accepts: {exc}"
        assert exc.record_index == first_bad
        return
    assert first_bad is None, f"the block parser accepted payload {first_bad}, which the exact parser refuses"
    for i, want in enumerate(expected):
        for name, value in want.items():
            got = cols[name][:, i] if name == "metrics" else cols[name][i]
            if name == "metrics":
                assert _bits([float(x) for x in got]) == _bits([float(x) for x in value]), (i, name)
            else:
                assert int(got) == int(value), (i, name, got, value)


@pytest.mark.parametrize(
    "raw",
    [
        bytes.fromhex("b580808010") + bytes(4),  # field number 2**29 + 6: above protobuf's maximum
        _tag((1 << 29), 5) + bytes(4),  # field number 2**29
        bytes.fromhex("b58080808000") + bytes(4),  # a 6-byte tag (value 0x35, padded)
    ],
    ids=["field-2^29+6", "field-2^29", "6-byte-tag"],
)
def test_decode_metrics_invalid_tags_regression(raw):
    """Regression (found by fuzzing): tags protobuf refuses (field > 2**29 - 1, tag > 5 bytes) are refused too."""
    assert _protobuf_view(raw) is None
    with pytest.raises(ConversionError):
        records.decode_metrics(raw)


@pytest.mark.parametrize(
    "tail", ["AAAA=", "AAAA==", "AAAAAAAA=", "AAAA===="], ids=["one-surplus", "two-surplus", "eight+1", "four-surplus"]
)
def test_parse_payload_surplus_base64_padding_regression(tail):
    """Regression (found by fuzzing): surplus '=' after a complete base64 quantum is refused on every path alike."""
    good = records.format_payload("0" * 32, 4, [[0, 1], [0, 0]], [INPUT, OUTPUT],
                                  records.ModelMetrics((records.EvaluationData(),) * 3, 1, 2.0))
    fields = json.loads(good)
    fields[4] = fields[4].rstrip("\n") + "\n" + tail  # a complete encoding, then a surplus quantum
    assert _check_payload(json.dumps(fields).encode()) == "error"
