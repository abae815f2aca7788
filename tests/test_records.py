"""Payload parsing and the ModelMetrics wire format (nasbench_arrow.records).

The protobuf runtime, with ``ModelMetrics`` built from a descriptor made in
code (no generated ``_pb2`` module), is the reference for the decoder and
the encoder.
"""

from __future__ import annotations

import base64
import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasbench_arrow import records
from nasbench_arrow.constants import AVAILABLE_OPS, INPUT, OUTPUT
from nasbench_arrow.errors import ConversionError
from nasbench_arrow.records import (
    EvaluationData,
    ModelMetrics,
    Row,
    decode_metrics,
    decode_metrics_values,
    encode_metrics,
    encode_metrics_values,
    format_payload,
    parse_payload,
    parse_payload_values,
)
from nasbench_arrow.tfrecord import iter_payloads

# --------------------------------------------------------------------------- protobuf reference


def _build_message_class():
    descriptor_pb2 = pytest.importorskip(
        "google.protobuf.descriptor_pb2", reason="protobuf (the `test` extra) is not installed"
    )
    from google.protobuf import descriptor_pool, message_factory

    f = descriptor_pb2.FileDescriptorProto(
        name="nasbench_arrow_test_model_metrics.proto", package="nasbench", syntax="proto2"
    )
    T = descriptor_pb2.FieldDescriptorProto
    ev = f.message_type.add(name="EvaluationData")
    for number, name in enumerate(records.EvaluationData.__dataclass_fields__, start=1):
        kind = T.TYPE_STRING if name == "checkpoint_path" else T.TYPE_DOUBLE
        ev.field.add(name=name, number=number, type=kind, label=T.LABEL_OPTIONAL)
    mm = f.message_type.add(name="ModelMetrics")
    mm.field.add(
        name="evaluation_data",
        number=1,
        type=T.TYPE_MESSAGE,
        type_name=".nasbench.EvaluationData",
        label=T.LABEL_REPEATED,
    )
    mm.field.add(name="trainable_parameters", number=2, type=T.TYPE_INT32, label=T.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    descriptor = pool.FindMessageTypeByName("nasbench.ModelMetrics")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)  # protobuf < 4.21


@pytest.fixture(scope="module")
def PB():
    """The protobuf runtime's ModelMetrics class."""
    return _build_message_class()


def _from_protobuf(msg) -> ModelMetrics:
    """Our dataclasses from a protobuf message, through its getters."""
    return ModelMetrics(
        tuple(
            EvaluationData(
                e.current_epoch,
                e.training_time,
                e.train_accuracy,
                e.validation_accuracy,
                e.test_accuracy,
                e.checkpoint_path,
            )
            for e in msg.evaluation_data
        ),
        msg.trainable_parameters,
        msg.total_time,
    )


def _bits(m: ModelMetrics) -> tuple:
    """Metrics with doubles as bit patterns, so NaN payloads and -0.0 compare exactly."""

    def b(x):
        return struct.pack("<d", x)

    return (
        tuple(
            (
                *(
                    b(getattr(e, n))
                    for n in records.EvaluationData.__dataclass_fields__
                    if n != "checkpoint_path"
                ),
                e.checkpoint_path,
            )
            for e in m.evaluation_data
        ),
        m.trainable_parameters,
        b(m.total_time),
    )


# --------------------------------------------------------------------------- wire building (test-side)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _double(field: int, x: float) -> bytes:
    return _tag(field, 1) + struct.pack("<d", x)


def _ld(field: int, payload: bytes) -> bytes:
    return _tag(field, 2) + _varint(len(payload)) + payload


doubles = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def unknown_fields(draw, min_field: int) -> bytes:
    """One unknown field of any wire type, groups (with nested fields) included."""
    field = draw(st.integers(min_field, 2**29 - 1))
    wire = draw(st.sampled_from([0, 1, 2, 3, 5]))
    if wire == 0:
        return _tag(field, 0) + _varint(draw(st.integers(0, 2**64 - 1)))
    if wire == 1:
        return _tag(field, 1) + draw(st.binary(min_size=8, max_size=8))
    if wire == 2:
        return _ld(field, draw(st.binary(max_size=20)))
    if wire == 5:
        return _tag(field, 5) + draw(st.binary(min_size=4, max_size=4))
    inner = draw(
        st.lists(st.builds(lambda v: _tag(1, 0) + _varint(v), st.integers(0, 300)), max_size=3)
    )
    return _tag(field, 3) + b"".join(inner) + _tag(field, 4)


