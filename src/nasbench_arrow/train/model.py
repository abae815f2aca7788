"""The NAS-Bench-101 network as a Keras model.

Same structure, widths, initialisers and batch-norm settings as the network the
dataset was trained with (``lib/model_builder.py`` and ``lib/base_ops.py`` of
``google-research/nasbench``), so :func:`build_model` has exactly the trainable
parameters of the dataset; :func:`nasbench_arrow.params.trainable_parameters`
counts the same number without TensorFlow.

Layer names follow the original variable scopes (``stack1_module2_vertex3_conv3x3``
for ``stack1/module2/vertex_3/Conv3x3-BN-ReLU``), with ``_`` for ``/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..constants import (
    CONV1X1,
    CONV3X3,
    MAXPOOL3X3,
    NUM_LABELS,
    NUM_MODULES_PER_STACK,
    NUM_STACKS,
    STEM_FILTERS,
)
from ..errors import import_optional
from ..params import _pruned, vertex_channels

# The install hint rather than a bare ModuleNotFoundError when the `train` extra is missing.
tf = import_optional("tensorflow", "train", "Training cells (nasbench_arrow.train)")

__all__ = [
    "BN_EPSILON",
    "BN_MOMENTUM",
    "DATA_FORMATS",
    "IMAGE_SIZE",
    "MIXED_PRECISION",
    "build_model",
]

keras = tf.keras

# Batch norm as in the original's base_ops: a slow moving average (0.997)
# and a small epsilon; Keras uses the same update rule for `momentum`.
BN_MOMENTUM = 0.997
BN_EPSILON = 1e-5
DATA_FORMATS = ("channels_last", "channels_first")
#: CIFAR-10 images are 32 x 32 RGB.
IMAGE_SIZE = 32
#: Accepted ``mixed_precision`` values and the Keras dtype policy each selects.
MIXED_PRECISION = {None: "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}

_KERNEL = {CONV3X3: 3, CONV1X1: 1}
_OP_NAME = {CONV3X3: "conv3x3", CONV1X1: "conv1x1", MAXPOOL3X3: "maxpool3x3"}


class Truncate(keras.layers.Layer):
    """Keep the first ``channels`` channels (the original's ``truncate``).

    Only ever drops one channel: widths inside a module differ by at most the
    one extra channel some output-feeding vertices get from an uneven split.
    """

    def __init__(self, channels: int, channel_axis: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.channel_axis = int(channel_axis)

    def call(self, inputs):
        if self.channel_axis == 1:
            return inputs[:, : self.channels]
        return inputs[..., : self.channels]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.channel_axis] = self.channels
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "channel_axis": self.channel_axis,
        }


def _conv_bn_relu(x, filters: int, kernel: int, *, axis: int, data_format: str, dtype, name: str):
    """Bias-free same-padded conv, batch norm, ReLU: the original's ``conv_bn_relu``."""
    x = keras.layers.Conv2D(
        filters,
        kernel,
        padding="same",
        use_bias=False,
        data_format=data_format,
        # TF1's variance_scaling_initializer(): scale 1, fan-in, truncated normal.
        kernel_initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal"),
        dtype=dtype,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        axis=axis, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=dtype, name=f"{name}_bn"
    )(x)
    return keras.layers.ReLU(dtype=dtype, name=f"{name}_relu")(x)


def _module(
    x,
    matrix,
    ops: Sequence[str],
    in_channels: int,
    out_channels: int,
    *,
    axis,
    data_format,
    dtype,
    name,
):
    """One cell instance: projections, vertex ops, truncations, sums and the final concat."""
    n = matrix.shape[0]
    widths = vertex_channels(in_channels, out_channels, matrix)
    conv = {"axis": axis, "data_format": data_format, "dtype": dtype}
    tensors = [x]
    concat_in = []
    for t in range(1, n - 1):
        vname = f"{name}_vertex{t}"
        add_in = []
        for src in range(1, t):
            if matrix[src, t]:
                y = tensors[src]
                if widths[src] != widths[t]:
                    y = Truncate(widths[t], axis, dtype=dtype, name=f"{vname}_truncate{src}")(y)
                add_in.append(y)
        if matrix[0, t]:
            add_in.append(_conv_bn_relu(x, widths[t], 1, name=f"{vname}_projection", **conv))
        if len(add_in) == 1:
            y = add_in[0]
        else:
            y = keras.layers.Add(dtype=dtype, name=f"{vname}_sum")(add_in)
        op = ops[t]
        if op == MAXPOOL3X3:
            y = keras.layers.MaxPooling2D(
                3,
                strides=1,
                padding="same",
                data_format=data_format,
                dtype=dtype,
                name=f"{vname}_maxpool3x3",
            )(y)
        else:
            y = _conv_bn_relu(y, widths[t], _KERNEL[op], name=f"{vname}_{_OP_NAME[op]}", **conv)
        tensors.append(y)
        if matrix[t, n - 1]:
            concat_in.append(y)

    if not concat_in:  # input -> output only
        return _conv_bn_relu(x, out_channels, 1, name=f"{name}_output_projection", **conv)
    if len(concat_in) == 1:
        out = concat_in[0]
    else:
        out = keras.layers.Concatenate(axis=axis, dtype=dtype, name=f"{name}_concat")(concat_in)
    if matrix[0, n - 1]:
        proj = _conv_bn_relu(x, out_channels, 1, name=f"{name}_output_projection", **conv)
        out = keras.layers.Add(dtype=dtype, name=f"{name}_output_sum")([out, proj])
    return out


def build_model(
    spec: Any,
    ops: Sequence[str] | None = None,
    *,
    prune: bool = True,
    stem_filters: int = STEM_FILTERS,
    num_stacks: int = NUM_STACKS,
    num_modules_per_stack: int = NUM_MODULES_PER_STACK,
    num_labels: int = NUM_LABELS,
    data_format: str | None = None,
    mixed_precision: str | None = None,
    image_size: int = IMAGE_SIZE,
    name: str = "nasbench",
):
    """Build the network of a cell, uncompiled, outputting logits.

    Parameters
    ----------
    spec : ModelSpec or array-like
        A pruned :class:`~nasbench_arrow.model_spec.ModelSpec`, or an adjacency
        matrix when ``ops`` is given (pruned through ``ModelSpec`` first).
    ops : sequence of str, optional
        Vertex labels for a raw matrix.
    prune : bool, default True
        With a raw matrix: prune it through ``ModelSpec`` first. ``False`` for a
        matrix that is already pruned (one from the dataset).
    stem_filters, num_stacks, num_modules_per_stack, num_labels : int
        Network size; the defaults (128, 3, 3, 10) are the dataset's.
    data_format : {"channels_last", "channels_first"}, optional
        Tensor layout; defaults to ``spec.data_format`` or ``"channels_last"``.
        The input is ``(image_size, image_size, 3)`` or ``(3, image_size, image_size)``
        accordingly. TensorFlow's CPU kernels only run ``channels_last``.
    mixed_precision : {None, "float16", "bfloat16"}
        Compute dtype of the layers (variables stay float32); the logits are
        always float32.
    image_size : int
        Input height and width in pixels.
    name : str
        Keras model name.

    Returns
    -------
    keras.Model
        Input images (normalised floats), output logits ``(batch, num_labels)``.

    Raises
    ------
    OutOfDomainError
        Invalid spec or unknown op.
    ValueError
        Unknown ``data_format`` or ``mixed_precision``.
    """
    matrix, labels = _pruned(spec, ops, prune)
    if data_format is None:
        data_format = getattr(spec, "data_format", None) if ops is None else None
        data_format = data_format or "channels_last"
    if data_format not in DATA_FORMATS:
        msg = f"data_format must be one of {DATA_FORMATS}, got {data_format!r}"
        raise ValueError(msg)
    if mixed_precision not in MIXED_PRECISION:
        msg = f"mixed_precision must be one of {list(MIXED_PRECISION)}, got {mixed_precision!r}"
        raise ValueError(msg)
    dtype = MIXED_PRECISION[mixed_precision]
    axis = -1 if data_format == "channels_last" else 1
    shape = (image_size, image_size, 3) if axis == -1 else (3, image_size, image_size)
    conv = {"axis": axis, "data_format": data_format, "dtype": dtype}

    inputs = keras.Input(shape=shape, name="images")
    x = _conv_bn_relu(inputs, stem_filters, 3, name="stem", **conv)
    channels = stem_filters
    for stack in range(num_stacks):
        out_channels = stem_filters * 2**stack
        if stack > 0:
            x = keras.layers.MaxPooling2D(
                2,
                strides=2,
                padding="same",
                data_format=data_format,
                dtype=dtype,
                name=f"stack{stack}_downsample",
            )(x)
        for module in range(num_modules_per_stack):
            x = _module(
                x,
                matrix,
                labels,
                channels,
                out_channels,
                name=f"stack{stack}_module{module}",
                **conv,
            )
            channels = out_channels
    x = keras.layers.GlobalAveragePooling2D(
        data_format=data_format, dtype=dtype, name="global_pool"
    )(x)
    logits = keras.layers.Dense(num_labels, dtype="float32", name="dense")(x)
    return keras.Model(inputs, logits, name=name)
