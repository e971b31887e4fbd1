"""A table row for a Keras model: params, MACs, file size, accuracy and batch-1 latency.

It is the Keras counterpart of `edgeopt.profile.profile_tflite` (which must stay TensorFlow-free),
measured the same way: warm-up first, then `runs` timed single-image calls.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgeopt.common.row import Row
from edgeopt.models.keras_io import load_keras_model
from edgeopt.profile.tflite_graph import gzip_size
from edgeopt.tf.runtime import keras, tf


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates of one layer for one image (0 for layers without weights products)."""
    if hasattr(layer, "count_macs"):  # edgeopt's own layers know their cost
        return int(layer.count_macs())
    out_shape = layer.output_shape if not isinstance(layer.output_shape, list) else layer.output_shape[0]
    out_elems = int(np.prod([d for d in out_shape[1:] if d]))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return out_elems * kh * kw
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        return out_elems * kh * kw * int(layer.input_shape[-1])
    if isinstance(layer, keras.layers.Dense):
        return out_elems * int(layer.input_shape[-1])
    return 0


def count_macs(model: keras.Model) -> int:
    return sum(layer_macs(layer) for layer in _leaf_layers(model))


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def keras_latency_samples_ms(model: keras.Model, *, runs: int, warmup: int) -> np.ndarray:
    """Wall times (ms) of `runs` batch-1 calls of a Keras model, after `warmup` untimed ones."""
    call = tf.function(lambda x: model(x, training=False))
    sample = tf.constant(np.zeros((1, *model.input_shape[1:]), np.float32))
    for _ in range(warmup):
        call(sample)
    samples_ms = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        call(sample).numpy()
        samples_ms.append((time.perf_counter_ns() - start) / 1e6)
    return np.asarray(samples_ms)


def profile_keras(path: Path, *, name: str, x_test=None, y_test=None, runs: int = 100, warmup: int = 10) -> Row:
    """Profile a saved Keras model on this machine (TensorFlow's own runtime, batch 1)."""
    model = load_keras_model(path)
    data = Path(path).read_bytes()
    accuracy = None
    if x_test is not None:
        logits = model.predict(x_test, batch_size=256, verbose=0)
        accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
    lat = keras_latency_samples_ms(model, runs=runs, warmup=warmup)
    return Row(
        name=name, path=str(path), format="keras", dtype="float32",
        params=int(model.count_params()), macs=count_macs(model),
        size_bytes=len(data), gzip_bytes=gzip_size(data), accuracy=accuracy,
        latency_ms_p50=float(np.percentile(lat, 50)), latency_ms_p90=float(np.percentile(lat, 90)),
        latency_ms_mean=float(lat.mean()), latency_ms_std=float(lat.std()),
        extra={"runs": runs, "threads": None},
    )
