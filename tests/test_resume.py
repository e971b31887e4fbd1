"""Resume, interruption and reproducibility of `edgeopt run`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeopt.run.recipe import parse_recipe

REPO = Path(__file__).resolve().parents[1]

TINY = """
name: tiny
seed: 7
data: {name: digits, limit_train: 500, limit_test: 150}
profile: {runs: 10, warmup: 1}
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 10, batch_size: 32, learning_rate: 0.01}
  - {id: tuned, stage: finetune, from: base, epochs: 1, learning_rate: 0.001}
  - {id: f32, stage: convert, from: tuned, mode: float32}
  - {id: int8, stage: convert, from: tuned, mode: int8, calibration_samples: 50}
"""


def run(text: str, out: Path, **kwargs):
    from edgeopt.run.pipeline import run_recipe

    messages: list[str] = []
    result = run_recipe(parse_recipe(text, out / "recipe.yaml"), out, log_fn=messages.append, **kwargs)
    return result, "\n".join(messages)


def mtimes(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/model.*")}


@pytest.mark.slow
def test_unchanged_steps_are_reused_and_changed_ones_rerun(tmp_path):
    first, _ = run(TINY, tmp_path)
    before = mtimes(tmp_path)

    again, log = run(TINY, tmp_path)
    assert mtimes(tmp_path) == before and log.count("— unchanged, reusing") == 4
    assert log.count("profile of") == 4 and "profiling" not in log
    assert [r.accuracy for r in again.rows] == [r.accuracy for r in first.rows]

    # A new fine-tune rate changes `tuned` and everything made from it, not `base`.
    _, log = run(TINY.replace("learning_rate: 0.001", "learning_rate: 0.002"), tmp_path)
    after = mtimes(tmp_path)
    assert after["base"] == before["base"]
    assert all(after[s] != before[s] for s in ("tuned", "f32", "int8"))

    _, log = run(TINY, tmp_path, force=True)
    assert "reusing" not in log and mtimes(tmp_path)["base"] != before["base"]


@pytest.mark.slow
def test_same_recipe_and_seed_give_the_same_accuracy(tmp_path):
    a, _ = run(TINY, tmp_path / "a")
    b, _ = run(TINY, tmp_path / "b")
    assert [round(r.accuracy, 4) for r in a.rows] == [round(r.accuracy, 4) for r in b.rows]
    doc = json.loads((tmp_path / "a" / "results.json").read_text())
    assert doc["recipe"]["seed"] == 7 and len(doc["recipe"]["sha256"]) == 64
    assert doc["machine"]["packages"]


def _complete_or_absent(out: Path) -> None:
    for folder in (p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in ("data", "devices")):  # the run's test split and device files
        record = json.loads((folder / "step.json").read_text())  # a visible step folder is finished
        assert (folder / record["file"]).stat().st_size > 0
    if (out / "results.json").exists():
        assert json.loads((out / "results.json").read_text())["rows"]


def _kill_while_running(command: list[str], env: dict, out: Path, step: str, timeout_s: float = 300) -> None:
    """Start the run, SIGKILL it as soon as `step` is known to be running (its `.partial` folder
    exists), and check the kill interrupted it: the step's folder was never made."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial, deadline = out / f".{step}.partial", time.monotonic() + timeout_s
    try:
        while not partial.exists():
            assert process.poll() is None, f"the run ended (code {process.returncode}) before step '{step}' started"
            assert time.monotonic() < deadline, f"step '{step}' did not start within {timeout_s} s"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert partial.exists() and not (out / step).exists(), f"the kill did not land while '{step}' was running"
    _complete_or_absent(out)


def _finished(out: Path) -> dict[str, int]:
    """Finished step → its step.json's mtime (changes when the step is made again)."""
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/step.json")}


@pytest.mark.slow
def test_a_run_killed_inside_steps_redoes_only_the_interrupted_ones(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "edgeopt.cli", "run", str(recipe), "--out", str(out)]
    kept: dict[str, int] = {}
    for step, done_before in (("base", set()), ("tuned", {"base"}), ("int8", {"base", "tuned", "f32"})):
        _kill_while_running(command, env, out, step)
        finished = _finished(out)
        assert set(finished) == done_before  # the steps before it finished, none after it started
        assert all(finished[s] == kept[s] for s in kept)  # finished steps were kept, not made again
        kept = finished
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    _complete_or_absent(out)
    final = _finished(out)
    assert set(final) == {"base", "tuned", "f32", "int8"}
    assert all(final[s] == kept[s] for s in kept)  # base, tuned, f32 reused
    log = finished.stdout + finished.stderr
    assert log.count("— unchanged, reusing") == 3 and "int8" in log
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["name"] for r in rows] == ["base", "tuned", "f32", "int8"]
    assert not list(out.glob(".*.partial"))  # leftovers of the killed runs were cleared
