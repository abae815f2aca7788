"""TFRecord framing: the streaming reader, its errors, and the writer (nasbench_arrow.tfrecord)."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import warnings

import crc32c
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasbench_arrow import tfrecord
from nasbench_arrow.errors import ConversionError, TFRecordError
from nasbench_arrow.tfrecord import (
    PayloadBlock,
    TFRecordWriter,
    iter_payload_blocks,
    iter_payloads,
    masked_crc32c,
    write_tfrecord,
)

# --------------------------------------------------------------------------- an independent framer


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _frame(payload: bytes) -> bytes:
    """One record framed by hand (struct + crc32c), independent of the module."""
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", _mask(crc32c.crc32c(length)))
        + payload
        + struct.pack("<I", _mask(crc32c.crc32c(payload)))
    )


def _file(payloads) -> bytes:
    return b"".join(_frame(p) for p in payloads)


def _offsets(payloads) -> list[int]:
    out, pos = [], 0
    for p in payloads:
        out.append(pos)
        pos += len(p) + 16
    return out


def _read_all(source, **kw) -> list[tuple[int, int, bytes]]:
    return list(iter_payloads(source, **kw))


def _read_blocks(source, **kw) -> list[tuple[int, int, bytes]]:
    return [t for block in iter_payload_blocks(source, **kw) for t in block]


READERS = [_read_all, _read_blocks]
payload_lists = st.lists(st.binary(max_size=300), max_size=20)
block_sizes = st.integers(1, 400)


class _Stream:
    """A read-only, non-seekable binary stream returning short reads (like a pipe)."""

    def __init__(self, data: bytes, chunk: int = 7):
        self._buf = io.BytesIO(data)
        self._chunk = chunk

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(min(n, self._chunk) if n >= 0 else self._chunk)


# --------------------------------------------------------------------------- reading


def test_masked_crc32c_known_values():
    """masked_crc32c masks the Castagnoli CRC as TFRecord does (CRC32C('123456789') = 0xe3069283)."""
    assert crc32c.crc32c(b"123456789") == 0xE3069283
    assert masked_crc32c(b"123456789") == _mask(0xE3069283)
    assert masked_crc32c(b"") == 0xA282EAD8
    assert masked_crc32c(memoryview(b"xx123456789")[2:]) == masked_crc32c(b"123456789")


def test_genuine_record(realdata):
    """The genuine 417-byte record of the official file reads as one 401-byte payload at offset 0."""
    path = realdata / "nasbench_rs_record_00005c14_e4.tfrecord"
    data = path.read_bytes()
    assert len(data) == 417
    ((index, offset, payload),) = _read_all(path)
    assert (index, offset, len(payload)) == (0, 0, 401)
    assert payload.startswith(b'["00005c142e6f48ac74fdcf73e3439874", 4, ')
    assert _file([payload]) == data
    buf = io.BytesIO()
    write_tfrecord(buf, [payload])
    assert buf.getvalue() == data


@pytest.mark.parametrize("read", READERS)
@given(payloads=payload_lists, block_size=block_sizes)
def test_round_trip_any_block_size(read, payloads, block_size):
    """Every payload comes back with its index and offset, whatever the block size."""
    data = _file(payloads)
    got = read(io.BytesIO(data), block_size=block_size)
    assert got == list(zip(range(len(payloads)), _offsets(payloads), payloads))


@given(payloads=payload_lists, block_size=block_sizes)
def test_payload_blocks_layout(payloads, block_size):
    """PayloadBlock: concatenated data, n+1 int64 offsets, int64 file offsets, running first_index."""
    expected_index = 0
    for block in iter_payload_blocks(io.BytesIO(_file(payloads)), block_size=block_size):
        assert isinstance(block, PayloadBlock)
        n = len(block)
        assert n > 0
        assert block.first_index == expected_index
        assert block.offsets.dtype == np.int64 and block.offsets.shape == (n + 1,)
        assert block.byte_offsets.dtype == np.int64 and block.byte_offsets.shape == (n,)
        assert block.offsets[0] == 0 and block.offsets[-1] == len(block.data)
        for i in range(n):
            assert block.payload(i) == payloads[expected_index + i]
        expected_index += n
    assert expected_index == len(payloads)


def test_writer_matches_independent_framing(tmp_path):
    """write_tfrecord produces the hand-framed bytes and returns the record count."""
    payloads = [b"", b"a", b"x" * 1000, bytes(range(256))]
    path = tmp_path / "w.tfrecord"
    assert write_tfrecord(path, iter(payloads)) == 4
    assert path.read_bytes() == _file(payloads)


def test_sources_path_str_and_file_objects(tmp_path):
    """A str, a PathLike, an open file and a pipe-like stream all read the same records."""
    payloads = [b"one", b"two", b"three" * 50]
    path = tmp_path / "s.tfrecord"
    path.write_bytes(_file(payloads))
    expected = list(zip(range(3), _offsets(payloads), payloads))
    assert _read_all(str(path)) == expected
    assert _read_all(path) == expected
    with open(path, "rb") as f:
        assert _read_all(f) == expected
        assert not f.closed
    assert _read_all(_Stream(_file(payloads)), block_size=5) == expected


def test_offsets_count_from_the_file_start(tmp_path):
    """A file object positioned after a prefix reports absolute byte offsets."""
    prefix = b"JUNK" * 5
    path = tmp_path / "p.tfrecord"
    path.write_bytes(prefix + _file([b"abc", b"de"]))
    with open(path, "rb") as f:
        f.seek(len(prefix))
        got = _read_all(f)
    assert [(i, o) for i, o, _ in got] == [(0, 20), (1, 39)]


def test_empty_file_has_no_records(tmp_path):
    """An empty file yields nothing, without error."""
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    assert _read_all(path) == []
    assert list(iter_payload_blocks(path)) == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_block_size_must_be_positive_int(bad):
    """block_size other than a positive int is a ValueError."""
    with pytest.raises(ValueError, match="block_size"):
        _read_all(io.BytesIO(b""), block_size=bad)


def test_source_type_errors():
    """Neither a path nor a binary file object, or a text stream, is a TypeError."""
    with pytest.raises(TypeError, match="path"):
        _read_all(42)
    with pytest.raises(TypeError, match="binary file"):
        _read_all(io.StringIO("abc"))


# --------------------------------------------------------------------------- framing errors

GOOD = [b"first payload", b"second", b"third one" * 10]
OFFSETS = _offsets(GOOD)  # [0, 29, 51]


def _corrupt(kind: str) -> tuple[bytes, int, str]:
    """A file whose record 1 is broken in one way; returns (data, bad record index, message)."""
    data = bytearray(_file(GOOD))
    at = OFFSETS[1]
    if kind == "length crc":
        data[at + 8] ^= 0x01
        return bytes(data), 1, "length CRC mismatch"
    if kind == "length value":  # the length changed, its CRC not: caught by the length CRC
        data[at] ^= 0x02
        return bytes(data), 1, "length CRC mismatch"
    if kind == "payload crc":
        data[at + 12] ^= 0x40
        return bytes(data), 1, "payload CRC mismatch"
    if kind == "footer crc":
        data[OFFSETS[2] - 1] ^= 0x80
        return bytes(data), 1, "payload CRC mismatch"
    if kind == "truncated header":
        return bytes(data[: at + 7]), 1, "truncated header"
    if kind == "truncated payload":
        return bytes(data[: at + 12 + 3]), 1, "truncated payload"
    if kind == "truncated footer":
        return bytes(data[: OFFSETS[2] - 2]), 1, "truncated footer"
    raise AssertionError(kind)


KINDS = [
    "length crc",
    "length value",
    "payload crc",
    "footer crc",
    "truncated header",
    "truncated payload",
    "truncated footer",
]


def _flat_blocks(source, **kw):
    for block in iter_payload_blocks(source, **kw):
        yield from block


@pytest.mark.parametrize("reader", [iter_payloads, _flat_blocks], ids=["payloads", "blocks"])
@pytest.mark.parametrize("block_size", [1, 13, 40, 1 << 20])
@pytest.mark.parametrize("kind", KINDS)
def test_framing_error_names_record_and_offset(kind, block_size, reader):
    """Each framing error is a TFRecordError naming record 1 and its byte offset; record 0 comes first."""
    data, index, pattern = _corrupt(kind)
    got = []
    with pytest.raises(TFRecordError, match=pattern) as info:
        for item in reader(io.BytesIO(data), block_size=block_size):
            got.append(item)  # noqa: PERF402 (keep what came before the error)
    err = info.value
    assert isinstance(err, ConversionError) and isinstance(err, ValueError)
    assert (err.record_index, err.byte_offset) == (index, OFFSETS[index])
    assert f"record {index}, byte offset {OFFSETS[index]}" in str(err)
    assert got == [(0, 0, GOOD[0])]


def test_error_names_the_file(tmp_path):
    """With a path source, the error starts with the file name."""
    data, _, _ = _corrupt("payload crc")
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(data)
    with pytest.raises(TFRecordError) as info:
        _read_all(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}, record 1, byte offset 29: payload CRC mismatch")


@pytest.mark.parametrize("kind", ["length crc", "payload crc", "footer crc"])
def test_verify_crc_false_skips_crc_checks(kind):
    """verify_crc=False reads past CRC damage that leaves the lengths intact."""
    data, _, _ = _corrupt(kind)
    got = _read_all(io.BytesIO(data), verify_crc=False)
    assert len(got) == 3
    assert [(i, o) for i, o, _ in got] == list(zip(range(3), OFFSETS))


def _huge_length_file(length: int, valid_crc: bool) -> bytes:
    header = struct.pack("<Q", length)
    crc = _mask(crc32c.crc32c(header)) if valid_crc else 0
    return _file([b"ok"]) + header + struct.pack("<I", crc) + b"some bytes"


@pytest.mark.parametrize("length", [2**63 - 1, 2**64 - 1, 10**12, 1 << 31])
@pytest.mark.parametrize("verify_crc", [True, False])
def test_huge_length_does_not_allocate(tmp_path, length, verify_crc):
    """A length beyond the end of the file is a truncation error, with nothing allocated for it."""
    path = tmp_path / "huge.tfrecord"
    path.write_bytes(_huge_length_file(length, valid_crc=True))
    tracemalloc.start()
    try:
        with pytest.raises(TFRecordError, match="larger than the rest of the file") as info:
            _read_all(path, verify_crc=verify_crc, block_size=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert (info.value.record_index, info.value.byte_offset) == (1, 18)


def test_huge_length_in_a_pipe_reads_only_what_exists():
    """Without a known size, a bogus length reads the stream to its end, in blocks, then fails."""
    data = _huge_length_file(2**62, valid_crc=True)
    tracemalloc.start()
    try:
        with pytest.raises(TFRecordError, match="truncated payload"):
            _read_all(_Stream(data), block_size=16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_huge_length_with_bad_crc_is_a_length_crc_error():
    """A corrupt length is reported as a length CRC mismatch before anything is read for it."""
    data = _huge_length_file(2**60, valid_crc=False)
    with pytest.raises(TFRecordError, match="length CRC mismatch") as info:
        _read_all(io.BytesIO(data))
    assert (info.value.record_index, info.value.byte_offset) == (1, 18)


def test_large_record_spanning_many_blocks(tmp_path):
    """A record much larger than the block size is read whole."""
    payloads = [b"a" * 10, os.urandom(100_000), b"b"]
    path = tmp_path / "big.tfrecord"
    path.write_bytes(_file(payloads))
    assert [p for _, _, p in _read_all(path, block_size=1000)] == payloads
    assert [p for _, _, p in _read_blocks(path, block_size=1000)] == payloads


# --------------------------------------------------------------------------- writer


def test_writer_on_file_object_keeps_it_open():
    """TFRecordWriter writes at the object's position, counts records, and leaves it open."""
    buf = io.BytesIO()
    buf.write(b"PRE")
    with TFRecordWriter(buf) as w:
        w.write(b"abc")
        w.write(memoryview(b"defg"))
        assert w.records_written == 2
    assert not buf.closed
    assert buf.getvalue() == b"PRE" + _file([b"abc", b"defg"])