@st.composite
def evaluation_wire(draw) -> bytes:
    """An EvaluationData body: known fields in any order, repeated, plus unknown fields."""
    parts = []
    for _ in range(draw(st.integers(0, 9))):
        kind = draw(st.integers(1, 7))
        if kind <= 5:
            parts.append(_double(kind, draw(doubles)))
        elif kind == 6:
            parts.append(_ld(6, draw(st.text(max_size=12)).encode("utf-8")))
        else:
            parts.append(draw(unknown_fields(7)))
    return b"".join(parts)


@st.composite
def metrics_wire(draw) -> bytes:
    """A ModelMetrics message in arbitrary field order with repeats and unknown fields."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(1, 4))
        if kind == 1:
            parts.append(_ld(1, draw(evaluation_wire())))
        elif kind == 2:
            # Any int64 (negative int32 values are 10-byte varints) or any uint64.
            parts.append(_tag(2, 0) + _varint(draw(st.integers(-(2**63), 2**64 - 1))))
        elif kind == 3:
            parts.append(_double(3, draw(doubles)))
        else:
            parts.append(draw(unknown_fields(4)))
    return b"".join(parts)


evaluations = st.builds(
    EvaluationData,
    doubles,
    doubles,
    doubles,
    doubles,
    doubles,
    st.text(max_size=10),
)
model_metrics = st.builds(
    ModelMetrics,
    st.lists(evaluations, max_size=5).map(tuple),
    st.integers(-(2**31), 2**31 - 1),
    doubles,
)


# --------------------------------------------------------------------------- real records

GENUINE_EVALUATIONS = [
    (0.0, 0.0, 0.1002604141831398, 0.09775640815496445, 0.09985977411270142),
    (2.0, 45.152000427246094, 0.10166265815496445, 0.10526842623949051, 0.10436698794364929),
    (4.0, 89.90399932861328, 0.3498597741127014, 0.3489583432674408, 0.3504607379436493),
]


@pytest.fixture(scope="module")
def genuine_payload(realdata) -> bytes:
    """The payload of the one genuine record of the official file."""
    ((_index, _offset, payload),) = list(
        iter_payloads(realdata / "nasbench_rs_record_00005c14_e4.tfrecord")
    )
    return payload


def test_genuine_record_decodes_to_published_values(genuine_payload):
    """The genuine record gives exactly the values its README lists."""
    row = parse_payload(genuine_payload)
    assert row.module_hash == "00005c142e6f48ac74fdcf73e3439874"
    assert row.epochs == 4
    assert row.adjacency == "0100110001000000010010000010000001000000010000000"
    assert row.operations == (
        "input,conv3x3-bn-relu,maxpool3x3,conv3x3-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,output"
    )
    assert row.metrics.trainable_parameters == 8555530
    assert row.metrics.total_time == 413.7015450000763
    got = [
        (e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy, e.test_accuracy)
        for e in row.metrics.evaluation_data
    ]
    assert got == GENUINE_EVALUATIONS
    assert all(e.checkpoint_path == "" for e in row.metrics.evaluation_data)


def test_genuine_record_reencodes_byte_for_byte(genuine_payload):
    """format_payload and encode_metrics rebuild the genuine payload exactly."""
    row = parse_payload(genuine_payload)
    raw = base64.b64decode(json.loads(genuine_payload)[4])
    assert encode_metrics(row.metrics) == raw
    assert encode_metrics_values(decode_metrics_values(raw)) == raw
    assert format_payload(*row[:4], row.metrics) == genuine_payload
    assert format_payload(*row[:4], raw) == genuine_payload


def test_genuine_record_matches_protobuf(genuine_payload, PB):
    """The protobuf runtime reads the genuine metrics as our decoder does."""
    raw = base64.b64decode(json.loads(genuine_payload)[4])
    assert decode_metrics(raw) == _from_protobuf(PB.FromString(raw))
    assert PB.FromString(raw).SerializeToString() == raw


def test_chain_record_metrics(realdata, PB):
    """The second published base64 ModelMetrics decodes to its published values."""
    data = json.loads((realdata / "chain_arch_108_record.json").read_text())
    raw = base64.b64decode(data["metrics_b64_raw"])
    m = decode_metrics(raw)
    expected = data["decoded"]
    assert m.trainable_parameters == expected["trainable_parameters"]
    assert m.total_time == expected["total_time"]
    assert [
        {k: getattr(e, k) for k in expected["evaluation_data"][0]} for e in m.evaluation_data
    ] == expected["evaluation_data"]
    assert m == _from_protobuf(PB.FromString(raw))
    assert base64.encodebytes(encode_metrics(m)).decode() == data["metrics_b64_raw"]


def test_chain_record_payload(realdata):
    """A payload built from the chain record's published fields parses back to them."""
    data = json.loads((realdata / "chain_arch_108_record.json").read_text())
    raw = base64.b64decode(data["metrics_b64_raw"])
    payload = json.dumps(
        [data["hash_computed"], data["epochs"], data["adjacency_string"], data["ops_csv"],
         data["metrics_b64_raw"]]
    ).encode()  # fmt: skip
    row = parse_payload(payload)
    assert row == Row(
        data["hash_computed"], 108, data["adjacency_string"], data["ops_csv"], decode_metrics(raw)
    )
    assert format_payload(*row) == payload


