"""TFRecord framing without TensorFlow: a streaming, CRC-checked reader and a writer.

A TFRecord file is a sequence of records, each framed as::

    uint64  length               little-endian, payload size in bytes
    uint32  masked_crc32c(length bytes)
    bytes   payload[length]
    uint32  masked_crc32c(payload)

where ``masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32)``
with ``c = crc32c(x)`` (the Castagnoli CRC). This module is the first stage
of the data flow: file bytes in, payloads out. It knows nothing about what a
payload holds (see :mod:`nasbench_arrow.records` for that).

The reader reads the file in large blocks (``block_size``, 16 MiB by default)
and keeps at most one block plus one record in memory. A length field is
never trusted for an allocation: a record that claims more bytes than the
file has left is reported as truncated before anything is read for it.

Errors are :class:`~nasbench_arrow.errors.TFRecordError` (a
:class:`~nasbench_arrow.errors.ConversionError`, hence a ``ValueError``)
carrying the 0-based ``record_index`` and the ``byte_offset`` of the
record's length field.

Example
-------
>>> import io
>>> from nasbench_arrow.tfrecord import TFRecordWriter, iter_payloads
>>> buf = io.BytesIO()
>>> with TFRecordWriter(buf) as w:
...     w.write(b"hello")
...     w.write(b"")
>>> _ = buf.seek(0)
>>> list(iter_payloads(buf))
[(0, 0, b'hello'), (1, 21, b'')]
"""

from __future__ import annotations

import io
import os
import stat
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import crc32c as _crc32c
import numpy as np

from .errors import TFRecordError

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "FOOTER_SIZE",
    "HEADER_SIZE",
    "NOT_TFRECORD",
    "PayloadBlock",
    "TFRecordWriter",
    "iter_payload_blocks",
    "iter_payloads",
    "masked_crc32c",
    "write_tfrecord",
]

#: Bytes read from the file at a time (16 MiB): large enough that the Python
#: loop, not the read calls, dominates; small enough to keep memory bounded.
DEFAULT_BLOCK_SIZE = 16 * 1024 * 1024
#: uint64 length + uint32 masked CRC of the length.
HEADER_SIZE = 12
#: uint32 masked CRC of the payload.
FOOTER_SIZE = 4

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_crc = _crc32c.crc32c
_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_FOOTER = struct.Struct("<I")
_FRAMING = HEADER_SIZE + FOOTER_SIZE


def masked_crc32c(data) -> int:
    """Return the masked CRC32C of ``data``, as stored in TFRecord files.

    Parameters
    ----------
    data : bytes-like
        Bytes to checksum (``bytes``, ``bytearray`` or a contiguous ``memoryview``).

    Returns
    -------
    int
        ``((c >> 15) | (c << 17)) + 0xa282ead8`` modulo 2**32, where ``c`` is
        the CRC32C of ``data``.

    Examples
    --------
    >>> hex(masked_crc32c(b""))
    '0xa282ead8'
    """
    c = _crc(data)
    return (((c >> 15) | (c << 17)) + _MASK_DELTA) & _U32


