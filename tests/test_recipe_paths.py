"""Recipes cannot direct writes: names are folder names, paths they name are read-only inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgeopt.common.errors import RecipeError
from edgeopt.run.recipe import is_folder_name, load_recipe, parse_recipe

STEPS = "steps:\n  - {id: base, stage: train, architecture: small_cnn}\n"


@pytest.mark.parametrize("name", ["../../../elsewhere", "/tmp/x", "a/b", ".", "..", "", "has space", "dots.too", "~"])
def test_a_name_that_is_not_a_folder_name_is_refused(name):
    with pytest.raises(RecipeError) as error:
        parse_recipe(f"name: {name!r}\n" + STEPS, Path("shared.yaml"))
    message = str(error.value)
    assert "`name` must be letters, digits, '_' or '-'" in message and f"Received: name={name!r}" in message


@pytest.mark.parametrize("name", ["quickstart", "fashion_full", "run-2", "Ü8"])
def test_plain_names_are_accepted(name):
    assert parse_recipe(f"name: {name}\n" + STEPS, Path("x.yaml")).name == name


def test_a_file_name_that_cannot_name_a_folder_needs_an_explicit_name():
    with pytest.raises(RecipeError, match="no `name:` and its file name '..' cannot name the output folder"):
        parse_recipe(STEPS, Path("...yaml"))  # Path("...yaml").stem == ".."
    assert parse_recipe("name: ok\n" + STEPS, Path("...yaml")).name == "ok"
    assert parse_recipe(STEPS, Path("my_recipe.yaml")).name == "my_recipe"


def test_step_ids_and_names_share_one_rule():
    assert is_folder_name("base_int8") and is_folder_name("a-1")
    assert not any(is_folder_name(v) for v in ("../x", "a/b", ".hidden", "", None, 3))


def test_input_paths_resolve_against_the_recipe_folder_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "recipes").mkdir()
    recipe_file = tmp_path / "recipes" / "r.yaml"
    recipe_file.write_text("name: r\ndata: {name: npz, path: ../data/d.npz}\n" + STEPS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    recipe = load_recipe(Path(os.path.relpath(recipe_file, elsewhere)))
    assert recipe.input_path(recipe.data.path) == tmp_path / "data" / "d.npz"
    assert recipe.input_path("/abs/m.keras") == Path("/abs/m.keras")
    assert recipe.input_path("~/m.keras") == Path.home() / "m.keras"


@pytest.mark.slow
def test_a_run_reads_recipe_paths_logs_them_in_full_and_writes_only_its_folder(tmp_path):
    """A real run from another working directory: the .npz beside the recipe is found, named in
    full, left untouched, and every new file lies under --out."""
    from stopping import start

    project = tmp_path / "project"
    project.mkdir()
    rng = np.random.default_rng(0)
    np.savez(project / "d.npz", x_train=rng.integers(0, 255, (48, 8, 8), dtype=np.uint8), y_train=rng.integers(0, 3, 48),
             x_test=rng.integers(0, 255, (16, 8, 8), dtype=np.uint8), y_test=rng.integers(0, 3, 16))
    (project / "r.yaml").write_text("name: r\ndata: {name: npz, path: d.npz}\nprofile: {runs: 3, warmup: 0, energy: model45}\n"
                                    "steps:\n  - {id: base, stage: train, architecture: small_cnn, epochs: 1}\n"
                                    "  - {id: f32, stage: convert, mode: float32}\n")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    process = start("run", project / "r.yaml", "--out", tmp_path / "out", cli=None, cwd=cwd)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert str(project / "d.npz") in "".join(stderr.split())  # named in full (the logger wraps long lines)
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    new_or_changed = [p for p in after if before.get(p) != after[p] and p not in (tmp_path / "out", cwd)]
    assert new_or_changed and all((tmp_path / "out") in p.parents for p in new_or_changed), new_or_changed
    assert not list(cwd.iterdir())