# --------------------------------------------------------------------------- decoder vs protobuf


@given(raw=metrics_wire())
def test_decoder_matches_protobuf_on_random_messages(PB, raw):
    """Fields in any order, repeats, unknown fields and groups: decoded as protobuf decodes them."""
    assert _bits(decode_metrics(raw)) == _bits(_from_protobuf(PB.FromString(raw)))


@given(m=model_metrics)
def test_encoder_is_byte_identical_to_protobuf(PB, m):
    """encode_metrics equals SerializeToString of the same message with every numeric field set."""
    msg = PB()
    for e in m.evaluation_data:
        pe = msg.evaluation_data.add()
        for name in ("current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                     "test_accuracy"):  # fmt: skip
            setattr(pe, name, getattr(e, name))
        if e.checkpoint_path:
            pe.checkpoint_path = e.checkpoint_path
    msg.trainable_parameters = m.trainable_parameters
    msg.total_time = m.total_time
    assert encode_metrics(m) == msg.SerializeToString()
    assert _bits(decode_metrics(encode_metrics(m))) == _bits(m)


@given(values=st.tuples(*[doubles] * 15, st.integers(-(2**31), 2**31 - 1), doubles).map(tuple))
def test_flat_values_round_trip(values):
    """encode_metrics_values equals encode_metrics, and decode_metrics_values inverts it."""
    m = ModelMetrics(
        tuple(EvaluationData(*values[i : i + 5]) for i in (0, 5, 10)), values[15], values[16]
    )
    raw = encode_metrics_values(values)
    assert raw == encode_metrics(m)
    assert [struct.pack("<d", x) for x in decode_metrics_values(raw)[:15]] == [
        struct.pack("<d", x) for x in values[:15]
    ]
    assert decode_metrics_values(raw)[15] == values[15]


@given(raw=metrics_wire())
def test_flat_values_agree_with_decode_metrics(raw):
    """decode_metrics_values gives the first three evaluations of decode_metrics, or refuses fewer."""
    m = decode_metrics(raw)
    if len(m.evaluation_data) < 3:
        with pytest.raises(ConversionError, match="at least 3"):
            decode_metrics_values(raw)
        return
    flat = []
    for e in m.evaluation_data[:3]:
        flat += [e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy,
                 e.test_accuracy]  # fmt: skip
    got = decode_metrics_values(raw)
    assert [struct.pack("<d", x) for x in got[:15]] == [struct.pack("<d", x) for x in flat]
    assert got[15:] == (m.trainable_parameters, m.total_time) or math.isnan(m.total_time)


@pytest.mark.parametrize(
    "varint",
    [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32 + 5, -1, -(2**31), 2**63, 2**64 - 1],
)
def test_int32_varints_truncate_like_protobuf(PB, varint):
    """trainable_parameters keeps the low 32 bits of its varint, signed, as protobuf does."""
    raw = _tag(2, 0) + _varint(varint)
    assert decode_metrics(raw).trainable_parameters == PB.FromString(raw).trainable_parameters


def test_group_depth_limit_matches_protobuf(PB):
    """Unknown groups nest up to protobuf's limit of 100 levels, counting the message depth."""
    g = _tag(9, 3)
    e = _tag(9, 4)
    for depth, inside in ((100, False), (101, False), (99, True), (100, True)):
        body = g * depth + e * depth
        raw = _ld(1, body) if inside else body
        try:
            expected = _from_protobuf(PB.FromString(raw))
        except Exception:  # noqa: BLE001 (any protobuf refusal)
            expected = None
        if expected is None:
            with pytest.raises(ConversionError, match="nested"):
                decode_metrics(raw)
        else:
            assert decode_metrics(raw) == expected


MALFORMED = {
    "truncated varint": _tag(2, 0) + b"\x80\x80",
    "varint too long": _tag(2, 0) + b"\xff" * 10 + b"\x01",
    "truncated double": _tag(3, 1) + b"\x00" * 7,
    "truncated fixed32": _tag(9, 5) + b"\x00" * 3,
    "truncated message": _tag(1, 2) + _varint(10) + b"\x09",
    "truncated unknown bytes": _ld(9, b"abc")[:-1],
    "huge length": _tag(1, 2) + _varint(2**63),
    "field number 0": _tag(0, 0) + b"\x01",
    "wire type 6": _tag(9, 6),
    "wire type 7": _tag(9, 7),
    "stray end group": _tag(9, 4),
    "unterminated group": _tag(9, 3) + _tag(1, 0) + b"\x01",
    "mismatched end group": _tag(9, 3) + _tag(8, 4),
    "truncated nested double": _ld(1, _tag(2, 1) + b"\x00" * 3),
    "truncated checkpoint_path": _ld(1, _tag(6, 2) + _varint(5) + b"ab"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_wire_data_is_refused_like_protobuf(PB, name):
    """Malformed wire data is a ConversionError here and a DecodeError in protobuf."""
    raw = MALFORMED[name]
    with pytest.raises(ConversionError, match="undecodable ModelMetrics"):
        decode_metrics(raw)
    from google.protobuf.message import DecodeError

    with pytest.raises(DecodeError):
        PB.FromString(raw)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_tag(1, 0) + b"\x01", "ModelMetrics.evaluation_data"),
        (_tag(2, 1) + b"\x00" * 8, "ModelMetrics.trainable_parameters"),
        (_tag(3, 0) + b"\x01", "ModelMetrics.total_time"),
        (_ld(1, _tag(4, 0) + b"\x01"), "EvaluationData.validation_accuracy"),
        (_ld(1, _tag(6, 5) + b"\x00" * 4), "EvaluationData.checkpoint_path"),
    ],
)
def test_wire_type_mismatch_of_known_field_is_an_error(raw, field):
    """A known field with the wrong wire type is refused (protobuf would keep it as unknown)."""
    with pytest.raises(ConversionError, match=f"{field}.*wire type"):
        decode_metrics(raw)


