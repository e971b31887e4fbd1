"""Channel-group elimination on Keras' MobileNetV2 (alpha 0.35) and EfficientNetB0, 96×96×3,
random weights (weights=None: nothing is downloaded), built with tf_keras.

Not a test (tests/test_group_elimination_stage.py runs the same step with the weight-norm
baseline, which needs no calibration pass). One `eliminate` step names every Conv2D at
keep_fraction 0.75, run through the stage function `edgeopt run` uses, on random images (the
weights are random too, so accuracy means nothing here; what is measured is that no conv is
refused, the groups found, and MACs and parameters before and after). The top conv (1280
channels, read after global pooling) needs ≥ 960 calibration images.

    python benchmarks/group_elimination_apps.py                       # both, svd_qr, 1000 images
    python benchmarks/group_elimination_apps.py --only MobileNetV2 --method weight_norm
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

APPLICATIONS = {"MobileNetV2": {"alpha": 0.35}, "EfficientNetB0": {}}


def run(application: str, method: str, samples: int, folder: Path) -> dict:
    from edgeopt.data.datasets import Dataset
    from edgeopt.models.keras_io import load_keras_model, save_keras_model
    from edgeopt.models.keras_profile import count_macs
    from edgeopt.stages import STAGES, Artifact, StageContext
    from edgeopt.techniques.elimination import channel_groups
    from edgeopt.tf.runtime import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, application)(input_shape=(96, 96, 3), weights=None, classes=10,
                                                     **APPLICATIONS[application])
    source = save_keras_model(model, folder / f"{application}.keras")
    rng = np.random.default_rng(0)
    x, y = rng.random((samples, 96, 96, 3), dtype=np.float32), rng.integers(0, 10, samples)
    dataset = Dataset("random96", x, y, x[:16], y[:16], 10, "random")
    convs = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]
    groups = channel_groups(model)
    spec = STAGES["eliminate"]
    out = folder / application
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    artifact = spec.fn(spec.params(layers=convs, keep_fraction=0.75, calibration_samples=samples, method=method),
                       StageContext("e", out, dataset, 0, Path("."), lambda line: print(line, flush=True)),
                       Artifact("keras", source))
    seconds = time.perf_counter() - start
    smaller = load_keras_model(artifact.path)
    return {"application": application, "method": method, "calibration_samples": samples, "conv2d": len(convs),
            "groups_named": len(artifact.info["groups"]),
            "groups_coupled": sum(1 for g in groups if len(g.producers) > 1),
            "groups_fixed": [g.name for g in groups if g.fixed], "macs_before": count_macs(model),
            "macs_after": count_macs(smaller), "params_before": model.count_params(),
            "params_after": smaller.count_params(), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(APPLICATIONS))
    parser.add_argument("--method", default="svd_qr", choices=["svd_qr", "weight_norm"])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="edgeopt-apps-") as folder:
        for application in [args.only] if args.only else list(APPLICATIONS):
            results.append(run(application, args.method, args.samples, Path(folder)))
    print("| model | Conv2D | groups narrowed (coupled) | MACs before → after | params before → after | s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['application']} | {r['conv2d']} | {r['groups_named']} ({r['groups_coupled']}) | "
              f"{r['macs_before']:,} → {r['macs_after']:,} ({r['macs_after'] / r['macs_before']:.2f}×) | "
              f"{r['params_before']:,} → {r['params_after']:,} | {r['seconds']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
