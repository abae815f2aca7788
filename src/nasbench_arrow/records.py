"""Payloads of the official files: JSON fields and the ``ModelMetrics`` protobuf.

Second stage of the data flow: one TFRecord payload in, one validated
:class:`Row` out. A payload of the official ``nasbench_*.tfrecord`` files is
the UTF-8 JSON list::

    [module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]

- ``module_hash``: 32 lowercase hex digits;
- ``epochs``: the training budget (4, 12, 36 or 108);
- ``raw_adjacency``: the row-major 0/1 string of the V x V adjacency matrix;
- ``raw_operations``: the V vertex labels, comma-separated, ``input`` first
  and ``output`` last;
- ``raw_metrics``: base64 (``base64.encodebytes`` style: a newline every 76
  characters and at the end, escaped as ``\\n`` in the JSON) of a proto2
  ``nasbench.ModelMetrics`` message (``lib/model_metrics.proto``)::

      message ModelMetrics {
        repeated EvaluationData evaluation_data = 1;   // start, halfway, final
        optional int32 trainable_parameters = 2;
        optional double total_time = 3;                // seconds
      }
      message EvaluationData {
        optional double current_epoch = 1;
        optional double training_time = 2;             // seconds, evaluation excluded
        optional double train_accuracy = 3;            // fraction 0-1
        optional double validation_accuracy = 4;
        optional double test_accuracy = 5;
        optional string checkpoint_path = 6;
      }

The protobuf wire format is decoded here by a small decoder of our own (no
``protobuf`` dependency); the test suite checks it against the protobuf
runtime. Every problem raises :class:`~nasbench_arrow.errors.ConversionError`
saying what was wrong, with the record index and byte offset when given.

Field presence
--------------
:class:`EvaluationData` and :class:`ModelMetrics` hold plain values, not
protobuf presence bits. Decoding fills a field absent from the wire with
its proto2 default (0.0, 0 or ``""``), as protobuf's getters do. Encoding
treats every numeric field as set (the official writer set all of them,
zeros included: the start-of-training evaluation stores ``0.0`` explicitly)
and ``checkpoint_path`` as set only when non-empty (the official records
never store one). Hence ``decode_metrics(encode_metrics(m)) == m`` for every
``m``, and ``encode_metrics(decode_metrics(raw)) == raw`` for every record of
the official files.

Example
-------
>>> from nasbench_arrow.records import parse_payload
>>> row = parse_payload(payload)                     # doctest: +SKIP
>>> row.metrics.evaluation_data[2].test_accuracy     # doctest: +SKIP
0.3504607379436493
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from .constants import AVAILABLE_OPS, INPUT, OUTPUT
from .errors import ConversionError

__all__ = [
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

#: Evaluations a record must hold: start of training, halfway, final.
NUM_EVALUATIONS = 3

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_U64 = (1 << 64) - 1
# Nesting limit of protobuf's parsers (messages and groups), which we match.
_MAX_DEPTH = 100
# Largest field number protobuf allows (2**29 - 1); larger ones make it refuse the message.
_MAX_FIELD_NUMBER = (1 << 29) - 1


@dataclass(frozen=True)
class EvaluationData:
    """One evaluation during a training run (``nasbench.EvaluationData``).

    Attributes
    ----------
    current_epoch : float
        Epochs trained when evaluated (0 at the start, ``epochs / 2`` halfway).
    training_time : float
        Seconds of training up to this point, evaluation excluded.
    train_accuracy, validation_accuracy, test_accuracy : float
        Fractions 0-1 on the fixed train subset, validation and test sets.
    checkpoint_path : str
        Empty in the official files.
    """

    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass(frozen=True)
class ModelMetrics:
    """Metrics of one training run (``nasbench.ModelMetrics``).

    Attributes
    ----------
    evaluation_data : tuple of EvaluationData
        In wire order: ``[0]`` start of training, ``[1]`` halfway, ``[2]`` final.
    trainable_parameters : int
        Trainable parameters of the network (int32).
    total_time : float
        Seconds for the whole run, training and evaluation.
    """

    evaluation_data: tuple[EvaluationData, ...] = ()
    trainable_parameters: int = 0
    total_time: float = 0.0


class Row(NamedTuple):
    """One validated record of an official file.

    Attributes
    ----------
    module_hash : str
        32 lowercase hex digits.
    epochs : int
        Training budget.
    adjacency : str
        The row-major 0/1 matrix string exactly as stored (V*V characters).
    operations : str
        The V comma-separated labels exactly as stored.
    metrics : ModelMetrics
        At least 3 evaluations.
    """

    module_hash: str
    epochs: int
    adjacency: str
    operations: str
    metrics: ModelMetrics


# --------------------------------------------------------------------------- wire format

_DOUBLE = struct.Struct("<d")
_FIXED32 = struct.Struct("<I")

_WIRE_VARINT = 0
_WIRE_FIXED64 = 1
_WIRE_LEN = 2
_WIRE_START_GROUP = 3
_WIRE_END_GROUP = 4
_WIRE_FIXED32 = 5

# EvaluationData field number -> attribute index (fields 1-5 are doubles, 6 the path).
_EVAL_FIELDS = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                "test_accuracy", "checkpoint_path")  # fmt: skip
_WIRE_NAMES = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "start-group",
               4: "end-group", 5: "32-bit"}  # fmt: skip


class _WireError(Exception):
    """Internal: malformed wire data (turned into ConversionError by the callers)."""


class _Invalid(Exception):
    """Internal: an invalid payload field (turned into ConversionError with its location)."""


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return ``(value mod 2**64, next_pos)``."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            msg = "truncated varint"
            raise _WireError(msg)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            msg = "varint longer than 10 bytes"
            raise _WireError(msg)


def _skip_field(buf, pos: int, end: int, field: int, wire: int, depth: int) -> int:
    """Skip the value of an unknown field; return the position after it.

    ``depth`` is the nesting depth of the message holding the field (0 for
    ModelMetrics). Groups are skipped iteratively, and like protobuf we give
    up beyond :data:`_MAX_DEPTH` nested levels.
    """
    if wire == _WIRE_VARINT:
        return _varint(buf, pos, end)[1]
    if wire == _WIRE_FIXED64:
        pos += 8
    elif wire == _WIRE_FIXED32:
        pos += 4
    elif wire == _WIRE_LEN:
        length, pos = _varint(buf, pos, end)
        pos += length
    elif wire == _WIRE_START_GROUP:
        # A group runs until the end-group tag of the same field number.
        open_groups = [field]
        while open_groups:
            if depth + len(open_groups) > _MAX_DEPTH:
                msg = f"groups nested more than {_MAX_DEPTH} deep"
                raise _WireError(msg)
            if pos >= end:
                msg = f"unterminated group (field {open_groups[-1]})"
                raise _WireError(msg)
            key, pos = _tag(buf, pos, end)
            inner_field, inner_wire = key >> 3, key & 7
            if inner_wire == _WIRE_END_GROUP:
                if inner_field != open_groups[-1]:
                    msg = (
                        f"end-group tag of field {inner_field} closes a group of field "
                        f"{open_groups[-1]}"
                    )
                    raise _WireError(msg)
                open_groups.pop()
            elif inner_wire == _WIRE_START_GROUP:
                _check_tag(inner_field, inner_wire)
                open_groups.append(inner_field)
            else:
                _check_tag(inner_field, inner_wire)
                pos = _skip_field(buf, pos, end, inner_field, inner_wire, depth)
        return pos
    if pos > end:
        msg = f"truncated value of field {field} ({_WIRE_NAMES[wire]})"
        raise _WireError(msg)
    return pos


def _tag(buf, pos: int, end: int) -> tuple[int, int]:
    """Read a field tag: a varint of at most 5 bytes, as protobuf reads it (a uint32)."""
    key, new_pos = _varint(buf, pos, end)
    if new_pos - pos > 5:
        msg = f"field tag of {new_pos - pos} bytes (at most 5)"
        raise _WireError(msg)
    return key, new_pos


def _check_tag(field: int, wire: int) -> None:
    if field == 0:
        msg = "invalid field number 0"
        raise _WireError(msg)
    if field > _MAX_FIELD_NUMBER:
        msg = f"invalid field number {field} (at most {_MAX_FIELD_NUMBER})"
        raise _WireError(msg)
    if wire > _WIRE_FIXED32:
        msg = f"invalid wire type {wire} (field {field})"
        raise _WireError(msg)
    if wire == _WIRE_END_GROUP:
        msg = f"unexpected end-group tag (field {field})"
        raise _WireError(msg)


def _expect_wire(message: str, field: int, wire: int, expected: int) -> None:
    if wire != expected:
        name = _EVAL_FIELDS[field - 1] if message == "EvaluationData" else (
            "evaluation_data", "trainable_parameters", "total_time")[field - 1]  # fmt: skip
        msg = (
            f"{message}.{name} (field {field}) has wire type {_WIRE_NAMES.get(wire, wire)}, "
            f"expected {_WIRE_NAMES[expected]}"
        )
        raise _WireError(msg)


def _decode_evaluation(buf, pos: int, end: int) -> EvaluationData:
    values: list = [0.0, 0.0, 0.0, 0.0, 0.0, ""]
    unpack_double = _DOUBLE.unpack_from
    while pos < end:
        key, pos = _tag(buf, pos, end)
        field, wire = key >> 3, key & 7
        _check_tag(field, wire)
        if 1 <= field <= 5:
            _expect_wire("EvaluationData", field, wire, _WIRE_FIXED64)
            if pos + 8 > end:
                msg = f"truncated double of EvaluationData.{_EVAL_FIELDS[field - 1]}"
                raise _WireError(msg)
            values[field - 1] = unpack_double(buf, pos)[0]
            pos += 8
        elif field == 6:
            _expect_wire("EvaluationData", field, wire, _WIRE_LEN)
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                msg = "truncated string EvaluationData.checkpoint_path"
                raise _WireError(msg)
            try:
                values[5] = bytes(buf[pos : pos + length]).decode("utf-8")
            except UnicodeDecodeError as exc:
                msg = f"EvaluationData.checkpoint_path is not valid UTF-8 ({exc.reason})"
                raise _WireError(msg) from None
            pos += length
        else:
            pos = _skip_field(buf, pos, end, field, wire, 1)
    return EvaluationData(*values)


def _decode_general(raw) -> tuple[list[EvaluationData], int, float]:
    evaluations: list[EvaluationData] = []
    params = 0
    total_time = 0.0
    pos, end = 0, len(raw)
    while pos < end:
        key, pos = _tag(raw, pos, end)
        field, wire = key >> 3, key & 7
        _check_tag(field, wire)
        if field == 1:
            _expect_wire("ModelMetrics", field, wire, _WIRE_LEN)
            length, pos = _varint(raw, pos, end)
            if pos + length > end:
                msg = f"truncated ModelMetrics.evaluation_data message ({length} bytes declared)"
                raise _WireError(msg)
            evaluations.append(_decode_evaluation(raw, pos, pos + length))
            pos += length
        elif field == 2:
            _expect_wire("ModelMetrics", field, wire, _WIRE_VARINT)
            value, pos = _varint(raw, pos, end)
            # int32 on the wire is a (sign-extended) varint; protobuf keeps the low 32 bits.
            value &= 0xFFFFFFFF
            params = value - (1 << 32) if value >= 1 << 31 else value
        elif field == 3:
            _expect_wire("ModelMetrics", field, wire, _WIRE_FIXED64)
            if pos + 8 > end:
                msg = "truncated double of ModelMetrics.total_time"
                raise _WireError(msg)
            total_time = _DOUBLE.unpack_from(raw, pos)[0]
            pos += 8
        else:
            pos = _skip_field(raw, pos, end, field, wire, 0)
    return evaluations, params, total_time


# The layout of every official record: three 45-byte EvaluationData messages
# (fields 1-5, doubles, in order, no checkpoint path), then field 2's tag.
_EVAL_LAYOUT = b"\x0a\x2d" + b"".join(bytes([(f << 3) | 1]) + b"\0" * 8 for f in range(1, 6))
_CANONICAL_HEAD = _EVAL_LAYOUT * 3 + b"\x10"
_HEAD_LEN = len(_CANONICAL_HEAD)  # 142


def _mask_for_head() -> tuple[int, int]:
    """(mask, pattern) selecting the tag and length bytes of the canonical head."""
    mask = bytearray(_HEAD_LEN)
    for e in range(3):
        base = e * 47
        mask[base] = mask[base + 1] = 0xFF  # tag and length of the message
        for f in range(5):
            mask[base + 2 + 9 * f] = 0xFF  # tag of each double
    mask[_HEAD_LEN - 1] = 0xFF  # tag of trainable_parameters
    bits = int.from_bytes(mask, "little")
    return bits, int.from_bytes(_CANONICAL_HEAD, "little") & bits


_HEAD_MASK, _HEAD_BITS = _mask_for_head()
# 15 doubles at fixed offsets, skipping the tag and length bytes.
_HEAD_STRUCT = struct.Struct("<" + ("2x" + "xd" * 5) * 3)


def _fast_values(raw) -> tuple | None:
    """Decode the canonical layout of the official records, or None if not canonical."""
    n = len(raw)
    if n < _HEAD_LEN + 10 or int.from_bytes(raw[:_HEAD_LEN], "little") & _HEAD_MASK != _HEAD_BITS:
        return None
    pos = _HEAD_LEN
    # trainable_parameters: a positive int32 takes at most 5 varint bytes.
    params = 0
    shift = 0
    while True:
        b = raw[pos]
        pos += 1
        params |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 28 or pos >= n:
            return None
    if params > _INT32_MAX or n != pos + 9 or raw[pos] != 0x19:
        return None
    return (*_HEAD_STRUCT.unpack_from(raw, 0), params, _DOUBLE.unpack_from(raw, pos + 1)[0])


def decode_metrics_values(raw: bytes) -> tuple:
    """Decode a serialized ``ModelMetrics`` into a flat tuple (fast path for bulk readers).

    Parameters
    ----------
    raw : bytes
        The protobuf wire bytes (``base64.b64decode(raw_metrics)``).

    Returns
    -------
    tuple
        17 values: the 5 doubles (``current_epoch``, ``training_time``,
        ``train_accuracy``, ``validation_accuracy``, ``test_accuracy``) of
        evaluations 0, 1 and 2 (start, halfway, final), then
        ``trainable_parameters`` (int) and ``total_time`` (float). Checkpoint
        paths and evaluations after the third are not returned.

    Raises
    ------
    ConversionError
        Wire data that protobuf would not parse, a known field with the wrong
        wire type, invalid UTF-8 in ``checkpoint_path``, or fewer than 3 evaluations.
    """
    values = _fast_values(raw)
    if values is not None:
        return values
    m = decode_metrics(raw)
    if len(m.evaluation_data) < NUM_EVALUATIONS:
        raise _too_few(len(m.evaluation_data))
    flat: list = []
    for e in m.evaluation_data[:NUM_EVALUATIONS]:
        flat += (e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy,
                 e.test_accuracy)  # fmt: skip
    return (*flat, m.trainable_parameters, m.total_time)


def _too_few(n: int) -> ConversionError:
    msg = (
        f"ModelMetrics holds {n} evaluation(s); a record needs at least {NUM_EVALUATIONS} "
        f"(start of training, halfway, final)"
    )
    return ConversionError(msg)


def decode_metrics(raw: bytes) -> ModelMetrics:
    """Decode a serialized ``nasbench.ModelMetrics`` (proto2 wire format).

    Behaves like protobuf's ``ModelMetrics.FromString``: fields may come in
    any order, unknown fields (any wire type, groups included) are skipped,
    each ``evaluation_data`` occurrence appends a message, a repeated scalar
    field keeps its last value, and ``trainable_parameters`` keeps the low 32
    bits of its varint as a signed int32. Unlike protobuf, a known field with
    the wrong wire type is an error (protobuf would silently file it with the
    unknown fields; in this data it can only mean corruption).

    Parameters
    ----------
    raw : bytes-like
        The wire bytes.

    Returns
    -------
    ModelMetrics
        Absent fields hold their proto2 defaults (see the module docstring).

    Raises
    ------
    ConversionError
        Truncated or malformed wire data, wire-type mismatch of a known
        field, invalid UTF-8 in ``checkpoint_path``.

    Examples
    --------
    >>> m = decode_metrics(encode_metrics(ModelMetrics((EvaluationData(1.0),), 5, 2.5)))
    >>> m.evaluation_data[0].current_epoch, m.trainable_parameters, m.total_time
    (1.0, 5, 2.5)
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        msg = f"decode_metrics expects bytes, got {type(raw).__name__}"
        raise TypeError(msg)
    try:
        values = _fast_values(raw)
        if values is not None:
            evals = tuple(EvaluationData(*values[i : i + 5]) for i in (0, 5, 10))
            return ModelMetrics(evals, values[15], values[16])
        evaluations, params, total_time = _decode_general(raw)
    except _WireError as exc:
        msg = f"undecodable ModelMetrics protobuf: {exc}"
        raise ConversionError(msg) from None
    return ModelMetrics(tuple(evaluations), params, total_time)