def test_writer_refuses_writes_after_close():
    """write() after close() is a ValueError; close() twice is harmless."""
    w = TFRecordWriter(io.BytesIO())
    w.close()
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(b"x")


def test_writer_type_error():
    """A target that is neither a path nor writable is a TypeError."""
    with pytest.raises(TypeError, match="path"):
        TFRecordWriter(3.5)


def test_exported_names():
    """The module exports exactly its public API."""
    assert sorted(tfrecord.__all__) == sorted(
        [
            "DEFAULT_BLOCK_SIZE",
            "FOOTER_SIZE",
            "NOT_TFRECORD",
            "HEADER_SIZE",
            "PayloadBlock",
            "TFRecordWriter",
            "iter_payload_blocks",
            "iter_payloads",
            "masked_crc32c",
            "write_tfrecord",
        ]
    )


# --------------------------------------------------------------------------- TensorFlow as independent reference


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported quietly, or a visible skip."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        return pytest.importorskip(
            "tensorflow",
            reason="TensorFlow is not installed (pip install 'nasbench-arrow[train]')",
        )


PAYLOADS_FOR_TF = [b"", b"x", b"hello world" * 40, os.urandom(5000), b'["json", 4]']


@pytest.mark.train
def test_reader_reads_tensorflow_writer_output(tf, tmp_path):
    """Records written by tf.io.TFRecordWriter read back exactly, CRCs verified."""
    path = tmp_path / "tf.tfrecord"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tf.io.TFRecordWriter(str(path)) as writer:
            for p in PAYLOADS_FOR_TF:
                writer.write(p)
    assert [p for _, _, p in _read_all(path, block_size=97)] == PAYLOADS_FOR_TF
    assert path.read_bytes() == _file(PAYLOADS_FOR_TF)


