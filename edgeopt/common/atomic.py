"""Write files so that a reader never sees half of one: write a temp file beside it, then rename.

A full disk, a read-only or over-quota filesystem, or a folder without write permission is the
user's environment, not a bug: the writer removes its temp file and raises `OutputWriteError`
naming the file it was writing, so no half-written file is ever left and the CLI exits 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator

from edgeopt.common.errors import OutputWriteError

# errno values that mean "this place cannot take the file", with what to do about each.
DISK_FAULTS = {
    errno.ENOSPC: "free some space or choose another --out",
    errno.EDQUOT: "free some space within your quota or choose another --out",
    errno.EROFS: "the filesystem is read-only: choose another --out",
    errno.EACCES: "give yourself write permission there or choose another --out",
    errno.EPERM: "give yourself write permission there or choose another --out",
    errno.EIO: "the disk reported an I/O error: check it (dmesg) or choose another --out",
}


def output_write_error(path: str | Path, exc: OSError) -> OutputWriteError | None:
    """The user-facing error for a disk fault while writing `path`, or None if `exc` is not one."""
    if exc.errno not in DISK_FAULTS:
        return None
    return OutputWriteError(f"cannot write {path}: {exc.strerror or os.strerror(exc.errno)} "
                            f"({errno.errorcode.get(exc.errno, exc.errno)}); {DISK_FAULTS[exc.errno]}.")


@contextlib.contextmanager
def disk_faults_named(path: str | Path) -> Iterator[None]:
    """Turn a disk fault raised inside the block into an `OutputWriteError` naming `path`."""
    try:
        yield
    except OSError as exc:
        error = output_write_error(path, exc)
        if error is None:
            raise
        raise error from exc


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with disk_faults_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def remove_leftover_temp_files(folder: str | Path) -> list[Path]:
    """Delete the `.NAME.*.partial` files a killed writer left anywhere under `folder`; return them.

    `atomic_write_bytes` unlinks its temp file on any exception, but not when the process is
    killed outright (SIGKILL, power loss). Call this only while holding the folder for writing
    (its run lock): then no live writer owns such a file.
    """
    leftovers = [p for p in Path(folder).rglob(".*.partial") if p.is_file() and not p.is_symlink()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