def _encode_varint(value: int) -> bytes:
    value &= _U64  # negative int32 values go on the wire as 10-byte two's complement
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_EVAL_DOUBLES = struct.Struct("<" + "Bd" * 5)
_EVAL_TAGS = tuple((f << 3) | 1 for f in range(1, 6))


def _encode_evaluation(e: EvaluationData) -> bytes:
    t = _EVAL_TAGS
    body = _EVAL_DOUBLES.pack(
        t[0], e.current_epoch, t[1], e.training_time, t[2], e.train_accuracy,
        t[3], e.validation_accuracy, t[4], e.test_accuracy,
    )  # fmt: skip
    if e.checkpoint_path:
        path = e.checkpoint_path.encode("utf-8")
        body += b"\x32" + _encode_varint(len(path)) + path
    return b"\x0a" + _encode_varint(len(body)) + body


def encode_metrics(m: ModelMetrics) -> bytes:
    """Serialize metrics as protobuf's ``SerializeToString`` does.

    Fields go in field-number order: every ``evaluation_data`` message (its
    doubles 1-5, then ``checkpoint_path`` when non-empty), then
    ``trainable_parameters``, then ``total_time``. Every numeric field is
    written (see *Field presence* in the module docstring).

    Parameters
    ----------
    m : ModelMetrics
        ``trainable_parameters`` must fit an int32.

    Returns
    -------
    bytes
        Byte-identical to protobuf's output for a message with the same fields set.

    Raises
    ------
    ValueError
        ``trainable_parameters`` outside the int32 range or not an int.
    """
    params = m.trainable_parameters
    if (
        isinstance(params, bool)
        or not isinstance(params, int)
        or not (_INT32_MIN <= params <= _INT32_MAX)
    ):
        msg = f"trainable_parameters must be an int32, got {params!r}"
        raise ValueError(msg)
    parts = [_encode_evaluation(e) for e in m.evaluation_data]
    parts.append(b"\x10" + _encode_varint(params))
    parts.append(b"\x19" + _DOUBLE.pack(float(m.total_time)))
    return b"".join(parts)


