"""One writer per run folder: an advisory lock file `.edgeopt.lock` inside the output folder.

`edgeopt run` holds an exclusive `flock` on `DIR/.edgeopt.lock` while it writes into DIR, and
writes its pid, host, start time and command into the file. A second run into DIR finds the lock
taken and stops with one message naming the holder (or, with `wait=True`, waits for it). The
kernel drops a flock when its holder dies, however it dies (kill -9 included), so a lock whose
file still names a holder but can be taken was left by a process that no longer exists: it is
taken over, with a note saying whose it was.

The lock file is never deleted, only emptied on release: deleting it would let a waiting process
lock the old, unlinked file while a newcomer locks a new one — two writers.
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
    try:
        with disk_faults_named(path):  # a read-only or full filesystem stops here, named
            out_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (NotADirectoryError, FileExistsError):
        raise EdgeoptError(f"cannot make the output folder {out_dir}: a part of its path is a file. "
                           "Choose another --out.") from None
    try:
        if not _try_lock(fd):
            holder = describe_holder(_holder_record(fd))
            if not wait:
                raise RunFolderLockedError(
                    f"{out_dir} is in use by another edgeopt run ({holder}); two runs must not write into one "
                    "folder. Wait for it to finish, rerun with --wait to queue behind it, or choose another --out.")
            log_fn(f"waiting for the run that holds {out_dir} ({holder}) to finish…")
            fcntl.flock(fd, fcntl.LOCK_EX)  # a signal still interrupts this wait (PEP 475 re-raises)
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
        finally:
            _write(fd, None)  # emptied, not deleted (see the module docstring)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
