"""Payload blocks to columns: the parsing stage of the converter.

Input: a :class:`nasbench_arrow.tfrecord.PayloadBlock` (payloads of one read
block, concatenated). Output: the columns of :data:`SPILL_SCHEMA` as numpy
arrays, one row per record, every value of the record in a fixed-width
column (:func:`to_batch` makes a :class:`pyarrow.RecordBatch` of them), ready
to be split by bucket and spilled to disk.

Two paths give identical rows:

* **Fast path (vectorised, numpy).** The published files were written by one
  program, so nearly every payload has exactly this layout::

      ["<32 hex>", <epochs>, "<0/1 * V*V>", "<op>,<op>,...", "<base64 with \\n escapes>"]

  with ``json.dumps`` separators, ``base64.encodebytes`` line breaks (an
  escaped newline after every 76 characters and at the end), and a
  ``ModelMetrics`` in protobuf's canonical serialisation: three
  ``EvaluationData`` of five doubles each (tags 1..5, no checkpoint path),
  then ``trainable_parameters`` (field 2, varint) and ``total_time`` (field 3,
  double). For such payloads every field sits at an offset computable from the
  positions of the eight quote characters, so a whole block is checked and
  decoded with array operations: no per-record Python.
* **Exact path.** Any payload that deviates from that layout in any way (other
  whitespace, JSON escapes, a non-canonical proto, extra fields, more
  evaluations, an unusual op list, ...) goes through
  :func:`nasbench_arrow.records.parse_payload_values`, which implements the full
  JSON/base64/protobuf semantics and raises a typed
  :class:`~nasbench_arrow.errors.ConversionError` (record index, byte offset)
  for bad input. The fast path only *accepts* payloads whose value it is sure
  of; it never rejects one, so errors always come from the exact path.

Cells are stored compactly in the spill: the module hash as two uint64, the
adjacency as a bit mask (bit ``i * V + j`` is entry ``(i, j)``) plus ``V``, and
the op labels as 3-bit codes (index in :data:`layout.OP_CODES`, vertex ``k`` at
bits ``3k..3k+2``). :mod:`.writer` turns them back into strings.
"""

from __future__ import annotations

import binascii
import functools
import math

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from nasbench_arrow import constants, layout
from nasbench_arrow.errors import ConversionError

__all__ = [
    "METRIC_COLUMNS",
    "SPILL_SCHEMA",
    "adjacency_matrices",
    "adjacency_strings",
    "exact_values",
    "fast_parse",
    "hash_hex_matrix",
    "numpy_to_arrow",
    "ops_codes_matrix",
    "parse_block",
    "to_batch",
]

#: The 15 evaluation doubles of a run (stage-major), then total_time: the
#: float64 columns of RUNS_SCHEMA in order.
METRIC_COLUMNS: tuple[str, ...] = (
    *(f"{stage}_{metric}" for stage in layout.STAGES for metric in layout.METRICS),
    "total_time",
)

#: One row per source record, everything fixed-width (see module docstring).
SPILL_SCHEMA = pa.schema(
    [
        pa.field("hash_hi", pa.uint64()),  # first 16 hex digits of module_hash
        pa.field("hash_lo", pa.uint64()),  # last 16 hex digits
        pa.field("record_index", pa.int64()),  # relative to the part's first record
        pa.field("byte_offset", pa.int64()),  # absolute file offset of the length field
        pa.field("epochs", pa.int16()),
        pa.field("num_vertices", pa.int8()),
        pa.field("adj_bits", pa.uint64()),
        pa.field("ops_code", pa.uint32()),
        pa.field("trainable_parameters", pa.int32()),
        *[pa.field(name, pa.float64()) for name in METRIC_COLUMNS],
    ]
)

_NUM_DOUBLES = len(METRIC_COLUMNS)  # 16
_MAXV = constants.MAX_VERTICES
_MAXL = _MAXV * _MAXV  # longest adjacency string (49)
_OP_INDEX = {name: code for code, name in enumerate(layout.OP_CODES)}

# ----------------------------------------------------------------------------- tables

_QUOTE = ord('"')
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