@pytest.mark.train
def test_tensorflow_reads_our_writer_output(tf, tmp_path):
    """tf.data.TFRecordDataset reads what write_tfrecord wrote."""
    path = tmp_path / "ours.tfrecord"
    write_tfrecord(path, PAYLOADS_FOR_TF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [t.numpy() for t in tf.data.TFRecordDataset(str(path))]
    assert got == PAYLOADS_FOR_TF


@pytest.mark.train
def test_tensorflow_refuses_what_we_refuse(tf, tmp_path):
    """A payload CRC error we report is also a data-loss error for TensorFlow."""
    data, _, _ = _corrupt("payload crc")
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(tf.errors.DataLossError):
            list(tf.data.TFRecordDataset(str(path)))
    with pytest.raises(TFRecordError):
        _read_all(path)


# --------------------------------------------------------------------------- not a TFRecord file


@pytest.mark.parametrize(
    "content",
    [
        b"module_hash,epochs\n0123,108\n" * 20,  # a CSV / text file
        b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n",  # an error page
        b"PK\x03\x04" + bytes(200),  # a zip archive
        b"hello",  # shorter than one header
    ],
)
def test_first_frame_not_tfrecord_says_not_a_tfrecord_file(tmp_path, content):
    """A file whose very first frame is not TFRecord framing: 'not a TFRecord file', at record 0."""
    path = tmp_path / "notes.tfrecord"
    path.write_bytes(content)
    for read in (_read_all, _read_blocks):
        with pytest.raises(TFRecordError, match="^.*not a TFRecord file") as info:
            read(path)
        assert (info.value.record_index, info.value.byte_offset) == (0, 0)


def test_damage_after_the_first_record_is_still_called_corrupt(tmp_path):
    """A bad header later in the file is damage, not 'not a TFRecord file'."""
    data = bytearray(_file([b"a" * 10, b"b" * 10]))
    data[26 + 8] ^= 0xFF  # length CRC of record 1
    path = tmp_path / "x.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(TFRecordError, match="length CRC mismatch.*corrupt") as info:
        _read_all(path)
    assert "not a TFRecord file" not in str(info.value)
    assert info.value.record_index == 1
