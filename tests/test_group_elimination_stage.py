"""The `eliminate` stage on a residual network: every conv named, each narrowed with its channel
group, per-group keep and sweep, the log naming the group, bad input as one message and exit
code 2; and Keras' MobileNetV2 and EfficientNetB0 with every Conv2D named (slow)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from shared_runs import untrained_model

pytest.importorskip("tf_keras")

RESNET8_CONVS = ["conv1", "stack1_conv1", "stack1_conv2", "stack2_conv1", "stack2_conv2", "stack2_shortcut",
                 "stack3_conv1", "stack3_conv2", "stack3_shortcut"]


@pytest.fixture(scope="module")
def digits():
    from edgeopt.data.datasets import load_dataset

    return load_dataset("digits", limit_train=600, limit_test=200)


@pytest.fixture(scope="module")
def trained_resnet(digits, tmp_path_factory):
    """ResNet-8 at half the reference's filters (8/16/32) on the 8×8 digits, a few seconds of training."""
    from edgeopt.models.architectures import build_model
    from edgeopt.models.keras_io import save_keras_model
    from edgeopt.tf.training import compile_classifier, fit_classifier, seed_everything

    seed_everything(0)
    model = build_model("resnet8", digits.input_shape, digits.num_classes, filters=8)
    compile_classifier(model, 5e-3)
    fit_classifier(model, digits, epochs=4, batch_size=32, label="resnet", seed=0, log_fn=lambda _: None)
    return save_keras_model(model, tmp_path_factory.mktemp("resnet") / "model.keras")


@pytest.fixture(scope="module")
def untrained_resnet4(digits, tmp_path_factory) -> Path:
    """ResNet-8 at 4/8/16 filters with its initial weights: enough for the refusals, no training."""
    return untrained_model("resnet8", digits.input_shape, tmp_path_factory.mktemp("resnet4"), filters=4)


def _run_stage(params: dict, dataset, source: Path, out_dir: Path, log=None):
    from edgeopt.stages import STAGES, Artifact, StageContext

    spec = STAGES["eliminate"]
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = StageContext("elim", out_dir, dataset, 0, Path("."), log or (lambda _: None))
    return spec.fn(spec.params(**params), ctx, Artifact("keras", source))


def test_every_resnet8_conv_at_half_width_narrows_six_groups_and_names_them(digits, trained_resnet, tmp_path):
    from edgeopt.models.keras_io import load_keras_model
    from edgeopt.models.keras_profile import count_macs

    lines = []
    artifact = _run_stage({"layers": RESNET8_CONVS, "keep_fraction": 0.5, "calibration_samples": 200}, digits,
                          trained_resnet, tmp_path, lines.append)
    smaller, base = load_keras_model(artifact.path), load_keras_model(trained_resnet)
    assert [smaller.get_layer(n).filters for n in RESNET8_CONVS] == [4, 4, 4, 8, 8, 8, 16, 16, 16]
    groups = artifact.info["groups"]
    assert len(groups) == 6 and groups["conv1"]["producers"] == ["conv1", "stack1_conv2"]
    assert groups["conv1"]["readers"] == ["stack1_conv1", "stack2_conv1", "stack2_shortcut"]
    assert artifact.info["widths"]["stack2_shortcut"] == {"before": 16, "after": 8}
    assert any("conv1, stack1_conv2 → channel group 'conv1' (+ stack1_conv2; tied by stack1_add): 8 → 4" in line
               for line in lines)
    assert count_macs(smaller) <= 0.3 * count_macs(base)  # most convs lose half their inputs and half their outputs
    assert artifact.info["after"]["accuracy"] > 0.3  # far above chance (10 %) without any retraining


def test_per_layer_keep_must_agree_within_a_group(digits, trained_resnet, tmp_path):
    from edgeopt.techniques.elimination import EliminationError

    keep = {"stack2_conv2": 8, "stack2_shortcut": 6}
    with pytest.raises(EliminationError, match=r"stack2_conv2, stack2_shortcut write the same channel group .*"
                                               r"different values .*Give them one value"):
        _run_stage({"layers": list(keep), "keep": keep}, digits, trained_resnet, tmp_path)


