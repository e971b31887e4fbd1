"""Where the time goes in the report: which rows are explained, the per-op table, report.md's section."""

from __future__ import annotations

from edgeopt.common.row import Row
from edgeopt.profile.op_times import OpTime
from edgeopt.profile.ops import OPS_KEY, OpsProfile
from edgeopt.report.machines import device_table_rows, write_run_report
from edgeopt.report.ops import by_kind, explain, ops_table, render_op_times, rows_to_explain, time_goes_section


def op_times(p50_ms: float = 0.1) -> dict:
    ops = (OpTime(0, "CONV_2D", (1, 26, 26, 32), "int8", 194_688, 60.0, "XNNPACK", 1, ("Convolution (NHWC, QC8) IGEMM",)),
           OpTime(1, "RELU", (1, 26, 26, 32), "int8", 0, None, "XNNPACK", 1, (), "fused"),
           OpTime(2, "DIV", (1, 10), "int8", 0, 5.0, "LiteRT", None, ("DIV",)),
           OpTime(3, "FULLY_CONNECTED", (1, 10), "int8", 1_280, 25.0, "XNNPACK", 2,
                  ("Static Reshape (NC)", "Fully Connected (NC, QS8, QC8W) GEMM")))
    return OpsProfile(ops=ops, p50_ms=p50_ms, ops_sum_ms=0.09, method="litert-profiler", runs=100, typical_runs=51,
                      threads=1, partitions=2, notes=("a note",)).to_dict()


def row(name: str, fmt: str = "tflite", **kwargs) -> Row:
    return Row(name, f"{name}/model.tflite", fmt, dtype="int8", accuracy=0.9, size_bytes=10, latency_ms_p50=1.0,
               **kwargs)


def test_the_baseline_and_the_best_rows_are_explained_keras_never():
    rows = [row("base", "keras"), row("f32"), Row("fast", "p", "tflite", accuracy=0.9, size_bytes=10, latency_ms_p50=0.5),
            Row("small", "p", "tflite", accuracy=0.9, size_bytes=5, latency_ms_p50=2.0),
            Row("bad", "p", "tflite", accuracy=0.5, size_bytes=1, latency_ms_p50=0.1)]
    assert rows_to_explain(rows, "f32", 1.0) == ["f32", "fast", "small"]
    assert rows_to_explain(rows, "base", None) == []  # a Keras baseline has no ops to time
    assert rows_to_explain(rows, "f32", None) == ["f32"]


def test_the_table_has_every_op_the_remainder_and_says_how_it_adds_up():
    r = row("base_int8")
    r.latency_ms_p50 = 0.1  # the table's p50, here the same as the op profile's
    r.extra[OPS_KEY] = op_times()
    text = render_op_times(r)
    lines = text.splitlines()
    assert lines[0] == "Where the time goes: base_int8 (int8)"
    assert "1×26×26×32" in text and "194,688" in text and "XNNPACK #1" in text and "XNNPACK #2" in text
    relu = next(line for line in lines if "RELU" in line)
    assert "—" in relu and "fused" in relu  # its time is in the conv's, not zero
    assert any("outside the ops" in line and "10.0" in line for line in lines)  # 100 µs p50 − 90 µs of ops
    assert "90.0 % of the table's p50 (100.0 µs)" in text and "note: a note" in text
    assert render_op_times(row("plain")) == ""


def test_shares_are_of_the_tables_p50_and_the_p50_timed_alongside_is_named_beside_it():
    r = row("base_int8")
    r.latency_ms_p50 = 0.2  # the table's p50; the op profile's interpreter ran at 100 µs beside it
    r.extra[OPS_KEY] = op_times(p50_ms=0.1)
    lines = render_op_times(r).splitlines()
    conv = next(line for line in lines if "CONV_2D" in line)
    assert " 30.0 " in conv  # 60 µs of the table's 200 µs, not of the profile's 100 µs
    assert any("outside the ops" in line and "110.0" in line for line in lines)
    said = lines[-2]
    assert said.startswith("The ops add up to 90.0 µs = 45.0 % of the table's p50 (200.0 µs); against the p50 "
                           "timed alongside the profiled inferences (100.0 µs), 90.0 %")
    assert "3.2" in conv  # 194,688 MACs in 60.0 µs: 3.2 GMAC/s, two figures from times to 0.1 µs


def test_the_rate_is_left_out_below_the_profilers_resolution():
    profile = op_times()
    profile["ops"][3]["time_us"] = 0.4
    fc = next(line for line in ops_table(profile).splitlines() if "FULLY_CONNECTED" in line)
    assert "n/a" in fc


def test_the_short_explanation_names_the_costliest_op_and_what_runs_outside_xnnpack():
    r = row("base_int8")
    r.latency_ms_p50 = 0.1  # as the op profile's
    r.extra[OPS_KEY] = op_times()
    lines = explain(r)
    assert "#0 CONV_2D" in lines[0] and "60 % of the time" in lines[0] and "99 % of the MACs" in lines[0]
    assert "CONV_2D ×2" not in lines[1] and "CONV_2D ×1 60 %" in lines[1]
    assert "#2 DIV" in lines[2] and "LiteRT" in lines[2]
    assert by_kind(r.extra[OPS_KEY])[0] == ("CONV_2D", 1, 60.0, 194_688)


def test_report_md_gains_the_section_for_each_machine_with_op_times(tmp_path):
    host = row("base_int8").to_dict() | {OPS_KEY: op_times(), "sha256": "a"}
    results = {"schema_version": 1, "recipe": {"name": "r", "baseline": "base_int8", "accuracy_budget": 1.0},
               "machine": {"hostname": "h", "cpu_model": "AMD EPYC"}, "rows": [host, row("other").to_dict()]}
    device = {"device": "pi5", "machine": {"hostname": "pi5"}, "settings": {"threads": 1},
              "rows": [row("base_int8").to_dict() | {OPS_KEY: op_times(0.2)}]}
    path, _ = write_run_report(tmp_path, results, [device])
    text = path.read_text()
    assert text.count("## Where the time goes") == 2 and "<details><summary>Per-op tables" in text
    assert "docs/where-time-goes.md" in text
    # a row the device did not measure keeps no per-op times of the host's
    rows = device_table_rows({**results, "rows": [host]}, {**device, "rows": []})
    assert not rows[0].extra.get(OPS_KEY)
    assert time_goes_section("m", rows) == []
