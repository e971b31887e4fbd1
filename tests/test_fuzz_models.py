"""Damaged models never take edgeopt down: each is a result or one clear error.

Byte-flipped, truncated and empty `.tflite` files, a valid flatbuffer with an op this LiteRT
does not have, the kinds of model users bring (float16, dynamic-range, two signatures, several
inputs/outputs; intact, byte-flipped and truncated) and paths that are no model file at all (a
directory, a FIFO, /dev/zero, a file past the size bound) go through `profile_tflite`, which loads each model in a child process first; the
test process surviving every case is the point. Counts are printed for the record.
"""

from __future__ import annotations

import collections
import json
import random
import zipfile

import flatbuffers
import pytest

from edgeopt.common.errors import EdgeoptError, ModelFileError
from edgeopt.profile import profile_tflite

OUTCOMES: collections.Counter = collections.Counter()


def flipped(data: bytes, rng: random.Random, flips: int) -> bytes:
    buf = bytearray(data)
    for _ in range(flips):
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    return bytes(buf)


def outcome(path, kind: str) -> None:
    try:
        row = profile_tflite(path, runs=2, warmup=0)
    except EdgeoptError as exc:
        assert str(path) in str(exc) or path.name in str(exc), f"the error must name the file: {exc}"
        OUTCOMES[f"{kind}: clear error"] += 1
        return
    except Exception:
        OUTCOMES["crashed"] += 1  # an exception other than a clear error: counted, then it fails the test
        raise
    assert row.latency_ms_p50 > 0  # still a model that runs: a result, measured
    OUTCOMES[f"{kind}: result"] += 1


@pytest.mark.parametrize("seed", range(4))
def test_byte_flipped_models_give_a_result_or_a_clear_error(tmp_path, tiny_tflite_models, seed):
    rng = random.Random(seed)
    for source in (tiny_tflite_models.int8, tiny_tflite_models.float32):
        data = source.read_bytes()
        for i in range(10):
            path = tmp_path / f"flip{i}_{source.name}"
            path.write_bytes(flipped(data, rng, rng.choice([1, 4, 32])))
            outcome(path, "byte-flipped")


@pytest.mark.slow
def test_many_byte_flips(tmp_path, tiny_tflite_models):
    rng = random.Random(99)
    data = tiny_tflite_models.int8.read_bytes()
    for i in range(200):
        path = tmp_path / f"many{i}.tflite"
        path.write_bytes(flipped(data, rng, rng.choice([1, 2, 8, 64])))
        outcome(path, "byte-flipped")


