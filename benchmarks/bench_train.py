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

GPU run (issue 15)::

    python benchmarks/bench_train.py --gpu-run               # full-size model, batch 256
    python benchmarks/bench_train.py --gpu-run --tiny        # the same code path in seconds on a CPU

``--gpu-run`` builds the full-size Inception-like model (and checks its
2,694,282 parameters), and for each of float32, mixed_float16 and
mixed_bfloat16, each without and with XLA, trains ``--steps`` steps fed by the
real input pipeline (pad, crop, flip, normalise, batch, prefetch) over a
synthetic CIFAR split (40,000 images whose brightness depends on the label):
images/s and s/epoch (40,000 images) as a real run would see them. It also
times the input pipeline alone, and checks that training is real: a few
hundred float32 steps on the learnable synthetic data must lower the loss
by at least 20% (mean of the first vs the last 20 steps). One markdown table
goes to ``benchmarks/results/train_gpu.md`` (``--out``). ``--tiny`` uses a
small network (8 stem filters, 1 stack of 1 module), batch 32, 2,048 images,
so tests can run it on a CPU.
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


# --------------------------------------------------------------------------- --gpu-run

#: (name, mixed_precision, XLA) of every --gpu-run variant.
GPU_VARIANTS = (
    ("float32", None, False),
    ("float32 + XLA", None, True),
    ("mixed_float16", "float16", False),
    ("mixed_float16 + XLA", "float16", True),
    ("mixed_bfloat16", "bfloat16", False),
    ("mixed_bfloat16 + XLA", "bfloat16", True),
)
#: The small network of --tiny (and of the trainer's CPU tests).
TINY_NETWORK = {"stem_filters": 8, "num_stacks": 1, "num_modules_per_stack": 1}
INCEPTION_PARAMS = 2_694_282


def synthetic_split(n: int, seed: int = 0):
    """``n`` CIFAR-shaped uint8 images whose brightness encodes the label (learnable), as a Split."""
    from nasbench_arrow.train.data import Split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    noise = rng.integers(0, 128, (n, 32, 32, 3))
    images = (noise + labels[:, None, None, None] * 12).astype(np.uint8)
    return Split(images, labels)


def _pipeline(split, batch: int, channels_first: bool = False):
    from nasbench_arrow.train.data import train_dataset

    return iter(train_dataset(split, batch, seed=0, channels_first=channels_first))


def _pipeline_variant(tf, name, mixed, xla, *, batch, steps, split, network) -> dict:
    """Train ``steps`` timed steps fed by the input pipeline; images/s and s/epoch."""
    from nasbench_arrow.train.trainer import TrainConfig, _Run

    tf.keras.backend.clear_session()
    cfg = TrainConfig(batch_size=batch, mixed_precision=mixed, jit_compile=xla, **network)
    run = _Run(
        np.array(INCEPTION_MATRIX), list(INCEPTION_OPS), cfg, int(108 * TRAIN_IMAGES / batch)
    )
    it = _pipeline(split, batch)
    t0 = time.perf_counter()
    for _ in range(2):  # trace (and XLA-compile) + one more warm-up step
        images, labels = next(it)
        float(run.train_step(images, labels)[0])
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        images, labels = next(it)
        loss, _lr = run.train_step(images, labels)
    last = float(loss)  # synchronises on the last step
    per_step = (time.perf_counter() - t0) / steps
    return {
        "variant": name,
        "s_per_step": per_step,
        "images_per_s": batch / per_step,
        "s_per_epoch": per_step * TRAIN_IMAGES / batch,
        "warmup_s": warm,
        "loss": last,
        "params": int(sum(int(np.prod(v.shape)) for v in run.variables)),
    }