def test_a_sweep_runs_per_group_and_rebuilds_the_chosen_width(digits, trained_resnet, tmp_path):
    from edgeopt.models.keras_io import load_keras_model

    artifact = _run_stage({"layers": ["stack3_shortcut"], "max_accuracy_drop": 0.05, "sweep_step": 6,
                           "calibration_samples": 100, "compare_baseline": True}, digits, trained_resnet, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "tradeoff.csv").read_text())))
    group = {r["layer"] for r in rows}
    assert len(group) == 1 and group <= {"stack3_conv2", "stack3_shortcut"} and all(int(r["width"]) == 32 for r in rows)
    chosen = next(r for r in rows if r["chosen"] == "True")
    smaller = load_keras_model(artifact.path)
    assert smaller.get_layer("stack3_conv2").filters == smaller.get_layer("stack3_shortcut").filters == int(
        chosen["neurons_kept"])
    assert smaller.count_params() == int(chosen["params"])
    ours = [r for r in rows if r["method"] == "svd_qr"]
    assert [int(r["macs"]) for r in ours] == sorted((int(r["macs"]) for r in ours), reverse=True)


@pytest.mark.parametrize("step, message", [
    ("keep: {stack2_conv2: 8}", "the channel group 'stack2_conv2' (+ stack2_shortcut; tied by stack2_add) has 8 "
     "channels, so the number kept must be in [1, 7]: a group cannot lose all its channels"),
    ("keep_fraction: 0.01", "keep_fraction=0.01 of the 8 channels of the channel group 'stack2_conv2'"),
])
def test_cli_bad_group_width_is_one_message_and_exit_code_2(tmp_path, untrained_resnet4, step, message):
    from typer.testing import CliRunner

    from edgeopt.cli import app

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: t
data: {{name: digits, limit_train: 100, limit_test: 50}}
steps:
  - {{id: base, stage: load, path: {untrained_resnet4}}}
  - {{id: e, stage: eliminate, from: base, layers: [stack2_conv2], {step}}}
""")
    done = CliRunner().invoke(app, ["run", str(recipe), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2, done.output[-2000:]
    assert message in done.output and "step 'e' (stage eliminate)" in done.output, done.output[-2000:]
    assert "Traceback" not in done.output  # an unexpected exception would have given exit code 1
    assert not (tmp_path / "out" / "e").exists()  # nothing half-written


def test_resnet8_recipe_is_valid_and_names_every_conv():
    from edgeopt.models.architectures import build_model
    from edgeopt.run.recipe import load_recipe

    repo = Path(__file__).resolve().parents[1]
    recipe = load_recipe(repo / "recipes" / "fashion_resnet8.yaml")
    convs = [layer.name for layer in build_model("resnet8", (28, 28, 1), 10, pad_to=32).layers
             if type(layer).__name__ == "Conv2D"]
    half = next(step for step in recipe.steps if step.id == "resnet_half_ft")
    assert half.params.layers == convs


@pytest.mark.slow
@pytest.mark.parametrize("application", ["MobileNetV2", "EfficientNetB0"])
def test_keras_applications_every_conv_at_three_quarters_with_no_refusal(application, tmp_path):
    """Built with tf_keras, random weights (no download), 96×96: one eliminate step names every
    Conv2D at keep_fraction 0.75 and none is refused. The weight-norm method needs no calibration
    pass, so the graph analysis and the surgery of every group run in a minute; the same step with
    svd_qr (1000 calibration images: the top conv's 1280 channels are read after global pooling)
    is benchmarks/group_elimination_apps.py."""
    from edgeopt.data.datasets import Dataset
    from edgeopt.models.keras_io import load_keras_model, save_keras_model
    from edgeopt.models.keras_profile import count_macs
    from edgeopt.tf.runtime import keras

    keras.utils.set_random_seed(0)
    options = {"alpha": 0.35} if application == "MobileNetV2" else {}
    model = getattr(keras.applications, application)(input_shape=(96, 96, 3), weights=None, classes=10, **options)
    source = save_keras_model(model, tmp_path / "model.keras")
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 96, 96, 3), dtype=np.float32), rng.integers(0, 10, 32)
    dataset = Dataset("random96", x, y, x[:8], y[:8], 10, "random")
    convs = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]
    artifact = _run_stage({"layers": convs, "keep_fraction": 0.75, "method": "weight_norm", "calibration_samples": 32},
                          dataset, source, tmp_path / "e")
    smaller = load_keras_model(artifact.path)
    assert all(smaller.get_layer(n).filters == round(0.75 * model.get_layer(n).filters) for n in convs)
    assert len(artifact.info["groups"]) == {"MobileNetV2": 25, "EfficientNetB0": 40}[application]  # the convs' groups (not the Dense output's)
    assert count_macs(smaller) < 0.7 * count_macs(model)
