"""Keep TensorFlow's native log noise off the user's terminal unless something fails.

TensorFlow and the TFLite converter print from C++ straight to file descriptors 1 and 2 (some of
it before any log level applies), so Python-level filters cannot hide it; this redirects the
descriptors themselves for the duration of a block. `EDGEOPT_VERBOSE=1` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_output_captured():
    """Send fds 1 and 2 to a temp file inside the block; replay it on stderr if the block fails."""
    if os.environ.get("EDGEOPT_VERBOSE") == "1":
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))
