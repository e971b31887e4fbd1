"""Training precision: `auto` per device, a scoped global policy, mixed training saved as float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.run.recipe import parse_recipe
from edgeopt.tf.precision import cpu_flags, resolve_precision

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 avx512f {extra}
bogomips\t: 4800.00

processor\t: 1
flags\t\t: fpu sse2
"""


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_picks_bfloat16_on_a_cpu_with_native_bfloat16(flag):
    policy, reason = resolve_precision("auto", flags={"avx512f", flag}, gpus=0)
    assert policy == "mixed_bfloat16" and flag in reason


def test_auto_stays_float32_on_a_cpu_without_bfloat16_and_says_why():
    policy, reason = resolve_precision("auto", flags={"avx512f", "avx512_vnni"}, gpus=0)
    assert policy == "float32" and "avx512_bf16" in reason


def test_auto_picks_float16_when_a_gpu_is_visible_whatever_the_cpu():
    assert resolve_precision("auto", flags={"avx512_bf16"}, gpus=1).policy == "mixed_float16"


def test_an_explicit_precision_is_used_as_given():
    assert resolve_precision("mixed_float16", flags=set(), gpus=0) == ("mixed_float16", "requested")


def test_an_unknown_precision_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown precision 'bfloat16'.*mixed_bfloat16"):
        resolve_precision("bfloat16")


def test_cpu_flags_reads_the_first_processor_and_tolerates_a_missing_file(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO.format(extra="avx512_bf16"))
    assert {"avx512f", "avx512_bf16"} <= cpu_flags(info)
    assert cpu_flags(tmp_path / "absent") == frozenset()


@pytest.mark.parametrize("stage", ["train", "finetune", "prune"])
def test_recipe_with_an_unknown_precision_names_the_value(stage):
    extra = "architecture: small_cnn, " if stage == "train" else ""
    text = ("data: {name: digits}\nsteps:\n  - {id: base, stage: train, architecture: small_cnn}\n"
            f"  - {{id: x, stage: {stage}, {extra}precision: fp16}}\n")
    with pytest.raises(RecipeError, match=r"unknown precision 'fp16'.*Received: precision='fp16'"):
        parse_recipe(text, Path("r.yaml"))


# --- with Keras -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model():
    from edgeopt.models.architectures import build_model
    from edgeopt.tf.runtime import keras

    keras.utils.set_random_seed(0)
    return build_model("small_cnn", (8, 8, 1), 10)


def test_dtype_policy_restores_the_global_policy_even_after_an_error():
    from edgeopt.tf.precision import dtype_policy
    from edgeopt.tf.runtime import keras

    before = keras.mixed_precision.global_policy().name
    with pytest.raises(RuntimeError):
        with dtype_policy("mixed_bfloat16"):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("boom")
    assert keras.mixed_precision.global_policy().name == before


def test_a_mixed_clone_computes_in_bfloat16_keeps_float32_logits_and_the_same_weights(small_model):
    from edgeopt.tf.precision import as_float32, clone_with_policy
    from edgeopt.tf.runtime import keras

    mixed = clone_with_policy(small_model, "mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"
    assert mixed.get_layer("conv1").compute_dtype == "bfloat16"
    assert mixed.get_layer("logits").compute_dtype == "float32"
    for a, b in zip(mixed.get_weights(), small_model.get_weights()):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    out = mixed(x)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), small_model(x).numpy(), atol=0.05)  # bfloat16 keeps 8 bits

    back = as_float32(mixed)
    assert {layer.dtype_policy.name for layer in back.layers} == {"float32"}
    np.testing.assert_array_equal(back(x).numpy(), small_model(x).numpy())
    assert as_float32(small_model) is small_model


def test_mixed_float16_training_gets_loss_scaling(small_model):
    from edgeopt.tf.precision import clone_with_policy, dtype_policy
    from edgeopt.tf.training import compile_classifier

    with dtype_policy("mixed_float16"):
        model = compile_classifier(clone_with_policy(small_model, "mixed_float16"), 1e-3)
    assert type(model.optimizer).__name__.startswith("LossScaleOptimizer")


def _context(tmp_path: Path, dataset):
    from edgeopt.stages import StageContext

    out = tmp_path / "out"
    out.mkdir()
    return StageContext("ft", out, dataset, 0, tmp_path, log=lambda _: None)


def test_finetune_in_bfloat16_saves_a_float32_model_and_records_the_policy(tmp_path, small_model):
    from edgeopt.data.datasets import load_dataset
    from edgeopt.models.keras_io import load_keras_model, save_keras_model
    from edgeopt.stages import STAGES, Artifact
    from edgeopt.stages.finetune import FinetuneParams

    dataset = load_dataset("digits", limit_train=128, limit_test=32)
    source = Artifact("keras", save_keras_model(small_model, tmp_path / "base.keras"))
    params = FinetuneParams(epochs=1, batch_size=32, learning_rate=1e-3, precision="mixed_bfloat16")
    artifact = STAGES["finetune"].fn(params, _context(tmp_path, dataset), source)

    assert artifact.info["precision"] == "mixed_bfloat16" and artifact.info["precision_requested"] == "mixed_bfloat16"
    saved = load_keras_model(artifact.path)
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    changed = [not np.array_equal(a, b) for a, b in zip(saved.get_weights(), small_model.get_weights())]
    assert any(changed)  # the bfloat16 training reached the saved float32 weights


def test_train_with_auto_records_what_auto_chose(tmp_path, monkeypatch):
    from edgeopt.tf import precision
    from edgeopt.data.datasets import load_dataset
    from edgeopt.stages import STAGES
    from edgeopt.stages.train import TrainParams

    # Pretend this CPU has AVX512-BF16, so the test does not depend on the machine it runs on.
    monkeypatch.setattr(precision, "cpu_flags", lambda *_: frozenset({"avx512_bf16"}))
    dataset = load_dataset("digits", limit_train=64, limit_test=32)
    params = TrainParams(architecture="small_cnn", epochs=1, batch_size=32, precision="auto")
    info = STAGES["train"].fn(params, _context(tmp_path, dataset), None).info
    expected = precision.resolve_precision("auto").policy  # mixed_float16 if a GPU is visible
    assert info["precision_requested"] == "auto" and info["precision"] == expected
    assert info["precision_reason"]
