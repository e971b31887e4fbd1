"""A full disk or a read-only output folder: one message naming the path and what was kept, exit 2,
no half-written file. Faults are injected into the writer (chmod does nothing when tests run as root)."""

from __future__ import annotations

import errno
import os

import pytest

from edgeopt.common.atomic import atomic_write_text
from edgeopt.common.errors import OutputWriteError
from stopping import sleepy_recipe, start


def failing(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("code, hint", [(errno.ENOSPC, "free some space"), (errno.EROFS, "read-only"),
                                        (errno.EDQUOT, "quota"), (errno.EACCES, "write permission")])
def test_a_disk_fault_while_writing_names_the_file_and_leaves_the_old_one_whole(tmp_path, monkeypatch, code, hint):
    target = tmp_path / "results.json"
    target.write_text("the previous, complete results\n")
    monkeypatch.setattr("edgeopt.common.atomic.os.fsync", failing(code))
    with pytest.raises(OutputWriteError) as error:
        atomic_write_text(target, "new results that will not fit\n")
    assert str(error.value).startswith(f"cannot write {target}: {os.strerror(code)} ({errno.errorcode[code]})")
    assert hint in str(error.value)
    assert target.read_text() == "the previous, complete results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # no temp file left


def test_a_read_only_folder_fails_before_any_temp_file(tmp_path, monkeypatch):
    monkeypatch.setattr("edgeopt.common.atomic.tempfile.mkstemp", failing(errno.EROFS))
    with pytest.raises(OutputWriteError, match=f"cannot write {tmp_path / 'x.json'}: .*EROFS"):
        atomic_write_text(tmp_path / "x.json", "{}")
    assert not list(tmp_path.iterdir())


def test_other_os_errors_are_not_disguised_as_disk_faults(tmp_path, monkeypatch):
    monkeypatch.setattr("edgeopt.common.atomic.os.fsync", failing(errno.EBADF))
    with pytest.raises(OSError) as error:
        atomic_write_text(tmp_path / "x.json", "{}")
    assert not isinstance(error.value, OutputWriteError)


@pytest.mark.parametrize("fault, kept", [("results.json:ENOSPC", "Kept 2 finished steps"),
                                         ("step.json:EROFS", "Kept 1 finished step")])
def test_a_run_hitting_a_disk_fault_exits_2_naming_the_path_and_what_was_kept(tmp_path, fault, kept):
    recipe = sleepy_recipe(tmp_path, seconds=0)
    out = tmp_path / "out"
    name, code = fault.split(":")
    if name == "step.json":  # let `first` finish in a run of its own; then `second`'s record fails
        text = recipe.read_text()
        recipe.write_text(text.replace("  - {id: second", "#  - {id: second"))
        assert start("run", recipe, "--out", out).wait(timeout=600) == 0
        recipe.write_text(text)
    process = start("run", recipe, "--out", out, env={"EDGEOPT_TEST_DISK_FAULT": fault})
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    message = " ".join(stderr.split()).split("edgeopt: error: ")[-1]
    assert message.startswith(f"cannot write {out}/"), message
    assert name in message.split(":")[0] and code in message
    assert kept + f" in {out}" in message and "rerun the same command to resume" in message
    assert not [p for p in out.rglob("*") if ".partial" in p.name], list(out.rglob("*"))
    if name == "results.json":
        assert not (out / "results.json").exists()
    else:
        assert not (out / "second").exists() and (out / "first" / "step.json").is_file()
