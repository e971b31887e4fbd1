"""Interleaved rounds and paired ratios, checked on a deterministic fake clock: no timing flakes.

A `FakeMachine` has a wall clock and a CPU clock in ns that only the fake models' invokes advance:
each invoke costs the model's own time × the machine's slowdown at that moment (a known drift, a
known step) × a seeded jitter; a neighbour's busy phase may slow some models and not others (as a
process on the sibling vCPU slowed fashion_full's float32 base by 40 % and left its int8 rows alone),
and may add time the OS gave to someone else (wall clock only). The real `time_in_rounds`,
`paired_stats` and report code run on it unchanged.
"""

from __future__ import annotations

import random

import pytest

import statistics

from edgeopt.common.paired_stats import differ, quiet_level, ratio_of_rounds, speedup
from edgeopt.common.row import Row
from edgeopt.profile.energy.estimate import ThreadPower
from edgeopt.profile.rounds import time_in_rounds
from edgeopt.profile.together import add_speedups, quiet_cpu_ms
from edgeopt.report.table import best_within_budget, render_table

US = 1_000  # ns


class FakeMachine:
    """Wall and CPU clocks that advance only when a fake model is invoked.

    Args:
        slowdown: The machine's speed factor at wall time t (ns): 1.0 is nominal.
        jitter: Each invoke's cost is multiplied by a seeded uniform factor in [1 - jitter, 1 + jitter].
        stolen: Wall time (ns) the OS gives other processes during an invoke started at t; not CPU time.
    """

    def __init__(self, slowdown=lambda t: 1.0, jitter: float = 0.0, stolen=lambda t, cost: 0, seed: int = 0):
        self.now = self.cpu = 0
        self.last = None
        self.slowdown, self.jitter, self.stolen = slowdown, jitter, stolen
        self.rng = random.Random(seed)

    def clock(self) -> int:
        return self.now

    def cpu_clock(self) -> int:
        return self.cpu

    def model(self, cost_ns: int, neighbour=lambda t: 1.0, ramp: int = 0):
        """A model costing `cost_ns`, slowed by `neighbour(t)` besides the machine's own slowdown,
        and twice as slow for its first `ramp` invokes after another model ran."""
        state = {"streak": 0}

        def invoke() -> None:
            state["streak"] = state["streak"] + 1 if self.last is invoke else 1
            self.last = invoke
            noise = 1 + self.jitter * (2 * self.rng.random() - 1)
            cold = 2.0 if state["streak"] <= ramp else 1.0
            work = int(cost_ns * self.slowdown(self.now) * neighbour(self.now) * noise * cold)
            self.now += work + self.stolen(self.now, work)
            self.cpu += work
        return invoke


def timed(machine: FakeMachine, costs_ns: list, *, rounds: int = 20, runs: int = 200, warmup: int = 20,
          slice_s: float = 0.0005, seed: int = 0):
    """Time fake models (a cost in ns, or (cost, neighbour)) on `machine` with the real rounds."""
    models = [machine.model(*(c if isinstance(c, tuple) else (c,))) for c in costs_ns]
    return time_in_rounds(models, rounds=rounds, runs=runs, warmup=warmup, slice_s=slice_s, seed=seed,
                          clock=machine.clock, cpu_clock=machine.cpu_clock)


def drift_and_step(t: int) -> float:
    """A machine that slows down steadily (2x over 200 ms) and steps to 1.5x slower at 80 ms."""
    return (1 + t / 200e6) * (1.5 if t >= 80e6 else 1.0)


def test_paired_speedup_recovers_the_true_ratio_through_a_known_drift_and_step():
    machine = FakeMachine(drift_and_step)
    base, fast = timed(machine, [60 * US, 20 * US])
    ratio = speedup(base.round_figures_ms(), fast.round_figures_ms())
    # Every round holds both models a moment apart: their quiet rounds lie in the same stretches of time.
    assert ratio.ratio == pytest.approx(3.0, rel=0.02)
    assert ratio.low <= 3.0 * 1.02 and ratio.high >= 3.0 * 0.98 and ratio.high / ratio.low < 1.1
    assert ratio.significant and ratio.rounds == 20


def test_timing_one_model_after_the_other_would_have_carried_the_step():
    """The same machine, each model alone at its own moment: the step lands on the second one."""
    machine = FakeMachine(drift_and_step)
    (base,) = timed(machine, [60 * US], rounds=1, runs=1000, slice_s=0.06)
    (fast,) = timed(machine, [20 * US], rounds=1, runs=1000, slice_s=0.06)
    alone = statistics.median(base.all_samples_ns) / statistics.median(fast.all_samples_ns)
    assert alone < 3.0 * 0.7  # the step and the drift, not the models, decide this ratio


def test_two_equal_models_under_noise_tie_and_a_five_percent_difference_does_not():
    machine = FakeMachine(drift_and_step, jitter=0.05, seed=3)
    a, twin, slower = timed(machine, [40 * US, 40 * US, 42 * US], rounds=30)
    assert not differ(a.round_figures_ms(), twin.round_figures_ms())
    assert differ(slower.round_figures_ms(), a.round_figures_ms())
    tie = ratio_of_rounds(a.round_figures_ms(), twin.round_figures_ms())
    assert tie.low <= 1.0 <= tie.high and not tie.significant


