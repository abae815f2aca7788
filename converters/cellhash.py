"""The exact NAS-Bench-101 module hash of many cells at once (the converter's hash check).

:func:`nasbench_arrow.graph.hash_rows` hashes one cell in pure Python (about
40 us for a 7-vertex cell); the 423,624 cells of the full dataset would take
some 17 CPU seconds that way. :func:`hash_cells` computes the very same
digests for a whole array of cells with the bookkeeping done by numpy, so
that only the MD5 calls themselves remain per vertex and round:

* every vertex starts as ``md5(str((out_degree, in_degree, label)))``, taken
  from a table of the few distinct triples;
* in each of the ``V`` rounds the in- and out-neighbour hashes of every
  vertex are sorted with one ``np.sort`` over all vertices of all cells, and
  the messages ``sorted ins + "|" + sorted outs + "|" + own`` are assembled as
  fixed-width byte rows, one array per (in-degree, out-degree) pattern;
* the cell hash is ``md5("['h1', 'h2', ...]")`` of the sorted vertex hashes.

Sorting uses the first 64 bits of each raw digest (hex digits sort as the
bytes they encode), with the slot number in the three lowest bits so the sort
also says where each hash came from. Two different digests that agree in
those 61 bits would be sorted by slot instead of by value; that is detected
and such a cell (never seen in practice: the chance is about 2**-61 per pair)
is hashed again with :func:`~nasbench_arrow.graph.hash_rows`, so the result
is exact in every case.
"""

from __future__ import annotations

import numpy as np

try:  # CPython's built-in MD5 is faster per call than OpenSSL's for short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - builds without the built-in module
    from hashlib import md5 as _md5