def test_invalid_utf8_checkpoint_path_is_an_error():
    """A checkpoint_path that is not UTF-8 is refused."""
    with pytest.raises(ConversionError, match="checkpoint_path is not valid UTF-8"):
        decode_metrics(_ld(1, _ld(6, b"\xff\xfe")))


def test_decode_metrics_rejects_non_bytes():
    """Only bytes-like input is accepted."""
    with pytest.raises(TypeError, match="expects bytes"):
        decode_metrics("CgA=")


@pytest.mark.parametrize("params", [2**31, -(2**31) - 1, 1.5, True])
def test_encode_rejects_non_int32_parameters(params):
    """trainable_parameters outside int32 cannot be encoded."""
    with pytest.raises(ValueError, match="int32"):
        encode_metrics(ModelMetrics((), params, 0.0))
    with pytest.raises(ValueError, match="int32"):
        encode_metrics_values((0.0,) * 15 + (params, 0.0))


def test_encode_metrics_values_needs_17_values():
    """The flat encoder refuses a tuple of the wrong length."""
    with pytest.raises(ValueError, match="17 values"):
        encode_metrics_values((0.0,) * 16)


# --------------------------------------------------------------------------- payloads

THREE = ModelMetrics((EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1),) * 3, 1234, 5.0)
HASH = "0123456789abcdef0123456789abcdef"


def _payload(fields) -> bytes:
    return json.dumps(fields).encode()


def _good(**change):
    fields = {
        "hash": HASH,
        "epochs": 108,
        "adjacency": "0100",
        "ops": "input,output",
        "metrics": base64.encodebytes(encode_metrics(THREE)).decode(),
    }
    fields.update(change)
    return _payload(list(fields.values()))