# Three EvaluationData messages of fields 1-5 (tags, lengths, doubles), then field 2's tag.
_CANONICAL_STRUCT = struct.Struct("<" + ("BB" + "Bd" * 5) * 3 + "B")


def encode_metrics_values(values: Sequence) -> bytes:
    """Serialize the flat values of :func:`decode_metrics_values` (fast path for writers).

    Parameters
    ----------
    values : sequence
        17 values: the 5 doubles of evaluations 0, 1, 2, then
        ``trainable_parameters`` (int32) and ``total_time``.

    Returns
    -------
    bytes
        The same bytes as :func:`encode_metrics` of the equivalent
        :class:`ModelMetrics` (three evaluations, no checkpoint paths).

    Raises
    ------
    ValueError
        Not 17 values, or ``trainable_parameters`` outside the int32 range.
    """
    if len(values) != 17:
        msg = f"expected 17 values (3 x 5 doubles, trainable_parameters, total_time), got {len(values)}"
        raise ValueError(msg)
    params = values[15]
    if (
        isinstance(params, bool)
        or not isinstance(params, int)
        or not (_INT32_MIN <= params <= _INT32_MAX)
    ):
        msg = f"trainable_parameters must be an int32, got {params!r}"
        raise ValueError(msg)
    (a0, a1, a2, a3, a4, b0, b1, b2, b3, b4, c0, c1, c2, c3, c4, _, total_time) = values
    head = _CANONICAL_STRUCT.pack(
        10, 45, 9, a0, 17, a1, 25, a2, 33, a3, 41, a4,
        10, 45, 9, b0, 17, b1, 25, b2, 33, b3, 41, b4,
        10, 45, 9, c0, 17, c1, 25, c2, 33, c3, 41, c4,
        16,
    )  # fmt: skip
    return b"".join((head, _encode_varint(params), b"\x19", _DOUBLE.pack(total_time)))


