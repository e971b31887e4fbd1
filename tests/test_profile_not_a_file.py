"""`edgeopt profile` on something that is no model file answers at once: exit 2, one line, unread."""

from __future__ import annotations

import os
import time

import pytest

from test_cli import assert_user_error, edgeopt


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "huge"])
def test_profile_of_a_fifo_a_device_or_a_huge_file_is_one_clear_error_at_once(tmp_path, kind):
    from edgeopt.profile.tflite_file import MAX_MODEL_BYTES

    if kind == "fifo":
        path = tmp_path / "model.tflite"
        os.mkfifo(path)  # reading it would wait forever for a writer
        needle = "is a FIFO (named pipe), not a regular .tflite file"
    elif kind == "huge":
        path = tmp_path / "disk.img"
        with open(path, "wb") as fh:
            fh.truncate(MAX_MODEL_BYTES + 1)  # sparse
        needle = "GiB, larger than any TFLite model"
    else:
        path, needle = kind, "/dev/zero is a character device"
    started = time.monotonic()
    result = edgeopt("profile", path)
    assert_user_error(result, str(path), needle)
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 60  # no read of an endless stream, no wait for a writer
