"""Figures for seed 001 (LEAN): run a recipe's steps, then profile every .tflite through LiteRT.

Not a test. It runs the recipe's steps exactly as `edgeopt run` does (same stage functions, same
step folders) but profiles the .tflite files with a small LiteRT loop of its own (written before
`edgeopt.profile` existed; its figures match `edgeopt run`'s within latency noise); it times
every .tflite again with their invokes interleaved (3 rounds, so ratios share the machine's load),
then the LEAN model layer by layer and the LEAN layer op by op (TFLite has no per-op profiler in the Python interpreter: each figure is the p50 of a
model cut after that layer/op — its outputs are every tensor later ops still need — minus the p50
of the cut before it).

    python benchmarks/lean_figures.py recipes/fashion_lean.yaml --out runs/fashion_lean
    python benchmarks/lean_figures.py recipes/fashion_lean.yaml --out runs/fashion_lean --skip-train

Writes OUT/lean_figures.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--out", required=True)
    parser.add_argument("--skip-train", action="store_true", help="reuse the step folders already in --out")
    parser.add_argument("--resume-at", metavar="STEP", help="reuse the folders of the steps before STEP, run the rest")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--cut-model", default="lean", help="step id of the Keras model to time layer by layer")
    parser.add_argument("--no-cuts", action="store_true", help="skip the layer-by-layer and op-by-op timing")
    args = parser.parse_args()

    from edgeopt.data.datasets import load_dataset
    from edgeopt.run.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(recipe.data.name, recipe.data.path, limit_train=recipe.data.limit_train,
                      limit_test=recipe.data.limit_test, seed=recipe.seed)
    print(f"data: {ds.name}: {len(ds.x_train)} train / {len(ds.x_test)} test from {ds.source}", flush=True)
    if not args.skip_train:
        run_steps(recipe, ds, out, args.resume_at)

    from edgeopt.models.keras_io import load_keras_model
    from edgeopt.models.keras_profile import count_macs
    from edgeopt.profile.tflite_graph import gzip_size

    rows = []
    for step in recipe.steps:
        folder = out / step.id
        info = json.loads((folder / "step.json").read_text())
        source = step.id if info["kind"] == "keras" else step.source
        keras_model = load_keras_model(out / source / "model.keras")
        row = {"name": step.id, "format": info["kind"], "dtype": info["dtype"],
               "params": int(keras_model.count_params()), "macs": count_macs(keras_model),
               "train_seconds": info["info"].get("train_seconds")}
        if info["kind"] == "tflite":
            path = folder / "model.tflite"
            data = path.read_bytes()
            row.update(size_bytes=len(data), gzip_bytes=gzip_size(data),
                       accuracy=tflite_accuracy(path, ds.x_test, ds.y_test),
                       **tflite_latency(path, ds.x_test[:1], args.runs, args.warmup),
                       ops=op_counts(path), xnnpack_partitions=op_counts(path).get("DELEGATE", 0))
        else:
            logits = keras_model.predict(ds.x_test, batch_size=256, verbose=0)
            row.update(accuracy=float(np.mean(np.argmax(logits, -1) == ds.y_test)),
                       size_bytes=(folder / "model.keras").stat().st_size)
        rows.append(row)
        print(json.dumps(row), flush=True)

    tflite_rows = [r for r in rows if r["format"] == "tflite"]
    alternating = alternating_p50(
        {r["name"]: (out / r["name"] / "model.tflite").read_bytes() for r in tflite_rows},
        ds.x_test[:1], args.runs, args.warmup, rounds=3) if tflite_rows else []
    cuts = {}
    if not args.no_cuts and args.cut_model in {s.id for s in recipe.steps}:
        model = load_keras_model(out / args.cut_model / "model.keras")
        calibration = ds.calibration_samples(300, recipe.seed)
        cuts["layers_int8"] = layer_cut_times(model, calibration, args.runs, args.warmup)
        cuts["lean_ops_int8"] = lean_op_cut_times(model, calibration, args.runs, args.warmup)
    document = {"recipe": str(recipe.path), "dataset": ds.name, "rows": rows, "cuts": cuts,
                "alternating_p50_ms": alternating,
                "timing": f"p50 of {args.runs} single-image invokes after {args.warmup} warm-up, 1 thread"}
    (out / "lean_figures.json").write_text(json.dumps(document, indent=2) + "\n")
    print_table(rows, cuts)
    for number, round_ in enumerate(alternating, start=1):
        print(f"alternating round {number}: " + ", ".join(f"{k} {v:.4f} ms" for k, v in round_.items()))
    for line in speedups(alternating):
        print(line)


def speedups(alternating: list[dict[str, float]]) -> list[str]:
    """Each LEAN row's speed-up over the base row of its format, per round (seed 001 claims 1.5×)."""
    lines = []
    for name in alternating[0] if alternating else []:
        suffix = name.rpartition("_")[2]
        base = f"base_{suffix}"
        if name == base or base not in alternating[0]:
            continue
        ratios = [round_[base] / round_[name] for round_ in alternating]
        lines.append(f"{name} vs {base}: " + " / ".join(f"{r:.2f}×" for r in ratios) + " faster (p50, per round)")
    return lines