@dataclass(frozen=True)
class PayloadBlock:
    """Consecutive payloads of one read block, concatenated.

    Payload ``i`` of the block is ``data[offsets[i]:offsets[i + 1]]``; it is
    record number ``first_index + i`` of the file, whose length field starts
    at file offset ``byte_offsets[i]``.

    Attributes
    ----------
    data : bytes
        The payloads, back to back, framing removed.
    offsets : numpy.ndarray
        int64, shape ``(n + 1,)``; ``offsets[0] == 0``, ``offsets[n] == len(data)``.
    first_index : int
        0-based record index of the first payload in the file.
    byte_offsets : numpy.ndarray
        int64, shape ``(n,)``; file offset (bytes) of each record's length field.
    """

    data: bytes
    offsets: np.ndarray
    first_index: int
    byte_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.byte_offsets)

    def payload(self, i: int) -> bytes:
        """Return payload ``i`` of the block (0-based within the block) as bytes."""
        return self.data[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield ``(record_index, byte_offset, payload)`` for each payload of the block."""
        data = self.data
        offs = self.offsets.tolist()
        for i, pos in enumerate(self.byte_offsets.tolist()):
            yield self.first_index + i, pos, data[offs[i] : offs[i + 1]]


# --------------------------------------------------------------------------- reading


class _Source:
    """A binary input normalised to: a file object, a display name, the bytes left."""

    def __init__(self, source, chunk: int):
        self._owned = False
        self._chunk = chunk
        if isinstance(source, (str, os.PathLike)):
            self.name = os.fspath(source)
            # Unbuffered: we read big blocks ourselves, a second buffer only copies.
            self.file = open(self.name, "rb", buffering=0)  # noqa: SIM115 (closed in close())
            self._owned = True
        elif hasattr(source, "read"):
            self.file = source
            self.name = getattr(source, "name", None)
            if not isinstance(self.name, str):
                self.name = None
        else:
            msg = (
                f"expected a path (str or os.PathLike) or a binary file object, "
                f"got {type(source).__name__}"
            )
            raise TypeError(msg)
        self.start, self.remaining = self._position_and_remaining()

    def _position_and_remaining(self) -> tuple[int, int | None]:
        """File offset we start at (0 if unknown) and bytes left to read (None if unknown)."""
        f = self.file
        try:
            pos = f.tell()
        except (OSError, AttributeError, io.UnsupportedOperation):
            return 0, None
        try:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode):
                return pos, max(st.st_size - pos, 0)
        except (OSError, AttributeError, io.UnsupportedOperation, ValueError):
            pass
        try:
            if f.seekable():
                end = f.seek(0, io.SEEK_END)
                f.seek(pos)
                return pos, max(end - pos, 0)
        except (OSError, AttributeError, io.UnsupportedOperation):
            pass
        return pos, None

    def read(self, n: int) -> bytes:
        """Read up to ``n`` bytes; fewer only at end of file."""
        parts = []
        while n > 0:
            # Never ask for more than a block at once: a raw file's read(n)
            # allocates n bytes up front, and n may come from a length field.
            chunk = self.file.read(min(n, self._chunk))
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                if isinstance(chunk, str):
                    msg = "expected a binary file object (opened with 'rb'), got a text stream"
                    raise TypeError(msg)
                chunk = bytes(chunk)
            parts.append(chunk)
            n -= len(chunk)
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def close(self) -> None:
        if self._owned:
            self.file.close()


def _check_block_size(block_size) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        msg = f"block_size must be a positive int (bytes), got {block_size!r}"
        raise ValueError(msg)
    return block_size


def _walk(buf: bytes, n: int) -> tuple[list[int], int]:
    """Find the records that lie wholly in ``buf[:n]``.

    Returns the offsets of their length fields and the offset where the
    incomplete tail begins. Only the lengths are read here (the hot loop does
    as little as possible); the CRCs are checked afterwards, vectorised.
    """
    positions: list[int] = []
    if n < HEADER_SIZE:
        return positions, 0
    append = positions.append
    unpack_length = _LENGTH.unpack_from
    last = n - HEADER_SIZE  # a header must start at or before this offset
    pos = 0
    (length,) = unpack_length(buf, 0)
    while True:
        nxt = pos + length + _FRAMING
        if nxt > n:
            return positions, pos
        append(pos)
        pos = nxt
        if pos > last:
            return positions, pos
        (length,) = unpack_length(buf, pos)


def _gather_u32(u8: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Little-endian uint32 values stored at byte offsets ``at`` of ``u8``."""
    b = u8[at[:, None] + np.arange(4)].astype(np.uint32)
    return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)