# --------------------------------------------------------------------------- payloads

# The exact shape json.dumps gives the official payloads. A payload that
# matches decodes (as JSON) to exactly these groups, so the fast path and the
# full JSON path accept the same records; anything else takes the JSON path.
_CANONICAL_PAYLOAD = re.compile(
    rb'\["([0-9a-f]{32})", ([1-9][0-9]{0,17}), "([01]+)", "([a-z0-9,\-]+)", "([A-Za-z0-9+/=\\n]*)"\]'
)
_BASE64_BODY = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
# a2b_base64(strict_mode=True) (Python >= 3.11) checks alphabet and padding in C.
_STRICT_BASE64 = sys.version_info >= (3, 11)
_HASH = re.compile(r"[0-9a-f]{32}")
_BITS = re.compile(r"[01]+")
_KNOWN_INTERIOR = frozenset(AVAILABLE_OPS)
# Validated operation strings -> vertex count. The space has a few hundred
# distinct label lists, so nearly every record hits this cache.
_OPS_CACHE: dict[str, int] = {}
_OPS_CACHE_MAX = 4096


def _short(value, limit: int = 80) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _check_operations(operations: str) -> int:
    """Validate a comma-separated label list; return its vertex count."""
    dim = _OPS_CACHE.get(operations)
    if dim is not None:
        return dim
    ops = operations.split(",")
    if len(ops) < 2:
        msg = (
            f"raw_operations must list at least 2 labels ({INPUT!r} ... {OUTPUT!r}), "
            f"got {_short(operations)}"
        )
        raise _Invalid(msg)
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        msg = (
            f"raw_operations must start with {INPUT!r} and end with {OUTPUT!r}, "
            f"got {_short(operations)}"
        )
        raise _Invalid(msg)
    for op in ops[1:-1]:
        if op not in _KNOWN_INTERIOR:
            msg = (
                f"unknown operation {op!r} in raw_operations {_short(operations)}; "
                f"interior vertices must be one of {list(AVAILABLE_OPS)}"
            )
            raise _Invalid(msg)
    if len(_OPS_CACHE) >= _OPS_CACHE_MAX:
        _OPS_CACHE.clear()
    _OPS_CACHE[operations] = len(ops)
    return len(ops)