@st.composite
def valid_rows(draw):
    """A valid row with a random upper-triangular matrix, ops and metrics."""
    n = draw(st.integers(2, 7))
    adjacency = "".join(
        draw(st.sampled_from("01")) if j > i else "0" for i in range(n) for j in range(n)
    )
    interior = draw(st.lists(st.sampled_from(AVAILABLE_OPS), min_size=n - 2, max_size=n - 2))
    ops = ",".join([INPUT, *interior, OUTPUT])
    m = draw(
        st.builds(
            ModelMetrics,
            st.lists(evaluations, min_size=3, max_size=4).map(tuple),
            st.integers(-(2**31), 2**31 - 1),
            doubles,
        )
    )
    h = draw(st.text("0123456789abcdef", min_size=32, max_size=32))
    return h, draw(st.integers(1, 10**6)), adjacency, ops, m


@given(row=valid_rows())
def test_format_then_parse_round_trips(row):
    """format_payload output parses back to the same row, by both parsers."""
    payload = format_payload(*row)
    parsed = parse_payload(payload)
    assert parsed[:4] == row[:4]
    assert _bits(parsed.metrics) == _bits(row[4])
    flat = parse_payload_values(payload)
    assert flat[:4] == row[:4]
    assert [struct.pack("<d", x) for x in flat[4][:15]] == [
        struct.pack("<d", getattr(e, n))
        for e in row[4].evaluation_data[:3]
        for n in (
            "current_epoch",
            "training_time",
            "train_accuracy",
            "validation_accuracy",
            "test_accuracy",
        )
    ]


@given(row=valid_rows(), style=st.sampled_from(["compact", "ascii-escaped", "spaced", "str"]))
def test_any_json_spelling_parses_like_the_official_one(row, style):
    """Other JSON spellings of the same fields (slow path) give the same row as the official style."""
    official = format_payload(*row)
    fields = json.loads(official)
    if style == "compact":
        payload = json.dumps(fields, separators=(",", ":")).encode()
    elif style == "ascii-escaped":

        def esc(text):
            return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'

        h, e, adjacency, ops, b64 = fields
        b64_json = json.dumps(b64).replace("/", "\\/")
        payload = f"[{esc(h)}, {e}, {esc(adjacency)}, {esc(ops)}, {b64_json}]".encode()
    elif style == "spaced":
        payload = (" \n" + json.dumps(fields, indent=2) + "\t").encode()
    else:
        payload = bytearray(official)
    assert _bits(parse_payload(payload).metrics) == _bits(parse_payload(official).metrics)
    assert parse_payload(payload)[:4] == parse_payload(official)[:4]


def test_base64_lines_are_76_characters_with_trailing_newline():
    """format_payload writes base64 as base64.encodebytes does, newlines escaped in the JSON."""
    payload = format_payload(HASH, 4, "0100", ["input", "output"], THREE)
    text = json.loads(payload)[4]
    lines = text.split("\n")
    assert text.endswith("\n") and lines[-1] == ""
    assert all(len(line) == 76 for line in lines[:-2]) and 0 < len(lines[-2]) <= 76
    assert b"\\n" in payload and b"\n" not in payload
    assert payload.startswith(f'["{HASH}", 4, "0100", "input,output", "'.encode())


def test_format_payload_accepts_matrices_and_op_lists():
    """Nested lists, numpy arrays and strings give the same payload."""
    np = pytest.importorskip("numpy")
    a = format_payload(HASH, 4, [[0, 1], [0, 0]], ["input", "output"], THREE)
    b = format_payload(
        HASH, np.int64(4), np.array([[0, 1], [0, 0]], dtype=np.int8), "input,output", THREE
    )
    assert a == b == _good(epochs=4)


def test_parse_payload_is_row():
    """parse_payload returns a Row with the stored strings unchanged."""
    row = parse_payload(_good())
    assert isinstance(row, Row)
    assert row == Row(HASH, 108, "0100", "input,output", THREE)


def _metrics_b64(raw: bytes) -> str:
    return base64.encodebytes(raw).decode()