def alternating_p50(flatbuffers: dict[str, bytes], sample: np.ndarray, runs: int, warmup: int,
                    rounds: int) -> list[dict[str, float]]:
    """p50 of every model with their invokes interleaved, so all see the same machine load."""
    interpreters = {}
    for name, flatbuffer in flatbuffers.items():
        interpreter = _interpreter(flatbuffer)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], _quantise(sample, detail))
        for _ in range(warmup):
            interpreter.invoke()
        interpreters[name] = interpreter
    results = []
    for _ in range(rounds):
        times = {name: [] for name in interpreters}
        for _ in range(runs):
            for name, interpreter in interpreters.items():
                start = time.perf_counter_ns()
                interpreter.invoke()
                times[name].append((time.perf_counter_ns() - start) / 1e6)
        results.append({name: float(np.percentile(t, 50)) for name, t in times.items()})
    return results


def run_steps(recipe, ds, out: Path, resume_at: str | None = None) -> None:
    """Run every step with the stage functions and folders `edgeopt run` uses."""
    from edgeopt.run.pipeline import _run_step, step_fingerprint
    from edgeopt.stages.registry import Artifact, artifact_file

    artifacts, fingerprints = {}, {}
    resuming = resume_at is not None
    for number, step in enumerate(recipe.steps, start=1):
        fingerprints[step.id] = step_fingerprint(step, recipe, fingerprints.get(step.source))
        resuming = resuming and step.id != resume_at
        if resuming:
            info = json.loads((out / step.id / "step.json").read_text())
            artifacts[step.id] = Artifact(info["kind"], artifact_file(out / step.id, info["kind"]), info["dtype"], info["info"])
            print(f"[{number}/{len(recipe.steps)}] {step.id}: reusing {artifacts[step.id].path}", flush=True)
            continue
        print(f"[{number}/{len(recipe.steps)}] {step.id}: {step.stage}", flush=True)
        artifacts[step.id] = _run_step(step, recipe, ds, artifacts.get(step.source), out,
                                       fingerprints[step.id], print)


