"""`profile_ops` and `edgeopt profile --ops` on tiny real models through LiteRT's own profiler.

Structure, sums and attribution only: no assertion on how long anything took. The interpreter's
p50 is taken on a fake clock where its value is checked.
"""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from edgeopt.cli import app
from edgeopt.common.errors import EdgeoptError
from edgeopt.profile import litert_profiler
from edgeopt.profile.litert_profiler import OpProfilerUnavailable, ProfiledModel
from edgeopt.profile.ops import OPS_KEY, attach_op_times, profile_ops, xnnpack_partitions
from edgeopt.profile.tflite_file import open_interpreter
from tiny_graphs import chain_model


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """ADD, then CUMSUM (which XNNPACK does not take), then MUL and SOFTMAX: two XNNPACK partitions."""
    path = tmp_path_factory.mktemp("chain") / "chain.tflite"
    path.write_bytes(chain_model(["ADD", "CUMSUM", "MUL", "SOFTMAX"]))
    return path


def fake_clock(step_ns: int = 2_000):
    """Every read is `step_ns` after the last: each timed invoke lasts exactly `step_ns`."""
    counter = itertools.count(0, step_ns)
    return lambda: next(counter)


def test_the_interpreters_partitions_are_read_from_its_delegate_nodes(chain):
    assert xnnpack_partitions(open_interpreter(chain)) == [[0], [2, 3]]


def test_every_op_gets_a_row_and_the_ops_sum_is_their_total(chain):
    profile = profile_ops(chain, runs=20, warmup=2, clock=fake_clock())
    assert [op.op_name for op in profile.ops] == ["ADD", "CUMSUM", "MUL", "SOFTMAX"]
    assert [op.runs_on for op in profile.ops] == ["XNNPACK", "LiteRT", "XNNPACK", "XNNPACK"]
    assert [op.partition for op in profile.ops] == [1, None, 2, 2] and profile.partitions == 2
    assert all(op.how == "measured" and op.time_us is not None and op.time_us >= 0 for op in profile.ops)
    assert profile.ops[1].kernels == ("CUMSUM",) and "Softmax" in profile.ops[3].kernels[0]
    assert profile.ops_sum_ms == pytest.approx(sum(op.time_us for op in profile.ops) / 1e3)
    assert profile.p50_ms == pytest.approx(0.002)  # the fake clock's 2 µs per invoke
    assert profile.coverage == pytest.approx(profile.ops_sum_ms / 0.002)
    assert profile.paired_coverage is not None and profile.paired_coverage >= 0  # op totals over 2 µs each
    assert 1 <= profile.typical_runs <= 20 and profile.method == "litert-profiler"


def test_a_conv_classifier_runs_in_one_partition_with_its_shapes_and_macs(tiny_tflite_models):
    profile = profile_ops(tiny_tflite_models.int8, runs=10, warmup=1)
    conv = next(op for op in profile.ops if op.op_name == "CONV_2D")
    assert conv.output_shape == (1, 6, 6, 4) and conv.macs == 6 * 6 * 4 * 9 and conv.dtype == "int8"
    assert conv.runs_on == "XNNPACK" and conv.partition == 1 and "Convolution" in conv.kernels[0]
    assert profile.partitions == 1 and json.loads(json.dumps(profile.to_dict()))["ops"][0]["op_name"]


def test_too_few_runs_is_a_clear_error(chain):
    with pytest.raises(EdgeoptError, match="runs"):
        profile_ops(chain, runs=2)


def test_the_profiled_runner_reports_each_inference_and_releases_everything(chain):
    with ProfiledModel(chain.read_bytes()) as model:
        model.run()
        model.start()
        model.run()
        events = model.events()
        model.start()
        assert model.events() == []  # start() clears the previous inference's events
    assert any(e.kind == litert_profiler.OPERATOR_EVENT and e.tag == "CUMSUM" for e in events)
    model.close()  # twice is fine


def test_a_litert_without_the_profiler_api_says_so(monkeypatch, chain):
    def missing():
        raise OpProfilerUnavailable("libLiteRt.so lacks LiteRT's C profiler API; ai-edge-litert >= 2.2 has it.")

    monkeypatch.setattr(litert_profiler, "_library", missing)
    with pytest.raises(OpProfilerUnavailable):
        profile_ops(chain, runs=4)
    from edgeopt.common.row import Row

    rows = [Row("chain", str(chain), "tflite")]
    notes = attach_op_times(rows, ["chain"], lambda row: row.path, runs=4)
    assert notes and "2.2" in notes[0] and OPS_KEY not in rows[0].extra
    result = CliRunner().invoke(app, ["profile", str(chain), "--ops", "--energy", "off"])
    assert result.exit_code == 2 and "2.2" in result.output


def test_cli_ops_prints_the_table_and_puts_it_in_the_json(chain):
    result = CliRunner().invoke(app, ["profile", str(chain), "--ops", "--runs", "8", "--warmup", "1",
                                      "--energy", "off"])
    assert result.exit_code == 0, result.output
    assert "Where the time goes: chain" in result.output and "CUMSUM" in result.output
    assert "outside the ops" in result.output and "The ops add up to" in result.output
    result = CliRunner().invoke(app, ["profile", str(chain), "--ops", "--runs", "8", "--warmup", "1",
                                      "--energy", "off", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    assert [op["op_name"] for op in row[OPS_KEY]["ops"]] == ["ADD", "CUMSUM", "MUL", "SOFTMAX"]


def test_the_kinds_of_tflite_a_user_brings_each_get_a_row_per_op(user_tflite_models):
    from edgeopt.profile.tflite_file import inspect_tflite

    for kind, path in user_tflite_models.kinds().items():
        profile = profile_ops(path, runs=6, warmup=1)
        ops = inspect_tflite(path).ops
        assert [op.op_name for op in profile.ops[:len(ops)]] == [op.op_name for op in ops], kind
        assert all(op.how in ("measured", "fused", "by order", "no event") for op in profile.ops), kind
        assert profile.ops_sum_ms == pytest.approx(sum(op.time_us or 0 for op in profile.ops) / 1e3), kind