def _check_adjacency(adjacency: str) -> int:
    """Validate a 0/1 matrix string; return its dimension."""
    n = len(adjacency)
    dim = math.isqrt(n)
    if dim * dim != n or n == 0:
        msg = (
            f"raw_adjacency has {n} characters, which is not the square of a vertex count "
            f"(1, 4, 9, ..., 49): {_short(adjacency)}"
        )
        raise _Invalid(msg)
    # A cell is a DAG with its vertices in topological order: only entries
    # above the diagonal may be 1 (no self-loop, no edge back towards the input).
    for i in range(dim):
        j = adjacency.find("1", i * dim, i * dim + i + 1)
        if j >= 0:
            j -= i * dim
            what = "a self-loop" if i == j else f"an edge from vertex {i} back to vertex {j}"
            msg = (
                f"raw_adjacency is not upper triangular: entry ({i}, {j}) is 1 ({what}); a "
                f"NAS-Bench-101 cell is a DAG with its vertices in topological order: "
                f"{_short(adjacency)}"
            )
            raise _Invalid(msg)
    return dim


def _decode_base64(text) -> bytes:
    """Strict base64: alphabet, '=' padding at the end, newlines anywhere."""
    data = text.replace(b"\n", b"") if isinstance(text, bytes) else text.replace("\n", "")
    strict_error = None
    # strict_mode still accepts surplus '=' after a complete quantum ("AAAA=", "AAAA===="),
    # which the checks below refuse: only a multiple of 4 with at most 2 '=' takes the C path.
    if (
        _STRICT_BASE64
        and isinstance(data, bytes)
        and len(data) % 4 == 0
        and len(data) - len(data.rstrip(b"=")) <= 2
    ):
        try:
            return binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error as exc:
            strict_error = exc  # explained below
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError:
            bad = next(c for c in data if ord(c) > 127)
            msg = f"raw_metrics is not valid base64: non-ASCII character {bad!r}"
            raise _Invalid(msg) from None
    if _BASE64_BODY.fullmatch(data) is None:
        bad = re.search(rb"[^A-Za-z0-9+/=]", data)
        if bad is not None:
            msg = (
                f"raw_metrics is not valid base64: character {chr(bad.group()[0])!r} is outside "
                f"the alphabet (A-Z a-z 0-9 + /, '=' padding, newlines)"
            )
        else:
            msg = "raw_metrics is not valid base64: '=' padding may only end the data (at most 2)"
        raise _Invalid(msg)
    if len(data) % 4:
        msg = (
            f"raw_metrics is not valid base64: {len(data)} characters (newlines removed) "
            f"is not a multiple of 4 (missing or extra padding)"
        )
        raise _Invalid(msg)
    if strict_error is not None:
        msg = f"raw_metrics is not valid base64: {strict_error}"
        raise _Invalid(msg)
    return binascii.a2b_base64(data)