TWO_EVALS = _metrics_b64(encode_metrics(ModelMetrics(THREE.evaluation_data[:2], 1, 1.0)))
BAD_PAYLOADS = {
    "invalid utf-8": (b'["\xff"]', "not valid UTF-8"),
    "invalid json": (b'["abc", 4', "not valid JSON"),
    "deep json": (b"[" * 100_000, "nested too deeply"),
    "not a list": (b'{"a": 1}', "JSON list of 5 fields.*got a JSON dict"),
    "four fields": (_payload([HASH, 4, "0100", "input,output"]), "got a list of 4 fields"),
    "six fields": (_payload([HASH, 4, "0100", "input,output", "", 1]), "got a list of 6 fields"),
    "hash not str": (_good(hash=123), "module_hash must be a 32-character lowercase hex"),
    "hash uppercase": (_good(hash=HASH.upper()), "module_hash must be"),
    "hash short": (_good(hash=HASH[:31]), "module_hash must be"),
    "hash not hex": (_good(hash="g" * 32), "module_hash must be"),
    "epochs str": (_good(epochs="108"), "epochs must be a positive integer, got '108'"),
    "epochs float": (_good(epochs=108.0), "epochs must be a positive integer, got 108.0"),
    "epochs bool": (_good(epochs=True), "epochs must be a positive integer, got True"),
    "epochs zero": (_good(epochs=0), "epochs must be a positive integer, got 0"),
    "epochs negative": (_good(epochs=-4), "epochs must be a positive integer, got -4"),
    "adjacency empty": (_good(adjacency=""), "non-empty string of 0/1"),
    "adjacency not bits": (_good(adjacency="0120"), "string of 0/1 characters"),
    "adjacency not str": (_good(adjacency=[0, 1, 0, 0]), "string of 0/1 characters"),
    "adjacency not square": (_good(adjacency="01000"), "5 characters, which is not the square"),
    "ops not str": (_good(ops=["input", "output"]), "raw_operations must be a comma-separated"),
    "ops count": (_good(ops="input,conv3x3-bn-relu,output"), "3 labels but raw_adjacency is a 2x2"),
    "ops single": (_good(adjacency="0", ops="input"), "at least 2 labels"),
    "ops first": (_good(ops="conv3x3-bn-relu,output"), "must start with 'input'"),
    "ops last": (_good(ops="input,input"), "end with 'output'"),
    "unknown op": (
        _good(adjacency="0" * 9, ops="input,conv5x5-bn-relu,output"),
        "unknown operation 'conv5x5-bn-relu'",
    ),
    "metrics not str": (_good(metrics=42), "raw_metrics must be a base64 string"),
    "base64 bad char": (_good(metrics="Cg*A\n"), "character '\\*' is outside the alphabet"),
    "base64 tab": (_good(metrics="CgA=\t"), "outside the alphabet"),
    "base64 non-ascii": (_good(metrics="CgA\u00e9"), "non-ASCII"),
    "base64 padding": (_good(metrics="CgA"), "not a multiple of 4"),
    "base64 padding middle": (_good(metrics="Cg==CgA="), "padding may only end"),
    "undecodable proto": (_good(metrics=_metrics_b64(b"\x0a\x05\x09")), "raw_metrics: undecodable"),
    "two evaluations": (_good(metrics=TWO_EVALS), "holds 2 evaluation.*at least 3"),
    "no evaluations": (_good(metrics=""), "holds 0 evaluation"),
}


@pytest.mark.parametrize("name", sorted(BAD_PAYLOADS))
def test_bad_payload_is_a_conversion_error_with_location(name):
    """Each kind of bad payload raises ConversionError saying what was wrong and where."""
    payload, pattern = BAD_PAYLOADS[name]
    for parse in (parse_payload, parse_payload_values):
        with pytest.raises(ConversionError, match=pattern) as info:
            parse(payload, record_index=7, byte_offset=1234, source="x.tfrecord")
        err = info.value
        assert (err.record_index, err.byte_offset, err.source) == (7, 1234, "x.tfrecord")
        assert str(err).startswith("x.tfrecord, record 7, byte offset 1234: ")


def test_parse_payload_rejects_non_bytes():
    """A str payload is a TypeError (a programming error, not bad data)."""
    with pytest.raises(TypeError, match="payload must be bytes"):
        parse_payload(_good().decode())


def test_fast_path_refuses_escaped_backslashes():
    """A backslash escape other than \\n in the base64 field goes through the JSON path (and fails)."""
    payload = _good().replace(b'\\n"]', b'\\\\n"]')
    with pytest.raises(ConversionError, match="outside the alphabet"):
        parse_payload(payload)


def test_exported_names():
    """The module exports exactly its public API."""
    assert sorted(records.__all__) == sorted(
        [
            "NUM_EVALUATIONS",
            "EvaluationData",
            "ModelMetrics",
            "Row",
            "decode_metrics",
            "decode_metrics_values",
            "encode_metrics",
            "encode_metrics_values",
            "format_payload",
            "parse_payload",
            "parse_payload_values",
        ]
    )
