"""The seed-003 analytical energy model: prices, what counts, and labelled fallbacks."""

from __future__ import annotations

import pytest
from energy_fakes import hide_meters

from edgeopt.profile.energy import measure_energy
from edgeopt.profile.energy.model import MAC_PJ, PJ_45NM, mac_arithmetic, model_energy, price_op
from edgeopt.profile.tflite_file import inspect_tflite
from edgeopt.profile.tflite_graph import OpInfo


def fc(index: int, n_in: int, n_out: int, dtype: str = "float32",
       weight_dtype: str | None = None) -> OpInfo:
    """A FULLY_CONNECTED op as `inspect_tflite` describes it (weights + bias as constants)."""
    weight_dtype = weight_dtype or dtype
    width = {"float32": 4, "int8": 1, "int16": 2}
    weight_bytes = n_in * n_out * width[weight_dtype] + n_out * 4  # bias: float32 or int32
    return OpInfo(index, "FULLY_CONNECTED", n_in * n_out, dtype, weight_dtype, dtype,
                  n_in * n_out + n_out, weight_bytes, n_in, n_in * width[dtype],
                  n_out, n_out * width[dtype])


def test_lenet_300_100_reproduces_seed_003s_energy_table():
    # Seed 003, "Energy Comparison (One Image Classification)", LeNet300-100 (Original):
    # MAC 1.22 µJ, SRAM weights 1.33 µJ, SRAM activations 11.94 nJ, DRAM 170.51 µJ, 172.56 µJ.
    energy = model_energy([fc(0, 784, 300), fc(1, 300, 100), fc(2, 100, 10)])
    assert energy.compute_pj * 1e-6 == pytest.approx(1.22, rel=0.01)
    assert energy.sram_weights_pj * 1e-6 == pytest.approx(1.33, rel=0.01)
    assert energy.dram_pj * 1e-6 == pytest.approx(170.51, rel=0.01)
    assert energy.total_pj * 1e-6 == pytest.approx(172.56, rel=0.01)
    # The paper counts each activation once written and once read; we count each op's inputs
    # and outputs: the same order of magnitude, and < 0.01 % of the total either way.
    assert 5e-3 < energy.sram_activations_pj * 1e-6 < 12e-3


def test_an_int8_mac_is_an_int8_multiply_with_an_int32_accumulate():
    op = fc(0, 100, 10, "int8")
    assert mac_arithmetic(op) == "int8"
    assert price_op(op).compute_pj == pytest.approx(1_000 * (PJ_45NM["int8_mult"]
                                                             + PJ_45NM["int32_add"]))
    assert mac_arithmetic(fc(0, 100, 10, "float32")) == "float32"
    assert MAC_PJ["float32"] == pytest.approx(3.7 + 0.9)


def test_hybrid_and_16x8_ops_are_priced_by_the_arithmetic_they_run():
    # Dynamic-range ops quantize their float input and multiply int8 x int8.
    assert mac_arithmetic(fc(0, 100, 10, "float32", weight_dtype="int8")) == "int8"
    # int16 activations have no table entry: priced as 32-bit integer, an upper bound.
    assert mac_arithmetic(fc(0, 100, 10, "int16", weight_dtype="int8")) == "int32"


def test_ops_without_macs_cost_data_movement_only():
    pool = OpInfo(3, "MAX_POOL_2D", 0, "int8", None, "int8", 0, 0, 400, 400, 100, 100)
    energy = price_op(pool)
    assert energy.arithmetic is None and energy.compute_pj == 0
    assert energy.dram_pj == 0 and energy.sram_weights_pj == 0
    assert energy.sram_activations_pj == pytest.approx(500 / 4 * PJ_45NM["sram_word"])


def test_int8_model_costs_less_than_float32(tiny_tflite_models):
    m = tiny_tflite_models
    f32 = model_energy(inspect_tflite(m.float32))
    i8 = model_energy(inspect_tflite(m.int8))
    assert i8.total_pj < f32.total_pj
    assert i8.compute_pj < f32.compute_pj and i8.dram_pj < f32.dram_pj


@pytest.mark.parametrize("model", ["float32", "int8", "dynamic"])
def test_the_breakdown_sums_to_the_total(tiny_tflite_models, model):
    info = inspect_tflite(getattr(tiny_tflite_models, model))
    energy = model_energy(info)
    rows = energy.breakdown()
    assert [r["op_name"] for r in rows] == [op.op_name for op in info.ops]
    assert sum(r["macs"] for r in rows) == info.macs
    assert sum(r["total_uj"] for r in rows) == pytest.approx(energy.total_pj * 1e-6, rel=1e-12)
    for r in rows:
        parts = r["compute_uj"] + r["sram_weights_uj"] + r["sram_activations_uj"] + r["dram_uj"]
        assert parts == pytest.approx(r["total_uj"], rel=1e-12)
    assert energy.total_mj == pytest.approx(energy.total_pj * 1e-9)


def test_model45_energy_is_labelled_a_model_and_is_deterministic(tiny_tflite_models):
    first = measure_energy(tiny_tflite_models.int8, "model45")
    second = measure_energy(tiny_tflite_models.int8, "model45", breakdown=True)
    assert (first.source, first.scope, first.measured, first.note) == (
        "model45", "model", False, None)
    assert first.energy_mj == second.energy_mj == first.model45_mj > 0
    assert first.gross_mj is None and first.net_mj is None  # not measured: no gross/net
    assert first.breakdown is None and len(second.breakdown) == len(
        inspect_tflite(tiny_tflite_models.int8).ops)


def test_auto_without_a_meter_falls_back_to_the_estimate_with_a_one_line_note(
        tiny_tflite_models, tmp_path, monkeypatch):
    hide_meters(monkeypatch, tmp_path)
    result = measure_energy(tiny_tflite_models.float32, "auto")
    assert (result.source, result.scope, result.measured) == ("estimate", "estimate", False)
    assert "\n" not in result.note and "no meter could be read" in result.note
    assert str(tmp_path / "no-powercap") in result.note and "estimate" in result.note
    assert result.model45_mj > 0  # the 45 nm figure rides along on every row


def test_the_old_model_name_is_a_clear_error_pointing_to_model45(tiny_tflite_models):
    from edgeopt.common.errors import EdgeoptError

    with pytest.raises(EdgeoptError, match="renamed `model45`.*--energy estimate"):
        measure_energy(tiny_tflite_models.float32, "model")


def test_off_measures_nothing(tiny_tflite_models):
    result = measure_energy(tiny_tflite_models.float32, "off")
    assert result.source is None and result.energy_mj is None and not result.measured


def test_an_unknown_method_is_a_user_error(tiny_tflite_models):
    from edgeopt.common.errors import EdgeoptError

    with pytest.raises(EdgeoptError, match="energy.*Received: energy='joulemeter'"):
        measure_energy(tiny_tflite_models.float32, "joulemeter")
