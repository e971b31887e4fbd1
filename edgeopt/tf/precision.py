"""Training precision: which Keras dtype policy to train in, and training a model under it.

On CPUs, `mixed_float16` is slower than float32 (TensorFlow's CPU kernels emulate half
precision), while `mixed_bfloat16` is about twice as fast where the CPU has native bfloat16
dot products (AVX512-BF16 or AMX); without them, bfloat16 is emulated and slower too
(docs/pruning.md, `benchmarks/train_throughput.py`). `auto` therefore picks per device and says why.

A mixed policy only changes how a model computes, not what it stores: variables stay float32.
The functions here train a *copy* of a float32 model rebuilt under the policy and copy the
weights back into a float32 model, so every saved model is float32 and conversion to TFLite
does not change. The global policy is only ever changed inside `dtype_policy(...)`, which
restores it.

Importing this module does not import TensorFlow: recipes validate `precision` without it.
"""

from __future__ import annotations

import difflib
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, NamedTuple

from pydantic import AfterValidator

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
# /proc/cpuinfo flags that mean the CPU multiplies bfloat16 natively.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


class Resolution(NamedTuple):
    """A concrete Keras policy for a requested precision, and why it was chosen."""

    policy: str  # "float32" | "mixed_bfloat16" | "mixed_float16"
    reason: str

    def info(self, requested: str) -> dict[str, str]:
        """What a training stage records in Artifact.info (→ step.json and results.json)."""
        return {"precision": self.policy, "precision_requested": requested, "precision_reason": self.reason}


def check_precision(value: str) -> str:
    """Pydantic validator: `value` must be one of PRECISIONS (message repeats the value)."""
    if value not in PRECISIONS:
        close = difflib.get_close_matches(str(value), PRECISIONS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown precision '{value}'.{hint} Known: {', '.join(PRECISIONS)}")
    return value


# The type of a stage's `precision` parameter: `precision: Precision = "float32"`.
Precision = Annotated[str, AfterValidator(check_precision)]


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags of the first CPU in `cpuinfo` (empty when the file is unreadable).

    Example:
        >>> "avx2" in cpu_flags()  # on most x86 machines
        True
    """
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 says flags, ARM says Features
            return frozenset(value.split())
    return frozenset()


def resolve_precision(requested: str, *, flags: Iterable[str] | None = None,
                      gpus: int | None = None) -> Resolution:
    """Turn a requested precision into a Keras policy name, with the reason for the choice.

    `auto` picks `mixed_float16` when TensorFlow sees a GPU, `mixed_bfloat16` on a CPU with
    AVX512-BF16 or AMX, and `float32` otherwise. An explicit policy is returned as is.

    Args:
        requested: one of PRECISIONS.
        flags: CPU flags to decide on (default: read /proc/cpuinfo).
        gpus: number of GPUs to decide on (default: ask TensorFlow; only read for `auto`).

    Example:
        >>> resolve_precision("auto", flags={"avx512f", "avx512_bf16"}, gpus=0)
        Resolution(policy='mixed_bfloat16', reason='CPU has avx512_bf16: bfloat16 runs natively')
    """
    check_precision(requested)
    if requested != "auto":
        return Resolution(requested, "requested")
    if gpus is None:
        from edgeopt.tf.runtime import tf

        gpus = len(tf.config.list_physical_devices("GPU"))
    if gpus:
        return Resolution("mixed_float16", f"{gpus} GPU(s) visible: float16 runs on tensor cores")
    flags = cpu_flags() if flags is None else frozenset(flags)
    native = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if native:
        return Resolution("mixed_bfloat16", f"CPU has {', '.join(native)}: bfloat16 runs natively")
    return Resolution("float32", "no GPU and no avx512_bf16/amx_bf16 CPU flag: "
                                 "bfloat16 and float16 would be emulated, slower than float32")


@contextmanager
def dtype_policy(policy: str) -> Iterator[str]:
    """Set Keras' global dtype policy inside the block, and restore the previous one after.

    Example:
        >>> with dtype_policy("mixed_bfloat16"):
        ...     layer = keras.layers.Dense(4)  # computes in bfloat16, stores float32
    """
    from edgeopt.tf.runtime import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def float32_layer_names(model) -> set[str]:
    """Layers that must compute in float32 whatever the policy: the logits and the outputs.

    A softmax or cross-entropy on bfloat16/float16 logits loses precision (and float16 can
    overflow), hence Keras' advice to keep the last layer float32.
    """
    return {"logits", *model.output_names}


def clone_with_policy(model, policy: str):
    """A copy of `model` (same weights) whose layers compute under `policy`.

    The logits and output layers stay float32 (`float32_layer_names`); nested models are
    rebuilt the same way. The copy is built under `policy` as the global policy so the model
    itself, and so its optimizer's loss scaling under mixed_float16, follow it.

    Example:
        >>> mixed = clone_with_policy(model, "mixed_bfloat16")
        >>> mixed.get_layer("conv1").compute_dtype, mixed.get_layer("logits").compute_dtype
        ('bfloat16', 'float32')
    """
    from edgeopt.tf.runtime import keras

    def clone(inner, is_output: bool):
        keep_float32 = float32_layer_names(inner) if is_output else {"logits"}

        def clone_layer(layer):
            if isinstance(layer, keras.Model):  # nested: its outputs stay float32 if they are ours
                return clone(layer, is_output and layer.name in keep_float32)
            config = layer.get_config()
            config["dtype"] = "float32" if layer.name in keep_float32 else policy
            return layer.__class__.from_config(config)

        return keras.models.clone_model(inner, clone_function=clone_layer)

    with dtype_policy(policy):
        copy = clone(model, is_output=True)
    copy.set_weights(model.get_weights())
    return copy


def for_policy(model, policy: str):
    """The model to train under `policy`: `model` itself if it is all float32 and the policy
    is float32, else `clone_with_policy(model, policy)`.

    Example:
        >>> for_policy(model, "float32") is model  # a float32 model needs no copy
        True
    """
    if policy == "float32" and all(layer.dtype_policy.name == "float32" for layer in _all_layers(model)):
        return model
    return clone_with_policy(model, policy)


def as_float32(model):
    """`model` itself when every layer is float32, else a float32 copy with the same weights."""
    return for_policy(model, "float32")


def _all_layers(model) -> Iterator[Any]:
    from edgeopt.tf.runtime import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