def _interpreter(path_or_bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": path_or_bytes} if isinstance(path_or_bytes, bytes) else {"model_path": str(path_or_bytes)}
    interpreter = Interpreter(num_threads=threads, **kwargs)
    interpreter.allocate_tensors()
    return interpreter


def _quantise(x: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def tflite_accuracy(path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy through the interpreter, one image per invoke, int8 input quantised."""
    interpreter = _interpreter(path)
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    correct = 0
    for image, label in zip(x, y):
        interpreter.set_tensor(inp["index"], _quantise(image[None], inp))
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(outp["index"])[0]) == label)
    return correct / len(y)


def tflite_latency(path_or_bytes, sample: np.ndarray, runs: int, warmup: int) -> dict:
    interpreter = _interpreter(path_or_bytes)
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], _quantise(sample, inp))
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1e6)
    times = np.asarray(times)
    return {"latency_ms_p50": float(np.percentile(times, 50)), "latency_ms_p90": float(np.percentile(times, 90))}


def op_counts(path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in _interpreter(path)._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts


def _p50_int8(model, calibration, runs, warmup, lean_float_ops=None) -> float:
    from edgeopt.models.conversion import tflite_bytes

    flatbuffer = tflite_bytes(model, "int8", calibration, lean_float_ops=lean_float_ops)
    return tflite_latency(flatbuffer, calibration[:1], runs, warmup)["latency_ms_p50"]


def layer_cut_times(model, calibration, runs, warmup) -> list[dict]:
    """p50 of the int8 model cut after each layer, and the increment each layer adds."""
    from edgeopt.tf.runtime import keras

    results, previous = [], 0.0
    for layer in model.layers:
        cut = keras.Model(model.inputs, layer.output)
        p50 = _p50_int8(cut, calibration, runs, warmup)
        results.append({"layer": layer.name, "cut_p50_ms": p50, "increment_ms": p50 - previous})
        previous = p50
    return results


def lean_op_cut_times(model, calibration, runs, warmup) -> list[dict]:
    """The first LEAN layer on its real input, cut after each of its TFLite ops (int8)."""
    from edgeopt.layers import LEAN
    from edgeopt.layers.lean import FLOAT_OP_PREFIX
    from edgeopt.tf.runtime import keras, tf

    lean = next((layer for layer in model.layers if isinstance(layer, LEAN)), None)
    if lean is None:
        return []
    feed = keras.Model(model.inputs, lean.input)
    activations = feed.predict(calibration, verbose=0)

    def stages(x):
        """LEAN.call unrolled (one iteration, non-negative form), yielding after each op the tensors
        still needed. Keep in step with `LEAN.call`; `lean_float_*` names are the ops the int8
        graph keeps in float."""
        if lean.signed_inputs:
            raise SystemExit("op cuts follow LEAN's non-negative form; this model's first LEAN has signed_inputs")
        unit = lean._unit(x)
        yield "float RELU, MUL, SUM, MAXIMUM, RSQRT, MUL (unit ℓ2 norm)", [unit]
        total = lean._fixed(unit, lean._position_sum())
        yield "int8 FULLY_CONNECTED (s = Σ_i g_i)", [unit, total]
        row_sums = lean._times_groups(unit, total)
        yield "int8 FC + MUL + FC (row sums g_i·s)", [unit, row_sums]
        degree = tf.maximum(row_sums, lean.epsilon * math.sqrt(lean.preserved), name=f"{FLOAT_OP_PREFIX}degree")
        yield "float MAXIMUM (floored D)", [unit, degree]
        v = lean.initial_vector / tf.reduce_sum(tf.abs(lean.initial_vector))
        with tf.name_scope(f"{FLOAT_OP_PREFIX}numerator"):
            product = lean._affinity_times(unit, v, per_position=False)
        yield "float FC, FC, MUL, FC (A·V = g_i·m)", [degree, product]
        yield "float DIV (D⁻¹·AV)", [tf.math.divide(product, degree, name=f"{FLOAT_OP_PREFIX}transition")]
        yield "float ABS + SUM + MAXIMUM + DIV (/‖ÃV‖₁)", [lean(x)]

    def flat(tensors):
        # A RESHAPE after every cut output: LEAN's ops never become graph outputs, whose tensors the
        # converter renames (the float ops are found by name).
        return [tf.reshape(t, (-1, math.prod(t.shape[1:]))) for t in tensors]

    names = [name for name, _ in stages(tf.constant(activations[:1]))]
    results, previous = [], 0.0
    for index, name in enumerate(names):
        inp = keras.Input(activations.shape[1:])
        out = keras.layers.Lambda(lambda t, i=index: flat(list(stages(t))[i][1]))(inp)
        p50 = _p50_int8(keras.Model(inp, out), activations, runs, warmup, lean_float_ops=True)
        results.append({"op": name, "cut_p50_ms": p50, "increment_ms": p50 - previous})
        previous = p50
    results.append({"input_shape": list(activations.shape[1:])})
    return results


def print_table(rows, cuts) -> None:
    print(f"\n{'name':14} {'dtype':8} {'params':>8} {'MACs':>11} {'size B':>9} {'acc':>7} {'p50 ms':>8}")
    for r in rows:
        acc = f"{r['accuracy']:.4f}" if r.get("accuracy") is not None else "n/a"
        p50 = f"{r['latency_ms_p50']:.3f}" if r.get("latency_ms_p50") is not None else "n/a"
        print(f"{r['name']:14} {r['dtype']:8} {r['params']:>8} {r['macs']:>11} {r['size_bytes']:>9} {acc:>7} {p50:>8}")
    for key, entries in cuts.items():
        print(f"\n{key}:")
        for e in entries:
            if "cut_p50_ms" in e:
                print(f"  {e.get('layer', e.get('op')):45} cut p50 {e['cut_p50_ms']:.4f} ms  +{e['increment_ms']:.4f} ms")
            else:
                print(f"  {e}")


if __name__ == "__main__":
    main()