def neighbour_busy(share: float, period_ns: int = 1_400_000_000 // 20, offset_ns: int = 0):
    """A neighbour busy the first `share` of every period (offset), idle the rest: True when busy."""
    return lambda t: ((t + offset_ns) % period_ns) < share * period_ns


def test_a_neighbour_that_slows_one_model_and_not_the_other_leaves_the_speedup_where_it_was():
    """The float32 base 40 % slower while the neighbour runs, the int8 row unaffected (as measured on
    the EPYC VM). Whether the neighbour covers 30, 50 or 70 % of the profile, the speed-up is the
    undisturbed 0.6; the median of the per-round ratios would follow the neighbour's share instead."""
    speedups, medians = [], []
    for share, offset in ((0.3, 0), (0.5, 7_000_000), (0.7, 31_000_000)):
        busy = neighbour_busy(share, offset_ns=offset)
        machine = FakeMachine(jitter=0.02, seed=1)
        base, int8 = timed(machine, [(60 * US, lambda t, busy=busy: 1.4 if busy(t) else 1.0), 100 * US],
                           rounds=60, slice_s=0.0005)
        speedups.append(speedup(base.round_figures_ms(), int8.round_figures_ms()).ratio)
        medians.append(statistics.median(b / r for b, r in zip(base.round_figures_ms(), int8.round_figures_ms())))
    assert speedups == pytest.approx([0.6] * 3, rel=0.02)
    assert medians[0] == pytest.approx(0.6, rel=0.03) and medians[2] == pytest.approx(0.84, rel=0.03)


def test_each_slice_warms_its_model_up_before_timing_it():
    """Like fashion_full's float32 base (150 µs after the other models ran, 71 µs after ~60 invokes)."""
    machine = FakeMachine()
    base, other = timed(machine, [(70 * US, lambda t: 1.0, 60), 50 * US], rounds=10, slice_s=0.005)
    assert speedup(base.round_figures_ms(), other.round_figures_ms()).ratio == pytest.approx(1.4, rel=1e-3)
    short = FakeMachine()
    base, other = timed(short, [(70 * US, lambda t: 1.0, 60), 50 * US], rounds=10, slice_s=0.001)
    assert speedup(base.round_figures_ms(), other.round_figures_ms()).ratio > 2.0  # timed while still cold


def test_every_round_times_every_model_once_in_a_fresh_seeded_order():
    machine = FakeMachine()
    times = timed(machine, [10 * US, 20 * US, 30 * US, 40 * US], rounds=12, seed=7)
    orders = [tuple(sorted(range(4), key=lambda m: times[m].order[r])) for r in range(12)]
    assert all(sorted(t.order[r] for t in times) == [0, 1, 2, 3] for r in range(12))
    assert len(set(orders)) > 6  # fresh orders, not one order repeated
    again = timed(FakeMachine(), [10 * US, 20 * US, 30 * US, 40 * US], rounds=12, seed=7)
    assert [t.order for t in again] == [t.order for t in times]


def test_a_slice_holds_its_share_of_runs_and_lasts_at_least_the_slice_time():
    machine = FakeMachine()
    quick, slow = timed(machine, [10 * US, 2000 * US], rounds=10, runs=100, warmup=0, slice_s=0.001)
    assert all(len(s) == 100 for s in quick.samples_ns)  # 1 ms of 10 µs invokes
    assert all(len(s) == 10 for s in slow.samples_ns)  # ceil(100 / 10), however long that takes
    assert len(quick.all_samples_ns) == 1000


def test_cpu_time_excludes_the_time_the_os_gave_other_processes():
    """In busy phases every invoke waits as long again for a neighbour: wall doubles, CPU does not."""
    busy = lambda t, work: work if (t // 10_000_000) % 2 else 0  # noqa: E731 — busy 10 ms, idle 10 ms
    machine = FakeMachine(stolen=busy)
    base, other = timed(machine, [50 * US, 25 * US], rounds=20, slice_s=0.002)
    assert base.cpu_ms_per_inference() == pytest.approx(0.050, rel=1e-6)
    assert other.cpu_ms_per_inference() == pytest.approx(0.025, rel=1e-6)
    assert quiet_cpu_ms(base.round_figures_ms(), base.cpu_per_wall_rounds(), 1) == pytest.approx(0.050, rel=1e-3)
    assert quiet_cpu_ms(base.round_figures_ms(), base.cpu_per_wall_rounds(), 2) == pytest.approx(0.050, rel=1e-3)
    assert min(base.cpu_per_wall_rounds()) < 0.6  # the busy rounds: half their wall time was someone else's
    wall_mean = sum(base.all_samples_ns) / len(base.all_samples_ns) / 1e6
    assert wall_mean > 0.060  # the wall clock carried the neighbour
    power = ThreadPower(4.0, 4.0, 1, "user", None, 8.0, 2, "")
    assert power.energy_for_cpu_mj(base.cpu_ms_per_inference()) == pytest.approx(4.0 * 0.050)


def test_the_quiet_level_and_the_interval_are_the_same_for_the_same_rounds():
    assert quiet_level([1.0, 1.4, 1.0, 1.4, 1.4, 1.0, 1.4, 1.4, 1.4, 1.4]) == 1.0
    rounds_a, rounds_b = [2.0, 2.1, 1.9, 2.0, 2.6, 2.0], [1.0, 1.0, 1.0, 1.1, 1.3, 0.9]
    first, again = ratio_of_rounds(rounds_a, rounds_b), ratio_of_rounds(rounds_a, rounds_b)
    assert first == again and first.low <= first.ratio <= first.high and first.rounds == 6
    inverse = ratio_of_rounds(rounds_b, rounds_a)
    assert inverse.ratio == pytest.approx(1 / first.ratio, rel=0.05)
    assert ratio_of_rounds([0.0], [1.0]) is None


def rows_from(times, names, accuracies) -> list[Row]:
    rows = []
    for t, name, acc in zip(times, names, accuracies):
        figures = t.round_figures_ms()
        rows.append(Row(name, f"{name}.tflite", "tflite", accuracy=acc, latency_ms_p50=sorted(figures)[len(figures) // 2],
                        extra={"latency_ms_rounds": figures, "timing_session": "s", "rounds": len(figures)}))
    return rows


def test_the_table_shows_wide_intervals_marks_ties_and_the_best_line_names_them():
    machine = FakeMachine(drift_and_step, jitter=0.2, seed=5)
    times = timed(machine, [60 * US, 20 * US, 20 * US, 30 * US], rounds=20)
    rows = rows_from(times, ["base", "fast", "fast_twin", "mid"], [0.90, 0.899, 0.898, 0.90])
    add_speedups(rows, "base")
    assert rows[1].extra["speedup_vs_baseline"] == pytest.approx(3.0, rel=0.05)
    assert rows[0].extra["speedup_vs_baseline"] == 1.0
    table = render_table(rows, "base", budget_points=1.0)
    fast_line = next(line for line in table.splitlines() if line.startswith("fast "))
    twin_line = next(line for line in table.splitlines() if line.startswith("fast_twin"))
    mid_line = next(line for line in table.splitlines() if line.startswith("mid"))
    best = "fast" if "≈" in twin_line else "fast_twin"
    assert "≈" not in mid_line
    assert "(" in fast_line or "(" in twin_line  # ±20 % jitter: an interval wider than ±2 % is shown
    latency = next(line for line in best_within_budget(rows, "base", 1.0) if "Lowest latency" in line or "Fastest" in line)
    assert f"`{best}`" in latency and "ties with" in latency and "95 % CI" in latency


def test_rows_not_timed_together_fall_back_to_p50_ratios_without_marks():
    a = Row("a", "a", "tflite", accuracy=0.9, latency_ms_p50=2.0, extra={"timing_session": "x", "latency_ms_rounds": [2.0]})
    b = Row("b", "b", "tflite", accuracy=0.9, latency_ms_p50=1.0, extra={"timing_session": "y", "latency_ms_rounds": [1.0]})
    table = render_table([a, b], "a", budget_points=1.0)
    assert "2.00×" in table and "≈" not in table
    line = next(line for line in best_within_budget([a, b], "a", 1.0) if "Lowest latency" in line or "Fastest" in line)
    assert "`b` — 2.00× faster" in line and "CI" not in line and "ties" not in line


def test_rows_timed_together_are_ranked_by_the_rounds_and_others_by_p50():
    from edgeopt.report.speed import fastest

    together = {"timing_session": "s"}
    base = Row("base", "b", "tflite", latency_ms_p50=1.0, extra={**together, "latency_ms_rounds": [1.0] * 10})
    # p50 says `noisy` (hit by a neighbour late in its rounds), its quiet rounds say `quick`
    quick = Row("quick", "q", "tflite", latency_ms_p50=0.6, extra={**together, "latency_ms_rounds": [0.5] * 10})
    noisy = Row("noisy", "n", "tflite", latency_ms_p50=0.55,
                extra={**together, "latency_ms_rounds": [0.55] * 5 + [0.8] * 5})
    keras = Row("keras", "k", "keras", latency_ms_p50=3.0)
    assert fastest([base, quick, noisy, keras], base).name == "quick"
    assert fastest([base, keras], base).name == "base"
    assert fastest([keras, Row("k2", "k", "keras", latency_ms_p50=2.0)], keras).name == "k2"


def test_there_are_no_more_rounds_than_timed_invokes_asked_for():
    times = timed(FakeMachine(), [10 * US, 20 * US], rounds=60, runs=5, warmup=0)
    assert [t.rounds for t in times] == [5, 5] and all(len(s) >= 1 for s in times[0].samples_ns)
