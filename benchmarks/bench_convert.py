"""Benchmark: `nasbench-convert` against an original-style in-memory load.

One command::

    python benchmarks/bench_convert.py            # full scale: 5,083,488 + 1,270,872 records
    python benchmarks/bench_convert.py --small    # 20,000 cells, a quick run

It generates (once, reused from ``benchmarks/_work/`` afterwards) a
full-scale file in the exact official format (423,624 cells x 4 budgets x 3
repeats, ~2 GB) and a 108-only file (423,624 x 3), then for each file
measures, in the same run:

* ``nasbench-convert`` (a child process: wall time, MB/s, records/s, peak RSS
  of the whole process tree, sampled from /proc, and of its largest process);
* the original-style loader, ``tests/reference_loader.py`` (what
  ``nasbench.api.NASBench.__init__`` does per record: TFRecord framing,
  ``json.loads``, ``base64.b64decode``, protobuf parse, nested dicts), also in
  a child process so its memory is measured alike;

and prints a table with the ratios, also written to
``benchmarks/results/convert.md``.

About the generated cells: they are real cells of the search space with
their true module hashes (the converter checks every stored hash against its
graph): all 423,624 of ``space.enumerate_cells()`` at full scale, 20,000 from
``testing.sample_cells`` with ``--small``, in a shuffled order. Metrics are plausible (accuracies are float32
multiples of 1/9984 as in the real data, float32 times). Every payload is
byte-for-byte in the official style: ``json.dumps`` of the 5-field list and
``base64.encodebytes`` of a canonically serialised ``ModelMetrics``; payloads
are produced from templates with numpy instead of calling ``json.dumps`` per
record, which the script checks on a sample against ``json.dumps`` +
``base64.encodebytes`` + the protobuf runtime.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
RESULTS = HERE / "results" / "convert.md"

sys.path.insert(0, str(ROOT / "tests"))

from nasbench_arrow import constants
from nasbench_arrow.tfrecord import masked_crc32c

_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8
)


# ----------------------------------------------------------------------------- generation


def _random_cells(num_cells: int, rng: np.random.Generator):
    """Real cells with their true hashes, adjacency strings and op strings, shuffled."""
    if num_cells >= constants.NUM_UNIQUE_CELLS:
        from nasbench_arrow.space import enumerate_cells

        cells = list(enumerate_cells())
    else:
        from nasbench_arrow.testing import sample_cells

        cells = sample_cells(num_cells, seed=int(rng.integers(2**31)))
    order = rng.permutation(len(cells))[:num_cells]
    hashes, adjs, ops = [], [], []
    for k in order.tolist():
        c = cells[k]
        hashes.append(c.module_hash)
        adjs.append("".join(str(int(x)) for row in c.matrix for x in row))
        ops.append(",".join(c.ops))
    return hashes, adjs, ops


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _protos(params: np.ndarray, doubles: np.ndarray) -> list[np.ndarray]:
    """Canonical ModelMetrics bytes for records sharing a varint length: (n, P) uint8."""
    n = len(params)
    k = len(_varint(int(params[0])))
    size = 141 + 1 + k + 9
    out = np.zeros((n, size), dtype=np.uint8)
    for e in range(3):
        base = 47 * e
        out[:, base] = 0x0A
        out[:, base + 1] = 45
        for f in range(5):
            out[:, base + 2 + 9 * f] = ((f + 1) << 3) | 1
            out[:, base + 3 + 9 * f : base + 11 + 9 * f] = (
                doubles[:, 5 * e + f].astype("<f8").view(np.uint8).reshape(n, 8)
            )
    out[:, 141] = 0x10
    p = params.astype(np.int64)
    for b in range(k):
        byte = (p >> (7 * b)) & 0x7F
        if b < k - 1:
            byte = byte | 0x80
        out[:, 142 + b] = byte
    out[:, 142 + k] = 0x19
    out[:, 143 + k : 151 + k] = doubles[:, 15].astype("<f8").view(np.uint8).reshape(n, 8)
    return out


def _b64_escaped(raw: np.ndarray) -> np.ndarray:
    """base64.encodebytes of each row, newlines escaped as in JSON: (n, field) uint8."""
    n, size = raw.shape
    pads = (3 - size % 3) % 3
    padded = np.zeros((n, size + pads), dtype=np.uint8)
    padded[:, :size] = raw
    t = padded.reshape(n, -1, 3).astype(np.uint32)
    x = (t[:, :, 0] << 16) | (t[:, :, 1] << 8) | t[:, :, 2]
    chars = np.empty((n, x.shape[1], 4), dtype=np.uint8)
    for j in range(4):
        chars[:, :, j] = _ALPHABET[(x >> (18 - 6 * j)) & 63]
    chars = chars.reshape(n, -1)
    if pads:
        chars[:, -pads:] = ord("=")
    lines = []
    for start in range(0, chars.shape[1], 76):
        lines.append(chars[:, start : start + 76])
        lines.append(np.broadcast_to(np.frombuffer(b"\\n", np.uint8), (n, 2)))
    return np.ascontiguousarray(np.concatenate(lines, axis=1))


def _metrics(n: int, epochs: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 16) plausible doubles: 3 x (epoch, time, train, valid, test) + total_time."""
    d = np.zeros((n, 16))

    def acc(lo, hi):
        return (rng.integers(int(lo * 9984), int(hi * 9984), n) / 9984).astype(np.float32)

    t_final = rng.uniform(0.5, 1.5, n).astype(np.float32) * epochs * 11.0
    for e, frac in enumerate((0.0, 0.5, 1.0)):
        d[:, 5 * e] = epochs * frac
        d[:, 5 * e + 1] = (t_final * np.float32(frac)).astype(np.float32)
        lo = 0.09 if e == 0 else 0.5 + 0.4 * frac * min(epochs, 108) / 108
        d[:, 5 * e + 2] = acc(lo, lo + 0.05)
        d[:, 5 * e + 3] = acc(lo, lo + 0.05)
        d[:, 5 * e + 4] = acc(lo, lo + 0.05)
    d[:, 15] = d[:, 11] + rng.uniform(10.0, 200.0, n)
    return d