def _fields_from_json(payload) -> tuple[str, int, str, str, str]:
    """Slow path: decode the JSON and check each field's type and shape."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        msg = f"payload must be bytes, got {type(payload).__name__}"
        raise TypeError(msg)
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"payload is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        raise _Invalid(msg) from None
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"payload is not valid JSON ({exc.msg} at character {exc.pos}): {_short(text)}"
        raise _Invalid(msg) from None
    except RecursionError:
        msg = f"payload is not a NAS-Bench row: JSON nested too deeply: {_short(text)}"
        raise _Invalid(msg) from None
    except ValueError as exc:  # e.g. an integer beyond int's digit limit
        msg = f"payload is not valid JSON ({exc}): {_short(text)}"
        raise _Invalid(msg) from None
    if not isinstance(fields, list) or len(fields) != 5:
        what = (
            f"a list of {len(fields)} fields"
            if isinstance(fields, list)
            else f"a JSON {type(fields).__name__}"
        )
        msg = (
            f"payload must be a JSON list of 5 fields [module_hash, epochs, raw_adjacency, "
            f"raw_operations, raw_metrics], got {what}"
        )
        raise _Invalid(msg)
    module_hash, epochs, adjacency, operations, raw_metrics = fields
    if not isinstance(module_hash, str) or _HASH.fullmatch(module_hash) is None:
        msg = f"module_hash must be a 32-character lowercase hex string, got {_short(module_hash)}"
        raise _Invalid(msg)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        msg = f"epochs must be a positive integer, got {_short(epochs)}"
        raise _Invalid(msg)
    if not isinstance(adjacency, str) or _BITS.fullmatch(adjacency) is None:
        msg = f"raw_adjacency must be a non-empty string of 0/1 characters, got {_short(adjacency)}"
        raise _Invalid(msg)
    if not isinstance(operations, str):
        msg = f"raw_operations must be a comma-separated string, got {_short(operations)}"
        raise _Invalid(msg)
    if not isinstance(raw_metrics, str):
        msg = f"raw_metrics must be a base64 string, got {_short(raw_metrics)}"
        raise _Invalid(msg)
    return module_hash, epochs, adjacency, operations, raw_metrics


def _parse_fields(payload) -> tuple[str, int, str, str, bytes]:
    """Validate a payload's JSON fields; return them with the decoded protobuf bytes."""
    match = _CANONICAL_PAYLOAD.fullmatch(payload) if type(payload) is bytes else None
    raw_b64 = match.group(5).replace(b"\\n", b"") if match is not None else b"\\"
    if b"\\" not in raw_b64:
        module_hash = match.group(1).decode()
        epochs = int(match.group(2))
        adjacency = match.group(3).decode()
        operations = match.group(4).decode()
    else:
        module_hash, epochs, adjacency, operations, raw_b64 = _fields_from_json(payload)
    dim = _check_adjacency(adjacency)
    num_ops = _check_operations(operations)
    if num_ops != dim:
        msg = (
            f"raw_operations has {num_ops} labels but raw_adjacency is a {dim}x{dim} matrix; "
            f"they must agree"
        )
        raise _Invalid(msg)
    return module_hash, epochs, adjacency, operations, _decode_base64(raw_b64)


