"""Variants of seed 003's update (Eq. 6) measured against the weight-norm baseline, at every width.

    python benchmarks/elimination_variants.py runs/mnist_eliminate/base/model.keras \
        --data mnist_embedded --layers fc1 fc2 --calibration 1000 [--calibration 4000]

For each layer and each p from rank(X) down to a fifth of the width, the neurons are chosen by
Algorithm 2 (SVD + pivoted QR, as shipped) and the next layer is updated by least squares:
  eq6         X_removed ≈ T·X_kept (the shipped `reconstruction`),
  intercept   X_removed ≈ T·X_kept + c, c folded into the next layer's bias (Eq. 6 with a constant
              neuron that is never removed),
  ridge α     (X_p X_pᵀ + λI) Tᵀ = X_p X_rᵀ with λ = α·trace(X_p X_pᵀ)/p,
and each is compared with the baseline (largest outgoing weight norms, no update) on test accuracy
and on top-1 agreement with the unmodified model. The layers after the eliminated one must be
plain Dense layers (relu or linear), whose maths is redone here in NumPy so the bias can change.
The variants were not adopted: see docs/eliminate.md ("What was tried").
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.linalg


def fit(x: np.ndarray, keep: np.ndarray, intercept: bool, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """T (n × p) and c (n,) with x ≈ T·x[keep] + c (c = 0 without intercept)."""
    from edgeopt.techniques.elimination.linalg import reconstruction

    n = x.shape[0]
    mean = x.mean(axis=1) if intercept else np.zeros(n)
    centred = x - mean[:, None]  # least squares with an unpenalised intercept = least squares on centred data
    if alpha == 0:
        t = reconstruction(centred, keep)
    else:
        removed = np.setdiff1d(np.arange(n), keep)
        t = np.zeros((n, len(keep)))
        t[keep, np.arange(len(keep))] = 1.0
        gram = centred[keep] @ centred[keep].T
        lam = alpha * np.trace(gram) / len(keep)
        t[removed] = scipy.linalg.solve(gram + lam * np.eye(len(keep)), centred[keep] @ centred[removed].T,
                                        assume_a="pos").T
    return t, mean - t @ mean[keep]


def _dense(h: np.ndarray, kernel: np.ndarray, bias: np.ndarray, is_relu: bool) -> np.ndarray:
    z = h @ kernel + bias
    return np.maximum(z, 0) if is_relu else z


def main() -> None:
    from edgeopt.data.datasets import load_dataset
    from edgeopt.models.keras_io import load_keras_model
    from edgeopt.techniques.elimination.linalg import largest_outgoing_norms, representative_rows, spectrum
    from edgeopt.techniques.elimination.sweep import blas_single_thread
    from edgeopt.tf.runtime import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", default="mnist_embedded")
    parser.add_argument("--layers", nargs="+", default=["fc1", "fc2"])
    parser.add_argument("--calibration", type=int, nargs="+", default=[1000], help="calibration sample counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration draw (the stage uses the recipe's)")
    args = parser.parse_args()
    variants = {"eq6": (False, 0.0), "intercept": (True, 0.0), "ridge 1e-3": (False, 1e-3),
                "ridge 1e-2": (False, 1e-2), "intercept + ridge 1e-3": (True, 1e-3)}

    model = load_keras_model(args.model)
    ds = load_dataset(args.data)
    for layer_name in args.layers:
        layer = model.get_layer(layer_name)
        tail = model.layers[model.layers.index(layer):]
        if any(type(l) is not keras.layers.Dense or l.activation.__name__ not in ("relu", "linear") for l in tail):
            raise SystemExit(f"the layers from '{layer_name}' on must all be Dense with relu or linear activation: "
                             f"{[l.name for l in tail]}")
        weights = [[w.astype(np.float64) for w in l.get_weights()] for l in tail]
        relu = [l.activation.__name__ == "relu" for l in tail]

        def forward(h, start):  # the Dense tail from layer `start` on, in float64
            for (w, b), is_relu in zip(weights[start:], relu[start:]):
                h = _dense(h, w, b, is_relu)
            return h

        reader = keras.Model(model.inputs, layer.input)
        x_test = reader.predict(ds.x_test, batch_size=1024, verbose=0).astype(np.float64)
        kernel, bias = weights[0]
        h_test = _dense(x_test, kernel, bias, relu[0])  # what the next layer sees, on the test images
        reference = np.argmax(forward(h_test, 1), axis=1)
        original = float(np.mean(reference == ds.y_test))
        next_kernel, next_bias = weights[1]

        def score(keep, t, c):
            h = _dense(h_test[:, keep], t.T @ next_kernel, next_bias + next_kernel.T @ c, relu[1])
            predicted = np.argmax(forward(h, 2), axis=1)
            return float(np.mean(predicted == ds.y_test)), float(np.mean(predicted == reference))

        for count in args.calibration:
            calib = ds.calibration_samples(count, args.seed)
            x_cal = reader.predict(calib, batch_size=1024, verbose=0).astype(np.float64)
            x = _dense(x_cal, kernel, bias, relu[0]).T  # X, (n neurons, K samples)
            n = x.shape[0]
            with blas_single_thread():
                spec = spectrum(x, float(np.finfo(np.float32).eps))
                widths = list(range(min(spec.rank, n - 1), max(n // 5, 1) - 1, -1))
                results = {name: [] for name in ("baseline", *variants)}
                for p in widths:
                    keep = largest_outgoing_norms(next_kernel, p)
                    identity = np.zeros((n, p))
                    identity[keep, np.arange(p)] = 1.0
                    results["baseline"].append(score(keep, identity, np.zeros(n)))
                    keep = representative_rows(x, p, spec)
                    for name, (intercept, alpha) in variants.items():
                        results[name].append(score(keep, *fit(x, keep, intercept, alpha)))
            base = np.array(results["baseline"])
            print(f"\n### {layer_name}: {n} neurons, rank {spec.rank} on {x.shape[1]} calibration samples, "
                  f"widths {widths[0]}–{widths[-1]}; original accuracy {100 * original:.2f} %; baseline above it "
                  f"at {int(np.sum(base[:, 0] > original))} widths\n")
            print("| update | accuracy vs baseline W/T/L | worst margin pts | mean acc − original pts | "
                  "agreement vs baseline W/T/L |")
            print("|---|---:|---:|---:|---:|")
            for name in variants:
                ours = np.array(results[name])
                margin, agree = ours[:, 0] - base[:, 0], ours[:, 1] - base[:, 1]
                print(f"| {name} | {np.sum(margin > 0)}/{np.sum(margin == 0)}/{np.sum(margin < 0)} | "
                      f"{100 * margin.min():+.2f} | {100 * np.mean(ours[:, 0] - original):+.3f} | "
                      f"{np.sum(agree > 0)}/{np.sum(agree == 0)}/{np.sum(agree < 0)} |")


if __name__ == "__main__":
    main()
