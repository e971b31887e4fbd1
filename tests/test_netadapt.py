"""NetAdapt's decisions, with fake costs and accuracies: deterministic, no timing, no training."""

from __future__ import annotations

from edgeopt.run.search.netadapt import Iteration, Unit, grid_unit, next_iteration

UNITS = [grid_unit("conv1", ["conv1"], 32), grid_unit("conv2", ["conv2"], 64)]


def linear_costs(per_channel: dict[str, float], flat: dict[str, bool] | None = None):
    """Cost = Σ per-channel cost × width, except units that are 'flat' (their width costs nothing:
    an int8 conv whose time does not follow its channels)."""
    flat = flat or {}
    calls = []

    def costs(configurations):
        calls.append(configurations)
        return [(sum(0 if flat.get(u) else per_channel[u] * w for u, w in c.items()) + 1.0, "int8")
                for c in configurations]

    costs.calls = calls
    return costs


def accuracy_losing(per_channel_cut: dict[str, float], start: float = 90.0):
    def accuracy(number, widths, proposals):
        full = {u.name: u.width for u in UNITS}
        return [start - per_channel_cut[p.unit] * (full[p.unit] - p.width) for p in proposals]

    return accuracy


def test_the_grid_is_widest_first_and_stops_at_the_minimum():
    unit = grid_unit("c", ["c"], 64)
    assert unit.step == 4 and unit.minimum == 8
    widths = unit.widths_below(64)
    assert widths[:3] == [60, 56, 52] and widths == sorted(widths, reverse=True)
    assert min(widths) >= 8 and 32 in widths and 16 in widths
    assert unit.widths_below(8) == []


def test_each_unit_proposes_its_widest_width_that_reaches_the_target_and_the_least_lossy_is_kept():
    widths = {"conv1": 32, "conv2": 64}
    costs = linear_costs({"conv1": 0.01, "conv2": 0.01})
    iteration = next_iteration(1, UNITS, widths, costs=costs, accuracy=accuracy_losing({"conv1": 1.0, "conv2": 0.1}),
                               cut=0.05, floor=50.0)
    assert costs.calls[0][0] == widths  # the current configuration is measured in the same batch
    current = 1.0 + 0.01 * 96
    assert abs(iteration.cost_before - current) < 1e-12 and abs(iteration.target - current * 0.95) < 1e-12
    by_unit = {p.unit: p for p in iteration.proposals}
    assert by_unit["conv1"].width == 22 and by_unit["conv2"].width == 52  # widest that reach the target
    assert all(p.cost <= iteration.target for p in iteration.proposals)
    assert iteration.chosen == "conv2" and iteration.kept.width == 52  # conv2 loses 1.2 points, conv1 10


def test_a_unit_whose_width_costs_nothing_proposes_nothing():
    costs = linear_costs({"conv1": 0.01, "conv2": 0.01}, flat={"conv2": True})
    iteration = next_iteration(1, UNITS, {"conv1": 32, "conv2": 64}, costs=costs,
                               accuracy=accuracy_losing({"conv1": 0.1, "conv2": 0.1}), cut=0.05, floor=0.0)
    assert [p.unit for p in iteration.proposals] == ["conv1"]


def test_no_reachable_target_or_every_proposal_below_the_floor_stops_with_a_reason():
    flat = linear_costs({"conv1": 0.01, "conv2": 0.01}, flat={"conv1": True, "conv2": True})
    stuck = next_iteration(3, UNITS, {"conv1": 32, "conv2": 64}, costs=flat, accuracy=accuracy_losing({}),
                           cut=0.1, floor=0.0)
    assert stuck.chosen is None and "no unit reaches the target" in stuck.note
    lossy = next_iteration(3, UNITS, {"conv1": 32, "conv2": 64}, costs=linear_costs({"conv1": 0.01, "conv2": 0.01}),
                           accuracy=accuracy_losing({"conv1": 5.0, "conv2": 5.0}), cut=0.05, floor=80.0)
    assert lossy.chosen is None and "< 80.00 %" in lossy.note


