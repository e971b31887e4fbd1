"""Conv2D output-channel elimination (Chee et al., arXiv 2108.00065, on seed 003's method): where
a conv's channels go, what its reader sees, and the reader's kernel as one row per channel.

The channels are removed from the conv; their *reader* (the next Conv2D, or the Dense after a
global pooling or a Flatten) absorbs the interpolation matrix T. In between may sit any layer
that treats each channel on its own — activations, BatchNormalization, max or average pooling,
padding, dropout, a DepthwiseConv2D with depth multiplier 1 — since dropping channel j before
such a layer drops channel j after it and leaves the others as they were. Those layers are
sliced (BatchNormalization's four vectors, the depthwise kernel), never rewritten.

X is what the reader sees: the feature maps at its input, after every one of those layers, one
row per channel and one column per image *position* (N·H·W columns; after a global pooling, N).
T is never pushed through a layer: max pooling, for one, does not commute with a linear
combination (max(a + b) ≠ max(a) + max(b)), but it needs not to — the kept channels reach the
reader unchanged, and T, fitted on the maps the reader itself sees, is folded into the reader
alone, which is linear in its input. Hence what is exact: whenever the maps the reader sees are
linear combinations of each other, removing the combined ones changes nothing.

Readers: a Conv2D (any kernel, stride, padding — zero padding is a zero map, and a linear
combination of zero maps is zero), a Dense on channels (after GlobalAveragePooling2D /
GlobalMaxPooling2D, or applied per position), and a Dense after Flatten, whose rows are
position-major in NHWC (row (h·W + w)·C + c), so its update is kron(I_HW, T)ᵀ·W.
Residual Adds, squeeze-excite gates and Concatenate couple several convs' channels into one
group with several readers: `groups.py` finds them, `group_eliminator.py` narrows them; this
module holds what every group shares (which layers pass channels one by one, the reader's
kernel as one row per channel, slicing per-channel weights).
"""

from __future__ import annotations

import numpy as np

# Layers that treat each channel separately (channel j in → channel j out, others untouched).
PER_CHANNEL = ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "ThresholdedReLU", "Dropout", "SpatialDropout2D",
               "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "BatchNormalization",
               "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "DepthwiseConv2D")
GLOBAL_POOLING = ("GlobalAveragePooling2D", "GlobalMaxPooling2D")
# After Flatten the features are position-major; only element-wise layers may follow before the Dense.
ELEMENT_WISE = ("Activation", "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Dropout", "GaussianNoise",
                "GaussianDropout", "AlphaDropout", "ActivityRegularization")
SLICED = ("BatchNormalization", "DepthwiseConv2D", "PReLU")  # per-channel layers with per-channel weights


def channel_problem(layer, after_flatten: bool) -> str | None:
    """Why channels cannot pass `layer` one by one, or None when they can."""
    kind = type(layer).__name__
    allowed = ELEMENT_WISE if after_flatten else PER_CHANNEL + GLOBAL_POOLING + ("Flatten",)
    if kind not in allowed:
        where = "after Flatten only element-wise layers may come before the Dense" if after_flatten else (
            "the channels must reach a Conv2D or Dense through per-channel layers (activation, "
            "BatchNormalization, pooling, padding, dropout, DepthwiseConv2D), element-wise merges (Add, Multiply, "
            "…), Concatenate, a global pooling or a Flatten")
        return f"{kind} is not one of the layers conv elimination can see through: {where}"
    if kind == "Activation":
        name = getattr(layer.activation, "__name__", str(layer.activation))
        if name in ("softmax", "log_softmax"):
            return f"Activation('{name}') mixes the channels (each output depends on all of them)"
    if kind == "BatchNormalization":
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        rank = len(layer.input_shape)
        if [a % rank for a in axis] != [rank - 1]:
            return f"BatchNormalization normalises axis {layer.axis}, not the channel axis"
    if kind == "DepthwiseConv2D" and int(layer.depth_multiplier) != 1:
        return (f"DepthwiseConv2D has depth_multiplier={layer.depth_multiplier}: each channel becomes "
                f"{layer.depth_multiplier} channels, which the reader's update does not follow")
    if kind == "PReLU" and tuple(layer.shared_axes or ()) and (len(layer.input_shape) - 1) in layer.shared_axes:
        return "PReLU shares its slope across the channel axis"
    data_format = getattr(layer, "data_format", "channels_last")
    if data_format not in (None, "channels_last"):
        return f"{kind} uses data_format='{data_format}'; conv elimination works on channels_last (NHWC) models"
    return None