# Lowercase hex digit -> value; everything else 255 (the published hashes are lowercase).
_HEX_LUT = np.full(256, 255, dtype=np.uint8)
_HEX_LUT[_HEX_DIGITS] = np.arange(16, dtype=np.uint8)

# Standard base64 alphabet -> 6-bit value; everything else 255.
_B64_LUT = np.full(256, 255, dtype=np.uint8)
_B64_LUT[
    np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)
] = np.arange(64, dtype=np.uint8)

# Adjacency string length -> V (0 when not a square of 2..7).
_SQUARE_V = np.zeros(_MAXL + 1, dtype=np.int8)
for _v in range(2, _MAXV + 1):
    _SQUARE_V[_v * _v] = _v

# Canonical ModelMetrics: 3 x [0x0a 0x2d, 5 x (tag, 8-byte double)], 0x10 varint, 0x19 double.
_EVAL_SIZE = 2 + 5 * 9  # 47
_HEAD = 3 * _EVAL_SIZE  # 141: offset of the trainable_parameters tag
_TAG_COLS: list[int] = []
_TAG_VALS: list[int] = []
_DOUBLE_COLS: list[int] = []  # start of each of the 15 evaluation doubles
for _e in range(3):
    _base = _e * _EVAL_SIZE
    _TAG_COLS += [_base, _base + 1]
    _TAG_VALS += [0x0A, 5 * 9]
    for _f in range(5):
        _TAG_COLS.append(_base + 2 + 9 * _f)
        _TAG_VALS.append(((_f + 1) << 3) | 1)  # field f+1, wire type 1 (64-bit)
        _DOUBLE_COLS.append(_base + 3 + 9 * _f)
_TAG_COLS.append(_HEAD)
_TAG_VALS.append((2 << 3) | 0)  # trainable_parameters, varint
_TAG_COLS_A = np.array(_TAG_COLS)
_TAG_VALS_A = np.array(_TAG_VALS, dtype=np.uint8)


def _proto_size(k: int) -> int:
    """Canonical ModelMetrics size with a k-byte trainable_parameters varint."""
    return _HEAD + 1 + k + 9