def test_below_the_floor_the_best_proposal_gets_the_final_fine_tune_and_is_kept_if_it_recovers():
    asked = []

    def recover_to(score):
        def recover(number, widths, proposal):
            asked.append((number, dict(widths), proposal.unit, proposal.width))
            return score
        return recover

    common = dict(costs=linear_costs({"conv1": 0.01, "conv2": 0.01}),
                  accuracy=accuracy_losing({"conv1": 1.0, "conv2": 0.5}), cut=0.05, floor=88.0, budget_floor=89.0)
    kept = next_iteration(4, UNITS, {"conv1": 32, "conv2": 64}, recover=recover_to(89.5), **common)
    assert asked == [(4, {"conv1": 32, "conv2": 64}, "conv2", 52)]  # only the best proposal, once
    assert kept.chosen == "conv2" and kept.kept.accuracy == 84.0 and kept.kept.recovered == 89.5
    assert "84.00 % < 88.00 % after the short fine-tune" in kept.note and "89.50 % ≥ 89.00 %" in kept.note
    assert Iteration.from_dict(kept.to_dict()) == kept  # the recovered score lives in the trace

    stopped = next_iteration(4, UNITS, {"conv1": 32, "conv2": 64}, recover=recover_to(88.5), **common)
    assert stopped.chosen is None and "88.50 % < 89.00 % after the final one" in stopped.note

    above = next_iteration(4, UNITS, {"conv1": 32, "conv2": 64}, recover=recover_to(0.0),
                           **{**common, "floor": 80.0})
    assert above.chosen == "conv2" and above.kept.recovered is None and len(asked) == 2  # not asked above the floor


def test_an_iteration_round_trips_through_the_trace():
    iteration = next_iteration(2, UNITS, {"conv1": 32, "conv2": 64}, costs=linear_costs({"conv1": 0.01, "conv2": 0.02}),
                               accuracy=accuracy_losing({"conv1": 0.2, "conv2": 0.1}), cut=0.1, floor=0.0)
    again = Iteration.from_dict(iteration.to_dict())
    assert again == iteration and again.kept == iteration.kept


def test_ties_in_accuracy_go_to_the_cheaper_proposal():
    units = [Unit("a", ("a",), 16, 1, 2), Unit("b", ("b",), 16, 1, 2)]
    costs = linear_costs({"a": 0.02, "b": 0.01})
    iteration = next_iteration(1, units, {"a": 16, "b": 16}, costs=costs,
                               accuracy=lambda n, w, ps: [90.0 for _ in ps], cut=0.05, floor=0.0)
    assert iteration.chosen == min(iteration.proposals, key=lambda p: p.cost).unit


def test_the_choice_is_the_lowest_quiet_level_within_the_budget_and_a_tie_goes_to_the_more_accurate():
    import doctest

    from edgeopt.common.row import Row
    from edgeopt.run.search import choice

    assert doctest.testmod(choice).failed == 0

    def row(name, quiet, val, p50=1.0):
        return Row(name, name, "tflite", latency_ms_p50=p50, extra={"latency_ms_quiet": quiet, "val_accuracy": val})

    rows = [row("ref", 0.10, 91.0), row("fast", 0.04, 89.9), row("tie_low", 0.05, 90.2), row("tie_high", 0.05, 90.6),
            row("p50_lies", 0.06, 91.0, p50=0.01)]
    assert choice.choose(rows, 90.0, "p50").name == "tie_high"  # 'fast' is out of budget; the p50 is not the figure
    assert choice.choose(rows, 92.0, "p50") is None
    text = choice.why(rows[3], rows[0], 91.0, 1.0, "p50")
    assert text.startswith("tie_high: the lowest p50") and "2.00× ref's p50" in text
