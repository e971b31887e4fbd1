"""Latency measurement and the Row the profiler fills."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgeopt.common.errors import DataError, EdgeoptError
from edgeopt.common.row import CONTRACT_KEYS
from edgeopt.profile import machine_info, measure_latency, profile_tflite
from edgeopt.profile.runner import LatencyStats


@pytest.mark.parametrize("model", ["float32", "int8"])
def test_latency_stats_are_positive_and_ordered(tiny_tflite_models, model):
    stats = measure_latency(getattr(tiny_tflite_models, model), runs=30, warmup=3)
    assert len(stats.samples_ms) == stats.runs == 30
    assert 0 < stats.min_ms <= stats.p50_ms <= stats.p90_ms
    assert stats.mean_ms > 0 and stats.std_ms >= 0
    assert (stats.warmup, stats.threads) == (3, 1)


def test_latency_summary_of_known_samples():
    stats = LatencyStats.from_samples_ns([1_000_000] * 9 + [11_000_000], warmup=0, threads=1)
    assert stats.p50_ms == 1.0 and stats.mean_ms == 2.0 and stats.min_ms == 1.0
    assert stats.p90_ms == pytest.approx(2.0)
    assert stats.noisy


@pytest.mark.parametrize("kwargs", [{"runs": 0}, {"warmup": -1}, {"threads": 0},
                                    {"runs": 2.5}])
def test_bad_run_options_are_user_errors(tiny_tflite_models, kwargs):
    with pytest.raises(EdgeoptError, match=next(iter(kwargs))):
        measure_latency(tiny_tflite_models.int8, **kwargs)


def test_profile_fills_a_row(tiny_tflite_models):
    m = tiny_tflite_models
    row = profile_tflite(m.int8, x_test=m.x, y_test=m.keras_labels, runs=10, warmup=1,
                         energy="off")
    assert (row.name, row.format, row.dtype) == ("tiny_int8", "tflite", "int8")
    assert row.params == 55 and row.macs > 0 and row.size_bytes > 0 and row.gzip_bytes > 0
    assert row.accuracy >= 0.9
    assert 0 < row.latency_ms_p50 <= row.latency_ms_p90
    assert row.energy_mj is None and row.energy_source is None and not row.energy_measured
    assert row.extra["threads"] == 1 and row.extra["runs"] == 10
    data = json.loads(json.dumps(row.to_dict()))  # the results.json form
    assert set(CONTRACT_KEYS) <= set(data)


def test_profile_without_data_leaves_accuracy_missing(tiny_tflite_models):
    row = profile_tflite(tiny_tflite_models.float32, name="base", runs=5, warmup=0)
    assert row.name == "base" and row.accuracy is None


def test_profile_with_half_the_data_is_a_data_error(tiny_tflite_models):
    with pytest.raises(DataError, match="both x_test and y_test"):
        profile_tflite(tiny_tflite_models.float32, x_test=tiny_tflite_models.x)


def test_machine_info_is_json_ready():
    info = machine_info()
    json.dumps(info)
    assert info["cpu_logical_cores"] >= 1
    assert info["packages"]["ai-edge-litert"] and info["packages"]["numpy"]
    assert isinstance(info["powercap_present"], bool)
    if info["cpu_flags"] is not None:
        assert set(info["cpu_flags"]) == {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}


def test_profile_path_never_imports_tensorflow(tiny_tflite_models):
    """The device has no TensorFlow: importing and running the profiler must not load it."""
    m = tiny_tflite_models
    code = (
        "import sys, numpy as np\n"
        "import edgeopt.profile as p\n"
        f"p.profile_tflite({str(m.int8)!r}, x_test=np.zeros((3, 8, 8, 1), np.float32),"
        " y_test=np.zeros(3, int), runs=2, warmup=0)\n"
        "p.machine_info()\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')"
        " or k.startswith('edgeopt.tf'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