def _b64_layout(p: int) -> tuple[int, int, np.ndarray, int]:
    """base64.encodebytes layout of ``p`` bytes as escaped in JSON.

    Returns ``(field_length, chars, keep_columns, pads)``: the field's length
    in the payload (escaped ``\\n`` = 2 bytes), the number of base64
    characters, the columns of the field that hold them, and the number of
    ``=`` pads.
    """
    chars = 4 * ((p + 2) // 3)
    pads = (3 - p % 3) % 3
    keep = []
    pos = 0
    for start in range(0, chars, 76):
        line = min(76, chars - start)
        keep.extend(range(pos, pos + line))
        pos += line + 2  # the escaped newline: backslash, 'n'
    return pos, chars, np.array(keep, dtype=np.int64), pads


# Field length -> list of (proto size, chars, keep columns, pads) sharing it.
_B64_BY_FIELD: dict[int, list[tuple[int, int, np.ndarray, int]]] = {}
for _k in range(1, 6):  # int32 >= 0 needs 1..5 varint bytes
    _p = _proto_size(_k)
    _field, _chars, _keep, _pads = _b64_layout(_p)
    _B64_BY_FIELD.setdefault(_field, []).append((_p, _chars, _keep, _pads))

# Epochs the fast path accepts (others go to the exact path, which decides).
_FAST_EPOCHS = np.zeros(1000, dtype=bool)
_FAST_EPOCHS[list(constants.VALID_EPOCHS)] = True


# ----------------------------------------------------------------------------- helpers


def _windows(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Rows ``data[s : s + width]`` for each ``s`` in ``starts`` (all in range), copied."""
    return sliding_window_view(data, width)[starts]


class _OpsTable:
    """Validated op-list strings -> (V, packed 3-bit codes); shared across blocks."""

    def __init__(self):
        self._known: dict[bytes, tuple[int, int] | None] = {}

    def lookup(self, raw: bytes) -> tuple[int, int] | None:
        try:
            return self._known[raw]
        except KeyError:
            pass
        result = None
        try:
            names = raw.decode("ascii").split(",")
        except UnicodeDecodeError:
            names = None
        if (
            names
            and 2 <= len(names) <= _MAXV
            and names[0] == constants.INPUT
            and names[-1] == constants.OUTPUT
            and all(n in constants.AVAILABLE_OPS for n in names[1:-1])
        ):
            code = 0
            for k, name in enumerate(names):
                code |= _OP_INDEX[name] << (3 * k)
            result = (len(names), code)
        self._known[raw] = result
        return result


_OPS_TABLE = _OpsTable()
_OPS_WIDTH = 6 + 5 * 16 + 6  # "input," + 5 x "conv3x3-bn-relu," + "output"


# ----------------------------------------------------------------------------- fast path

_ARANGE8 = np.arange(8)
_SEP_WIDTH = 7  # bytes after the hash's closing quote: ', ' + up to 3 digits + ', '
# Random odd multipliers: a 64-bit key per zero-padded op string (checked exactly afterwards).
_OPS_MULT = np.random.default_rng(20190101).integers(
    1, 2**63, size=_OPS_WIDTH // 4, dtype=np.uint64
) | np.uint64(1)
_LOWER_MASK = np.zeros(_MAXV + 1, dtype=np.uint64)  # bits of entries on/below the diagonal
for _v in range(2, _MAXV + 1):
    _LOWER_MASK[_v] = sum(1 << (_i * _v + _j) for _i in range(_v) for _j in range(_i + 1))


def _ops_codes(win: np.ndarray, nv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded op-list windows -> (packed codes, valid) through the shared table."""
    keys = (win.view("<u4").astype(np.uint64) * _OPS_MULT).sum(axis=1, dtype=np.uint64)
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    u_v = np.zeros(len(uniq), dtype=np.int64)
    u_code = np.zeros(len(uniq), dtype=np.uint32)
    for u, row in enumerate(first.tolist()):
        found = _OPS_TABLE.lookup(win[row].tobytes().rstrip(b"\0"))
        if found is not None:
            u_v[u], u_code[u] = found
    # A key collision would give a wrong code: compare every window with its key's first one.
    same = (win == win[first[inverse]]).all(axis=1)
    return u_code[inverse], same & (u_v[inverse] == nv)


_PACKED16 = np.dtype([(f"d{j}", "<f8") for j in range(_NUM_DOUBLES)])


@functools.cache
def _doubles_dtype(k: int, width: int) -> np.dtype:
    """Structured view of a decoded row: the 16 doubles at their wire offsets."""
    return np.dtype(
        {
            "names": [f"d{j}" for j in range(_NUM_DOUBLES)],
            "formats": ["<f8"] * _NUM_DOUBLES,
            "offsets": [*_DOUBLE_COLS, _HEAD + 2 + k],
            "itemsize": width,
        }
    )


def _b64_decode_rows(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode rows of base64 text (no padding chars left, length a multiple of 4).

    Returns ``(raw, valid)``: decoded bytes (rows, 3 * chars / 4) and which rows
    held only alphabet characters (other rows are zero).
    """
    rows, chars = text.shape
    size = chars // 4 * 3
    # Polars' base64 decoder is ~2x faster than binascii; it rejects the
    # whole array if any row is bad, which then goes the slow way below.
    offsets = np.arange(0, rows * chars + 1, chars, dtype=np.int64)
    strings = pa.Array.from_buffers(
        pa.large_binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    try:
        out = pl.from_arrow(strings).bin.decode("base64").to_arrow().cast(pa.large_binary())
    except pl.exceptions.ComputeError:
        out = None
    if out is not None and out.null_count == 0:
        bounds = np.frombuffer(out.buffers()[1], dtype=np.int64)[out.offset : out.offset + rows + 1]
        if bounds[-1] - bounds[0] == rows * size:
            flat = np.frombuffer(out.buffers()[2], dtype=np.uint8)
            return flat[bounds[0] : bounds[-1]].reshape(rows, size), np.ones(rows, dtype=bool)
    # Some row holds a character outside the alphabet: find them, decode the others.
    valid = (_B64_LUT[text] != 255).all(axis=1)
    raw = np.zeros((rows, size), dtype=np.uint8)
    if valid.any():
        good = text[valid]
        raw[valid] = np.frombuffer(binascii.a2b_base64(good.reshape(-1)), np.uint8).reshape(
            -1, size
        )
    return raw, valid


def fast_parse(data: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """Decode the payloads that have the exact published layout, vectorised.

    Parameters
    ----------
    data : numpy.ndarray
        uint8 buffer holding the payloads.
    starts, ends : numpy.ndarray
        int64 offsets of each payload in ``data`` (``data[starts[i]:ends[i]]``).

    Returns
    -------
    ok : numpy.ndarray
        bool, shape ``(n,)``: payload decoded here.
    cols : dict
        Spill column name (every :data:`SPILL_SCHEMA` column but
        ``record_index`` and ``byte_offset``) -> array of length ``n``, filled
        where ``ok`` (zero elsewhere). The metrics are one ``(16, n)`` float64
        array under ``"metrics"`` (rows in :data:`METRIC_COLUMNS` order).
    """
    n = len(starts)
    ok = np.zeros(n, dtype=bool)
    cols = {
        "hash_hi": np.zeros(n, dtype=np.uint64),
        "hash_lo": np.zeros(n, dtype=np.uint64),
        "epochs": np.zeros(n, dtype=np.int16),
        "num_vertices": np.zeros(n, dtype=np.int8),
        "adj_bits": np.zeros(n, dtype=np.uint64),
        "ops_code": np.zeros(n, dtype=np.uint32),
        "trainable_parameters": np.zeros(n, dtype=np.int32),
        "metrics": np.zeros((_NUM_DOUBLES, n), dtype=np.float64),
    }
    if n == 0:
        return ok, cols
    size = len(data)
    qpos = np.flatnonzero(data == _QUOTE)
    lo = np.searchsorted(qpos, starts)
    hi = np.searchsorted(qpos, ends)
    cand = np.flatnonzero((hi - lo) == 8)  # 4 JSON strings -> 8 quotes
    if len(cand) == 0:
        return ok, cols
    q = qpos[lo[cand][:, None] + _ARANGE8]
    s = starts[cand]
    e = ends[cand]
    q0, q1, q2, q3, q4, q5, q6, q7 = q.T
    digits = q2 - q1 - 5
    good = (
        (q0 == s + 1)
        & (q1 == q0 + 33)
        & (q7 == e - 2)
        & (q4 == q3 + 3)
        & (q6 == q5 + 3)
        & (digits >= 1)
        & (digits <= 3)
        & (data[s] == ord("["))
        & (data[e - 1] == ord("]"))
        & (data[q3 + 1] == ord(","))
        & (data[q3 + 2] == ord(" "))
        & (data[q5 + 1] == ord(","))
        & (data[q5 + 2] == ord(" "))
        # every window read below lies inside the buffer
        & (q1 + 1 + _SEP_WIDTH <= size)
        & (q2 + 1 + _MAXL <= size)
        & (q4 + 1 + _OPS_WIDTH <= size)
    )
    idx = np.flatnonzero(good)
    if len(idx) == 0:
        return ok, cols
    cand, q0, q1, q2, q3, q4, q5, q6, q7, digits = (
        a[idx] for a in (cand, q0, q1, q2, q3, q4, q5, q6, q7, digits)
    )
    m = len(idx)

    # ', <digits>, ' between the hash and the adjacency; no leading zero.
    w = _windows(data, q1 + 1, _SEP_WIDTH).astype(np.int64)
    good = (w[:, 0] == ord(",")) & (w[:, 1] == ord(" ")) & (w[:, 2] != ord("0"))
    d = w[:, 2:5] - ord("0")
    isdig = (d >= 0) & (d <= 9)
    epochs = np.full(m, -1, dtype=np.int64)
    for nd in (1, 2, 3):
        r = np.flatnonzero(digits == nd)
        if len(r) == 0:
            continue
        v = np.zeros(len(r), dtype=np.int64)
        for k in range(nd):
            v = v * 10 + d[r, k]
        fine = isdig[r, :nd].all(axis=1) & (w[r, 2 + nd] == ord(",")) & (w[r, 3 + nd] == ord(" "))
        epochs[r] = np.where(fine, v, -1)
    good &= _FAST_EPOCHS[np.clip(epochs, 0, len(_FAST_EPOCHS) - 1)]

    # Hash: 32 lowercase hex digits -> two big-endian uint64.
    hexm = _HEX_LUT[_windows(data, q0 + 1, 32)]
    good &= (hexm != 255).all(axis=1)
    words = ((hexm[:, 0::2] << 4) | (hexm[:, 1::2] & 15)).view(">u8")
    hash_hi = words[:, 0].astype(np.uint64)
    hash_lo = words[:, 1].astype(np.uint64)

    # Adjacency: V*V chars of 0/1, ones only above the diagonal.
    alen = q3 - q2 - 1
    nv = _SQUARE_V[np.clip(alen, 0, _MAXL)] * (alen <= _MAXL)
    good &= nv > 0
    bit = _windows(data, q2 + 1, _MAXL) - np.uint8(ord("0"))  # '0' -> 0, '1' -> 1, else > 1
    inside = np.arange(_MAXL) < alen[:, None]
    good &= ~((bit > 1) & inside).any(axis=1)
    ones = (bit == 1) & inside
    packed = np.zeros((m, 8), dtype=np.uint8)
    packed[:, :7] = np.packbits(ones, axis=1, bitorder="little")
    adj_bits = packed.view("<u8")[:, 0].astype(np.uint64)
    good &= (adj_bits & _LOWER_MASK[nv]) == 0

    # Ops: op lists repeat (a few hundred distinct ones in the whole file).
    olen = q5 - q4 - 1
    good &= (olen > 0) & (olen <= _OPS_WIDTH)
    ops_win = _windows(data, q4 + 1, _OPS_WIDTH)
    inside = np.arange(_OPS_WIDTH) < olen[:, None]
    good &= ~((ops_win == 0) & inside).any(axis=1)  # NUL pads the windows below
    ops_win = np.where(inside, ops_win, np.uint8(0))
    ops_code, ops_ok = _ops_codes(ops_win, nv.astype(np.int64))
    good &= ops_ok

    # base64 -> canonical ModelMetrics, per field length.
    blen = q7 - q6 - 1
    metrics = np.zeros((_NUM_DOUBLES, m), dtype=np.float64)
    params = np.zeros(m, dtype=np.int64)
    decoded = np.zeros(m, dtype=bool)
    for field, variants in _B64_BY_FIELD.items():
        rows = np.flatnonzero(good & (blen == field))
        if len(rows) == 0:
            continue
        win = _windows(data, q6[rows] + 1, field)
        _p0, chars, keep, _ = variants[0]
        esc = np.setdiff1d(np.arange(field), keep)
        fine = (win[:, esc[0::2]] == ord("\\")).all(axis=1) & (win[:, esc[1::2]] == ord("n")).all(
            axis=1
        )
        text = np.empty((len(rows), chars), dtype=np.uint8)
        for line in range(0, chars, 76):  # copy line by line, dropping the escapes
            width = min(76, chars - line)
            src = line // 76 * 78
            text[:, line : line + width] = win[:, src : src + width]
        pad1 = text[:, -1] == ord("=")
        pad2 = pad1 & (text[:, -2] == ord("="))
        pads = pad1.astype(np.int64) + pad2
        text[:, -1] = np.where(pad1, ord("A"), text[:, -1])
        text[:, -2] = np.where(pad2, ord("A"), text[:, -2])
        raw, valid = _b64_decode_rows(text)
        fine &= valid
        for p, _chars, _keep, npad in variants:
            sub = np.flatnonzero(fine & (pads == npad))
            if len(sub) == 0:
                continue
            proto = raw[sub]
            k = p - _HEAD - 10  # varint bytes of trainable_parameters
            ok_p = (proto[:, _TAG_COLS_A] == _TAG_VALS_A).all(axis=1)
            ok_p &= (proto[:, p:] == 0).all(axis=1)  # canonical: unused pad bits are zero
            ok_p &= proto[:, _HEAD + 1 + k] == (3 << 3) | 1  # total_time, 64-bit
            var = proto[:, _HEAD + 1 : _HEAD + 1 + k].astype(np.int64)
            ok_p &= (var[:, :-1] >= 0x80).all(axis=1) & (var[:, -1] < 0x80)
            value = np.zeros(len(sub), dtype=np.int64)
            for b in range(k - 1, -1, -1):
                value = (value << 7) | (var[:, b] & 0x7F)
            ok_p &= value < 2**31
            target = rows[sub]
            # One structured cast pulls the 16 unaligned doubles out of each row.
            doubles = proto.view(_doubles_dtype(k, proto.shape[1])).reshape(-1).astype(_PACKED16)
            metrics[:, target] = doubles.view("<f8").reshape(-1, _NUM_DOUBLES).T
            params[target] = value
            decoded[target] = ok_p
    good &= decoded

    sel = np.flatnonzero(good)
    at = cand[sel]
    ok[at] = True
    cols["hash_hi"][at] = hash_hi[sel]
    cols["hash_lo"][at] = hash_lo[sel]
    cols["epochs"][at] = epochs[sel]
    cols["num_vertices"][at] = nv[sel]
    cols["adj_bits"][at] = adj_bits[sel]
    cols["ops_code"][at] = ops_code[sel]
    cols["trainable_parameters"][at] = params[sel]
    cols["metrics"][:, at] = metrics[:, sel]
    return ok, cols


# ----------------------------------------------------------------------------- exact path


def exact_values(payload: bytes, *, source=None, record_index=None, byte_offset=None) -> dict:
    """Parse one payload the exact way and return its spill values.

    :func:`nasbench_arrow.records.parse_payload_values` does the JSON, base64
    and protobuf work and their validation; this adds what the dataset layout
    needs on top (at most 7 vertices, epochs and parameters that fit the
    column types).

    Returns
    -------
    dict
        Spill column name -> value; the 16 doubles as a list under ``"metrics"``.

    Raises
    ------
    ConversionError
        The record cannot be parsed or stored.
    """
    from nasbench_arrow.records import parse_payload_values

    where = {"source": source, "record_index": record_index, "byte_offset": byte_offset}
    module_hash, epochs, adjacency, operations, values = parse_payload_values(payload, **where)
    if epochs >= 2**15:
        msg = f"epochs must be below 32768 (stored as int16), got {epochs}"
        raise ConversionError(msg, **where)
    v = math.isqrt(len(adjacency))
    if v > _MAXV:
        msg = (
            f"raw_adjacency is a {v}x{v} matrix; the dataset holds cells of at most "
            f"{_MAXV} vertices (NAS-Bench-101's space)"
        )
        raise ConversionError(msg, **where)
    code = 0
    for k, name in enumerate(operations.split(",")):
        code |= _OP_INDEX[name] << (3 * k)
    bits = 0
    for k, ch in enumerate(adjacency):
        if ch == "1":
            bits |= 1 << k
    return {
        "hash_hi": int(module_hash[:16], 16),
        "hash_lo": int(module_hash[16:], 16),
        "epochs": epochs,
        "num_vertices": v,
        "adj_bits": bits,
        "ops_code": code,
        "trainable_parameters": values[15],
        "metrics": [*values[:15], values[16]],
    }


def parse_block(block, *, source=None, index_base: int = 0, stats=None) -> dict:
    """Parse every payload of a block into spill columns.

    Parameters
    ----------
    block : PayloadBlock
        From :func:`nasbench_arrow.tfrecord.iter_payload_blocks`.
    source : str, optional
        File name for error messages.
    index_base : int
        Added to ``block.first_index`` in error messages (a part of a file
        read from its middle counts its records from 0).
    stats : dict, optional
        Incremented in place: ``"fast"`` and ``"exact"`` record counts.

    Returns
    -------
    dict
        Column name -> numpy array of length ``len(block)`` in block order,
        as :func:`fast_parse`, plus ``record_index`` (``block.first_index +
        i``, without ``index_base``) and ``byte_offset``.

    Raises
    ------
    ConversionError
        From the exact path, for the first bad record of the block.
    """
    n = len(block.byte_offsets)
    data = np.frombuffer(block.data, dtype=np.uint8)
    offsets = np.asarray(block.offsets, dtype=np.int64)
    ok, cols = fast_parse(data, offsets[:-1], offsets[1:])
    cols["record_index"] = np.arange(block.first_index, block.first_index + n, dtype=np.int64)
    cols["byte_offset"] = np.asarray(block.byte_offsets, dtype=np.int64)
    slow = np.flatnonzero(~ok)
    if stats is not None:
        stats["fast"] = stats.get("fast", 0) + (n - len(slow))
        stats["exact"] = stats.get("exact", 0) + len(slow)
    if len(slow) == 0:
        return cols
    for i in slow.tolist():
        rec = index_base + block.first_index + i
        off = int(cols["byte_offset"][i])
        payload = block.data[int(offsets[i]) : int(offsets[i + 1])]
        values = exact_values(payload, source=source, record_index=rec, byte_offset=off)
        for name, value in values.items():
            if name == "metrics":
                cols[name][:, i] = value
            else:
                cols[name][i] = value
    return cols


def to_batch(cols: dict, rows: np.ndarray | None = None) -> pa.RecordBatch:
    """Spill columns (as :func:`parse_block` returns them) -> a SPILL_SCHEMA batch.

    ``rows`` selects and orders rows (all rows, in order, when None).
    """
    arrays = []
    for f in SPILL_SCHEMA:
        if f.name in _METRIC_ROW:
            values = cols["metrics"][_METRIC_ROW[f.name]]
        else:
            values = cols[f.name]
        if rows is not None:
            values = values[rows]
        arrays.append(numpy_to_arrow(values, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=SPILL_SCHEMA)


_METRIC_ROW = {name: j for j, name in enumerate(METRIC_COLUMNS)}


def numpy_to_arrow(values: np.ndarray, type: pa.DataType) -> pa.Array:
    """A numeric numpy array as an Arrow array of ``type``, zero-copy when contiguous.

    (``pa.array`` on numpy input imports pandas, ~0.5 s per process.)
    """
    values = np.ascontiguousarray(values, dtype=_NUMPY_OF[type])
    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(values)])


_NUMPY_OF = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float64(): np.float64,
}


# ----------------------------------------------------------------------------- decoding back


def hash_hex_matrix(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(hi, lo) uint64 -> (n, 32) uint8 matrix of lowercase hex ASCII."""
    words = np.empty((len(hi), 2), dtype=">u8")
    words[:, 0] = hi
    words[:, 1] = lo
    b = words.view(np.uint8).reshape(len(hi), 16)
    out = np.empty((len(hi), 32), dtype=np.uint8)
    out[:, 0::2] = _HEX_DIGITS[b >> 4]
    out[:, 1::2] = _HEX_DIGITS[b & 15]
    return out


def _bit_matrix(bits: np.ndarray) -> np.ndarray:
    """uint64 masks -> (n, 64) uint8 of their bits, least significant first."""
    as_bytes = np.ascontiguousarray(bits, dtype="<u8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")


def adjacency_strings(bits: np.ndarray, nv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bit masks + V -> (offsets int32 (n+1,), ASCII data) of the row-major 0/1 strings."""
    lengths = nv.astype(np.int64) ** 2
    chars = _bit_matrix(bits)[:, :_MAXL] + np.uint8(ord("0"))
    data = chars[np.arange(_MAXL) < lengths[:, None]]
    offsets = np.zeros(len(bits) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, data


def adjacency_matrices(bits: np.ndarray, nv: np.ndarray) -> np.ndarray:
    """Bit masks + V -> (n, 7, 7) int8 matrices padded with zeros beyond V."""
    out = np.zeros((len(bits), _MAXV, _MAXV), dtype=np.int8)
    matrix = _bit_matrix(bits)
    for v in np.unique(nv).tolist():
        rows = np.flatnonzero(nv == v)
        out[rows, :v, :v] = matrix[rows, : v * v].reshape(-1, v, v)
    return out


def ops_codes_matrix(code: np.ndarray, nv: np.ndarray) -> np.ndarray:
    """Packed op codes + V -> (n, 7) uint8 OP_CODES indices, 255 beyond V."""
    shifts = (3 * np.arange(_MAXV)).astype(np.uint32)
    codes = ((code.astype(np.uint32)[:, None] >> shifts) & np.uint32(7)).astype(np.uint8)
    codes[np.arange(_MAXV)[None, :] >= nv.astype(np.int64)[:, None]] = 255
    return codes