def _payload_error(
    exc: Exception, record_index: int | None, byte_offset: int | None, source: str | None
) -> ConversionError:
    """The ConversionError for a payload that failed to parse, saying where it came from.

    Only built on failure, so the parsers' success path costs nothing extra.
    ``_Invalid`` carries a complete message; a ConversionError from the
    metrics decoder is about the ``raw_metrics`` field.
    """
    msg = str(exc) if isinstance(exc, _Invalid) else f"raw_metrics: {exc.reason}"
    return ConversionError(msg, record_index=record_index, byte_offset=byte_offset, source=source)


def parse_payload(
    payload: bytes,
    *,
    record_index: int | None = None,
    byte_offset: int | None = None,
    source: str | None = None,
) -> Row:
    """Parse and validate one payload of an official file.

    Parameters
    ----------
    payload : bytes
        One TFRecord payload (see :func:`nasbench_arrow.tfrecord.iter_payloads`).
    record_index, byte_offset, source : optional
        Where the payload came from; copied into any error raised.

    Returns
    -------
    Row
        The stored strings as they are, and the decoded metrics.

    Raises
    ------
    ConversionError
        Invalid UTF-8 or JSON; not a list of 5 fields; a field of the wrong
        type or shape (hash not 32 lowercase hex digits, epochs not a positive
        int, adjacency not a 0/1 string of square length, operations not
        matching the vertex count, not ``input ... output``, or an unknown
        op); bad base64 (only the alphabet, ``=`` padding and newlines are
        allowed); undecodable protobuf; fewer than 3 evaluations.
    TypeError
        ``payload`` is not bytes-like.

    See Also
    --------
    parse_payload_values : the same checks, flat values, about twice as fast.

    Examples
    --------
    >>> payload = format_payload("0" * 32, 4, [[0, 1], [0, 0]], ["input", "output"],
    ...                          ModelMetrics((EvaluationData(),) * 3, 1, 2.0))
    >>> parse_payload(payload).adjacency
    '0100'
    """
    try:
        module_hash, epochs, adjacency, operations, raw = _parse_fields(payload)
        metrics = decode_metrics(raw)
        if len(metrics.evaluation_data) < NUM_EVALUATIONS:
            raise _too_few(len(metrics.evaluation_data))
    except (_Invalid, ConversionError) as exc:
        raise _payload_error(exc, record_index, byte_offset, source) from None
    return Row(module_hash, epochs, adjacency, operations, metrics)