def generate(path: Path, num_cells: int, epochs_list: tuple[int, ...], seed: int = 0) -> int:
    """Write an official-format tfrecord of ``num_cells`` x budgets x 3 repeats; return records."""
    rng = np.random.default_rng(seed)
    hashes, adjs, ops = _random_cells(num_cells, rng)
    params_all = rng.integers(227_274, 49_979_274, num_cells)
    tmp = path.with_suffix(".partial")
    records = 0
    chunk = 20_000  # cells per chunk
    length_crc: dict[int, bytes] = {}
    with open(tmp, "wb") as f:
        for c0 in range(0, num_cells, chunk):
            cells = range(c0, min(c0 + chunk, num_cells))
            nc = len(cells)
            per_cell = len(epochs_list) * constants.NUM_REPEATS
            params = np.repeat(params_all[c0 : c0 + nc], per_cell)
            ep = np.tile(np.repeat(np.array(epochs_list), constants.NUM_REPEATS), nc)
            doubles = np.zeros((len(params), 16))
            for e in epochs_list:
                m = ep == e
                doubles[m] = _metrics(int(m.sum()), e, rng)
            klen = np.array([len(_varint(int(p))) for p in params_all[c0 : c0 + nc]]).repeat(
                per_cell
            )
            b64_rows: list[bytes | None] = [None] * len(params)
            for k in np.unique(klen):
                sel = np.flatnonzero(klen == k)
                enc = _b64_escaped(_protos(params[sel], doubles[sel]))
                blob = enc.tobytes()
                w = enc.shape[1]
                for j, r in enumerate(sel.tolist()):
                    b64_rows[r] = blob[j * w : (j + 1) * w]
            out = []
            r = 0
            for c in cells:
                for e in epochs_list:
                    prefix = f'["{hashes[c]}", {e}, "{adjs[c]}", "{ops[c]}", "'.encode()
                    for _ in range(constants.NUM_REPEATS):
                        payload = prefix + b64_rows[r] + b'"]'
                        n = len(payload)
                        head = length_crc.get(n)
                        if head is None:
                            lb = struct.pack("<Q", n)
                            head = length_crc[n] = lb + struct.pack("<I", masked_crc32c(lb))
                        out.append(head)
                        out.append(payload)
                        out.append(struct.pack("<I", masked_crc32c(payload)))
                        r += 1
            f.write(b"".join(out))
            records += r
    os.replace(tmp, path)
    _check_sample(path)
    return records


def _check_sample(path: Path, count: int = 200) -> None:
    """Re-encode the first records with json.dumps + base64.encodebytes: must be identical."""
    from reference_loader import decode_model_metrics, iter_tfrecord

    for i, payload in enumerate(iter_tfrecord(path)):
        if i >= count:
            break
        h, e, adj, ops, b64 = json.loads(payload)
        raw = base64.b64decode(b64)
        assert decode_model_metrics(raw).SerializeToString() == raw, "non-canonical proto"
        again = json.dumps([h, e, adj, ops, base64.encodebytes(raw).decode()]).encode()
        assert again == payload, f"record {i} is not in the official style"


# ----------------------------------------------------------------------------- measuring

_CHILD_REFERENCE = """
import sys, time
sys.path.insert(0, {tests!r})
import reference_loader
t = time.perf_counter()
nb = reference_loader.OriginalStyleNASBench({path!r})
print("RECORDS", nb.num_records, "CELLS", len(nb.fixed_statistics), "SECONDS", time.perf_counter() - t)
"""


