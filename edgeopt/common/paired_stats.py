"""Ratios of times measured side by side: the per-round paired ratio, its median and interval.

Models timed together in interleaved rounds (`edgeopt.profile.rounds`) share each round's state of
the machine: a neighbour's busy second, a frequency step, a slow drift. The ratio of two models'
times *within* one round cancels that state; the spread of these per-round ratios is the honest
uncertainty of their speed ratio (Kalibera & Jones, "Rigorous benchmarking in reasonable time",
ISMM 2013: quantify a change as a ratio with an effect-size confidence interval; Google Benchmark's
random interleaving: repetitions of different benchmarks interleaved in random order).

The summary is the median of the per-round ratios with a distribution-free confidence interval
from order statistics (the sign-test interval of a median): no normality assumed, no random
resampling, so the same rounds always give the same interval. Even counts take the geometric mean
of the two middle ratios, so the ratio of B over A is exactly the reciprocal of A over B.
Pure arithmetic on lists of floats: no numpy, no scipy (the device side may not have it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95
SHOWN_ABOVE = 0.02  # an interval wider than ±2 % of its ratio is worth printing beside it


@dataclass(frozen=True)
class RatioSummary:
    """The median of per-round ratios and its confidence interval.

    Attributes:
        median: Median of the per-round ratios.
        low: Lower end of the interval.
        high: Upper end of the interval.
        rounds: Rounds the ratios come from.
        coverage: The interval's exact coverage (≥ `CONFIDENCE` from 6 rounds on; with fewer
            rounds the interval is min–max and covers less).
    """

    median: float
    low: float
    high: float
    rounds: int
    coverage: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes 1: the two times differ beyond the rounds' noise."""
        return self.low > 1.0 or self.high < 1.0

    @property
    def half_width(self) -> float:
        """The larger relative distance from the median to an end of the interval (0.03 = ±3 %)."""
        return max(self.median / self.low - 1.0, self.high / self.median - 1.0)

    @property
    def wide(self) -> bool:
        """True when the interval is wider than ±2 %: then a table shows it."""
        return self.half_width > SHOWN_ABOVE


def per_round_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """numerator[r] / denominator[r] for every round r where both are positive.

    Example:
        >>> per_round_ratios([2.0, 4.0, 3.0], [1.0, 2.0, 1.0])
        [2.0, 2.0, 3.0]
    """
    if len(numerator) != len(denominator):
        raise ValueError(f"paired ratios need the same rounds: {len(numerator)} vs {len(denominator)}")
    return [a / b for a, b in zip(numerator, denominator) if a > 0 and b > 0]


def order_statistic_rank(n: int, confidence: float = CONFIDENCE) -> tuple[int, float]:
    """The 1-based rank k of the interval [x_(k), x_(n+1-k)] around a median of n values, and its coverage.

    k is the largest rank with P(Binomial(n, ½) < k) ≤ (1 − confidence) / 2; at least 1 (min–max).

    Example:
        >>> order_statistic_rank(20)
        (6, 0.9586105346679688)
        >>> order_statistic_rank(4)
        (1, 0.875)
    """
    if n < 1:
        raise ValueError("an interval needs at least one value")
    tail = (1.0 - confidence) / 2
    below, k = 0.0, 0  # below = P(B <= k - 1)
    while k + 1 <= (n + 1) // 2:
        nxt = below + math.comb(n, k) / 2 ** n  # P(B <= k)
        if nxt > tail:
            break
        below, k = nxt, k + 1
    k = max(k, 1)
    below = sum(math.comb(n, i) for i in range(k)) / 2 ** n
    return k, 1.0 - 2 * below


def summarize_ratios(ratios: Sequence[float], confidence: float = CONFIDENCE) -> RatioSummary:
    """Median of per-round ratios with its distribution-free interval.

    Example:
        >>> s = summarize_ratios([1.9, 2.0, 2.0, 2.1, 2.0, 2.0, 1.95])
        >>> s.median, s.low, s.high, s.significant
        (2.0, 1.9, 2.1, True)
    """
    values = sorted(ratios)
    n = len(values)
    if n == 0:
        raise ValueError("no ratio to summarize")
    mid = n // 2
    median = values[mid] if n % 2 else math.sqrt(values[mid - 1] * values[mid])
    k, coverage = order_statistic_rank(n, confidence)
    return RatioSummary(median, values[k - 1], values[n - k], n, coverage)


def speedup(baseline_rounds_ms: Sequence[float], rounds_ms: Sequence[float]) -> RatioSummary | None:
    """How many times faster a model is than the baseline, round by round: baseline[r] / model[r].

    None when no round has both times above zero.

    Example:
        >>> speedup([2.0, 2.2, 1.8], [1.0, 1.1, 0.9]).median
        2.0
    """
    ratios = per_round_ratios(baseline_rounds_ms, rounds_ms)
    return summarize_ratios(ratios) if ratios else None


def differ(rounds_ms_a: Sequence[float], rounds_ms_b: Sequence[float]) -> bool:
    """True when the two models' times differ significantly (the interval of a[r]/b[r] excludes 1).

    Example:
        >>> differ([1.0, 1.01, 0.99, 1.0, 1.02, 0.98], [1.0, 0.99, 1.01, 1.0, 0.98, 1.02])
        False
    """
    ratios = per_round_ratios(rounds_ms_a, rounds_ms_b)
    return bool(ratios) and summarize_ratios(ratios).significant