def _largest_weight_bytes(data: bytes) -> tuple[int, int]:
    """(start, end) in the file of the largest constant buffer: the weights, not the structure."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    weights = max((bytes(b.data) for b in model.buffers if b.data is not None), key=len)
    start = data.find(weights)
    assert len(weights) >= 12 and start > 0 and data.find(weights, start + 1) == -1
    return start, start + len(weights)


@pytest.mark.parametrize("kind", ["int8", "float32"])
def test_flips_inside_the_weights_leave_a_model_that_runs(tmp_path, tiny_tflite_models, kind):
    """Changed weights are a different model, not a damaged file: refusing them would be a false alarm
    (a checker that refuses every flipped file fails here)."""
    data = getattr(tiny_tflite_models, kind).read_bytes()
    start, end = _largest_weight_bytes(data)
    rng = random.Random(3)
    for i in range(3):
        buf = bytearray(data)
        for _ in range(4):
            buf[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
        path = tmp_path / f"weights{i}_{kind}.tflite"
        path.write_bytes(bytes(buf))
        row = profile_tflite(path, runs=2, warmup=0)
        assert row.latency_ms_p50 > 0 and row.params == profile_tflite(getattr(tiny_tflite_models, kind),
                                                                       runs=1, warmup=0).params
        OUTCOMES["weights flipped: result"] += 1


def test_a_damaged_file_identifier_or_root_offset_is_refused(tmp_path, tiny_tflite_models):
    """The first 8 bytes are the flatbuffer's root offset and its "TFL3" identifier: without them
    there is no model, so these must be refused (a checker accepting everything fails here)."""
    data = tiny_tflite_models.int8.read_bytes()
    for name, damaged in {"identifier": data[:4] + b"XXXX" + data[8:],
                          "root": (len(data) + 64).to_bytes(4, "little") + data[4:]}.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(damaged)
        with pytest.raises(ModelFileError, match=path.name):
            profile_tflite(path, runs=1, warmup=0)
        OUTCOMES["header damaged: clear error"] += 1


def test_truncations_empty_and_foreign_files_are_clear_errors(tmp_path, tiny_tflite_models):
    data = tiny_tflite_models.int8.read_bytes()
    cases = {f"cut{n}.tflite": data[: len(data) * n // 8] for n in range(8)}
    cases["png.tflite"] = b"\x89PNG\r\n\x1a\n" + data[8:200]
    cases["zip.tflite"] = b"PK\x03\x04" + bytes(300)
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelFileError):
            profile_tflite(tmp_path / name, runs=1, warmup=0)
        OUTCOMES["truncated/empty/foreign: clear error"] += 1


def test_a_valid_model_with_an_unknown_op_is_a_clear_error(tmp_path, tiny_tflite_models):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tiny_tflite_models.float32.read_bytes(), 0)
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = b"EdgeoptNoSuchOp"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path / "custom_op.tflite"
    path.write_bytes(bytes(builder.Output()))
    with pytest.raises(ModelFileError, match="EdgeoptNoSuchOp|custom op|cannot"):
        profile_tflite(path, runs=1, warmup=0)
    OUTCOMES["unsupported op: clear error"] += 1


def test_damaged_keras_files_are_a_model_or_a_clear_error(tmp_path):
    from edgeopt.models.keras_io import load_keras_model
    from edgeopt.tf.runtime import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    good = tmp_path / "m.keras"
    model.save(good)
    data = good.read_bytes()
    rng = random.Random(5)
    for i in range(25):
        path = tmp_path / f"bad{i}.keras"
        path.write_bytes(flipped(data, rng, rng.choice([1, 8, 64])) if i % 5 else data[: rng.randrange(len(data))])
        try:
            loaded = load_keras_model(path)
            assert loaded.count_params() == model.count_params()
            OUTCOMES["keras: result"] += 1
        except ModelFileError as exc:
            assert path.name in str(exc)
            OUTCOMES["keras: clear error"] += 1
    assert zipfile.is_zipfile(good)


def test_a_child_killed_by_a_signal_becomes_a_clear_error(tmp_path, monkeypatch, tiny_tflite_models):
    """What a segfault inside LiteRT looks like from the parent: contained, and named."""
    import sys

    crasher = tmp_path / "crashing-python"
    crasher.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crasher.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crasher))
    with pytest.raises(ModelFileError, match=r"crashed \(SIGSEGV\).*contained"):
        profile_tflite(tiny_tflite_models.int8, runs=1, warmup=0)


# --- the models users bring: float16, dynamic-range, two signatures, several inputs/outputs ----


def test_models_users_bring_give_a_result_intact_and_a_result_or_clear_error_damaged(tmp_path, user_tflite_models):
    from edgeopt.profile import inspect_tflite

    rng = random.Random(7)
    for kind, source in user_tflite_models.kinds().items():
        row = profile_tflite(source, runs=2, warmup=0)  # intact: always a measured result
        assert row.latency_ms_p50 > 0 and row.params > 0
        OUTCOMES[f"{kind} intact: result"] += 1
        data = source.read_bytes()
        for i in range(4):
            path = tmp_path / f"{kind.replace(' ', '_').replace('/', '_')}_flip{i}.tflite"
            path.write_bytes(flipped(data, rng, rng.choice([1, 4, 32])))
            outcome(path, f"{kind} byte-flipped")
        for n in (1, 3, 5, 7):
            path = tmp_path / f"{kind.replace(' ', '_').replace('/', '_')}_cut{n}.tflite"
            path.write_bytes(data[: len(data) * n // 8])
            outcome(path, f"{kind} truncated")
    assert inspect_tflite(user_tflite_models.float16).dtype == "float16"
    assert inspect_tflite(user_tflite_models.dynamic).dtype == "dynamic"
    assert inspect_tflite(user_tflite_models.two_signatures).num_subgraphs == 2
    multi = inspect_tflite(user_tflite_models.multi_io)
    assert (multi.num_inputs, multi.num_outputs) == (2, 2)


def test_accuracy_on_a_model_with_several_inputs_is_a_clear_error(user_tflite_models, tiny_tflite_models):
    with pytest.raises(EdgeoptError, match="multi_io.tflite"):
        profile_tflite(user_tflite_models.multi_io, runs=2, warmup=0, x_test=tiny_tflite_models.x[:20],
                       y_test=tiny_tflite_models.y[:20])
    OUTCOMES["several inputs/outputs with data: clear error"] += 1


def test_paths_that_are_not_model_files_fail_at_once(tmp_path, monkeypatch):
    """A directory, a FIFO (reading would block), /dev/zero (never ends), a file past the size bound:
    refused from their metadata, before any byte is read (no wall-clock bound: a busy machine
    would make one flaky, and "unread" is the property)."""
    import os
    from pathlib import Path

    from edgeopt.profile import tflite_file

    fifo = tmp_path / "pipe.tflite"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.tflite"
    with open(huge, "wb") as fh:  # sparse: no disk used
        fh.truncate(tflite_file.MAX_MODEL_BYTES + 1)
    cases = {tmp_path: "is a directory", fifo: "is a FIFO", "/dev/zero": "is a character device",
             huge: "larger than any TFLite model"}
    real_read_bytes = Path.read_bytes

    def read_bytes(self):
        assert Path(self) not in {Path(p) for p in cases}, f"{self} was read"
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    for path, needle in cases.items():
        with pytest.raises(ModelFileError, match=needle) as error:
            profile_tflite(path, runs=1, warmup=0)
        assert str(path) in str(error.value)
        OUTCOMES["not a model file (dir/FIFO/device/huge): clear error"] += 1


def test_zz_record_model_fuzz_counts(request):
    """Runs last in this module: records what was tried. A native crash would have killed this
    process before it got here; any other unexpected exception is counted under "crashed"."""
    from conftest import fuzz_record_folder

    counts = {"crashed": 0, **dict(sorted(OUTCOMES.items())), "total": sum(OUTCOMES.values())}
    (fuzz_record_folder(request.config) / "models.json").write_text(json.dumps(counts))
    assert counts["crashed"] == 0
    if OUTCOMES["byte-flipped: result"] + OUTCOMES["byte-flipped: clear error"] >= 40:  # the seeded flips ran
        # Random flips land in weights (still a model) and in structure (refused): both must occur, or
        # the checker refuses (or accepts) whatever it is given.
        assert OUTCOMES["byte-flipped: result"] > 0 and OUTCOMES["byte-flipped: clear error"] > 0, counts