def _first_bad_record(
    buf, positions: np.ndarray, ends: np.ndarray, payloads: list
) -> tuple[int, str] | None:
    """Check the length and payload CRCs of the records of one block.

    Returns ``(i, kind)`` for the first record (in file order) whose length
    (``kind == "length"``) or payload (``"payload"``) CRC does not match, or None.
    """
    u8 = np.frombuffer(buf, dtype=np.uint8)
    stored_length_crc = _gather_u32(u8, positions + 8)
    stored_payload_crc = _gather_u32(u8, ends)
    # The length CRC depends only on the length: compute it once per distinct length.
    lengths = ends - positions - HEADER_SIZE
    distinct, inverse = np.unique(lengths, return_inverse=True)
    expected_length_crc = np.array(
        [masked_crc32c(_LENGTH.pack(int(v))) for v in distinct], dtype=np.uint32
    )[inverse.reshape(-1)]
    length_bad = expected_length_crc != stored_length_crc
    # CRCs in one C-level pass over the payloads, then the mask, vectorised.
    c = np.fromiter(map(_crc, payloads), dtype=np.uint64, count=len(payloads))
    c = ((c >> np.uint64(15)) | (c << np.uint64(17))) + np.uint64(_MASK_DELTA)
    payload_bad = (c & np.uint64(_U32)) != stored_payload_crc
    bad = length_bad | payload_bad
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return i, ("length" if length_bad[i] else "payload")


def _iter_raw_blocks(source, verify_crc: bool, block_size: int):
    """Yield ``(payloads, first_index, byte_offsets, lengths)`` per read block.

    ``payloads`` is a list of bytes; ``byte_offsets`` (file offsets of their
    length fields) and ``lengths`` are int64 arrays. All framing checks happen here. On
    a framing error, the good records before it are yielded first, then the
    error is raised.
    """
    block_size = _check_block_size(block_size)
    src = _Source(source, block_size)
    name = src.name
    try:
        buf = src.read(block_size)
        file_pos = src.start  # file offset of buf[0]
        remaining = None if src.remaining is None else src.remaining - len(buf)
        index = 0
        while buf:
            n = len(buf)
            positions_list, pos = _walk(buf, n)
            error = None
            if positions_list:
                positions = np.array(positions_list, dtype=np.int64)
                ends = np.empty_like(positions)
                ends[:-1] = positions[1:] - FOOTER_SIZE
                ends[-1] = pos - FOOTER_SIZE
                # One bytes object per payload: needed by every consumer
                # anyway, and the cheapest input for the CRC.
                payloads = list(
                    map(
                        buf.__getitem__,
                        map(slice, (positions + HEADER_SIZE).tolist(), ends.tolist()),
                    )
                )
                if verify_crc:
                    found = _first_bad_record(buf, positions, ends, payloads)
                    if found is not None:
                        i, kind = found
                        at = file_pos + int(positions[i])
                        if kind == "length":
                            length, stored = _HEADER.unpack_from(buf, int(positions[i]))
                            error = _length_crc_error(name, index + i, at, length, stored)
                        else:
                            (stored,) = _FOOTER.unpack_from(buf, int(ends[i]))
                            error = _payload_crc_error(name, index + i, at, payloads[i], stored)
                        positions, ends, payloads = positions[:i], ends[:i], payloads[:i]
                if payloads:
                    yield payloads, index, positions + file_pos, ends - positions - HEADER_SIZE
                    index += len(payloads)
            if error is not None:
                raise error
            # Carry the incomplete tail into the next block.
            tail = n - pos
            need = block_size
            if tail >= HEADER_SIZE:
                # Believe the length only once its CRC matches, and never
                # read (or allocate) more than the file has left.
                length, length_crc = _HEADER.unpack_from(buf, pos)
                if verify_crc and masked_crc32c(buf[pos : pos + 8]) != length_crc:
                    raise _length_crc_error(name, index, file_pos + pos, length, length_crc)
                record_size = length + _FRAMING
                if remaining is not None and record_size > tail + remaining:
                    raise _truncated(name, index, file_pos + pos, length, tail + remaining)
                need = max(block_size, record_size - tail)
            if remaining is not None:
                need = min(need, remaining)
            more = src.read(need) if need > 0 else b""
            if remaining is not None:
                remaining -= len(more)
            if not more:
                if tail:
                    raise _truncated_at_eof(name, index, file_pos + pos, buf[pos:])
                return
            file_pos += pos
            buf = buf[pos:] + more if tail else more
    finally:
        src.close()


