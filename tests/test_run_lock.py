"""One writer per run folder: a second run into a held folder stops (or waits); stale locks are taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from edgeopt.rundir.lock import LOCK_NAME, RunFolderLockedError, hold_run_folder
from stopping import REPO, sleepy_recipe, start, wait_for_line

HOLD = """
import sys, time
from edgeopt.rundir.lock import hold_run_folder
from pathlib import Path
release = Path(sys.argv[3]) if len(sys.argv) > 3 else None
with hold_run_folder(sys.argv[1], log_fn=lambda m: print(m, file=sys.stderr, flush=True)):
    print("held", file=sys.stderr, flush=True)
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline and not (release and release.exists()):
        time.sleep(0.05)
print("released", file=sys.stderr, flush=True)
"""


def hold_in_another_process(tmp_path, folder, seconds: float, release=None) -> subprocess.Popen:
    """Hold `folder`'s lock in a child for `seconds`, or until the file `release` appears."""
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    process = start(folder, seconds, *([release] if release else []), cli=script)
    wait_for_line(process, "held")
    return process


def test_a_second_run_into_a_held_folder_stops_naming_the_holder(tmp_path):
    recipe = sleepy_recipe(tmp_path, seconds=600)  # outlives the second run's start-up on a busy machine
    out = tmp_path / "out"
    first = start("run", recipe, "--out", out)
    wait_for_line(first, "sleepy started second")
    try:
        second = subprocess.run([sys.executable, str(REPO / "tests" / "sleepy_stage_cli.py"), "run", recipe, "--out", out],
                                env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
        assert second.returncode == 2, second.stderr
        assert "Traceback" not in second.stderr
        message = second.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert f"{out} is in use by another edgeopt run (pid {first.pid} on host" in message
        assert "--wait" in message and "sleepy.yaml" in message  # the holder's command is named
        assert (out / ".second.partial").is_dir()  # the first run's work was not touched
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=600)


def test_wait_queues_behind_the_holder_then_runs(tmp_path):
    out = tmp_path / "out"
    release = tmp_path / "release"
    holder = hold_in_another_process(tmp_path, out, seconds=600, release=release)
    recipe = sleepy_recipe(tmp_path, seconds=0)
    waiter = start("run", recipe, "--out", out, "--wait")
    lines = wait_for_line(waiter, "waiting for the run that holds")  # it queues, however slow its start-up
    time.sleep(1.0)
    assert waiter.poll() is None  # still queued while the holder holds
    release.touch()
    stderr = waiter.stderr.read()  # not communicate(): it would skip what readline() has buffered
    waiter.wait(timeout=600)
    holder.communicate(timeout=600)
    assert waiter.returncode == 0, stderr
    said = " ".join(("".join(lines) + stderr).split())  # the logger wraps long lines
    assert f"waiting for the run that holds {out} (pid {holder.pid}" in said
    assert (out / "second" / "step.json").is_file() and (out / "results.json").is_file()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_note(tmp_path):
    out = tmp_path / "out"
    holder = hold_in_another_process(tmp_path, out, seconds=600)
    holder.send_signal(signal.SIGKILL)  # no cleanup at all: the record stays in the lock file
    holder.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid
    notes: list[str] = []
    with hold_run_folder(out, log_fn=notes.append):
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"took over the lock on {out} left by pid {holder.pid}" in notes[0]
    assert (out / LOCK_NAME).read_text() == ""  # released cleanly: the next run gets no note
    with hold_run_folder(out, log_fn=notes.append):
        pass
    assert len(notes) == 1


def test_the_lock_is_held_only_inside_the_block(tmp_path):
    out = tmp_path / "out"
    with hold_run_folder(out, log_fn=lambda _: None):
        holder = subprocess.run([sys.executable, "-c", HOLD, str(out), "0"], env={**os.environ, "PYTHONPATH": str(REPO)},
                                capture_output=True, text=True, timeout=600)
        assert holder.returncode == 1 and "RunFolderLockedError" in holder.stderr
        assert f"pid {os.getpid()}" in holder.stderr
    with hold_run_folder(out, log_fn=lambda _: None):
        pass


