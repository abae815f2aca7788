"""Benchmark: training throughput of the TF2 trainer against the dataset's TPU time.

Run from the repository root (needs the ``train`` extra)::

    python benchmarks/bench_train.py               # 3 timed steps per variant
    python benchmarks/bench_train.py --steps 10    # steadier numbers on a fast machine

What it measures, for the README's Inception-like cell (2,694,282 parameters) at the
full recipe (batch 256, full-size network, RMSProp, weight decay; exactly the
``_Run.train_step`` that ``train_and_evaluate`` uses):

* training: two warm-up steps (the first traces the step function at learning
  rate 0), then ``--steps`` timed steps on fixed random batches, synchronised on
  the loss; seconds per step give images/s, seconds per epoch
  (``40000 / 256 = 156.25`` steps) and the 108-epoch training time
  (``int(108 * 40000 / 256) = 16,875`` steps);
* evaluation: images/s of the inference pass, from which the three evaluations of
  a run (3 x 3 splits x 9,984 images) are extrapolated;
* the input pipeline alone (pad, crop, flip, normalise, batch) in images/s, to
  show whether it could keep up.

Variants: float32, and float32 with XLA; with a GPU also mixed float16 and mixed
bfloat16. The baseline is the dataset itself: the mean ``final_training_time`` at
108 epochs of that cell's three repeats (read from ``../shared/realdata`` when
present, else the 1,155.96 s it holds), measured on a TPU v2 chip. Ratios are
baseline / ours (below 1: slower than the TPU).

The table is printed and written to ``benchmarks/results/train.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from nasbench_arrow.testing import INCEPTION_MATRIX, INCEPTION_OPS  # the original README's cell

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "train.md"

TRAIN_IMAGES = 40_000
EVAL_IMAGES = 3 * 3 * 9_984  # three evaluations of train/valid/test, whole batches only
TPU_SECONDS_108 = 1155.963  # mean of the three repeats, if realdata is missing


def _tpu_baseline() -> tuple[float, str]:
    env = os.environ.get("NASBENCH_REALDATA")
    folder = Path(env) if env else ROOT.parent / "shared" / "realdata"
    path = folder / "inception_28cfc787.json"
    if path.is_file():
        runs = json.loads(path.read_text())["computed_stats"]["108"]
        times = [r["final_training_time"] for r in runs]
        return float(np.mean(times)), f"{path.name}: {', '.join(f'{t:.1f}' for t in times)} s"
    return TPU_SECONDS_108, "built-in value (realdata not found)"


def _train_variant(tf, name: str, steps: int, batch: int, **config) -> dict:
    from nasbench_arrow.train.trainer import TrainConfig, _Run

    tf.keras.backend.clear_session()
    cfg = TrainConfig(batch_size=batch, **config)
    total = int(108 * TRAIN_IMAGES / batch)
    run = _Run(np.array(INCEPTION_MATRIX), list(INCEPTION_OPS), cfg, total)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.standard_normal((batch, 32, 32, 3), dtype=np.float32))
    labels = tf.constant(rng.integers(0, 10, batch, dtype=np.int32))
    t0 = time.perf_counter()
    float(run.train_step(images, labels)[0])  # trace + step 0
    trace = time.perf_counter() - t0
    float(run.train_step(images, labels)[0])
    t0 = time.perf_counter()
    for _ in range(steps):
        loss, _lr = run.train_step(images, labels)
    float(loss)
    per_step = (time.perf_counter() - t0) / steps

    eval_batches = 2
    float(run.predict(images, labels))  # trace
    t0 = time.perf_counter()
    for _ in range(eval_batches):
        int(run.predict(images, labels))
    eval_ips = eval_batches * batch / (time.perf_counter() - t0)
    return {
        "variant": name,
        "s_per_step": per_step,
        "images_per_s": batch / per_step,
        "s_per_epoch": per_step * TRAIN_IMAGES / batch,
        "train_108": per_step * total,
        "eval_images_per_s": eval_ips,
        "eval_108": EVAL_IMAGES / eval_ips,
        "trace_s": trace,
        "params": int(sum(int(np.prod(v.shape)) for v in run.variables)),
    }


def _pipeline_images_per_s(batch: int, batches: int) -> float:
    from nasbench_arrow.train.data import Split, train_dataset

    rng = np.random.default_rng(0)
    split = Split(
        rng.integers(0, 256, (TRAIN_IMAGES, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, TRAIN_IMAGES, dtype=np.int32),
    )
    it = iter(train_dataset(split, batch, seed=0))
    next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per variant")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA variants")
    args = parser.parse_args(argv)

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = (
        f"GPU: {', '.join(g.name for g in gpus)}"
        if gpus
        else f"CPU: {os.cpu_count()} logical cores"
    )
    variants = [("float32", {})]
    if not args.no_xla:
        variants.append(("float32 + XLA", {"jit_compile": True}))
    if gpus:
        variants += [
            ("mixed float16", {"mixed_precision": "float16"}),
            ("mixed bfloat16", {"mixed_precision": "bfloat16"}),
        ]
        if not args.no_xla:
            variants.append(
                ("mixed float16 + XLA", {"mixed_precision": "float16", "jit_compile": True})
            )

    baseline, baseline_note = _tpu_baseline()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    for name, cfg in variants:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows.append(_train_variant(tf, name, args.steps, args.batch_size, **cfg))
    pipe = _pipeline_images_per_s(args.batch_size, 20)

    lines = [
        "# Training throughput: Inception-like cell, full recipe",
        "",
        (
            f"- Device: {device}; {platform.processor() or platform.machine()}; TensorFlow {tf.__version__}; "
            f"Python {platform.python_version()}; load average at start {load:.2f}."
        ),
        (
            f"- Batch {args.batch_size}, {args.steps} timed steps per variant after 2 warm-up steps; "
            f"{rows[0]['params']:,} trainable parameters."
        ),
        (
            f"- Baseline: the dataset's 108-epoch training time of this cell on a TPU v2 chip, "
            f"mean {baseline:.1f} s ({baseline_note}) = {16875 * args.batch_size / baseline:,.0f} images/s."
        ),
        "",
        (
            "| variant | s/step | images/s | s/epoch | 108 epochs train (h) | + 3 evaluations (h) "
            "| TPU / ours (train time) |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['s_per_step']:.3f} | {r['images_per_s']:,.1f} | {r['s_per_epoch']:,.1f} "
            f"| {r['train_108'] / 3600:,.2f} | {(r['train_108'] + r['eval_108']) / 3600:,.2f} "
            f"| {baseline / r['train_108']:.4f} |"
        )
    lines += [
        "",
        (
            f"Inference (evaluation) throughput, float32: {rows[0]['eval_images_per_s']:,.0f} images/s. "
            f"Input pipeline alone (pad, crop, flip, normalise): {pipe:,.0f} images/s. "
            f"Tracing plus the first step: {rows[0]['trace_s']:.1f} s (not counted as training time)."
        ),
        "",
        (
            "Extrapolated from a few steps: s/epoch = s/step x 156.25, 108 epochs = s/step x 16,875 "
            "steps; a real run also waits on the input pipeline when it is slower than the step."
        ),
    ]
    if not gpus:
        lines.append(
            "No GPU was visible: run this script on a GPU machine for the GPU rows "
            "(mixed float16/bfloat16 variants appear automatically)."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