def _tree_rss(pid: int, hwm: dict[int, int]) -> int:
    """Resident bytes of a process and all its descendants; record each one's peak in ``hwm``."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                    elif line.startswith("VmHWM:"):
                        hwm[p] = max(hwm.get(p, 0), int(line.split()[1]) * 1024)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def _measure(cmd: list[str]) -> dict:
    """Run a command: wall time, CPU time, sampled peak RSS of its process tree and of its largest process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    hwm: dict[int, int] = {}
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid, hwm))
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{out}\n{err}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "tree_peak": peak,
        "proc_peak": max(hwm.values(), default=0),
        "stdout": out,
        "stderr": err,
    }


def verify(source: Path, root: Path) -> str:
    """Check that every value the original-style loader reads equals the converted dataset's.

    Loads ``source`` with ``tests/reference_loader.py`` in this process and
    compares, bit for bit: the sorted hashes, each cell's adjacency, ops and
    parameter count, and for every (hash, budget, repeat in file order) the 8
    metrics the original API returns.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nasbench_arrow import layout
    from reference_loader import OriginalStyleNASBench

    ref = OriginalStyleNASBench(source)
    hashes = sorted(ref.fixed_statistics)

    def table(name):
        files = [root / layout.data_file(name, b) for b in layout.BUCKETS]
        return pa.concat_tables(pq.read_table(f) for f in files)

    cells = table(layout.CELLS_DIR)
    assert cells["module_hash"].to_pylist() == hashes, "cell hashes differ"
    adjacency = cells["adjacency"].to_pylist()
    operations = cells["operations"].to_pylist()
    params = cells["trainable_parameters"].to_pylist()
    for i, h in enumerate(hashes):
        fixed = ref.fixed_statistics[h]
        m = fixed["module_adjacency"]
        assert adjacency[i] == "".join(str(int(x)) for x in m.ravel()), h
        assert operations[i] == fixed["module_operations"], h
        assert params[i] == fixed["trainable_parameters"], h
    del cells, adjacency, operations, params
    names = [f"{s}_{m}" for s in ("halfway", "final") for m in
             ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")]  # fmt: skip
    expected = {n: [] for n in names}
    epochs, repeats = [], []
    for h in hashes:
        by_epochs = ref.computed_statistics[h]
        for e in sorted(by_epochs):
            for r, point in enumerate(by_epochs[e]):
                epochs.append(e)
                repeats.append(r)
                for n in names:
                    expected[n].append(point[n])
    runs = table(layout.RUNS_DIR)
    assert runs["epochs"].to_numpy().tolist() == epochs, "budgets differ"
    assert runs["repeat"].to_numpy().tolist() == repeats, "repeat numbering differs"
    for n in names:
        got = runs[n].to_numpy().view(np.uint64)
        want = np.array(expected[n], dtype=np.float64).view(np.uint64)
        assert np.array_equal(got, want), f"{n} differs"
    return f"{len(hashes):,} cells and {len(epochs):,} runs: every value equal, bit for bit"


def _convert_cmd(src: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "nasbench_arrow.converters.cli",
        str(src),
        str(out),
        "--quiet",
        "--overwrite",
    ]


def _load() -> str:
    """The 1-minute load average (how busy the shared machine was)."""
    path = Path("/proc/loadavg")
    return path.read_text().split()[0] if path.exists() else "?"


def run(small: bool, skip_reference: bool, check: bool, repeat: int = 2) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    load = _load()
    num_cells = 20_000 if small else constants.NUM_UNIQUE_CELLS
    tag = "small" if small else "full"
    files = [
        # "real": real cells with true hashes (files of earlier versions had random hashes).
        (f"bench_real_{tag}_all.tfrecord", constants.VALID_EPOCHS, "all 4 budgets"),
        (f"bench_real_{tag}_108.tfrecord", (108,), "108 epochs only"),
    ]
    rows = []
    for name, epochs, label in files:
        path = WORK / name
        if not path.exists():
            t = time.perf_counter()
            n = generate(path, num_cells, epochs, seed=1 if epochs == (108,) else 0)
            print(
                f"generated {path} ({n:,} records) in {time.perf_counter() - t:.1f} s", flush=True
            )
        size = path.stat().st_size
        records = num_cells * len(epochs) * constants.NUM_REPEATS
        # The machine may be shared: the conversion runs once before and once
        # after the original-style load; both are reported, the faster one
        # is compared (see the report's notes).
        convs = []
        ref = None
        for attempt in range(repeat):
            with tempfile.TemporaryDirectory(dir=WORK, prefix="out-") as tmp:
                out = Path(tmp) / "dataset"
                conv = _measure(_convert_cmd(path, out))
                conv["load"] = _load()
                out_size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
                conv["manifest"] = json.loads((out / "manifest.json").read_text())
                print(f"converted {name}: {conv['wall']:.1f} s (load {conv['load']})", flush=True)
                if check and attempt == 0:
                    t = time.perf_counter()
                    conv["verified"] = verify(path, out)
                    print(f"verified {name} in {time.perf_counter() - t:.0f} s: {conv['verified']}")
            convs.append(conv)
            if attempt == 0 and not skip_reference:
                code = _CHILD_REFERENCE.format(tests=str(ROOT / "tests"), path=str(path))
                ref = _measure([sys.executable, "-c", code])
                ref["load"] = _load()
                print(f"original-style load of {name}: {ref['wall']:.1f} s", flush=True)
        conv = dict(min(convs, key=lambda c: c["wall"]))
        conv["runs"] = convs
        # Memory: the worst of the runs, not the one with the best time.
        conv["tree_peak"] = max(c["tree_peak"] for c in convs)
        conv["proc_peak"] = max(c["proc_peak"] for c in convs)
        conv["verified"] = convs[0].get("verified")
        rows.append((name, label, records, size, out_size, conv, ref))
    return _report(rows, small, load)


def _fmt_mb(b):
    return f"{b / 1e6:,.0f}"


def _report(rows, small: bool, load: str) -> str:
    lines = [
        "# Converter benchmark",
        "",
        (
            f"Command: `python benchmarks/bench_convert.py{' --small' if small else ''}` on "
            f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')} (1-minute load average before the run: {load}). Files "
            "generated in the official format (real cells and hashes, random metrics, see the "
            "script's docstring); the conversion checks every cell's hash against its graph. Both "
            "sides run as child processes in the same run. `CPU` is user + system seconds of the "
            "whole process tree; `peak RSS` the largest sampled sum of resident memory over the "
            "tree (every 50 ms), `largest` the peak of its biggest single process (VmHWM)."
        ),
        "",
        (
            "| file | records | size (MB) | step | wall (s) | CPU (s) | MB/s | records/s "
            "| peak RSS (MB) | largest (MB) | speed-up (wall) | speed-up (CPU) |"
        ),
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label, records, size, out_size, conv, ref in rows:
        for step, m in (("nasbench-convert", conv), ("original-style load", ref)):
            if m is None:
                continue
            if ref is None:
                ratio_w = ratio_c = "n/a"
            elif m is conv:
                ratio_w = f"{ref['wall'] / conv['wall']:.1f}x"
                ratio_c = f"{ref['cpu'] / conv['cpu']:.1f}x"
            else:
                ratio_w = ratio_c = "1.0x"
            lines.append(
                f"| {label} (`{name}`) | {records:,} | {_fmt_mb(size)} | {step} | {m['wall']:.1f} | "
                f"{m['cpu']:.1f} | {size / 1e6 / m['wall']:,.0f} | {records / m['wall']:,.0f} | "
                f"{_fmt_mb(m['tree_peak'])} | {_fmt_mb(m['proc_peak'])} | {ratio_w} | {ratio_c} |"
            )
        lines.append(
            f"| {label} (`{name}`) | | | converted dataset on disk: {_fmt_mb(out_size)} MB "
            "| | | | | | | | |"
        )
    lines.append("")
    lines.append(
        "The conversion runs once before and once after the original-style load (the machine "
        "is shared); the table shows the faster run, all runs are listed here with the 1-minute "
        "load average at their end:"
    )
    lines.append("")
    for name, _label, _records, _size, _out_size, conv, ref in rows:
        walls = ", ".join(f"{c['wall']:.1f} s (load {c['load']})" for c in conv.get("runs", [conv]))
        ref_text = f"; original-style load {ref['wall']:.1f} s (load {ref['load']})" if ref else ""
        lines.append(f"- `{name}`: nasbench-convert {walls}{ref_text}")
    for name, _label, _records, _size, _out_size, conv, _ref in rows:
        if conv.get("manifest"):
            c = conv["manifest"]["conversion"]
            lines.append("")
            if conv.get("verified"):
                lines.append(
                    f"`{name}` checked against the original-style load: {conv['verified']}."
                )
                lines.append("")
            lines.append(
                f"`{name}`: phases (wall s) {c['phase_seconds']}, CPU s {c['cpu_seconds']}, "
                f"{c['workers']} workers, {c['fast_path_records']:,} records on the fast path, "
                f"{c['exact_path_records']:,} on the exact path."
            )
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20,000 cells instead of 423,624")
    parser.add_argument(
        "--skip-reference", action="store_true", help="do not time the original-style load"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="conversion runs per file (the fastest is compared; default 2)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the value-by-value check of each dataset against the original-style load",
    )
    args = parser.parse_args(argv)
    report = run(args.small, args.skip_reference, not args.no_verify, max(1, args.repeat))
    print(report)
    if not args.small:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report)
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
