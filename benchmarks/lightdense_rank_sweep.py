"""LightDense rank sweep and ablations on one trained base model: accuracy, params, size, latency.

Not a test: figures. For each variant the trained base is swapped (`swap_dense_to_lightdense`),
fine-tuned, converted to full-int8 TFLite, and profiled through the LiteRT interpreter (accuracy on
the whole test split, p50 latency of `--runs` single-image invokes after warm-up). The base's own
int8 model is the first row, the base fine-tuned like the variants (still Dense) the second. Prints a markdown table; `--json` writes the raw rows too.

    python benchmarks/lightdense_rank_sweep.py runs/fashion_lightdense/base/model.keras \
        --data fashion_mnist --ranks 2 4 8 16 32 --head-rank 4 --epochs 2 --ablations
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def _variants(args) -> list[tuple[str, dict | None]]:
    out: list[tuple[str, dict | None]] = [("Dense, fine-tuned (control)", None)]
    for rank in args.ranks:
        ranks = {"logits": min(rank, args.head_rank)} if args.layers == "all" else {}
        out.append((f"rank {rank}", {"rank": rank, "ranks": ranks}))
    if args.ablations:
        base = {"rank": 8, "ranks": {"logits": args.head_rank} if args.layers == "all" else {}}
        out += [("rank 8, no PDE step", {**base, "pde": False}),
                ("rank 8, no L2 norm", {**base, "normalize": False}),
                ("rank 8, no PDE, no norm", {**base, "pde": False, "normalize": False}),
                ("rank 8, random init", {**base, "init": "random"}),
                ("rank 8, no learnable scales", {**base, "scale": "none"})]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="trained base model (.keras), e.g. a run's base/model.keras")
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--layers", choices=["hidden", "all"], default="all")
    parser.add_argument("--head-rank", type=int, default=4, help="cap on the head's rank with --layers all")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per variant")
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--ablations", action="store_true",
                        help="also rank 8 without PDE step / norm / SVD init / learnable scales")
    parser.add_argument("--limit-train", type=int, default=None, help="a seeded subset, for a quick check")
    parser.add_argument("--limit-test", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from edgeopt.data.datasets import load_dataset
    from edgeopt.models.conversion import tflite_bytes
    from edgeopt.models.keras_io import load_keras_model
    from edgeopt.profile import profile_tflite
    from edgeopt.techniques.lightdense_swap import swap_dense_to_lightdense
    from edgeopt.tf.training import compile_classifier, fit_classifier, seed_everything

    data = load_dataset(args.data, limit_train=args.limit_train, limit_test=args.limit_test, seed=args.seed)
    calibration = data.calibration_samples(300, args.seed)
    base = load_keras_model(args.base)
    fc_dense = sum(layer.count_params() for layer in base.layers if type(layer).__name__ == "Dense")
    work = Path(tempfile.mkdtemp(prefix="lightdense_sweep_"))

    def profile(name: str, model) -> dict:
        path = work / f"{name.replace(' ', '_').replace(',', '')}.tflite"
        path.write_bytes(tflite_bytes(model, "int8", calibration))
        row = profile_tflite(path, name=name, x_test=data.x_test, y_test=data.y_test,
                             runs=args.runs, warmup=args.warmup)
        return {"name": name, "accuracy": row.accuracy, "size_bytes": row.size_bytes,
                "latency_ms_p50": row.latency_ms_p50, "macs": row.macs}

    rows = [{**profile("Dense (base)", base), "fc_params": fc_dense, "fc_params_swapped_dense": None,
             "fc_params_swapped_lightdense": None, "energy_kept": None, "train_seconds": None,
             "keras_accuracy_before_finetune": None}]
    for name, options in _variants(args):
        seed_everything(args.seed)
        if options is None:  # the same fine-tuning for the Dense model: the fair comparison
            model, report = load_keras_model(args.base), []
        else:
            model, report = swap_dense_to_lightdense(base, layers=args.layers, calibration=calibration,
                                                     seed=args.seed, **{"scale": "all", **options})
        compile_classifier(model, args.learning_rate)
        before = float(model.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0)[1])
        fit = fit_classifier(model, data, epochs=args.epochs, batch_size=64, label=name, seed=args.seed,
                             log_fn=lambda message: None)
        swapped_dense = sum(r.dense_params for r in report)
        swapped_light = sum(r.lightdense_params for r in report)
        rows.append({**profile(name, model), "fc_params": fc_dense - swapped_dense + swapped_light,
                     "fc_params_swapped_dense": swapped_dense, "fc_params_swapped_lightdense": swapped_light,
                     "energy_kept": [round(r.energy_kept, 4) if r.energy_kept is not None else None for r in report],
                     "train_seconds": fit.train_seconds, "keras_accuracy_before_finetune": before})
        print(f"done: {name}", flush=True)

    print(f"\nint8 TFLite on {args.data} ({len(data.x_test)} test images), {args.epochs} fine-tuning epochs per "
          f"variant (base: none), layers={args.layers}, p50 of {args.runs} single-image invokes (1 thread)\n")
    print("| variant | FC params | FC / Dense | Keras acc. % before FT | int8 acc. % | Δ pts vs Dense int8 | "
          "Δ pts vs control | int8 KiB | p50 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base_row, control = rows[0], rows[1]
    for row in rows:
        before = row["keras_accuracy_before_finetune"]
        print(f"| {row['name']} | {row['fc_params']:,} | {row['fc_params'] / fc_dense:.3f} | "
              f"{'n/a' if before is None else f'{100 * before:.2f}'} | {100 * row['accuracy']:.2f} | "
              f"{100 * (row['accuracy'] - base_row['accuracy']):+.2f} | "
              f"{100 * (row['accuracy'] - control['accuracy']):+.2f} | "
              f"{row['size_bytes'] / 1024:.1f} | {row['latency_ms_p50']:.4f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
