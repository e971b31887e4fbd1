"""Speed ratios of models timed in the same rounds: each model's quiet level, the ratio, its interval.

Models timed together in interleaved rounds (`edgeopt.profile.rounds`) give one figure per model
per round: the slice's fast invoke (its 10th percentile; a preempted invoke lands above it). Every
round holds every model, a few milliseconds apart, so each round sees one state of the machine for
all of them.

On a shared machine a neighbour does not slow every model alike: measured on this project's VM
(AMD EPYC, 2 vCPUs sharing a core), a process spinning on the other vCPU made the float32 base of
fashion_full 40 % slower and left its int8 rows unchanged. Any figure that mixes the disturbed and
undisturbed rounds — the mean, or the median of the per-round ratios — then depends on how many
rounds the neighbour happened to hit, and two profiles disagree (measured: the median of per-round
ratios of 60 rounds differed by up to 7 % between profiles under a neighbour busy half the time).
So each model is summarised by its **quiet level**, the 10th percentile of its per-round figures:
the time it takes when the machine leaves it alone, which every profile samples as long as a tenth
of its rounds are undisturbed (the same profiles agreed within 2 % on it; the lower quartile, which
needs a quarter of the rounds undisturbed, within 5 %). Drift and steps of the whole machine cancel
as before: every model is sampled in every round, so the quiet rounds of each lie in the same
stretches of time.

The speed-up of a model over the baseline is the ratio of their quiet levels; its interval is a
paired bootstrap over rounds (whole rounds resampled, so whatever the models shared in a round stays
together; Kalibera & Jones, "Rigorous benchmarking in reasonable time", ISMM 2013, quantify a change
as a ratio with a bootstrap effect-size interval), with a fixed seed: the same rounds always give the
same interval. Two models differ significantly when the interval of their ratio excludes 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

CONFIDENCE = 0.95
QUIET_QUANTILE = 0.10  # a model's quiet level: this quantile of its per-round figures
RESAMPLES = 2000  # bootstrap resamples of the rounds
SEED = 0  # the bootstrap's seed: the same rounds give the same interval, always
SHOWN_ABOVE = 0.02  # an interval wider than ±2 % of its ratio is worth printing beside it


@dataclass(frozen=True)
class RatioSummary:
    """A ratio of two models' quiet levels and its bootstrap interval.

    Attributes:
        ratio: numerator's quiet level / denominator's.
        low: Lower end of the interval.
        high: Upper end of the interval.
        rounds: Rounds the ratio comes from.
    """

    ratio: float
    low: float
    high: float
    rounds: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes 1: the two times differ beyond the rounds' noise."""
        return self.low > 1.0 or self.high < 1.0

    @property
    def half_width(self) -> float:
        """The larger relative distance from the ratio to an end of the interval (0.03 = ±3 %)."""
        return max(self.ratio / self.low - 1.0, self.high / self.ratio - 1.0)

    @property
    def wide(self) -> bool:
        """True when the interval is wider than ±2 %: then a table shows it."""
        return self.half_width > SHOWN_ABOVE


def quiet_level(per_round: Sequence[float]) -> float:
    """A model's figure when the machine leaves it alone: the 10th percentile of its per-round figures.

    Example:
        >>> quiet_level([1.0, 1.0, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4])  # a neighbour in 9 rounds of 11
        1.0
    """
    return float(np.quantile(np.asarray(per_round, dtype=float), QUIET_QUANTILE))


def ratio_of_rounds(numerator: Sequence[float], denominator: Sequence[float],
                    confidence: float = CONFIDENCE) -> RatioSummary | None:
    """quiet_level(numerator) / quiet_level(denominator), with its paired bootstrap interval over rounds.

    Rounds where either figure is not positive are left out; None when none is left.

    Example:
        >>> s = ratio_of_rounds([2.0, 2.1, 2.0, 3.0, 2.0, 2.0], [1.0, 1.05, 1.0, 1.5, 1.0, 1.0])
        >>> round(s.ratio, 3), s.significant
        (2.0, True)
    """
    if len(numerator) != len(denominator):
        raise ValueError(f"paired ratios need the same rounds: {len(numerator)} vs {len(denominator)}")
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    keep = (a > 0) & (b > 0)
    a, b = a[keep], b[keep]
    n = len(a)
    if n == 0:
        return None
    ratio = float(np.quantile(a, QUIET_QUANTILE) / np.quantile(b, QUIET_QUANTILE))
    picks = np.random.default_rng(SEED).integers(0, n, size=(RESAMPLES, n))  # whole rounds, both models
    resampled = np.quantile(a[picks], QUIET_QUANTILE, axis=1) / np.quantile(b[picks], QUIET_QUANTILE, axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return RatioSummary(ratio, min(float(low), ratio), max(float(high), ratio), n)


def speedup(baseline_rounds_ms: Sequence[float], rounds_ms: Sequence[float]) -> RatioSummary | None:
    """How many times faster a model is than the baseline: their quiet levels' ratio, baseline / model.

    Example:
        >>> speedup([2.0, 2.2, 1.8, 2.0], [1.0, 1.1, 0.9, 1.0]).ratio
        2.0
    """
    return ratio_of_rounds(baseline_rounds_ms, rounds_ms)


def differ(rounds_ms_a: Sequence[float], rounds_ms_b: Sequence[float]) -> bool:
    """True when the two models' times differ significantly (the interval of their ratio excludes 1).

    Example:
        >>> differ([1.0, 1.01, 0.99, 1.0, 1.02, 0.98], [1.0, 0.99, 1.01, 1.0, 0.98, 1.02])
        False
    """
    summary = ratio_of_rounds(rounds_ms_a, rounds_ms_b)
    return summary is not None and summary.significant
