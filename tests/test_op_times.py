"""Which profiler event is whose: XNNPACK operators matched to TFLite ops, typical runs, partitions.

No LiteRT and no timing here: events are written by hand, as LiteRT's profiler records them.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from edgeopt.profile.litert_profiler import DEFAULT_EVENT, DELEGATE_PROFILED_EVENT, OPERATOR_EVENT, ProfilerEvent
from edgeopt.profile.op_times import OpTime, align, attribute, collect, op_dtype, paired_ratio, run_keys
from edgeopt.profile.ops import OpsProfile
from edgeopt.profile.tflite_graph import OpInfo


def op(index: int, name: str, macs: int = 0, dtype: str = "int8", weights: str | None = None,
       shape: tuple[int, ...] = (1, 4)) -> OpInfo:
    return OpInfo(index, name, macs, dtype, weights, dtype, 0, 0, 0, 0, 0, 0, shape)


def xnn(name: str, index: int, us: int) -> ProfilerEvent:
    return ProfilerEvent(DELEGATE_PROFILED_EVENT, name, index, us)


def node(name: str, index: int, us: int) -> ProfilerEvent:
    return ProfilerEvent(OPERATOR_EVENT, name, index, us)


def test_glue_before_an_op_goes_to_that_op():
    assert align(["Convolution (NHWC, F32) IGEMM", "Static Reshape (NC)", "Fully Connected (NC, F32) GEMM"],
                 ["CONV_2D", "RELU", "FULLY_CONNECTED"]) == [0, 2, 2]


def test_two_fully_connected_ops_in_a_row_each_get_their_own_operators():
    operators = ["Static Reshape (NC)", "Fully Connected (NC, QS8, QC8W) GEMM"] * 2
    assert align(operators, ["FULLY_CONNECTED", "FULLY_CONNECTED"]) == [0, 0, 1, 1]


def test_a_pointwise_conv_that_xnnpack_runs_as_a_gemm_is_still_the_conv():
    operators = ["Convolution (NHWC, F32) IGEMM", "Convolution (NHWC, F32) DWConv", "Fully Connected (NC, F32) GEMM",
                 "Add (ND)"]
    assert align(operators, ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD"]) == [0, 1, 2, 3]


def test_an_operator_of_no_matching_kind_lands_on_the_op_at_its_place():
    assert align(["Convolution (NHWC, F32)", "Divide (ND)"], ["CONV_2D", "SOFTMAX"]) == [0, 1]


def test_alignment_never_goes_back_and_uses_only_existing_ops():
    kinds = ["Convolution (NHWC, F32)", "Max Pooling (NHWC, F32)", "Copy (NC, X32)", "Fully Connected (NC, F32)",
             "Softmax (NC, F32)", "Add (ND)"]
    names = ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX", "ADD", "MEAN"]
    rng = random.Random(3)
    for _ in range(200):
        operators = [rng.choice(kinds) for _ in range(rng.randint(1, 9))]
        ops = [rng.choice(names) for _ in range(rng.randint(1, 7))]
        positions = align(operators, ops)
        assert len(positions) == len(operators)
        assert positions == sorted(positions) and all(0 <= p < len(ops) for p in positions)


def test_an_operator_index_that_starts_again_starts_the_next_partition():
    events = [ProfilerEvent(DEFAULT_EVENT, "Invoke", 0, 40), xnn("Convolution (NHWC, F32)", 0, 5),
              xnn("Clamp (NC, F32)", 1, 1), node("CUMSUM", 2, 3), xnn("Softmax (NC, F32)", 0, 1),
              xnn("Add (ND)", 0, 2)]
    keys, times = run_keys(events)
    assert [k[:2] for k in keys] == [("xnn", 1), ("xnn", 1), ("node", 2), ("xnn", 2), ("xnn", 3)]
    assert times == [5, 1, 3, 1, 2]  # the "Invoke" around them is no op


def test_runs_of_another_shape_are_left_out():
    good = [xnn("Convolution (NHWC, F32)", 0, 5), node("CUMSUM", 1, 3)]
    samples = collect([good, good[:1], [], good])
    assert samples.times_us.tolist() == [[5, 3], [5, 3]] and samples.skipped == 2


def test_op_times_average_the_middle_half_of_the_runs():
    runs = [[node("ADD", 0, us)] for us in (10, 11, 12, 13, 500, 9, 10, 11)]
    means, typical = collect(runs).typical_means()
    assert typical < len(runs) and means[0] < 20  # the run the OS interrupted is not averaged in


def test_each_op_gets_its_events_and_a_fused_op_says_so():
    ops = [op(0, "CONV_2D", 100), op(1, "RELU"), op(2, "FULLY_CONNECTED", 10), op(3, "CUMSUM"), op(4, "SOFTMAX")]
    run = [xnn("Convolution (NHWC, QC8) IGEMM", 0, 30), xnn("Static Reshape (NC)", 1, 0),
           xnn("Fully Connected (NC, QS8, QC8W) GEMM", 2, 4), node("CUMSUM", 3, 7), xnn("Softmax (NC, QU8)", 0, 2)]
    rows, notes = attribute(collect([run] * 5), ops, partitions=[[0, 1, 2], [4]])
    by_name = {r.op_name: r for r in rows}
    assert by_name["CONV_2D"].time_us == 30 and by_name["CONV_2D"].partition == 1
    assert by_name["RELU"].how == "fused" and by_name["RELU"].time_us is None and by_name["RELU"].runs_on == "XNNPACK"
    assert by_name["FULLY_CONNECTED"].time_us == 4 and len(by_name["FULLY_CONNECTED"].kernels) == 2
    assert by_name["CUMSUM"].runs_on == "LiteRT" and by_name["CUMSUM"].partition is None and by_name["CUMSUM"].time_us == 7
    assert by_name["SOFTMAX"].partition == 2 and by_name["SOFTMAX"].how == "measured"
    assert sum(r.time_us or 0 for r in rows) == 43 and notes == []  # every event counted once


def test_an_operator_put_on_an_op_by_its_place_is_flagged():
    ops = [op(0, "CONV_2D"), op(1, "SOFTMAX")]
    run = [xnn("Convolution (NHWC, F32)", 0, 5), xnn("Divide (ND)", 1, 2)]
    rows, notes = attribute(collect([run]), ops, partitions=[[0, 1]])
    assert rows[1].how == "by order" and rows[1].time_us == 2
    assert any("Divide" in note for note in notes)


def test_when_the_partitions_differ_operators_are_matched_across_them():
    ops = [op(0, "CONV_2D"), op(1, "CUMSUM"), op(2, "SOFTMAX")]
    run = [xnn("Convolution (NHWC, F32)", 0, 5), xnn("Softmax (NC, F32)", 1, 2)]  # one partition here
    rows, notes = attribute(collect([run]), ops, partitions=[[0], [2]])  # two in the interpreter
    assert rows[0].time_us == 5 and rows[2].time_us == 2
    assert rows[1].how == "no event" and any("partition" in note for note in notes)


def test_an_event_for_a_node_the_file_does_not_have_is_its_own_row():
    rows, notes = attribute(collect([[node("DELEGATE", 9, 4)]]), [op(0, "ADD")], partitions=[])
    assert rows[-1].index is None and rows[-1].time_us == 4 and notes


def test_the_dtype_says_what_the_op_computes_in():
    assert op_dtype(op(0, "CONV_2D", dtype="int8", weights="int8")) == "int8"
    assert op_dtype(op(0, "FULLY_CONNECTED", dtype="float32", weights="int8")) == "float32, int8 weights"
    quantize = OpInfo(0, "QUANTIZE", 0, "float32", None, "int8", 0, 0, 0, 0, 0, 0)
    assert op_dtype(quantize) == "float32→int8"


def test_an_ops_profile_survives_json_and_knows_whether_it_adds_up():
    ops = (OpTime(0, "CONV_2D", (1, 4), "int8", 9, 90.0, "XNNPACK", 1, ("Convolution (NHWC, QC8)",)),
           OpTime(1, "RELU", (1, 4), "int8", 0, None, "XNNPACK", 1, (), "fused"))
    profile = OpsProfile(ops=ops, p50_ms=0.1, ops_sum_ms=0.09, method="litert-profiler", runs=10, typical_runs=6,
                         threads=1, partitions=1, notes=("x",))
    again = OpsProfile.from_dict(profile.to_dict())
    assert again == profile and again.coverage == pytest.approx(0.9) and again.adds_up
    assert not OpsProfile(**{**profile.__dict__, "ops_sum_ms": 0.05}).adds_up
    assert np.isclose(profile.to_dict()["coverage"], 0.9)


def test_the_paired_ratio_compares_each_profiled_inference_with_the_timed_one_beside_it():
    # A known drift and a known step: the machine slows down steadily, then 3× at once; the
    # profiled inference always takes 90 % of the timed one just before it.
    timed_ns = [10_000 + 100 * i for i in range(60)] + [30_000 + 300 * i for i in range(41)]
    samples = collect([[node("ADD", 0, 0.9 * t / 1e3)] for t in timed_ns])
    assert paired_ratio(samples, timed_ns) == pytest.approx(0.9)


def test_runs_left_out_keep_their_pairing():
    runs = [[node("ADD", 0, 9)], [], [node("ADD", 0, 18)]]
    samples = collect(runs)
    assert samples.kept == (0, 2) and samples.skipped == 1
    assert paired_ratio(samples, [10_000, 99_999, 20_000]) == pytest.approx(0.9)


def test_with_two_speeds_the_op_times_follow_the_pairs_near_the_p50():
    # A neighbour's load gives the machine two speeds; 51 pairs fast, 50 slow. The profiled
    # inference is always 90 % of the timed one beside it, but the median profiled total alone
    # could fall on either speed: chosen by pairs, the ops add up to 90 % of the p50.
    timed_ns = [10_000, 30_000] * 50 + [10_000]
    samples = collect([[node("ADD", 0, 0.9 * t / 1e3)] for t in timed_ns])
    means, count = samples.typical_means(timed_ns)
    assert count == 20 and means[0] == pytest.approx(0.9 * 10.0)  # the p50 is the fast speed
    slow_first = [30_000, 10_000] * 50 + [30_000]
    means, _ = collect([[node("ADD", 0, 0.9 * t / 1e3)] for t in slow_first]).typical_means(slow_first)
    assert means[0] == pytest.approx(0.9 * 30.0)
