"""The search's decision logic, with fakes for what it measures: plateaus of cost over width, the
knapsack allocation over all units, which candidates get a fine-tune, ties in time, the split it
chooses on, and what it says when the objective's figure is missing."""

from __future__ import annotations

import numpy as np
import pytest

from edgeopt.common.row import Row
from edgeopt.data.datasets import Dataset
from edgeopt.run.search.allocation import allocate, ladder
from edgeopt.run.search.budget import finetune_images, finetune_shape
from edgeopt.run.search.choice import choose, margins, why
from edgeopt.run.search.finalists import Candidate, next_finalist, pareto, predicted
from edgeopt.run.search.plateaus import measure_curves, plateau_tops, searched_widths, tile_widths
from edgeopt.run.search.selection import seen_in_training, selection_split
from edgeopt.run.search.units import grid_unit, uniform_widths


# --- plateaus ---------------------------------------------------------------------------------------
def test_a_flat_int8_tile_leaves_only_its_widest_width():
    # XNNPACK's int8 tile of 64 channels on AMX (issue 32): every width up to 64 costs the same.
    costs = {w: 33.0 + 0.1 * (w % 3) for w in range(8, 65, 8)} | {w: 68.0 + w / 100 for w in range(72, 129, 8)}
    assert plateau_tops(costs) == [64, 128]


def test_a_width_slower_than_a_wider_one_is_never_searched():
    # float32 on model 167: 24 channels (88 µs) slower than 32 (61 µs).
    tops = plateau_tops({8: 42, 16: 42, 24: 88, 32: 61, 48: 118, 64: 118})
    assert 24 not in tops and tops == [16, 32, 64]
    assert tile_widths(tops) == [16, 32]


def test_noise_below_the_tolerance_is_not_a_step_but_a_real_step_is():
    assert plateau_tops({8: 100.0, 16: 100.5, 24: 101.0, 32: 101.2}) == [32]
    assert plateau_tops({8: 100.0, 16: 100.5, 24: 110.0, 32: 110.4}) == [16, 32]


def test_every_units_curve_comes_from_one_batch_in_every_precision():
    units = [grid_unit("conv1", ["conv1"], 16), grid_unit("conv2", ["conv2"], 32)]
    batches = []

    def per_precision(configurations):
        batches.append(configurations)
        # int8 flat below full width; float32 linear in the sum of widths
        return [{"float32": float(sum(c.values())), "int8": 10.0 if c == {"conv1": 16, "conv2": 32} else 5.0}
                for c in configurations]

    curves = measure_curves(units, per_precision)
    assert len(batches) == 1 and batches[0][0] == {"conv1": 16, "conv2": 32}
    assert curves["float32"]["conv2"][16] == 32.0 and curves["float32"]["conv1"][16] == 48.0
    assert plateau_tops(curves["int8"]["conv1"]) == [15, 16]  # 15 is the widest of the flat part
    tops = searched_widths(curves, units)
    assert tops["conv1"][-1] == 16 and 2 in tops["conv1"]  # float32 pays for every width


def test_uniform_cuts_round_up_to_a_plateau_top():
    units = [grid_unit("a", ["a"], 64), grid_unit("b", ["b"], 10)]
    assert uniform_widths(units, 0.375, {"a": [16, 32, 64], "b": [4, 10]}) == {"a": 32, "b": 4}


# --- allocation -------------------------------------------------------------------------------------
def test_the_allocation_cuts_every_unit_at_once_when_no_single_cut_reaches_the_target():
    # Each unit alone saves at most 2 of 10: one-unit-at-a-time search (NetAdapt) sees nothing at a 40 % target.
    options = {u: {16: (0.0, 0.0), 8: (1.5, 0.2), 6: (2.0, 0.6)} for u in ("a", "b", "c", "d")}
    widths, saving, loss = allocate(options, 6.0)
    assert saving >= 6.0 - 1e-9 and widths == {"a": 8, "b": 8, "c": 8, "d": 8}
    assert loss == pytest.approx(0.8)