def reader_problem(layer, after_flatten: bool) -> str | None:
    """Why `layer` cannot absorb T, None when it can; only called on Conv2D and Dense layers."""
    from edgeopt.tf.runtime import keras

    if type(layer) is keras.layers.Conv2D:
        if after_flatten:
            return "a Conv2D after Flatten"
        if int(layer.groups) != 1:
            return f"Conv2D with groups={layer.groups} sees each channel in only one group"
        if layer.data_format != "channels_last":
            return f"Conv2D uses data_format='{layer.data_format}'; conv elimination works on channels_last models"
        return None
    if type(layer) is keras.layers.Dense:
        return None
    return f"{type(layer).__name__} cannot absorb the update (only a plain Conv2D or Dense can)"


def reader_rows(kernel: np.ndarray, positions: int = 1) -> np.ndarray:
    """The reader's kernel with one row per input channel, (C, everything else).

    A Conv2D kernel (kh, kw, C, O) gives (C, kh·kw·O); a Dense kernel (C, units) is already that;
    a Dense after Flatten of H·W = `positions` positions has rows (h·W + w)·C + c, regrouped so
    that channel c's row holds its weights at every position, (C, positions·units).

    Example:
        >>> w = np.arange(12.0).reshape(6, 2)            # Flatten of 3 positions × 2 channels
        >>> reader_rows(w, positions=3).tolist()          # channel 0: rows 0, 2, 4
        [[0.0, 1.0, 4.0, 5.0, 8.0, 9.0], [2.0, 3.0, 6.0, 7.0, 10.0, 11.0]]
    """
    k = np.asarray(kernel)
    if k.ndim == 4:
        return np.moveaxis(k, 2, 0).reshape(k.shape[2], -1)
    if positions > 1:
        units = k.shape[1]
        return k.reshape(positions, -1, units).transpose(1, 0, 2).reshape(-1, positions * units)
    return k


def rows_to_kernel(rows: np.ndarray, like_shape: tuple[int, ...], positions: int = 1) -> np.ndarray:
    """Inverse of `reader_rows`: a kernel shaped like `like_shape` but with rows.shape[0] channels.

    Folding T into rows, Tᵀ·rows, is then W·T on every kernel tap of a conv and kron(I_HW, T)ᵀ·W
    for a Dense after Flatten.

    Example:
        >>> w = np.random.default_rng(0).standard_normal((3, 3, 4, 5))
        >>> bool(np.array_equal(rows_to_kernel(reader_rows(w), w.shape), w))
        True
    """
    r = np.asarray(rows)
    channels = r.shape[0]
    if len(like_shape) == 4:
        kh, kw, _, out = like_shape
        return np.moveaxis(r.reshape(channels, kh, kw, out), 0, 2)
    if positions > 1:
        units = like_shape[1]
        return r.reshape(channels, positions, units).transpose(1, 0, 2).reshape(positions * channels, units)
    return r


def slice_channel_weights(layer, keep: np.ndarray, weights: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The weights of a per-channel layer (BatchNormalization, DepthwiseConv2D, PReLU) for the kept
    channels; `weights` instead of the layer's own when given."""
    kind = type(layer).__name__
    weights = layer.get_weights() if weights is None else weights
    if kind == "DepthwiseConv2D":  # kernel (kh, kw, C, 1), bias (C,)
        return [w[:, :, keep, :] if w.ndim == 4 else w[keep] for w in weights]
    return [w[..., keep] for w in weights]  # BN's four (C,) vectors; PReLU's alpha (…, C)
