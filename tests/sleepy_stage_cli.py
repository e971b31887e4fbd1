"""`edgeopt ...` with one extra stage, `sleepy`, for tests that stop or race real processes.

Run as `python tests/sleepy_stage_cli.py run RECIPE --out DIR`. The stage writes part of its
model file, logs "sleepy started", sleeps `seconds`, then finishes the file: a step that is
mid-way for as long as a test needs, without TensorFlow's start-up and training time. Everything
else (the CLI, the pipeline, the lock, the signal handling) is edgeopt's own code.

With EDGEOPT_TEST_DISK_FAULT=NAME:ERRNO (e.g. `results.json:ENOSPC`), fsync of any file whose
name contains NAME fails with that errno: a full or read-only disk, as the atomic writer sees it.
"""

from __future__ import annotations

import errno
import os
import time

from edgeopt.cli import main
from edgeopt.stages.registry import Artifact, StageParams, artifact_file, register_stage


class SleepyParams(StageParams):
    seconds: float = 30.0


@register_stage("sleepy", params=SleepyParams, consumes=None, produces="keras")
def sleepy(params: SleepyParams, ctx, source) -> Artifact:
    """Write half a model file, sleep, finish it (tests only)."""
    path = artifact_file(ctx.out_dir, "keras")
    with open(path, "wb") as fh:
        fh.write(b"half a model")
        fh.flush()
        ctx.log(f"sleepy started {ctx.step_id}")
        time.sleep(params.seconds)
        fh.write(b" and the rest")
    return Artifact("keras", path, "float32", {})


def _inject_disk_fault(spec: str) -> None:
    name, code = spec.split(":")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
        real_fsync(fd)

    os.fsync = fsync


if __name__ == "__main__":
    if os.environ.get("EDGEOPT_TEST_DISK_FAULT"):
        _inject_disk_fault(os.environ["EDGEOPT_TEST_DISK_FAULT"])
    main()