__all__ = ["hash_cells", "labels_of_codes"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_MD5_DIGEST = type(_md5(b"")).digest
# Byte value -> its two hex digits, as one uint16 in memory order.
_HEX_PAIRS = np.frombuffer(
    b"".join(f"{b:02x}".encode() for b in range(256)), dtype=np.uint16
).copy()
_SLOT = np.uint64(7)
_TOP = ~np.uint64(7)
_NONE = np.uint64(0xFFFFFFFFFFFFFFFF)  # sorts after every real key


def labels_of_codes(codes: np.ndarray, num_vertices: np.ndarray) -> np.ndarray:
    """``layout.OP_CODES`` indexes -> the hash's integer labels.

    Code 0 (input) -> -1, the last code (output) -> -2, the interior ops
    (codes 1..3, in ``AVAILABLE_OPS`` order) -> 0..2; padding beyond V stays
    as given (it is never read).
    """
    from nasbench_arrow import layout

    codes = np.asarray(codes).astype(np.int64)
    last = len(layout.OP_CODES) - 1
    labels = codes - 1
    labels[codes == 0] = -1
    labels[codes == last] = -2
    return labels


def _gather(hexes: np.ndarray, index: np.ndarray, msg: np.ndarray, start: int, stride: int = 32) -> None:
    """Write ``hexes[index[r, j]]`` into row ``r`` of ``msg`` at ``start + stride * j``.

    Straight into the message rows (a strided view), without the temporary
    and the second copy of ``msg[...] = hexes[index]``: several times faster.
    """
    k, count = index.shape
    view = np.lib.stride_tricks.as_strided(
        msg[:, start:], shape=(k, count, 32), strides=(msg.strides[0], stride, 1)
    )
    np.take(hexes, index, axis=0, out=view, mode="clip")  # indexes are in range by construction


def _hex_rows(digests: np.ndarray) -> np.ndarray:
    """(m, 16) raw digests -> (m, 32) lowercase hex ASCII (one gather of 2-byte pairs)."""
    return _HEX_PAIRS[digests].view(np.uint8).reshape(len(digests), 32)


def _md5_rows(rows: np.ndarray) -> np.ndarray:
    """MD5 of each row of a (m, w) uint8 array -> (m, 16) raw digests.

    The rows become bytes objects in one C-level ``tolist`` of a fixed-width
    bytes view (safe here: no message ends with a NUL byte, which that view
    would strip), and ``map`` keeps the per-message work in C but for the MD5
    itself.
    """
    m, w = rows.shape
    if m == 0:
        return np.zeros((0, 16), dtype=np.uint8)
    messages = np.ascontiguousarray(rows).view(f"S{w}").reshape(m).tolist()
    digests = b"".join(map(_MD5_DIGEST, map(_md5, messages)))
    return np.frombuffer(digests, dtype=np.uint8).reshape(m, 16)


def _sort_keys(digests: np.ndarray) -> np.ndarray:
    """(..., 16) digests -> uint64 keys: first 8 bytes big-endian, low 3 bits cleared."""
    flat = np.ascontiguousarray(digests).reshape(-1, 16)
    keys = flat[:, :8].copy().view(">u8").reshape(digests.shape[:-1]).astype(np.uint64)
    return keys & _TOP


def _sort_neighbours(keys: np.ndarray, nbrs: np.ndarray, digests: np.ndarray):
    """Order each row of neighbour indexes by the neighbours' hashes.

    Parameters
    ----------
    keys : (N,) uint64
        Sort key of every vertex (low 3 bits zero).
    nbrs : (m, a) int64
        Flat vertex indexes of each message's neighbours, any order (a <= 7).
    digests : (N, 16) uint8
        Full digests, to detect keys that tie while the digests differ.

    Returns
    -------
    sorted : (m, a) int64
        ``nbrs`` with each row in hash order.
    ambiguous : (m,) bool
        Rows where two different digests tie on the key.
    """
    m, a = nbrs.shape
    if a < 2:
        return nbrs, np.zeros(m, dtype=bool)
    tagged = keys[nbrs] | np.arange(a, dtype=np.uint64)
    tagged.sort(axis=1)
    col = (tagged & _SLOT).astype(np.intp)
    ordered = np.take_along_axis(nbrs, col, axis=1)
    top = tagged & _TOP
    tie = top[:, 1:] == top[:, :-1]
    ambiguous = np.zeros(m, dtype=bool)
    if tie.any():
        r, k = np.nonzero(tie)
        differ = (digests[ordered[r, k]] != digests[ordered[r, k + 1]]).any(axis=1)
        ambiguous[r[differ]] = True
    return ordered, ambiguous


_FINGERPRINT = np.random.default_rng(20190101).integers(1, 2**63, size=16, dtype=np.uint64) | np.uint64(1)


def _distinct_messages(state, ins, outs, rows) -> tuple[np.ndarray, np.ndarray]:
    """Which messages of one (in-degree, out-degree) group are the same, exactly.

    A message is fixed by the states of its sorted in- and out-neighbours and
    of its own vertex. Rows are grouped by a 64-bit fingerprint of those
    state ids, then every row is compared with its group's first row; a row
    that differs (a fingerprint collision) becomes its own representative.

    Returns
    -------
    rep : (k,) int64
        Rows (within the group) whose message is computed.
    of : (m,) int64
        For each row, the index in ``rep`` of the row with the same message.
    """
    key = np.concatenate([state[ins], state[outs], state[rows][:, None]], axis=1)
    fp = (key.astype(np.uint64) * _FINGERPRINT[: key.shape[1]]).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(fp, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    same = (key == key[first[inverse]]).all(axis=1)
    if same.all():
        return first, inverse
    odd = np.flatnonzero(~same)
    of = inverse.copy()
    of[odd] = len(first) + np.arange(len(odd))
    return np.concatenate([first, odd]), of


def _hash_group(adj: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hash ``n`` cells of one vertex count V: (n, V, V) bool, (n, V) int labels.

    Returns ``(hex (n, 32) uint8, ambiguous (n,) bool)``.
    """
    n, v, _ = adj.shape
    out_deg = adj.sum(axis=2)
    in_deg = adj.sum(axis=1)
    # Initial hashes from the few distinct (out_degree, in_degree, label) triples.
    triple = (out_deg * 16 + in_deg) * 16 + (labels + 8)
    uniq, inverse = np.unique(triple, return_inverse=True)
    table = np.empty((len(uniq), 16), dtype=np.uint8)
    for k, t in enumerate(uniq.tolist()):
        o, rest = divmod(t, 256)
        i, lab = divmod(rest, 16)
        table[k] = np.frombuffer(_md5(str((o, i, lab - 8)).encode()).digest(), np.uint8)
    digests = table[inverse.reshape(-1)]  # (n * V, 16), vertex c * V + w
    ambiguous = np.zeros(n, dtype=bool)

    # Messages grouped by (in-degree, out-degree): fixed widths, fixed
    # neighbour sets (only their order changes from round to round).
    flat_in = in_deg.reshape(-1)
    flat_out = out_deg.reshape(-1)
    pattern = flat_in * (v + 1) + flat_out
    order = np.argsort(pattern, kind="stable")
    bounds = np.flatnonzero(np.diff(pattern[order])) + 1
    base = (np.arange(n) * v)[:, None]
    # Neighbour slots listed per vertex: column u of row (c, w) is u when the edge exists.
    cols = np.broadcast_to(np.arange(v), (n, v, v))
    groups = []
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        a, b = int(flat_in[rows[0]]), int(flat_out[rows[0]])
        c, w = np.divmod(rows, v)
        ins = cols[c, w][adj[c, :, w]].reshape(len(rows), a) + c[:, None] * v
        outs = cols[c, w][adj[c, w, :]].reshape(len(rows), b) + c[:, None] * v
        groups.append((rows, ins, outs))
    del base
    bar = np.uint8(ord("|"))

    # state[x]: equal ids mean equal digests (ids from the exact message
    # contents where the round was deduplicated, else all distinct). Early
    # rounds repeat messages a lot (the first refinement of 2.5 million
    # 7-vertex messages has about 40,000 distinct ones), so a round's messages
    # are deduplicated while that saves MD5 calls; once almost all are
    # distinct the bookkeeping would cost more than it saves.
    state = inverse.reshape(-1).astype(np.int64)
    dedupe = True
    for _round in range(v):
        hexes = _hex_rows(digests)
        keys = _sort_keys(digests)
        new = np.empty_like(digests)
        new_state = np.empty(n * v, dtype=np.int64)
        next_id = 0
        for rows, ins, outs in groups:
            m, a = ins.shape
            b = outs.shape[1]
            ins, amb_in = _sort_neighbours(keys, ins, digests)
            outs, amb_out = _sort_neighbours(keys, outs, digests)
            if amb_in.any() or amb_out.any():
                ambiguous[rows[amb_in | amb_out] // v] = True
            if dedupe:
                rep, of = _distinct_messages(state, ins, outs, rows)
            else:
                rep, of = np.arange(m), None
            width = 32 * (a + b + 1) + 2
            k = len(rep)
            msg = np.empty((k, width), dtype=np.uint8)
            if a:
                _gather(hexes, ins[rep], msg, 0)
            msg[:, 32 * a] = bar
            pos = 32 * a + 1
            if b:
                _gather(hexes, outs[rep], msg, pos)
            pos += 32 * b
            msg[:, pos] = bar
            _gather(hexes, rows[rep][:, None], msg, pos + 1)
            done = _md5_rows(msg)
            if of is None:
                new[rows] = done
                new_state[rows] = next_id + np.arange(m)
                next_id += m
            else:
                new[rows] = done[of]
                new_state[rows] = next_id + of
                next_id += k
        digests = new
        # Keep deduplicating while at least a tenth of the messages repeated.
        dedupe = dedupe and next_id < 0.9 * n * v
        state = new_state

    # str(sorted(hex strings)) -> "['h1', 'h2', ...]"
    hexes = _hex_rows(digests)
    keys = _sort_keys(digests)
    every, amb = _sort_neighbours(keys, np.arange(n * v).reshape(n, v), digests)
    ambiguous |= amb
    msg = np.empty((n, 36 * v), dtype=np.uint8)
    msg[:, 0:2] = np.frombuffer(b"['", np.uint8)
    _gather(hexes, every, msg, 2, stride=36)
    sep = np.frombuffer(b"', '", np.uint8)
    for k in range(v - 1):
        msg[:, 34 + 36 * k : 38 + 36 * k] = sep
    msg[:, -2:] = np.frombuffer(b"']", np.uint8)
    return _hex_rows(_md5_rows(msg)), ambiguous


def hash_cells(adjacency: np.ndarray, labels: np.ndarray, num_vertices: np.ndarray) -> np.ndarray:
    """Exact NAS-Bench-101 hashes (``graph.hash_module``) of many 0/1 cells.

    Parameters
    ----------
    adjacency : np.ndarray
        ``(n, 7, 7)`` 0/1 matrices, padded with zeros beyond each cell's V
        (as ``index/cell_adjacency.npy``); any integer or bool dtype.
    labels : np.ndarray
        ``(n, 7)`` integer labels (-1 input, -2 output, op index otherwise),
        anything beyond V (see :func:`labels_of_codes`).
    num_vertices : np.ndarray
        ``(n,)`` V of each cell (1..7).

    Returns
    -------
    np.ndarray
        ``(n,)`` of dtype ``S32``: the lowercase hex digests, equal to
        ``graph.hash_rows(matrix, labels)`` of every cell.
    """
    from nasbench_arrow.graph import hash_rows

    num_vertices = np.asarray(num_vertices).astype(np.int64)
    n = len(num_vertices)
    out = np.empty((n, 32), dtype=np.uint8)
    for v in np.unique(num_vertices).tolist():
        rows = np.flatnonzero(num_vertices == v)
        adj = np.asarray(adjacency[rows, :v, :v]) != 0
        lab = np.asarray(labels[rows, :v]).astype(np.int64)
        hexes, ambiguous = _hash_group(adj, lab)
        for k in np.flatnonzero(ambiguous).tolist():
            exact = hash_rows(adj[k].astype(int).tolist(), lab[k].tolist())
            hexes[k] = np.frombuffer(exact.encode(), np.uint8)
        out[rows] = hexes
    return out.view("S32").reshape(n)