def learning_check(tf, *, batch: int, steps: int, split, network: dict) -> dict:
    """Train ``steps`` float32 steps of the recipe on learnable data; loss and accuracy before/after.

    The cosine schedule spans exactly these steps (as a ``steps``-step run would).
    Returns the mean loss of the first and last 20 steps and the accuracy on a
    held-out synthetic batch set before and after training.
    """
    from nasbench_arrow.train.trainer import TrainConfig, _Run

    tf.keras.backend.clear_session()
    cfg = TrainConfig(batch_size=batch, **network)
    run = _Run(np.array(INCEPTION_MATRIX), list(INCEPTION_OPS), cfg, steps)
    held = synthetic_split(4 * batch, seed=1)
    from nasbench_arrow.train.data import eval_dataset

    def accuracy() -> float:
        correct = 0
        for images, labels in eval_dataset(held, batch):
            correct += int(run.predict(images, labels))
        return correct / (len(held) // batch * batch)

    before = accuracy()
    it = _pipeline(split, batch)
    losses = []
    for _ in range(steps):
        images, labels = next(it)
        losses.append(float(run.train_step(images, labels)[0]))
    window = min(20, max(1, steps // 4))
    return {
        "steps": steps,
        "loss_first": float(np.mean(losses[:window])),
        "loss_last": float(np.mean(losses[-window:])),
        "accuracy_before": before,
        "accuracy_after": accuracy(),
        "window": window,
    }


def gpu_run(args) -> tuple[str, dict]:
    """The --gpu-run measurements; returns the markdown and the raw numbers."""
    import tensorflow as tf

    from nasbench_arrow.params import trainable_parameters

    tiny = args.tiny
    network = TINY_NETWORK if tiny else {}
    batch = args.batch_size or (32 if tiny else 256)
    images = 2_048 if tiny else TRAIN_IMAGES
    learn_steps = args.learn_steps or (150 if tiny else 300)
    split = synthetic_split(images)
    gpus = tf.config.list_physical_devices("GPU")
    device = (
        f"GPU: {', '.join(g.name for g in gpus)}"
        if gpus
        else f"CPU: {os.cpu_count()} logical cores"
    )
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    expected = trainable_parameters(np.array(INCEPTION_MATRIX), list(INCEPTION_OPS), **network)
    rows = []
    for name, mixed, xla in GPU_VARIANTS:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        try:
            rows.append(
                _pipeline_variant(
                    tf,
                    name,
                    mixed,
                    xla,
                    batch=batch,
                    steps=args.steps,
                    split=split,
                    network=network,
                )
            )
        except Exception as exc:  # noqa: BLE001 - a variant this device cannot run is reported, not fatal
            rows.append(
                {
                    "variant": name,
                    "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}",
                }
            )
    it = _pipeline(split, batch)
    next(it)
    t0 = time.perf_counter()
    n_batches = 10 if tiny else 50
    for _ in range(n_batches):
        next(it)
    pipe = n_batches * batch / (time.perf_counter() - t0)
    print(f"learning check ({learn_steps} steps) ...", file=sys.stderr, flush=True)
    learn = learning_check(tf, batch=batch, steps=learn_steps, split=split, network=network)
    params = next((r["params"] for r in rows if "params" in r), None)
    params_ok = params == expected and (tiny or params == INCEPTION_PARAMS)
    # The loss is the criterion: batch norm's moving averages (momentum 0.997) lag far
    # behind in a few hundred steps, so held-out accuracy (inference mode) is shown only.
    learns = learn["loss_last"] < 0.8 * learn["loss_first"]
    size = (
        "tiny network (8 stem filters, 1 stack x 1 module)"
        if tiny
        else "full-size network (128 stem filters, 3 stacks x 3 modules)"
    )
    lines = [
        "# Training throughput on synthetic CIFAR: Inception-like cell"
        + (" (--tiny)" if tiny else ""),
        "",
        (
            f"- Device: {device}"
            + (
                f" ({details.get('device_name', '')}, compute capability {details.get('compute_capability', '')})"
                if details
                else ""
            )
            + f"; TensorFlow {tf.__version__}; Python {platform.python_version()}."
        ),
        (
            f"- {size}; batch {batch}; {args.steps} timed steps per variant after 2 warm-up steps, each fed by the "
            f"input pipeline over {images:,} synthetic images; s/epoch = s/step x {TRAIN_IMAGES:,} / {batch}."
        ),
        f"- Trainable parameters: {params:,} (expected {expected:,}"
        + ("" if tiny else f", the dataset's {INCEPTION_PARAMS:,}")
        + f"): {'OK' if params_ok else 'MISMATCH'}.",
        "",
        "| variant | images/s | s/step | s/epoch | warm-up (trace/compile) s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | |")
        else:
            lines.append(
                f"| {r['variant']} | {r['images_per_s']:,.1f} | {r['s_per_step']:.4f} | {r['s_per_epoch']:,.1f} | {r['warmup_s']:.1f} |"
            )
    lines += [
        f"| input pipeline alone | {pipe:,.0f} | | | |",
        "",
        (
            f"Training is real: {learn['steps']} float32 steps of the recipe (cosine schedule over those steps) on "
            f"learnable synthetic data: mean loss of the first/last {learn['window']} steps "
            f"{learn['loss_first']:.3f} -> {learn['loss_last']:.3f}; held-out accuracy "
            f"{learn['accuracy_before']:.3f} -> {learn['accuracy_after']:.3f} (chance 0.1; inference-mode batch norm "
            f"still uses lagging moving averages this early). Loss down by at least 20%: {'OK' if learns else 'FAILED'}."
        ),
    ]
    raw = {"rows": rows, "pipeline_images_per_s": pipe, "learning": learn, "params": params,
           "expected_params": expected, "params_ok": params_ok, "learns": learns}  # fmt: skip
    return "\n".join(lines) + "\n", raw


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per variant")
    parser.add_argument("--batch-size", type=int, default=None, help="default 256 (32 with --tiny)")
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA variants")
    parser.add_argument(
        "--gpu-run", action="store_true",
        help="all six precision/XLA variants fed by the input pipeline, the pipeline alone, and the "
        "learning check; one markdown table (see the module docstring)",
    )  # fmt: skip
    parser.add_argument(
        "--tiny", action="store_true", help="with --gpu-run: a small network, for a CPU check"
    )
    parser.add_argument(
        "--learn-steps",
        type=int,
        default=None,
        help="learning-check steps (default 300; 150 with --tiny)",
    )
    parser.add_argument(
        "--out", type=Path, help="markdown file (default benchmarks/results/train_gpu.md)"
    )
    args = parser.parse_args(argv)

    if args.gpu_run:
        text, raw = gpu_run(args)
        print(text)
        out = args.out or RESULTS.with_name("train_gpu_tiny.md" if args.tiny else "train_gpu.md")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        return (
            0
            if raw["params_ok"] and raw["learns"] and not any("error" in r for r in raw["rows"])
            else 1
        )
    if args.tiny:
        parser.error("--tiny goes with --gpu-run")
    args.batch_size = args.batch_size or 256

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
