"""Load and run a model once in a child process, so a crash in native code cannot kill edgeopt.

LiteRT's interpreter is C++: a malformed model that slips past the flatbuffer checks can abort or
segfault the process that loads it. Before the profiler loads a model in-process, a child Python
loads it, allocates tensors and invokes it once; a child that dies by a signal or hangs becomes
a `ModelFileError` naming the file, and the parent goes on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from edgeopt.common.errors import EdgeoptError, ModelFileError

_USER_ERROR_EXIT = 3


def check_runs_in_child(path: str | os.PathLike, *, threads: int = 1, timeout_s: float = 120.0) -> None:
    """Raise ModelFileError unless a child process can load `path` and invoke it once.

    Example:
        >>> check_runs_in_child("model.tflite")  # doctest: +SKIP
    """
    command = [sys.executable, "-m", "edgeopt.profile.sandbox", os.fspath(path), str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{path}: LiteRT did not finish loading and running this model within "
                             f"{timeout_s:.0f} s; the file is probably damaged. Re-export it or copy it again.") from None
    if done.returncode == 0:
        return
    if done.returncode == _USER_ERROR_EXIT:
        raise ModelFileError(json.loads(done.stdout)["error"])
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise ModelFileError(f"{path}: the LiteRT interpreter crashed ({name}) loading or running this model, "
                             "so the file is damaged or not a model this runtime supports. edgeopt contained the "
                             "crash in a child process. Re-export the model or copy it again from the device.")
    detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
    raise ModelFileError(f"{path}: LiteRT failed on this model (exit {done.returncode}: {detail}). "
                         "Re-export the model or copy it again from the device.")


def _child(path: str, threads: int) -> int:
    from edgeopt.profile.runner import fill_random_inputs
    from edgeopt.profile.tflite_file import open_interpreter

    try:
        interpreter = open_interpreter(path, threads=threads)
        fill_random_inputs(interpreter)
        interpreter.invoke()
    except EdgeoptError as exc:
        print(json.dumps({"error": str(exc)}))
        return _USER_ERROR_EXIT
    except (ValueError, RuntimeError) as exc:  # invoke() failures surface as these
        print(json.dumps({"error": f"{path}: LiteRT cannot run this model: {exc}. Re-export it or update ai-edge-litert."}))
        return _USER_ERROR_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
