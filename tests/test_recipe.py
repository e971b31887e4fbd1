"""Recipe validation: every bad recipe gives one RecipeError naming the place and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.run.recipe import load_recipe, parse_recipe

REPO = Path(__file__).resolve().parents[1]

GOOD = """
name: t
data: {name: digits}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 1}
  - {id: f32, stage: convert, from: base, mode: float32}
  - {id: int8, stage: convert, from: base, mode: int8}
"""


def error_of(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        parse_recipe(text, Path("x.yaml"))
    return str(info.value)


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.steps and recipe.name


def test_good_recipe_gives_frozen_steps_with_defaults_and_sources():
    recipe = parse_recipe(GOOD, Path("x.yaml"))
    assert [(s.id, s.stage, s.source) for s in recipe.steps] == [
        ("base", "train", None), ("f32", "convert", "base"), ("int8", "convert", "base")]
    assert recipe.steps[2].params.calibration_samples == 300
    assert recipe.baseline == "base"
    with pytest.raises(Exception):
        recipe.steps[0].params.epochs = 3  # frozen


def test_from_defaults_to_the_previous_step():
    recipe = parse_recipe(GOOD + "  - {id: tune, stage: finetune, from: base}\n  - {id: tune8, stage: convert}\n")
    assert recipe.step("tune8").source == "tune"
    message = error_of(GOOD.replace(", from: base, mode: int8", ", mode: int8"))
    assert "step 'f32' makes a tflite model" in message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(RecipeError, match="nope.yaml not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_yaml_syntax_error_gives_line_and_column():
    message = error_of("steps:\n  - {id: a, stage: train\n")
    assert "YAML does not parse at line" in message


def test_top_level_must_be_a_mapping():
    assert "a recipe is a mapping" in error_of("- just\n- a list\n")


def test_unknown_top_level_key_suggests_the_right_one():
    message = error_of(GOOD + "seeed: 3\n")
    assert "unknown key `seeed`" in message and "Did you mean 'seed'" in message


def test_unknown_stage_suggests_the_closest():
    message = error_of(GOOD.replace("stage: train", "stage: trian"))
    assert "unknown stage" in message and "trian" in message and "Did you mean 'train'" in message


def test_unknown_stage_parameter_suggests_the_closest():
    message = error_of(GOOD.replace("epochs: 1", "epoch: 1"))
    assert "step 1 'base' (stage train)" in message and "unknown key `epoch`" in message
    assert "Did you mean 'epochs'" in message


def test_wrong_type_repeats_the_value():
    message = error_of(GOOD.replace("epochs: 1", "epochs: lots"))
    assert "`epochs`" in message and "Received: epochs='lots'" in message and "x.yaml" in message


def test_out_of_range_value_repeats_the_value():
    message = error_of(GOOD.replace("epochs: 1", "epochs: 0"))
    assert "greater than or equal to 1" in message and "Received: epochs=0" in message


def test_unknown_dataset_and_architecture_are_named():
    assert "unknown dataset 'fashion'" in error_of(GOOD.replace("name: digits", "name: fashion"))
    assert "Did you mean 'gap_cnn'" in error_of(GOOD.replace("small_cnn", "gap_cnnn"))


def test_unknown_architecture_option_is_named():
    message = error_of(GOOD.replace("epochs: 1}", "epochs: 1, options: {hidden: 3}}"))
    assert "no option 'hidden'" in message and "hidden_units" in message


def test_keras_stage_after_conversion_is_refused_with_a_fix():
    text = GOOD + "  - {id: tune, stage: finetune, from: int8}\n"
    message = error_of(text)
    assert "needs a keras model" in message and "'int8' makes a tflite model" in message
    assert "before the conversion" in message


def test_from_must_name_an_earlier_step():
    message = error_of(GOOD.replace("from: base, mode: float32", "from: bsae, mode: float32"))
    assert "`from` names no earlier step" in message and "Did you mean 'base'" in message


def test_duplicate_ids_are_refused():
    assert "used twice" in error_of(GOOD.replace("id: int8", "id: f32"))


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("epochs: 1", "epochs: 0").replace("mode: int8", "mode: int4")
    message = error_of(text)
    assert "epochs=0" in message and "int4" in message and len(message.splitlines()) == 2


def test_baseline_must_name_a_step():
    assert "`baseline` names no step" in error_of(GOOD + "baseline: nope\n")


def test_one_validation_lists_every_problem_even_behind_a_top_level_typo():
    """The issue's recipe: a top-level typo, an unknown stage, a misspelt key, a bad mode and an
    out-of-range value, all in one run, each line naming the file."""
    text = ("name: t\ndata: {name: digits, limit_trian: 500}\nsteps:\n"
            "  - {id: base, stage: trian, architecture: small_cnn}\n"
            "  - {id: pruned, stage: prune, from: base, epocs: 2, final_sparsity: 1.5}\n"
            "  - {id: q, stage: convert, from: pruned, mode: int4}\n")
    lines = error_of(text).splitlines()
    assert len(lines) == 5 and all(line.startswith("x.yaml: ") for line in lines), lines
    for needle in ("limit_trian", "stage='trian'", "epocs", "final_sparsity=1.5", "mode='int4'"):
        assert sum(needle in line for line in lines) == 1, (needle, lines)


def test_a_step_with_an_unknown_stage_still_counts_as_an_earlier_step():
    message = error_of("steps:\n  - {id: base, stage: trian}\n  - {id: a, stage: convert, from: bsae}\n"
                       "  - {id: b, stage: convert, from: base}\n")
    assert "Did you mean 'base'? Earlier steps: base." in message
    assert "'b'" not in message  # `from: base` is right; only the stage of step 1 is wrong


def test_a_yaml_syntax_error_names_the_file_line_and_problem_on_one_line():
    message = error_of("steps:\n  - {id: a, stage: train\n   bad: [\n")
    assert message.startswith("x.yaml: YAML does not parse at line 3, column 7: ") and "\n" not in message
    assert "<unicode string>" not in message and "^" not in message


def test_an_empty_recipe_says_it_is_empty():
    message = error_of("")
    assert "the recipe is empty" in message and "NoneType" not in message


@pytest.mark.parametrize("content, problem", [(None, "m.keras not found"), (b"hello\n", "neither a .keras archive"),
                                              (b"", "empty (0 bytes)"),
                                              (b"\x1c\x00\x00\x00TFL3" + bytes(32), "a TensorFlow Lite model")])
def test_a_load_step_must_name_a_keras_file_that_exists(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "m.keras").write_bytes(content)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("steps:\n  - {id: mine, stage: load, path: m.keras}\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert "step 1 'mine' (stage load): `path` must be a Keras model file (.keras or .h5)" in str(info.value)
    assert problem in str(info.value) and "path='m.keras'" in str(info.value)


def test_a_load_step_naming_an_h5_file_validates(tmp_path):
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    (tmp_path / "r.yaml").write_text("steps:\n  - {id: mine, stage: load, path: m.h5}\n")
    assert load_recipe(tmp_path / "r.yaml").step("mine").stage == "load"


def test_a_step_with_a_wrong_from_still_has_its_parameters_checked():
    lines = error_of("steps:\n  - {id: base, stage: train, architecture: small_cnn}\n"
                     "  - {id: p, stage: prune, from: bsae, final_sparsity: 1.5}\n").splitlines()
    assert len(lines) == 2 and "from='bsae'" in lines[0] and "final_sparsity=1.5" in lines[1]
