"""Bad input: every case gives a ConversionError naming the record, and leaves nothing behind."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from nasbench_arrow.converters import convert, pipeline

from nasbench_arrow.errors import ConversionError, TFRecordError
from nasbench_arrow.records import decode_metrics_values, encode_metrics_values, format_payload
from nasbench_arrow.testing import sample_cells, write_fixture_tfrecord
from nasbench_arrow.tfrecord import iter_payloads, masked_crc32c, write_tfrecord

EPOCHS = (12, 108)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """5 cells x 2 budgets x 3 repeats in hash order: (payloads, file bytes)."""
    d = tmp_path_factory.mktemp("errors-base")
    info = write_fixture_tfrecord(d / "base.tfrecord", sample_cells(5, seed=11), epochs=EPOCHS)
    payloads = [p for _, _, p in iter_payloads(info.path)]
    return payloads, info.path.read_bytes()


def offset_of(payloads, k: int) -> int:
    """File offset of record k's length field."""
    return sum(12 + len(p) + 4 for p in payloads[:k])


def fields(payload: bytes) -> list:
    return json.loads(payload)


def rebuild(h, e, adj, ops, raw_metrics: bytes) -> bytes:
    return json.dumps([h, e, adj, ops, base64.encodebytes(raw_metrics).decode()]).encode()


def values_of(payload: bytes) -> list:
    return list(decode_metrics_values(base64.b64decode(fields(payload)[4])))


def expect_failure(tmp_path: Path, content, index, offset, match, *, error=ConversionError, **kw):
    """Convert ``content`` (bytes of a file, or a list of payloads) and check the error and the cleanup."""
    src = tmp_path / "bad.tfrecord"
    if isinstance(content, bytes):
        src.write_bytes(content)
    else:
        write_tfrecord(src, content)
    out = tmp_path / "out"
    with pytest.raises(error, match=match) as info:
        convert(src, out, **kw)
    exc = info.value
    assert exc.record_index == index
    assert exc.byte_offset == offset
    assert f"record {index}" in str(exc)
    assert f"byte offset {offset}" in str(exc)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tfrecord"]
    return exc


# ----------------------------------------------------------------------------- framing


def test_truncated_payload(base, tmp_path):
    """A file cut inside a payload: TFRecordError at that record."""
    payloads, data = base
    k = 7
    at = offset_of(payloads, k)
    expect_failure(tmp_path, data[: at + 12 + 5], k, at, "truncated", error=TFRecordError)


def test_truncated_header(base, tmp_path):
    """A file cut inside a record header."""
    payloads, data = base
    k = len(payloads) - 1
    at = offset_of(payloads, k)
    expect_failure(tmp_path, data[: at + 5], k, at, "truncated", error=TFRecordError)


def test_truncated_footer(base, tmp_path):
    """A file cut inside the payload CRC of its last record."""
    payloads, data = base
    k = len(payloads) - 1
    at = offset_of(payloads, k)
    expect_failure(tmp_path, data[:-2], k, at, "truncated", error=TFRecordError)


def test_length_crc_mismatch(base, tmp_path):
    """A damaged length CRC: TFRecordError at that record."""
    payloads, data = base
    k = 4
    at = offset_of(payloads, k)
    bad = bytearray(data)
    bad[at + 9] ^= 0xFF
    expect_failure(tmp_path, bytes(bad), k, at, "length CRC", error=TFRecordError)


def test_payload_crc_mismatch(base, tmp_path):
    """A damaged payload byte: TFRecordError (payload CRC) at that record."""
    payloads, data = base
    k = 9
    at = offset_of(payloads, k)
    bad = bytearray(data)
    bad[at + 12 + 40] ^= 0x01
    expect_failure(tmp_path, bytes(bad), k, at, "payload CRC", error=TFRecordError)


def test_length_beyond_end_of_file(base, tmp_path):
    """A length field (with a valid CRC) larger than the file: an error, not a huge allocation."""
    payloads, data = base
    k = 3
    at = offset_of(payloads, k)
    length = struct.pack("<Q", 10**12)
    bad = data[:at] + length + struct.pack("<I", masked_crc32c(length)) + data[at + 12 :]
    expect_failure(tmp_path, bad, k, at, "truncated", error=TFRecordError)


def test_empty_file(tmp_path):
    """An empty source holds no records: ConversionError."""
    src = tmp_path / "empty.tfrecord"
    src.write_bytes(b"")
    with pytest.raises(ConversionError, match="no records"):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["empty.tfrecord"]


# ----------------------------------------------------------------------------- payloads


