"""The same as `recipe.yaml` through the Python API: load, run, check, profile one file again.

    python api.py            (after `python make_sample.py`, or with your own model.keras and data.npz)
"""

from pathlib import Path

import edgeopt
from edgeopt.report.check import merge_checks, read_run, run_checks

HERE = Path(__file__).resolve().parent


def main() -> int:
    # Overrides work as on the command line; here they make the data path independent of the cwd.
    recipe = edgeopt.load_recipe(HERE / "recipe.yaml", [f"data.path={HERE / 'data.npz'}", "profile.runs=50"])
    result = edgeopt.run_recipe(recipe, HERE / "runs" / "own_model_api")
    for row in result.rows:
        print(f"{row.name:14} {row.dtype:8} accuracy {100 * row.accuracy:.2f} %  p50 {row.latency_ms_p50:.4f} ms  "
              f"size {row.size_bytes / 1024:.1f} KiB  gzip {row.gzip_bytes / 1024:.1f} KiB")

    figures = read_run(result.out_dir)
    failed = 0
    for check in run_checks(figures, merge_checks(figures.checks, {"max_size_kib": 100})):
        print(check.line())
        failed += not check.passed

    int8 = next(row for row in result.rows if row.name == "mine_int8")
    again = edgeopt.profile_tflite(result.out_dir / int8.path, runs=200, warmup=20)
    print(f"mine_int8 profiled again with 200 runs: p50 {again.latency_ms_p50:.4f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