def test_the_allocation_spends_accuracy_where_it_is_cheapest():
    options = {"robust": {32: (0, 0), 16: (4.0, 0.1)}, "fragile": {32: (0, 0), 16: (4.0, 3.0)}}
    assert allocate(options, 4.0)[0] == {"robust": 16, "fragile": 32}
    assert allocate(options, 8.0)[0] == {"robust": 16, "fragile": 16}
    assert allocate(options, 9.0) is None


def test_the_ladder_goes_as_deep_as_the_options_reach_without_duplicates():
    options = {"a": {16: (0, 0), 8: (5, 0.2), 4: (8, 3.0)}, "b": {32: (0, 0), 16: (4, 0.1)}}
    found = ladder(options, 20.0)
    assert [a.target for a in found] == sorted([a.target for a in found], reverse=True)
    assert found[-1].widths == {"a": 4, "b": 16}
    assert len({tuple(sorted(a.widths.items())) for a in found}) == len(found)


# --- finalists --------------------------------------------------------------------------------------
def _c(name, kind, cost, cheap, tuned=None):
    return Candidate(name, kind, {}, {"float32": cost}, cheap, tuned=tuned)


def test_an_allocation_no_better_than_a_uniform_cut_is_not_a_finalist():
    uniform = _c("uniform50", "uniform", 1.0, 80.0)
    assert [c.name for c in pareto([uniform, _c("a", "allocated", 1.1, 79.0), _c("b", "allocated", 0.9, 79.0)])] == ["b"]


def test_recovery_is_interpolated_from_the_tuned_candidates():
    tuned = [_c("u1", "uniform", 1, 90.0, 91.0), _c("u2", "uniform", 1, 50.0, 87.0)]
    assert predicted(_c("a", "allocated", 1, 70.0), tuned) == pytest.approx(70.0 + 19.0)
    assert predicted(_c("a", "allocated", 1, 40.0), tuned) == pytest.approx(40.0 + 37.0)  # held at the end


def test_the_next_finalist_is_the_fastest_predicted_within_budget_and_faster_than_every_passing_one():
    u50 = _c("uniform50", "uniform", 1.0, 80.0, tuned=90.0)
    u25 = _c("uniform25", "uniform", 0.5, 50.0, tuned=85.0)
    slow = _c("slow", "allocated", 1.2, 85.0)  # slower than a passing uniform: of no use
    good = _c("good", "allocated", 0.8, 78.0)  # predicted 78 + 15 = 93
    hopeless = _c("hopeless", "allocated", 0.6, 70.0)  # predicted 70 + 18.3 = 88.3: the fastest hopeful
    dominated = _c("dominated", "allocated", 0.45, 40.0)  # no better than uniform25, which failed
    candidates = [u50, u25, slow, good, hopeless, dominated]
    assert next_finalist(candidates, floor=88.0, ceiling_cost=2.0).name == "hopeless"
    hopeless.tuned = 86.0  # it failed: the one above it is tried next
    assert next_finalist(candidates, floor=88.0, ceiling_cost=2.0).name == "good"
    good.tuned = 88.4  # it passed: nothing faster is predicted to pass
    assert next_finalist(candidates, floor=88.0, ceiling_cost=2.0) is None


def test_with_no_uniform_within_budget_allocations_must_beat_the_reference_cost():
    failed = _c("uniform75", "uniform", 1.5, 60.0, tuned=80.0)
    near = _c("near", "allocated", 1.9, 89.0)
    too_slow = _c("too_slow", "allocated", 2.1, 90.0)
    assert next_finalist([failed, near, too_slow], floor=88.0, ceiling_cost=2.0).name == "near"


def test_finetunes_share_the_time_left_and_stay_between_a_tenth_and_the_epoch_cap():
    assert finetune_images(300, 1000.0, 6, 54000, 2) == 50000
    assert finetune_images(1, 1000.0, 6, 54000, 2) == 5400
    assert finetune_images(10 ** 6, 1000.0, 6, 54000, 2) == 108000
    assert finetune_shape(108000, 54000) == {"epochs": 2}
    assert finetune_shape(5400, 54000) == {"epochs": 1, "samples_per_epoch": 5400}


