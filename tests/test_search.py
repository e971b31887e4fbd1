"""`edgeopt search`: bad input is refused up front; a small search makes a run folder whose choice
is within budget on the validation split, resumes to the same choice, and rebuilds from recipe.yaml."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared_runs import untrained_model as untrained_model_file

REPO = Path(__file__).resolve().parents[1]


def edgeopt(*args, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "edgeopt.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.fixture(scope="module")
def untrained_model(tmp_path_factory) -> Path:
    """gap_cnn for MNIST's shape with its initial weights: what the tests refused before any search
    step need (a real model file), without a training."""
    return untrained_model_file("gap_cnn", (28, 28, 1), tmp_path_factory.mktemp("untrained"))


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """gap_cnn trained briefly on 800 embedded MNIST digits (about 87 % on their test split)."""
    from edgeopt.data.datasets import load_dataset
    from edgeopt.models.architectures import build_model
    from edgeopt.models.keras_io import save_keras_model
    from edgeopt.tf.training import compile_classifier, fit_classifier

    dataset = load_dataset("mnist_embedded", limit_train=800, seed=0)
    model = compile_classifier(build_model("gap_cnn", dataset.input_shape, 10), 3e-3)
    fit_classifier(model, dataset, epochs=5, batch_size=32, label="small", seed=0, log_fn=lambda _: None)
    return save_keras_model(model, tmp_path_factory.mktemp("model") / "small.keras")


@pytest.mark.parametrize("args, needle", [
    (["--budget", "0"], "--budget must be more than 0"),
    (["--budget", "-1"], "--budget must be more than 0"),
    (["--budget", "1", "--time-limit", "0"], "--time-limit must be more than 0 minutes"),
    (["--budget", "1", "--objective", "speed"], "--objective"),
    (["--budget", "1", "--precisions", "int4"], "--precisions must be one or more of"),
])
def test_bad_options_exit_2_before_anything_is_written(tmp_path, untrained_model, args, needle):
    out = tmp_path / "out"
    assert_user_error(edgeopt("search", untrained_model, "--data", "mnist_embedded", "--out", out, *args), needle)
    assert not out.exists()


def test_a_missing_model_exits_2(tmp_path):
    out = tmp_path / "out"
    assert_user_error(edgeopt("search", tmp_path / "nope.keras", "--data", "mnist_embedded", "--budget", "1",
                              "--out", out), "nope.keras not found")
    assert not out.exists()


def test_a_model_with_nothing_to_search_exits_2(tmp_path):
    from edgeopt.models.keras_io import save_keras_model
    from edgeopt.tf.runtime import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, name="out")])
    path = save_keras_model(model, tmp_path / "linear.keras")
    result = edgeopt("search", path, "--data", "mnist_embedded", "--budget", "1", "--precisions", "float32",
                     "--limit-train", "200", "--limit-test", "50", "--out", tmp_path / "out")
    assert_user_error(result, "has nothing to search", "one precision (float32)")


@pytest.mark.slow
def test_a_small_search_chooses_within_budget_resumes_to_the_same_choice_and_rebuilds(tmp_path, small_model):
    out = tmp_path / "search"
    args = ["search", small_model, "--data", "mnist_embedded", "--limit-train", "800", "--limit-test", "300",
            # A limit far beyond what this tiny model needs: what the search does must not depend on
            # how busy the machine is (its fine-tunes are capped at 2 epochs of 720 images).
            "--budget", "2", "--time-limit", "30", "--precisions", "float32,int8", "--out", out]
    first = edgeopt(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    trace = json.loads((out / "search.json").read_text())
    results = json.loads((out / "results.json").read_text())
    rows = {row["name"]: row for row in results["rows"]}
    best = trace["final"]["best"]
    assert best in rows and "base_float32" in rows and results["recipe"]["baseline"] == "base_float32"
    floor = trace["reference"]["val_accuracy"] - 2
    assert rows[best]["val_accuracy"] >= floor
    # Chosen by the quiet level of the rounds every row shared (docs/timing.md), ties to accuracy
    within = [row for row in rows.values() if row["val_accuracy"] >= floor]
    assert rows[best]["latency_ms_quiet"] <= min(row["latency_ms_quiet"] for row in within) * 1.1
    assert rows[best]["timing_session"] == rows["base_float32"]["timing_session"]
    assert "op_times" in rows["base_float32"] and "op_times" in rows[best]  # where the time went
    assert hashlib.sha256((out / "best.tflite").read_bytes()).hexdigest() == rows[best]["sha256"]
    # What it measured before training: plateaus per precision and unit, the uniform cuts among the candidates
    assert set(trace["plateaus"]) == {"float32", "int8"}
    assert all(table["tops"][-1] == unit["width"] for unit in trace["units"]
               for table in (trace["plateaus"]["float32"][unit["name"]],))
    kinds = {c["kind"] for c in trace["candidates"]}
    assert kinds == {"uniform", "allocated"}
    assert trace["finalists"][0] == "uniform75"  # the uniform cuts first, widest first
    uniform_tuned = [name for name in trace["finalists"] if name.startswith("uniform")]
    assert uniform_tuned == ["uniform75", "uniform50", "uniform37_5", "uniform25"][:len(uniform_tuned)]
    assert trace["finetune"]["images"] == 2 * 720  # the cap: two epochs of the training split
    assert trace["final"]["best_plain"] and "margin_over_plain" in trace["final"]
    # Which split chose, said in the trace, the rows and the log
    assert trace["selection"]["split"] in ("validation", "test-selection")
    assert rows[best]["selection_split"] == trace["selection"]["split"]
    assert f"chosen on the {trace['selection']['split']} split" in first.stdout

    again = edgeopt(*args)  # everything done: the same choice, every step reused
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "search.json").read_text())["final"]["best"] == best
    assert "unchanged, reusing" in again.stderr and " epoch " not in again.stderr

    rebuilt = edgeopt("run", out / "recipe.yaml", "--out", tmp_path / "rebuilt")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    remade = json.loads((tmp_path / "rebuilt" / "results.json").read_text())
    rebuilt_best = {r["name"]: r for r in remade["rows"]}[best]
    assert rebuilt_best["sha256"] == rows[best]["sha256"]  # the same model, bit for bit


def test_no_row_within_budget_exits_1_saying_what_was_missing(tmp_path, monkeypatch, untrained_model):
    """Issue 34: a search with nothing to deploy is a failed promise, not a success without best.tflite."""
    from typer.testing import CliRunner

    import edgeopt.run.search.driver as driver
    from edgeopt.cli import app
    from edgeopt.common.row import Row

    def no_best(options, out_dir, *, log_fn, executor=None):
        rows = [Row("base_float32", "base_float32/model.tflite", "tflite", accuracy=0.9, latency_ms_p50=1.0,
                    extra={"val_accuracy": 90.0})]
        trace = {"selection": {"split": "validation"},
                 "final": {"why": "no energy per inference was measured for any of the 1 row(s) within the budget"}}
        return driver.SearchResult(out_dir, rows, None, {"recipe": {"baseline": "base_float32"}}, trace)

    monkeypatch.setattr(driver, "search", no_best)
    result = CliRunner().invoke(app, ["search", str(untrained_model), "--data", "mnist_embedded", "--budget", "1",
                                      "--objective", "energy", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "no best.tflite: no energy per inference was measured" in result.output
    assert not (tmp_path / "out" / "best.tflite").exists()
