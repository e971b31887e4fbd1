"""SIGTERM and SIGHUP stop `edgeopt run` like Ctrl-C: finished steps kept, the unfinished one removed, 128+N."""

from __future__ import annotations

import json
import signal

import pytest

from edgeopt.common.signals import Stopped, exit_code, stop_signals_interrupt
from stopping import sleepy_recipe, start, wait_for_line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_keeps_finished_steps_removes_the_partial_one_and_exits_128_plus_n(tmp_path, sig):
    recipe = sleepy_recipe(tmp_path, seconds=600)
    out = tmp_path / "out"
    process = start("run", recipe, "--out", out)
    wait_for_line(process, "sleepy started second")
    assert (out / ".second.partial" / "model.keras").is_file()  # the step is mid-way
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    last = " ".join(stderr.strip().splitlines()[-1:])
    assert last.startswith(f"edgeopt: stopped by {sig.name}; kept 1 finished step in {out} (first)"), stderr
    assert "rerun the same command to resume" in last
    assert not list(out.glob(".*.partial")) and not (out / "second").exists()
    assert json.loads((out / "first" / "step.json").read_text())["id"] == "first"
    assert (out / ".edgeopt.lock").read_text() == ""  # the lock was released on the way out

    # The next run resumes: the finished step is reused, the stopped one is run.
    recipe.write_text(recipe.read_text().replace("seconds: 600", "seconds: 0"))
    again = start("run", recipe, "--out", out)
    _, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert "first: sleepy — unchanged, reusing" in " ".join(stderr.split())
    assert (out / "second" / "step.json").is_file() and (out / "results.json").is_file()


def test_a_stop_before_any_step_finished_says_so(tmp_path):
    recipe = sleepy_recipe(tmp_path, seconds=600)
    recipe.write_text(recipe.read_text().replace("seconds: 0", "seconds: 600"))
    process = start("run", recipe, "--out", tmp_path / "out")
    wait_for_line(process, "sleepy started first")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 143 and "no step had finished" in stderr
    assert not list((tmp_path / "out").glob(".*.partial"))


def test_repeated_signals_do_not_cut_the_cleanup_short():
    import os

    with pytest.raises(Stopped) as stopped:
        with stop_signals_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # a second TERM while cleaning up is ignored
                os.kill(os.getpid(), signal.SIGHUP)
    assert stopped.value.signum == signal.SIGTERM and exit_code(stopped.value) == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored after the block
    assert exit_code(KeyboardInterrupt()) == 130


@pytest.mark.slow
def test_sigterm_during_real_training_leaves_nothing_half_made_and_the_rerun_finishes(tmp_path):
    from test_resume import TINY

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "out"
    process = start("run", recipe, "--out", out, cli=None)
    wait_for_line(process, "base epoch 2/", timeout_s=300)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 143 and "no step had finished" in stderr, stderr
    assert not list(out.glob(".*.partial")) and not (out / "base").exists()
    again = start("run", recipe, "--out", out, cli=None)
    _, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert [r["name"] for r in json.loads((out / "results.json").read_text())["rows"]] == ["base", "tuned", "f32", "int8"]


def test_a_hang_up_under_nohup_is_still_ignored(tmp_path):
    """nohup sets SIGHUP to ignored before it execs the command; edgeopt must keep it that way."""
    import os
    import subprocess
    import sys

    from stopping import REPO, SLEEPY_CLI

    recipe = sleepy_recipe(tmp_path, seconds=3)
    process = subprocess.Popen([sys.executable, str(SLEEPY_CLI), "run", str(recipe), "--out", str(tmp_path / "out")],
                               env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for_line(process, "sleepy started second")
    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert (tmp_path / "out" / "second" / "step.json").is_file()