def _replace(payloads, k, new):
    out = list(payloads)
    out[k] = new
    return out


def test_invalid_utf8(base, tmp_path):
    """A payload that is not UTF-8."""
    payloads, _ = base
    k = 5
    bad = payloads[k].replace(b"input", b"inp\xffut", 1)
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "UTF-8")


def test_invalid_json(base, tmp_path):
    """A payload that is not JSON."""
    payloads, _ = base
    k = 2
    bad = payloads[k][:-1]
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "JSON")


def test_wrong_field_count(base, tmp_path):
    """A JSON list of 4 fields."""
    payloads, _ = base
    k = 6
    bad = json.dumps(fields(payloads[k])[:4]).encode()
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "5 fields")


@pytest.mark.parametrize(
    ("position", "value", "match"),
    [
        (1, "108", "epochs"),
        (0, 12345, "module_hash"),
        (2, 101, "raw_adjacency"),
        (3, ["input"], "raw_operations"),
        (1, 0, "epochs"),
    ],
)
def test_wrong_field_types(base, tmp_path, position, value, match):
    """A field of the wrong JSON type (or a non-positive epochs value)."""
    payloads, _ = base
    k = 8
    f = fields(payloads[k])
    f[position] = value
    bad = json.dumps(f).encode()
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), match)


def test_bad_base64(base, tmp_path):
    """raw_metrics with a character outside the base64 alphabet."""
    payloads, _ = base
    k = 10
    f = fields(payloads[k])
    f[4] = f[4][:20] + "!" + f[4][21:]
    bad = json.dumps(f).encode()
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "base64")


def test_undecodable_proto(base, tmp_path):
    """raw_metrics that is base64 but not a ModelMetrics message."""
    payloads, _ = base
    k = 11
    h, e, adj, ops, _ = fields(payloads[k])
    bad = rebuild(h, e, adj, ops, b"\x0a\xff\x01")
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "protobuf")


def test_fewer_than_three_evaluations(base, tmp_path):
    """A ModelMetrics with 2 evaluations."""
    payloads, _ = base
    k = 12
    h, e, adj, ops, b64 = fields(payloads[k])
    raw = base64.b64decode(b64)
    bad = rebuild(h, e, adj, ops, raw[47:])  # drop the first EvaluationData (47 bytes)
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "2 evaluation")


def test_adjacency_not_square(base, tmp_path):
    """An adjacency string whose length is not a square."""
    payloads, _ = base
    k = 13
    f = fields(payloads[k])
    f[2] = f[2][:-1]
    bad = json.dumps(f).encode()
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "square")


def test_unknown_op(base, tmp_path):
    """An op label outside the space."""
    payloads, _ = base
    k = next(i for i, p in enumerate(payloads) if len(fields(p)[3].split(",")) > 2)
    f = fields(payloads[k])
    ops = f[3].split(",")
    ops[1] = "conv5x5-bn-relu"
    f[3] = ",".join(ops)
    bad = json.dumps(f).encode()
    expect_failure(
        tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "conv5x5-bn-relu"
    )


def test_more_than_seven_vertices(base, tmp_path):
    """An 8x8 cell does not fit the dataset layout."""
    payloads, _ = base
    k = 14
    h, e, _, _, b64 = fields(payloads[k])
    adj = "".join("1" if j == i + 1 else "0" for i in range(8) for j in range(8))
    ops = ",".join(["input"] + ["conv3x3-bn-relu"] * 6 + ["output"])
    bad = json.dumps([h, e, adj, ops, b64]).encode()
    expect_failure(tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "at most 7")


# ----------------------------------------------------------------------------- invariants


def test_hash_with_two_adjacencies(base, tmp_path):
    """A record whose hash was seen with another cell: the error names both records."""
    payloads, _ = base
    first = fields(payloads[0])  # cell A, 12 epochs, repeat 0
    other = next(fields(p) for p in payloads if fields(p)[0] != first[0])
    extra = json.dumps([first[0], 108, other[2], other[3], other[4]]).encode()
    k = len(payloads)
    exc = expect_failure(
        tmp_path, [*payloads, extra], k, offset_of(payloads, k), "two different cells"
    )
    assert "record 0 (byte offset 0)" in str(exc)


def test_more_than_three_repeats(base, tmp_path):
    """A fourth run of one (hash, epochs)."""
    payloads, _ = base
    k = len(payloads)
    exc = expect_failure(
        tmp_path, [*payloads, payloads[4]], k, offset_of(payloads, k), "more than 3 runs"
    )
    assert "records 3, 4, 5" in str(exc)


