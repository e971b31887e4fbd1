"""Progress lines read the same in a terminal and in a CI log: whole lines, as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_long_log_line_is_not_wrapped_when_stderr_is_a_file():
    line = "[2/4] loading " + "/very/long/path" * 20 + "/model.tflite [default] [bold]kept[/bold]"
    done = subprocess.run([sys.executable, "-c", f"from edgeopt.common.progress import log; log({line!r})"],
                          env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}, capture_output=True,
                          text=True, timeout=300)
    assert done.stderr == line + "\n"


def test_loading_names_a_model_once_when_its_name_is_its_path(tiny_tflite_models):
    from edgeopt.profile import profile_tflites

    path = str(tiny_tflite_models.float32)
    lines: list[str] = []
    profile_tflites([path, path + ""], names=["a", path], runs=2, warmup=0, rounds=1, energy="off",
                    log_fn=lines.append)
    loading = [line for line in lines if "loading" in line]
    assert loading == [f"[1/2] loading a ({path})", f"[2/2] loading {path}"]