#: Start of the message when the very first frame of a file is not TFRecord framing.
NOT_TFRECORD = "not a TFRecord file"


def _length_crc_error(name, index, byte_offset, length, stored) -> TFRecordError:
    computed = masked_crc32c(_LENGTH.pack(length))
    detail = (
        f"length CRC mismatch: stored 0x{stored:08x}, computed 0x{computed:08x} for the "
        f"length field {length}"
    )
    if index == 0 and byte_offset == 0:
        # The very first header is wrong: far more likely another kind of
        # file (text, HTML error page, archive) than a damaged record.
        msg = (
            f"{NOT_TFRECORD}: its first 12 bytes are not a TFRecord record header ({detail}); "
            "pass the .tfrecord file itself (not an archive, a text file or a web page)"
        )
    else:
        msg = f"{detail}; the file is corrupt"
    return TFRecordError(msg, source=name, record_index=index, byte_offset=byte_offset)


def _payload_crc_error(name, index, byte_offset, payload, stored) -> TFRecordError:
    computed = masked_crc32c(payload)
    msg = (
        f"payload CRC mismatch: stored 0x{stored:08x}, computed 0x{computed:08x} over "
        f"{len(payload)} payload bytes; the file is corrupt"
    )
    return TFRecordError(msg, source=name, record_index=index, byte_offset=byte_offset)


def _truncated(name, index, byte_offset, length, available) -> TFRecordError:
    """Error for a record whose declared size exceeds the bytes left in the file."""
    if available < HEADER_SIZE + length:
        what = "payload"
        detail = f"declares a payload of {length} bytes but only {available - HEADER_SIZE} "
        detail += "bytes follow its header"
        if length > available:
            detail += " (the length is larger than the rest of the file: a corrupt length "
            detail += "field or a truncated file)"
    else:
        what = "footer"
        detail = f"payload of {length} bytes is complete but its 4-byte CRC footer is cut off"
    msg = f"truncated {what}: record {detail}; the file is incomplete or corrupt"
    return TFRecordError(msg, source=name, record_index=index, byte_offset=byte_offset)


def _truncated_at_eof(name, index, byte_offset, tail) -> TFRecordError:
    """Error for trailing bytes at end of file that do not form a whole record."""
    if len(tail) < HEADER_SIZE and index == 0 and byte_offset == 0:
        msg = (
            f"{NOT_TFRECORD}: it holds only {len(tail)} bytes, less than one record header "
            f"({HEADER_SIZE} bytes)"
        )
        return TFRecordError(msg, source=name, record_index=index, byte_offset=byte_offset)
    if len(tail) < HEADER_SIZE:
        msg = (
            f"truncated header: {len(tail)} trailing bytes at end of file, a record header "
            f"needs {HEADER_SIZE}; the file is incomplete or corrupt"
        )
        return TFRecordError(msg, source=name, record_index=index, byte_offset=byte_offset)
    (length,) = struct.unpack_from("<Q", tail, 0)
    return _truncated(name, index, byte_offset, length, len(tail))