def test_taking_the_folder_clears_temp_files_a_killed_writer_left(tmp_path):
    # atomic_write_bytes unlinks its temp file on an exception, not when the process is killed
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    left = [out / ".report.md.t9fmgdwu.partial", out / "data" / ".test.npz.abc123.partial"]
    for path in left:
        path.write_text("half")
    (out / ".base.partial").mkdir()  # a step's unfinished folder: the step itself redoes it
    (out / "report.md").write_text("whole")
    with hold_run_folder(out, log_fn=lambda _: None):
        assert not any(path.exists() for path in left)
    assert (out / ".base.partial").is_dir() and (out / "report.md").read_text() == "whole"


def test_same_process_cannot_hold_one_folder_twice(tmp_path):
    # flock locks belong to the open file, so even two holders in one process exclude each other
    with hold_run_folder(tmp_path, log_fn=lambda _: None):
        with pytest.raises(RunFolderLockedError, match="in use by another edgeopt run"):
            with hold_run_folder(tmp_path, log_fn=lambda _: None):
                pass


@pytest.mark.slow
def test_two_real_runs_started_together_one_runs_one_is_told(tmp_path):
    """The reported case: two `edgeopt run` of one recipe into one --out at once (a CI retry, make -j)."""
    from test_resume import TINY

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY)
    out = tmp_path / "out"
    runs = [start("run", recipe, "--out", out, cli=None) for _ in range(2)]
    finished = [(p, *p.communicate(timeout=900)) for p in runs]
    codes = sorted(p.returncode for p, _, _ in finished)
    assert codes == [0, 2], [e[-2000:] for _, _, e in finished]
    (_, _, told), = [(p, o, e) for p, o, e in finished if p.returncode == 2]
    assert "Traceback" not in told and f"{out} is in use by another edgeopt run (pid" in " ".join(told.split())
    assert [r["name"] for r in json.loads((out / "results.json").read_text())["rows"]] == ["base", "tuned", "f32", "int8"]


def test_an_output_folder_that_is_a_file_is_a_clear_error(tmp_path):
    from edgeopt.common.errors import EdgeoptError

    (tmp_path / "taken").write_text("a file")
    with pytest.raises(EdgeoptError, match="is a file, not a folder"):
        with hold_run_folder(tmp_path / "taken"):
            pass
    with pytest.raises(EdgeoptError, match="a part of its path is a file"):
        with hold_run_folder(tmp_path / "taken" / "out"):
            pass


def test_a_failure_removes_the_folders_it_made_when_they_hold_only_the_lock(tmp_path):
    out = tmp_path / "runs" / "new"
    with pytest.raises(ValueError):
        with hold_run_folder(out, log_fn=lambda _: None):
            raise ValueError("the data could not be read")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("before", ["existing folder", "a file written"])
def test_a_failure_keeps_a_folder_that_existed_or_holds_work(tmp_path, before):
    out = tmp_path / "out"
    if before == "existing folder":
        out.mkdir()
    with pytest.raises(ValueError):
        with hold_run_folder(out, log_fn=lambda _: None):
            if before == "a file written":
                (out / "results.json").write_text("{}")
            raise ValueError("stop")
    assert out.is_dir() and (out / LOCK_NAME).read_text() == ""


def test_a_waiter_on_a_folder_its_holder_removed_locks_the_folder_made_again(tmp_path):
    """The holder deletes the lock file while a waiter waits on it: the waiter must not go on
    holding a deleted file (a newcomer would lock a new one, two writers); it starts again."""
    import threading

    out = tmp_path / "out"
    entered, waiting = threading.Event(), threading.Event()
    held: list[bool] = []

    def waiter():
        entered.wait(600)
        with hold_run_folder(out, wait=True, log_fn=lambda _: waiting.set()):
            held.append((out / LOCK_NAME).is_file() and json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid())

    thread = threading.Thread(target=waiter)
    thread.start()
    with pytest.raises(ValueError):
        with hold_run_folder(out, log_fn=lambda _: None):
            entered.set()
            assert waiting.wait(600)  # the waiter is queued on this very lock file
            raise ValueError("the command failed before writing anything")
    thread.join(600)
    assert held == [True]