def test_more_than_three_repeats_even_when_incomplete_allowed(base, tmp_path):
    """allow_incomplete does not relax the limit of 3 repeats."""
    payloads, _ = base
    k = len(payloads)
    expect_failure(
        tmp_path,
        [*payloads, payloads[0]],
        k,
        offset_of(payloads, k),
        "more than 3",
        allow_incomplete=True,
    )


def test_trainable_parameters_differ_within_hash(base, tmp_path):
    """Two records of one hash with different parameter counts."""
    payloads, _ = base
    k = 2
    h, e, adj, ops, _ = fields(payloads[k])
    v = values_of(payloads[k])
    v[15] += 1
    bad = rebuild(h, e, adj, ops, encode_metrics_values(v))
    expect_failure(
        tmp_path, _replace(payloads, k, bad), k, offset_of(payloads, k), "trainable_parameters"
    )


def test_missing_budget(base, tmp_path):
    """A hash without one of the file's budgets fails unless allow_incomplete."""
    payloads, _ = base
    # Cell 1's 12-epoch runs are records 6-8 (hash order, 12 then 108 epochs).
    kept = payloads[:6] + payloads[9:]
    assert fields(kept[6])[0] == fields(payloads[6])[0] and fields(kept[6])[1] == 108
    expect_failure(tmp_path, kept, 6, offset_of(kept, 6), r"no runs at \[12\] epochs")
    src = tmp_path / "bad.tfrecord"
    manifest = convert(src, tmp_path / "out", allow_incomplete=True)
    assert manifest.counts["complete"] is False
    assert manifest.counts["runs"] == len(kept)


def test_missing_repeat(base, tmp_path):
    """A (hash, epochs) with 2 runs fails unless allow_incomplete."""
    payloads, _ = base
    kept = payloads[:10] + payloads[11:]
    # Record 10 was cell 1's second 108-epoch run; cell 1 starts at record 6.
    expect_failure(tmp_path, kept, 6, offset_of(kept, 6), "2 run")
    manifest = convert(tmp_path / "bad.tfrecord", tmp_path / "out", allow_incomplete=True)
    assert manifest.counts["complete"] is False


# ----------------------------------------------------------------------------- parallel parts and interrupts


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["crc", "json"])
def test_error_in_second_part_has_file_index(tmp_path, kind):
    """With the file split over workers, an error in the second part still names its index in the file."""
    info = write_fixture_tfrecord(
        tmp_path / "src.tfrecord", sample_cells(30, seed=2), epochs=(108,)
    )
    payloads = [p for _, _, p in iter_payloads(info.path)]
    k = len(payloads) - 10
    at = offset_of(payloads, k)
    (tmp_path / "src.tfrecord").unlink()
    if kind == "crc":
        data = bytearray(
            b"".join(
                struct.pack("<Q", len(p))
                + struct.pack("<I", masked_crc32c(struct.pack("<Q", len(p))))
                + p
                + struct.pack("<I", masked_crc32c(p))
                for p in payloads
            )
        )
        data[at + 12 + 3] ^= 0x04
        content, match = bytes(data), "payload CRC"
    else:
        content, match = _replace(payloads, k, payloads[k][:-2]), "JSON"
    expect_failure(tmp_path, content, k, at, match, workers=2, block_size=4096)


def test_interrupt_leaves_nothing(base, tmp_path):
    """An interrupt during conversion (KeyboardInterrupt) leaves no OUT_DIR and no temp directory."""
    _, data = base
    src = tmp_path / "src.tfrecord"
    src.write_bytes(data)

    def stop(progress):
        if progress.phase == "write":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(src, tmp_path / "out", progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.tfrecord"]


def test_temp_directory_is_beside_output_and_named(base, tmp_path):
    """While converting, the data lives in '.<OUT>.nasbench-convert-tmp-<pid>' beside OUT_DIR."""
    _, data = base
    src = tmp_path / "src.tfrecord"
    src.write_bytes(data)
    seen = set()

    def look(progress):
        seen.update(p.name for p in tmp_path.iterdir() if pipeline.TMP_MARKER in p.name)

    convert(src, tmp_path / "out", progress=look)
    assert len(seen) == 1
    (name,) = seen
    assert name.startswith(".out" + pipeline.TMP_MARKER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src.tfrecord"]


def test_format_payload_fixture_is_canonical(base):
    """The fixture's payloads are byte-identical to records.format_payload (official style)."""
    payloads, _ = base
    h, e, adj, ops, b64 = fields(payloads[0])
    raw = base64.b64decode(b64)
    assert format_payload(h, e, adj, ops, raw) == payloads[0]