# --- the choice ---------------------------------------------------------------------------------------
def _row(name, rounds, accuracy, candidate="allocated"):
    return Row(name, name, "tflite", latency_ms_p50=float(np.median(rounds)),
               extra={"val_accuracy": accuracy, "latency_ms_rounds": list(rounds), "timing_session": "s",
                      "latency_ms_quiet": float(np.min(rounds)), "candidate": candidate})


def test_a_tie_in_time_goes_to_the_more_accurate_row():
    rng = np.random.default_rng(0)
    fast_lucky = _row("final2", 1.00 + rng.normal(0, 0.05, 60), 88.8)  # 2 % faster, within the rounds' noise
    accurate = _row("final1", 1.02 + rng.normal(0, 0.05, 60), 90.9)
    assert choose([fast_lucky, accurate], 88.0, "p50").name == "final1"


def test_a_real_difference_in_time_still_wins():
    rng = np.random.default_rng(1)
    fast = _row("fast", 0.50 + rng.normal(0, 0.005, 60), 88.5)
    slow = _row("slow", 1.00 + rng.normal(0, 0.005, 60), 90.9)
    assert choose([fast, slow], 88.0, "p50").name == "fast"


def test_a_missing_energy_figure_is_named_not_reported_as_over_budget():
    rows = [Row("base_float32", "b", "tflite", latency_ms_p50=1.0, extra={"val_accuracy": 91.0}),
            Row("alloc1_float32", "a", "tflite", latency_ms_p50=0.5, extra={"val_accuracy": 90.5})]
    assert choose(rows, 90.0, "energy") is None
    text = why(None, rows, rows[0], 91.0, 90.0, 1.0, "energy", "validation")
    assert "no energy per inference was measured" in text and "within the budget" not in text.split("(")[0][-10:]
    over = why(None, rows, rows[0], 95.0, 94.0, 1.0, "p50", "validation")
    assert over.startswith("no row stays within 1 points") and "91.00 %" in over


def test_the_margins_over_the_best_uniform_and_plain_rows_are_recorded():
    rows = [_row("base_float32", [2.0] * 5, 91.0, "plain"), _row("uniform50_float32", [1.0] * 5, 90.5, "uniform"),
            _row("uniform25_float32", [0.5] * 5, 85.0, "uniform"), _row("alloc1_float32", [0.8] * 5, 90.2)]
    found = margins(rows, rows[3], 90.0, "p50")
    assert found["best_uniform"] == "uniform50_float32" and found["margin_over_uniform"] == pytest.approx(1.25)
    assert found["best_plain"] == "base_float32" and found["margin_over_plain"] == pytest.approx(2.5)


# --- the split it chooses on --------------------------------------------------------------------------
def test_a_model_that_trained_on_the_validation_split_is_judged_on_half_the_test_split():
    assert seen_in_training(91.30, 89.97, 6000, 10000)  # fashion_full's base (issue 32)
    assert not seen_in_training(91.97, 91.79, 6000, 10000)  # trained with the split held out
    rng = np.random.default_rng(0)
    ds = Dataset("d", np.zeros((50, 2)), np.zeros(50), rng.normal(size=(1000, 2)), rng.integers(0, 10, 1000), 10,
                 "t", x_val=np.zeros((600, 2)), y_val=np.zeros(600))
    chosen, record = selection_split(ds, 95.0, 88.0, "auto", seed=0)
    assert record["split"] == "test-selection" and "trained on the validation images" in record["why"]
    assert len(chosen.x_val) == 500 and len(chosen.x_test) == 500
    together = np.concatenate([chosen.x_val, chosen.x_test])
    assert len(np.unique(together, axis=0)) == 1000  # disjoint halves of the test split
    again, _ = selection_split(ds, 95.0, 88.0, "auto", seed=0)
    assert np.array_equal(again.x_test, chosen.x_test)  # seeded: a resumed search reports the same images
    kept, record = selection_split(ds, 89.0, 88.8, "auto", seed=0)
    assert record["split"] == "validation" and kept is ds
    assert selection_split(ds, 89.0, 88.8, "test", seed=0)[1]["split"] == "test-selection"


@pytest.mark.parametrize("name", ["allocation", "budget", "choice", "finalists", "plateaus", "selection", "units"])
def test_the_examples_in_the_search_modules_hold(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"edgeopt.run.search.{name}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