def parse_payload_values(
    payload: bytes,
    *,
    record_index: int | None = None,
    byte_offset: int | None = None,
    source: str | None = None,
) -> tuple[str, int, str, str, tuple]:
    """Parse and validate one payload into plain values (fast path for bulk readers).

    Same checks and errors as :func:`parse_payload`, without building the
    metrics objects.

    Returns
    -------
    tuple
        ``(module_hash, epochs, adjacency, operations, values)`` where
        ``values`` is the 17-tuple of :func:`decode_metrics_values`: the 5
        doubles of evaluations 0, 1, 2 (start, halfway, final), then
        ``trainable_parameters`` and ``total_time``.
    """
    try:
        module_hash, epochs, adjacency, operations, raw = _parse_fields(payload)
        values = decode_metrics_values(raw)
    except (_Invalid, ConversionError) as exc:
        raise _payload_error(exc, record_index, byte_offset, source) from None
    return module_hash, epochs, adjacency, operations, values


def _matrix_string(matrix) -> str:
    if isinstance(matrix, str):
        return matrix
    return "".join(str(int(v)) for row in matrix for v in row)


def format_payload(
    module_hash: str,
    epochs: int,
    matrix,
    ops: Sequence[str] | str,
    metrics: ModelMetrics | bytes,
) -> bytes:
    """Build a payload exactly as the official files store it.

    ``json.dumps`` of ``[module_hash, epochs, raw_adjacency, raw_operations,
    raw_metrics]`` with its default separators, ``raw_metrics`` in
    ``base64.encodebytes`` style (a newline every 76 characters and one at
    the end), encoded as UTF-8. The values are written as given, not
    validated, so tests can also build bad records; :func:`parse_payload`
    validates.

    Parameters
    ----------
    module_hash : str
        The cell's hash.
    epochs : int
        Training budget.
    matrix : array-like of 0/1 or str
        The V x V adjacency matrix (nested lists or a numpy array), or the
        row-major 0/1 string itself.
    ops : sequence of str or str
        The V labels, or their comma-separated string.
    metrics : ModelMetrics or bytes
        The metrics, or their serialized protobuf bytes.

    Returns
    -------
    bytes
        The UTF-8 JSON payload.

    Examples
    --------
    >>> format_payload("ab" * 16, 4, "0100", "input,output", b"\\x10\\x01")[:48]
    b'["abababababababababababababababab", 4, "0100", '
    """
    raw = metrics if isinstance(metrics, (bytes, bytearray)) else encode_metrics(metrics)
    fields = [
        str(module_hash),
        int(epochs),
        _matrix_string(matrix),
        ops if isinstance(ops, str) else ",".join(ops),
        base64.encodebytes(bytes(raw)).decode("ascii"),
    ]
    return json.dumps(fields).encode("utf-8")
