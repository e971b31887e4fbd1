"""Accuracy of a `.tflite` classifier, measured through the LiteRT interpreter.

Converted models are checked here rather than trusted: int8 conversion can silently break a
model (a wrong representative dataset or an unsupported op still converts). Float inputs are quantized exactly as the converter's own evaluation does,
`q = round(x / scale + zero_point)` clipped to the integer range, and integer outputs are
dequantized, `(q - zero_point) * scale`, before the argmax.
"""

from __future__ import annotations

import os

import numpy as np

from edgeopt.common.errors import DataError, EdgeoptError, ModelFileError
from edgeopt.profile.tflite_file import open_interpreter


def quantize_input(x: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Map float data onto a quantized integer input: round(x / scale) + zero_point, clipped.

    Example:
        >>> quantize_input(np.array([0.0, 1.0]), np.int8, 1 / 255, -128).tolist()
        [-128, 127]
    """
    info = np.iinfo(dtype)
    # As TFLite's own QUANTIZE kernel: round(x / scale) half away from zero (std::round), then
    # add the zero point, so a sample fed here is the one the device would have fed itself.
    v = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Map a quantized output back to floats: (q - zero_point) * scale.

    Example:
        >>> dequantize_output(np.array([18, 28], dtype=np.int8), 0.5, 18).tolist()
        [0.0, 5.0]
    """
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def predict_tflite(path: str | os.PathLike, x: np.ndarray, *, threads: int = 1,
                   batch_size: int = 64, interpreter=None) -> np.ndarray:
    """Run a `.tflite` model on float inputs and return its dequantized first output.

    Args:
        path: The model file.
        x: Float samples, NHWC (or whatever per-sample shape the model takes), first axis = N.
        threads: Interpreter threads.
        batch_size: Samples per `invoke()` when the model's batch dimension is dynamic
            (stored as -1); models with a fixed batch run one sample at a time.
        interpreter: The model's interpreter if the caller has it open already (the profiler
            opens each model once); it may be resized to the batch. Default: a fresh one.

    Returns:
        Float32 array of shape (N, *output_shape_without_batch).

    Raises:
        ModelFileError: The model file is bad.
        DataError: `x` does not fit the model's input.

    Example:
        >>> logits = predict_tflite("model_int8.tflite", x_test[:10])  # doctest: +SKIP
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise EdgeoptError(f"`batch_size` must be an integer >= 1. "
                           f"Received: batch_size={batch_size!r} (model {path}).")
    if interpreter is None:
        interpreter = open_interpreter(path, threads=threads)
    inp = interpreter.get_input_details()[0]
    x = _check_samples(path, x, tuple(int(d) for d in inp["shape"][1:]))

    signature = inp.get("shape_signature")
    dynamic_batch = signature is not None and len(signature) > 0 and signature[0] == -1
    if not dynamic_batch or inp["shape"][0] != 1:
        batch_size = 1  # a fixed batch may hide reshapes hard-coded to it: do not resize

    if batch_size > 1:
        try:
            return _run_batches(interpreter, x, batch_size)
        except (ValueError, RuntimeError):
            # The graph refused a bigger batch (a reshape fixed to 1, say): one at a time
            # always works, on a fresh interpreter since the failed resize may linger.
            interpreter = open_interpreter(path, threads=threads)
    try:
        return _run_batches(interpreter, x, 1)
    except (ValueError, RuntimeError) as err:
        raise ModelFileError(
            f"{path}: cannot run one sample at a time (input shape "
            f"{tuple(int(d) for d in inp['shape'])}): {err}. Export the model with a batch "
            "dimension of 1 or None."
        ) from err


def _run_batches(interpreter, x: np.ndarray, batch_size: int) -> np.ndarray:
    results = []
    current = int(interpreter.get_input_details()[0]["shape"][0])
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        if len(chunk) != current:
            # A new batch size needs a re-allocation: once for the full batch, and once more
            # for a shorter last batch.
            interpreter.resize_tensor_input(inp["index"], [len(chunk), *x.shape[1:]])
            interpreter.allocate_tensors()
            inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
            current = len(chunk)
            if int(out["shape"][0]) != current:
                raise ValueError(f"output batch {out['shape'][0]} != input batch {current}")
        interpreter.set_tensor(inp["index"], _to_input(chunk, inp))
        interpreter.invoke()
        results.append(_from_output(interpreter.get_tensor(out["index"]), out))  # a copy
    return np.concatenate(results, axis=0)


def evaluate_tflite(path: str | os.PathLike, x_test: np.ndarray, y_test: np.ndarray,
                    threads: int = 1, batch_size: int = 64, interpreter=None) -> float:
    """Top-1 accuracy of a `.tflite` classifier on labelled data, through the interpreter.

    Args:
        path: The model file.
        x_test: Float32 samples in [0, 1], NHWC, first axis = N.
        y_test: Integer class labels, shape (N,) or (N, 1).
        threads: Interpreter threads.
        batch_size: Samples per `invoke()` when the model allows a dynamic batch.
        interpreter: The model's interpreter if the caller has it open (see `predict_tflite`).

    Returns:
        The fraction of samples whose argmax output equals the label, in [0, 1].

    Raises:
        ModelFileError: The model file is bad.
        DataError: The data is empty, its shape does not fit the model, or labels do not
            match the samples.

    Example:
        >>> evaluate_tflite("model_int8.tflite", x_test, y_test)  # doctest: +SKIP
        0.9812
    """
    labels = _labels(path, x_test, y_test)
    outputs = predict_tflite(path, x_test, threads=threads, batch_size=batch_size, interpreter=interpreter)
    outputs = outputs.reshape(len(outputs), -1)
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= outputs.shape[1]:
        raise DataError(f"Labels for {path} range from {labels.min()} to {labels.max()}, but the model has "
                        f"{outputs.shape[1]} outputs (classes 0–{outputs.shape[1] - 1}). Use data with "
                        "that many classes, or a model trained on this dataset.")
    predictions = outputs.argmax(axis=1)
    return float(np.mean(predictions == labels))


def check_eval_data(path: str | os.PathLike, interpreter, x_test: np.ndarray, y_test: np.ndarray) -> None:
    """Raise the DataError `evaluate_tflite` would, without running anything: before minutes of timing.

    Example:
        >>> check_eval_data("model.tflite", open_interpreter("model.tflite"), x, y)  # doctest: +SKIP
    """
    _labels(path, x_test, y_test)
    _check_samples(path, x_test, tuple(int(d) for d in interpreter.get_input_details()[0]["shape"][1:]))


def _labels(path, x_test, y_test) -> np.ndarray:
    labels = np.asarray(y_test)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # keras.datasets' CIFAR labels come as (N, 1)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        hint = " If they are one-hot, pass y.argmax(axis=1)." if labels.ndim == 2 else ""
        raise DataError(f"Labels for {path} must be integer class ids of shape (N,). Received "
                        f"shape {labels.shape}, dtype {labels.dtype}.{hint}")
    if len(labels) != len(x_test):
        raise DataError(f"Data for {path} has {len(x_test)} samples but {len(labels)} labels; "
                        "pass matching x and y.")
    return labels


def _check_samples(path, x, sample_shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"No samples given to evaluate {path}: x has shape {x.shape}. "
                        "Pass at least one sample.")
    if tuple(x.shape[1:]) != sample_shape:
        hint = ""
        if tuple(x.shape[1:]) + (1,) == sample_shape:
            hint = " The model wants a channel axis: pass x[..., None]."
        raise DataError(
            f"Data shape {tuple(x.shape[1:])} per sample does not match the input shape "
            f"{sample_shape} of model {path} (data {tuple(x.shape)}, model input "
            f"(N, {', '.join(map(str, sample_shape))})). Resize or reshape the data to the "
            f"model's input, or profile a model built for this data.{hint}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"Data for {path} must be numeric; received dtype {x.dtype}.")
    return x


def _to_input(chunk: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        scale, zero_point = detail["quantization"]
        if scale == 0:  # an integer input without quantization: feed the values as they are
            return chunk.astype(dtype)
        return quantize_input(chunk, dtype, scale, zero_point)
    return chunk.astype(dtype, copy=False)


def _from_output(q: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.issubdtype(q.dtype, np.integer) and scale != 0:
        return dequantize_output(q, scale, zero_point)
    return q.astype(np.float32, copy=False)
