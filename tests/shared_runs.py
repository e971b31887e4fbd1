"""Small recipe runs shared by every test file of a session, trained once.

Several files need a trained tiny model and its converted rows; each training costs tens of
seconds on 2 cores. `shared_run(text)` runs a recipe into a folder named by the hash of its text
and returns the `RunResult`; the next caller, in this process or in another xdist worker, calls
`run_recipe` on the same folder, which reuses every finished step and profile (the resume that
`edgeopt run` does), so it costs a second, not a training.

The folder lives beside the workers' temporary folders (`getbasetemp().parent` under xdist: one
per session, shared by its workers) and a file lock keeps two workers from making it at once.
Tests read it; a test that changes a run folder copies it first. `shared_file(name, build)` does
the same for one file a builder makes (the energy tests' mid-size model).
"""

from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path

# The tiny digits run of test_device and test_pipeline: a small CNN on 600 UCI digits (12 epochs:
# far above chance; 4 epochs on 300 left it at chance, 10 %), its float32 and int8 conversions,
# profiled with the deterministic 45 nm energy model.
TINY_DIGITS = """
name: tiny_device
seed: 1
data: {name: digits, limit_train: 600, limit_test: 120}
profile: {runs: 15, warmup: 2, threads: 1, energy: model45}
baseline: f32
accuracy_budget: 5.0
steps:
  - {id: base, stage: train, architecture: small_cnn, epochs: 12, batch_size: 32, learning_rate: 0.01}
  - {id: f32, stage: convert, from: base, mode: float32}
  - {id: int8, stage: convert, from: base, mode: int8, calibration_samples: 50}
"""


def shared_runs_folder(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is <session>/popen-gwN: share the session's folder.
    root = base.parent if base.name.startswith("popen-gw") else base
    folder = root / "shared-runs"
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on `path` (one xdist worker at a time) for the `with` block."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def untrained_model(architecture: str, input_shape: tuple[int, ...], folder: Path, num_classes: int = 10,
                    **options) -> Path:
    """`architecture` with its initial weights, saved in `folder`: a real model file for the tests
    whose input is refused before any training would matter."""
    from edgeopt.models.architectures import build_model
    from edgeopt.models.keras_io import save_keras_model

    return save_keras_model(build_model(architecture, input_shape, num_classes, **options), folder / "model.keras")


def shared_file(name: str, build, tmp_path_factory) -> Path:
    """The file `build(folder)` makes (and returns), made once per session: the first caller builds
    it into a folder called `name` under the session's shared folder, the others find it there."""
    folder = shared_runs_folder(tmp_path_factory)
    with _locked(folder / f"{name}.lock"):
        made = folder / name
        if (made / "made").exists():
            return Path((made / "made").read_text())
        made.mkdir(exist_ok=True)
        path = build(made)
        (made / "made").write_text(str(path))
        return path


def run_shared(text: str, tmp_path_factory, name: str = "run"):
    """The `RunResult` of the recipe `text`, made once per session (see the module docstring), in a
    folder called `name`."""
    from edgeopt.run.pipeline import run_recipe
    from edgeopt.run.recipe import parse_recipe

    folder = shared_runs_folder(tmp_path_factory)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    out = folder / key / name
    out.parent.mkdir(exist_ok=True)
    with _locked(folder / f"{key}.lock"):
        return run_recipe(parse_recipe(text, out.parent / "recipe.yaml"), out, log_fn=lambda _: None)
