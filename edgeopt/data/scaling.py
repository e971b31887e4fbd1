"""How pixels reach a model: the data section's `input_range`, `mean` and `std`.

    data: {name: npz, path: data.npz, input_range: [0, 255]}                 # raw pixels
    data: {name: npz, path: data.npz, input_range: [-1, 1]}                  # MobileNet / EfficientNet
    data: {name: cifar10, input_range: [0, 1], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}

A pixel p (0–255) becomes `lo + p·(hi − lo)/255`, then `(x − mean)/std` per channel when those are
given. Float images (an `.npz` of floats) are taken to be in [lo, hi] already and only normalised;
values outside it are refused. Training, int8 calibration, accuracy, the run's `data/test.npz` and
`edgeopt profile RUN_DIR` on a device all see the same inputs, because the dataset holds them
scaled and the test split records the scaling it was stored with. TensorFlow-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeopt.common.errors import DataError

DEFAULT_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class InputScaling:
    """Pixels → model inputs: a linear map of 0–255 onto `input_range`, then optional mean/std.

    Example:
        >>> InputScaling((-1.0, 1.0)).from_pixels(np.array([[0, 255]], np.uint8)[..., None]).ravel().tolist()
        [-1.0, 1.0]
    """

    input_range: tuple[float, float] = DEFAULT_RANGE
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        problem = range_problem(self.input_range)
        if problem:
            raise DataError(f"`input_range` {problem}. Received: input_range={list(self.input_range)!r}")
        for key in ("mean", "std"):
            values = getattr(self, key)
            if values is not None and (not values or not all(math.isfinite(v) for v in values)):
                raise DataError(f"`{key}` must be one finite number per channel (or one for all). "
                                f"Received: {key}={list(values)!r}")
        if self.std is not None and min(self.std) <= 0:
            raise DataError(f"`std` must be positive (inputs are divided by it). Received: std={list(self.std)!r}")

    @property
    def is_default(self) -> bool:
        return tuple(self.input_range) == DEFAULT_RANGE and self.mean is None and self.std is None

    def pixel_table(self) -> np.ndarray:
        """The float32 value of each pixel 0–255 before mean/std, each correctly rounded from float64."""
        lo, hi = (float(v) for v in self.input_range)
        return (lo + np.arange(256, dtype=np.float64) * (hi - lo) / 255.0).astype(np.float32)

    def from_pixels(self, pixels: np.ndarray, where: str = "the images") -> np.ndarray:
        """uint8 pixels (any shape, channels last) → float32 model inputs."""
        return self._normalised(self.pixel_table()[np.asarray(pixels, dtype=np.uint8)], where)

    def from_floats(self, x: np.ndarray, where: str) -> np.ndarray:
        """Float images already in `input_range` → float32 model inputs; DataError when outside it."""
        x = np.asarray(x, dtype=np.float32)
        lo, hi = self.input_range
        if x.size and (float(x.min()) < lo or float(x.max()) > hi):
            raise DataError(f"{where} holds floats from {float(x.min()):g} to {float(x.max()):g}, outside the declared "
                            f"input range [{lo:g}, {hi:g}] (data.input_range). Declare the range your floats are in "
                            "(`input_range: [0, 255]` for 0–255 floats, `[-1, 1]` for MobileNet-style inputs) "
                            "or store uint8 pixels (0–255).")
        return self._normalised(x, where)

    def to_pixels(self, x: np.ndarray) -> np.ndarray | None:
        """The uint8 pixels `x` was made from by `from_pixels`, or None when it was not exactly that."""
        x = np.asarray(x)
        if x.dtype != np.float32 or x.ndim < 2:
            return None
        mean, std = self._channel_stats(x.shape[-1], "the test split") if (self.mean or self.std) else (0.0, 1.0)
        lo, hi = self.input_range
        before = x.astype(np.float64) * std + mean
        pixels = np.rint(np.clip((before - lo) * 255.0 / (hi - lo), 0, 255)).astype(np.uint8)
        return pixels if np.array_equal(self.from_pixels(pixels), x) else None

    def record(self) -> dict:
        """What results.json and data/test.npz keep: enough to rebuild this scaling on a device."""
        return {"input_range": [float(v) for v in self.input_range],
                "mean": None if self.mean is None else [float(v) for v in self.mean],
                "std": None if self.std is None else [float(v) for v in self.std]}

    @classmethod
    def from_record(cls, record: dict | None) -> "InputScaling":
        """The scaling a record describes; an absent record (an older run) is the default [0, 1]."""
        record = record or {}
        mean, std = record.get("mean"), record.get("std")
        return cls(tuple(record.get("input_range") or DEFAULT_RANGE), None if mean is None else tuple(mean),
                   None if std is None else tuple(std))

    def describe(self) -> str:
        """One line for the log: what a pixel becomes."""
        lo, hi = self.input_range
        text = f"pixels 0–255 → [{lo:g}, {hi:g}]"
        if self.mean is not None or self.std is not None:
            text += (f", then (x − {_numbers(self.mean or (0.0,))}) / {_numbers(self.std or (1.0,))} per channel")
        return text

    def _normalised(self, x: np.ndarray, where: str) -> np.ndarray:
        if self.mean is None and self.std is None:
            return x
        mean, std = self._channel_stats(x.shape[-1], where)
        return ((x - mean) / std).astype(np.float32)

    def _channel_stats(self, channels: int, where: str) -> tuple[np.ndarray, np.ndarray]:
        values = {}
        for key, default in (("mean", 0.0), ("std", 1.0)):
            given = getattr(self, key)
            if given is not None and len(given) not in (1, channels):
                raise DataError(f"`{key}` has {len(given)} values but {where} have {channels} channel"
                                f"{'s' if channels > 1 else ''}: give one value per channel, or one for all. "
                                f"Received: {key}={list(given)!r}")
            values[key] = np.asarray(given if given is not None else (default,), dtype=np.float32)
        return values["mean"], values["std"]


def range_problem(value) -> str | None:
    """Why `value` is not a valid `input_range`, or None: two finite numbers lo < hi."""
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "must be two numbers [lo, hi], e.g. [0, 255] or [-1, 1]"
    lo, hi = value
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "must be two finite numbers [lo, hi]"
    if lo >= hi:
        return "must be [lo, hi] with lo < hi (0–255 pixels are mapped linearly onto it)"
    return None


def _numbers(values) -> str:
    return f"[{', '.join(f'{v:g}' for v in values)}]" if len(values) > 1 else f"{values[0]:g}"