def iter_payload_blocks(
    source: str | os.PathLike | BinaryIO,
    *,
    verify_crc: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[PayloadBlock]:
    """Read a TFRecord file and yield its payloads a block at a time.

    This is the fast path for bulk consumers (the converter): one
    :class:`PayloadBlock` per read block instead of one tuple per record.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        Path of the file, or an open binary file positioned at the first
        record (not closed afterwards; offsets count from where it started if
        it cannot tell its position).
    verify_crc : bool, default True
        Check the masked CRC32C of every length field and payload.
    block_size : int, default 16 MiB
        Bytes read at a time. Memory stays near one block plus one record.

    Yields
    ------
    PayloadBlock
        Non-empty blocks, in file order.

    Raises
    ------
    TFRecordError
        Truncated header, payload or footer; length or payload CRC mismatch;
        a length larger than the rest of the file. Blocks before the bad
        record are yielded first.
    """
    for payloads, first_index, byte_offsets, lengths in _iter_raw_blocks(
        source, verify_crc, block_size
    ):
        data = b"".join(payloads)
        offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        yield PayloadBlock(
            data=data, offsets=offsets, first_index=first_index, byte_offsets=byte_offsets
        )


def iter_payloads(
    source: str | os.PathLike | BinaryIO,
    *,
    verify_crc: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[tuple[int, int, bytes]]:
    """Read a TFRecord file and yield each record's payload.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        Path of the file, or an open binary file (not closed afterwards).
    verify_crc : bool, default True
        Check the masked CRC32C of every length field and payload.
    block_size : int, default 16 MiB
        Bytes read at a time. Memory stays near one block plus one record.

    Yields
    ------
    tuple of (int, int, bytes)
        ``(record_index, byte_offset, payload)``: the 0-based index of the
        record, the file offset of its length field, and the payload.

    Raises
    ------
    TFRecordError
        As :func:`iter_payload_blocks`; records before the bad one are yielded first.

    Examples
    --------
    >>> for index, offset, payload in iter_payloads("nasbench_only108.tfrecord"):  # doctest: +SKIP
    ...     row = records.parse_payload(payload, record_index=index, byte_offset=offset)
    """
    for payloads, first_index, byte_offsets, _ in _iter_raw_blocks(source, verify_crc, block_size):
        yield from zip(
            range(first_index, first_index + len(payloads)), byte_offsets.tolist(), payloads
        )


# --------------------------------------------------------------------------- writing


def _frame(payload) -> bytes:
    """Return one framed record (header, payload, footer) as bytes."""
    n = len(payload)
    length = struct.pack("<Q", n)
    return b"".join(
        (
            length,
            struct.pack("<I", masked_crc32c(length)),
            payload,
            struct.pack("<I", masked_crc32c(payload)),
        )
    )


class TFRecordWriter:
    """Write records in TFRecord framing (uncompressed, as the official files).

    Parameters
    ----------
    target : str, os.PathLike or binary file object
        Path to create (truncated if it exists) or an open binary file
        (written at its position, not closed by :meth:`close`).

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO()
    >>> with TFRecordWriter(buf) as w:
    ...     w.write(b"abc")
    >>> len(buf.getvalue())  # 12-byte header + 3 + 4-byte footer
    19
    """

    def __init__(self, target: str | os.PathLike | BinaryIO):
        if isinstance(target, (str, os.PathLike)):
            self._file = open(target, "wb", buffering=1 << 20)  # noqa: SIM115 (closed in close())
            self._owned = True
        elif hasattr(target, "write"):
            self._file = target
            self._owned = False
        else:
            msg = (
                f"expected a path (str or os.PathLike) or a binary file object, "
                f"got {type(target).__name__}"
            )
            raise TypeError(msg)
        self.records_written = 0
        self._closed = False

    def write(self, payload: bytes) -> None:
        """Append one record holding ``payload`` (any bytes-like object)."""
        if self._closed:
            msg = "write() on a closed TFRecordWriter"
            raise ValueError(msg)
        self._file.write(_frame(payload))
        self.records_written += 1

    def flush(self) -> None:
        """Flush the underlying file."""
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        if self._closed:
            return
        self._closed = True
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_tfrecord(target: str | os.PathLike | BinaryIO, payloads: Iterable[bytes]) -> int:
    """Write ``payloads`` as a TFRecord file.

    Parameters
    ----------
    target : str, os.PathLike or binary file object
        Path to create (truncated if it exists) or an open binary file.
    payloads : iterable of bytes
        Consumed lazily, so a generator keeps memory flat.

    Returns
    -------
    int
        Number of records written.
    """
    with TFRecordWriter(target) as writer:
        for payload in payloads:
            writer.write(payload)
        return writer.records_written
