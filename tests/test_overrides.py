"""`--set KEY=VALUE`: steps by id, dotted keys, YAML values, validated like the file, fingerprinted."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import assert_user_error, edgeopt

from edgeopt.common.errors import RecipeError
from edgeopt.run.overrides import apply_overrides
from edgeopt.run.pipeline import results_document, step_fingerprint
from edgeopt.run.recipe import parse_recipe

TEXT = """
name: t
data: {name: digits}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 3}
  - {id: f32, stage: convert, from: base, mode: float32}
  - {id: int8, stage: convert, from: base, mode: int8}
"""


def recipe(*overrides: str):
    return parse_recipe(TEXT, Path("x.yaml"), overrides)


def test_steps_by_id_and_dotted_keys_with_yaml_values():
    r = recipe("steps.base.epochs=1", "data.limit_train=200", "steps.int8.calibration_samples=50", "seed=7",
               "steps.base.options={}", "name='123'")
    assert r.step("base").params.epochs == 1 and r.step("int8").params.calibration_samples == 50
    assert r.data.limit_train == 200 and r.seed == 7 and r.name == "123"  # quoted: text, not a number
    assert r.overrides == ("steps.base.epochs=1", "data.limit_train=200", "steps.int8.calibration_samples=50",
                           "seed=7", "steps.base.options={}", "name='123'")
    assert recipe().overrides == () and recipe().step("base").params.epochs == 3


def test_a_section_the_file_lacks_is_created_and_the_input_is_not_changed():
    raw = {"steps": [{"stage": "train"}]}
    assert apply_overrides(raw, ["profile.runs=5", "steps.train.epochs=2"], "x") == {
        "steps": [{"stage": "train", "epochs": 2}], "profile": {"runs": 5}}  # id defaults to the stage
    assert raw == {"steps": [{"stage": "train"}]}


def test_an_override_is_validated_like_the_file_and_named():
    with pytest.raises(RecipeError) as info:
        recipe("steps.base.epochs=0")
    message = str(info.value)
    assert message.startswith("x.yaml with --set steps.base.epochs=0: step 1 'base' (stage train)")
    assert "greater than or equal to 1" in message and "Received: epochs=0" in message
    with pytest.raises(RecipeError, match=r"--set data.limit_tran=3: unknown key `data.limit_tran`. "
                                          r"Did you mean 'limit_train'"):
        recipe("data.limit_tran=3")
    with pytest.raises(RecipeError, match="unknown key `epoch`"):
        recipe("steps.base.epoch=1")


@pytest.mark.parametrize("override, needle", [
    ("epochs", "KEY=VALUE"),
    ("steps..epochs=1", "KEY=VALUE"),
    ("steps.base=1", "one key at a time"),
    ("steps.bsae.epochs=1", "no step has id 'bsae'. Did you mean 'base'? Steps: base, f32, int8"),
    ("data.name.x=1", "`data.name` in the recipe is 'digits', not a mapping"),
    ("steps.base.epochs=[1", "does not parse as YAML"),
])
def test_malformed_overrides_say_what_to_write(override, needle):
    with pytest.raises(RecipeError) as info:
        recipe(override)
    assert needle in str(info.value) and override in str(info.value)


def test_an_override_changes_the_fingerprint_of_its_step_and_those_downstream_only():
    def fingerprints(r):
        prints = {}
        for step in r.steps:
            prints[step.id] = step_fingerprint(step, r, prints.get(step.source))
        return prints

    plain, int8_only, base = fingerprints(recipe()), fingerprints(recipe("steps.int8.calibration_samples=50")), \
        fingerprints(recipe("steps.base.epochs=1"))
    assert int8_only["base"] == plain["base"] and int8_only["f32"] == plain["f32"]
    assert int8_only["int8"] != plain["int8"]
    assert all(base[k] != plain[k] for k in plain)  # every step descends from base
    assert fingerprints(recipe("steps.base.epochs=3")) == plain  # same values, same steps: reused


def test_overrides_are_recorded_in_results_json():
    from edgeopt.data.datasets import load_dataset

    r = recipe("steps.base.epochs=1")
    document = results_document(r, [], load_dataset("digits", limit_train=10, limit_test=10))
    assert document["recipe"]["overrides"] == ["steps.base.epochs=1"]
    assert document["recipe"]["text"] == TEXT  # the file as written; the overrides beside it


def test_cli_validate_and_run_take_set(tmp_path):
    ok = edgeopt("validate", "recipes/quickstart.yaml", "--set", "steps.base.epochs=1", "--set", "data.limit_train=2000")
    assert ok.returncode == 0 and "--set steps.base.epochs=1 --set data.limit_train=2000: valid" in ok.stdout
    assert_user_error(edgeopt("validate", "recipes/quickstart.yaml", "--set", "steps.base.epochs=lots"),
                      "with --set steps.base.epochs=lots", "Received: epochs='lots'")
    bad_run = edgeopt("run", "recipes/quickstart.yaml", "--out", tmp_path / "out", "--set", "steps.base.stage=trian")
    assert_user_error(bad_run, "Did you mean 'train'")
    assert not (tmp_path / "out").exists()
