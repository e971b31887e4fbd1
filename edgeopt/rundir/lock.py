"""One writer per run folder: an advisory lock file `.edgeopt.lock` inside the output folder.

`edgeopt run` holds an exclusive `flock` on `DIR/.edgeopt.lock` while it writes into DIR, and
writes its pid, host, start time and command into the file. A second run into DIR finds the lock
taken and stops with one message naming the holder (or, with `wait=True`, waits for it). The
kernel drops a flock when its holder dies, however it dies (kill -9 included), so a lock whose
file still names a holder but can be taken was left by a process that no longer exists: it is
taken over, with a note saying whose it was.

The lock file is emptied on release, and deleted in one case only: a command that made the
folder and failed before writing anything else into it removes the folder (and the parents it
made), so a mistake leaves nothing behind. It deletes it while still holding the lock, and every
holder checks, once locked, that its file is still the one at the path (else it starts again), so
a process that was waiting on the deleted file never writes beside a newcomer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from edgeopt.common.atomic import disk_faults_named, remove_leftover_temp_files
from edgeopt.common.errors import EdgeoptError, RunFolderLockedError
from edgeopt.common.progress import log

LOCK_NAME = ".edgeopt.lock"


@contextlib.contextmanager
def hold_run_folder(out_dir: str | Path, *, wait: bool = False,
                    log_fn: Callable[[str], None] = log) -> Iterator[Path]:
    """Hold the output folder's lock for the duration of the block (creating the folder).

    Args:
        out_dir: The run folder.
        wait: Block until the holder finishes instead of raising.
        log_fn: Where the waiting and take-over notes go.

    Raises:
        RunFolderLockedError: Another process holds the folder and `wait` is False.

    Example:
        >>> with hold_run_folder("runs/quickstart"):  # doctest: +SKIP
        ...     run_recipe(recipe, "runs/quickstart")
    """
    out_dir = Path(out_dir)
    path = out_dir / LOCK_NAME
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgeoptError(f"output folder {out_dir} is a file, not a folder. Choose another --out.")
    made = _missing_folders(out_dir)  # what this command creates: removed again if it fails at once
    while True:
        fd = _open_lock_file(out_dir, path)
        try:
            if not _try_lock(fd):
                holder = describe_holder(_holder_record(fd))
                if not wait:
                    raise RunFolderLockedError(
                        f"{out_dir} is in use by another edgeopt run ({holder}); two runs must not write into one "
                        "folder. Wait for it to finish, rerun with --wait to queue behind it, or choose another --out.")
                log_fn(f"waiting for the run that holds {out_dir} ({holder}) to finish…")
                fcntl.flock(fd, fcntl.LOCK_EX)  # a signal still interrupts this wait (PEP 475 re-raises)
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, path):
            break
        os.close(fd)  # the holder we waited for removed its folder: start again on the path as it is now
    try:
        left = _read(fd)
        if left:  # the file names a holder, yet the lock was free: that holder died without releasing it
            log_fn(f"note: took over the lock on {out_dir} left by {describe_holder(left)}, which no longer "
                   "runs (killed or the machine stopped); unfinished steps it left are redone.")
        with disk_faults_named(path):
            _write(fd, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "command": " ".join(sys.argv)})
            remove_leftover_temp_files(out_dir)  # half-written files of a writer killed outright
        try:
            yield out_dir
        except BaseException:
            _remove_if_only_the_lock(made, path)  # a failed command leaves no folder it made for nothing
            raise
        finally:
            _write(fd, None)  # emptied (see the module docstring)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(out_dir: Path, path: Path) -> int:
    try:
        with disk_faults_named(path):  # a read-only or full filesystem stops here, named
            out_dir.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (NotADirectoryError, FileExistsError):
        raise EdgeoptError(f"cannot make the output folder {out_dir}: a part of its path is a file. "
                           "Choose another --out.") from None


def _still_at(fd: int, path: Path) -> bool:
    """True when the locked file is the one at `path` (not one a former holder deleted)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _missing_folders(out_dir: Path) -> list[Path]:
    """`out_dir` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _remove_if_only_the_lock(made: list[Path], path: Path) -> None:
    """Remove the folders this command made when its own holds nothing but the lock file."""
    if not made:
        return
    try:
        if [p.name for p in made[0].iterdir()] != [LOCK_NAME]:
            return
        path.unlink()
        for folder in made:
            folder.rmdir()  # a parent that someone else filled meanwhile stops the walk
    except OSError:
        pass


def describe_holder(record: dict | None) -> str:
    """'pid 4242 on host box, started 2026-12-01T20:01:00+0000: edgeopt run r.yaml' from a lock record."""
    if not record:
        return "a process that wrote no details"
    return (f"pid {record.get('pid')} on host {record.get('host')}, started {record.get('started')}"
            + (f": {record['command']}" if record.get("command") else ""))


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise


def _holder_record(fd: int) -> dict | None:
    """The holder's record; it writes it right after taking the lock, so give it a moment."""
    for _ in range(10):
        record = _read(fd)
        if record:
            return record
        time.sleep(0.1)
    return None


def _read(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    if not raw.strip():
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return {"pid": "unknown", "host": "unknown", "started": "unknown"}
    return record if isinstance(record, dict) else None


def _write(fd: int, record: dict | None) -> None:
    os.ftruncate(fd, 0)
    if record is not None:
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
