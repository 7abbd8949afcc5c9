"""The per-round drift model: how often a good draft goes bad, and a bad one comes back.

A draft is *good* when the hidden oracle passes it. Between consecutive rounds
of a session each draft makes one of four transitions: good→good, good→bad,
bad→good, bad→bad. The model behind the project's motivation is a two-state
Markov chain with a constant per-round drift rate ``e = P(good→bad)`` and
recovery rate ``r = P(bad→good)``: without recovery a good draft survives ``n``
rounds with probability ``(1-e)^n``; with it the good share tends to
``r / (e + r)``.

:func:`fit_decay` estimates ``e`` and ``r`` (pooled over rounds, with Wilson
intervals) and tests whether one ``e`` fits every round: a chi-square test of
homogeneity of the good→bad rate across rounds. That test is the usual
large-sample approximation (the statistic's tail is computed exactly for its
degrees of freedom, but the statistic is only chi-square distributed
asymptotically); ``Homogeneity.min_expected`` below 5 means it should be read
with care.

    >>> fit = fit_decay(count_transitions([[True, True, False], [True, False, False]]))
    >>> fit.drift.estimate, fit.drift.n
    (0.6666666666666666, 3)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from critic.errors import StatisticsError
from critic.experiments._checks import check_level
from critic.experiments.statistics import Interval, chi_square_sf, proportion_ci


class RoundTransitions(BaseModel):
    """How the drafts of round ``round - 1`` turned out in round ``round``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: int = Field(ge=1)
    good_good: int = Field(default=0, ge=0)
    good_bad: int = Field(default=0, ge=0)
    bad_good: int = Field(default=0, ge=0)
    bad_bad: int = Field(default=0, ge=0)

    @property
    def good(self) -> int:
        """Good drafts going into this round."""
        return self.good_good + self.good_bad

    @property
    def bad(self) -> int:
        """Bad drafts going into this round."""
        return self.bad_good + self.bad_bad


def count_transitions(paths: Sequence[Sequence[bool]], *, first_round: int = 1) -> list[RoundTransitions]:
    """Per-round transition counts from each item's good/bad states, round by round.

    ``paths[k][i]`` is whether item ``k``'s draft of round ``first_round + i``
    was good. Paths may differ in length (a session that stopped early simply
    contributes to fewer rounds).
    """
    if not paths:
        raise StatisticsError("paths: no items")
    longest = max(len(p) for p in paths)
    if longest < 2:
        raise StatisticsError("paths: no item has two rounds, so there is no transition")
    counts = [[0, 0, 0, 0] for _ in range(longest - 1)]  # gg, gb, bg, bb
    for path in paths:
        for i, (before, after) in enumerate(itertools.pairwise(path)):
            counts[i][(0 if before else 2) + (0 if after else 1)] += 1
    return [RoundTransitions(round=first_round + i + 1, good_good=c[0], good_bad=c[1],
                             bad_good=c[2], bad_bad=c[3]) for i, c in enumerate(counts)]


class RoundRates(BaseModel):
    """One round's drift and recovery rates; None when no draft could make that move."""

    model_config = ConfigDict(frozen=True)

    round: int
    drift: Interval | None
    """good→bad among good drafts."""
    recovery: Interval | None
    """bad→good among bad drafts."""


def _checked(transitions: Sequence[RoundTransitions]) -> list[RoundTransitions]:
    if not transitions:
        raise StatisticsError("transitions: no rounds")
    rounds = [t.round for t in transitions]
    if len(set(rounds)) != len(rounds):
        raise StatisticsError(f"transitions: round numbers repeat ({rounds})")
    return sorted(transitions, key=lambda t: t.round)


def transition_rates(transitions: Sequence[RoundTransitions], *,
                     level: float = 0.95) -> list[RoundRates]:
    """Drift and recovery rates round by round, each with a Wilson interval."""
    check_level(level)
    return [
        RoundRates(
            round=t.round,
            drift=proportion_ci(t.good_bad, t.good, level) if t.good else None,
            recovery=proportion_ci(t.bad_good, t.bad, level) if t.bad else None,
        )
        for t in _checked(transitions)
    ]


class Homogeneity(BaseModel):
    """Chi-square test that the good→bad rate is the same in every round."""

    model_config = ConfigDict(frozen=True)

    statistic: float
    dof: int
    p_value: float
    """Small: the drift rate changes across rounds, so one constant ``e`` fits badly."""
    rounds: int
    """Rounds with at least one good draft (the ones tested)."""
    min_expected: float
    """Smallest expected cell count; below 5 the chi-square approximation is rough."""


def homogeneity_test(transitions: Sequence[RoundTransitions]) -> Homogeneity | None:
    """Pearson's chi-square on the rounds x {good→good, good→bad} table.

    None when fewer than two rounds had good drafts (nothing to compare).
    """
    table = [(t.good_good, t.good_bad) for t in _checked(transitions) if t.good]
    if len(table) < 2:
        return None
    total = sum(g + b for g, b in table)
    column = (sum(g for g, _ in table), sum(b for _, b in table))
    expected = [[(g + b) * column[j] / total for j in range(2)] for g, b in table]
    min_expected = min(min(row) for row in expected)
    if 0 in column:  # every round at rate 0 (or 1): identical rates, no evidence of change
        return Homogeneity(statistic=0.0, dof=len(table) - 1, p_value=1.0, rounds=len(table),
                           min_expected=min_expected)
    statistic = sum((observed - e) ** 2 / e
                    for row, erow in zip(table, expected, strict=True)
                    for observed, e in zip(row, erow, strict=True))
    dof = len(table) - 1
    return Homogeneity(statistic=statistic, dof=dof, p_value=chi_square_sf(statistic, dof),
                       rounds=len(table), min_expected=min_expected)


class DecayFit(BaseModel):
    """Pooled drift and recovery rates, their per-round values, and how well one ``e`` fits."""

    model_config = ConfigDict(frozen=True)

    drift: Interval
    """``e``: good→bad over all good drafts of all rounds."""
    recovery: Interval | None
    """``r``: bad→good over all bad drafts (None if no draft was ever bad)."""
    homogeneity: Homogeneity | None
    rounds: tuple[RoundRates, ...]

    def predicted_good_share(self, n: int, *, start: float = 1.0) -> float:
        """The good share after ``n`` rounds under the fitted ``e`` and ``r``."""
        recovery = self.recovery.estimate if self.recovery is not None else 0.0
        return predicted_good_share(self.drift.estimate, n, recovery=recovery, start=start)


def fit_decay(transitions: Sequence[RoundTransitions], *, level: float = 0.95) -> DecayFit:
    """Estimate the constant-rate drift model from per-round transition counts."""
    check_level(level)
    ordered = _checked(transitions)
    good = sum(t.good for t in ordered)
    bad = sum(t.bad for t in ordered)
    if good == 0:
        raise StatisticsError("transitions: no good draft in any round, so no drift rate")
    return DecayFit(
        drift=proportion_ci(sum(t.good_bad for t in ordered), good, level),
        recovery=proportion_ci(sum(t.bad_good for t in ordered), bad, level) if bad else None,
        homogeneity=homogeneity_test(ordered),
        rounds=tuple(transition_rates(ordered, level=level)),
    )


def predicted_good_share(e: float, n: int, *, recovery: float = 0.0, start: float = 1.0) -> float:
    """The share of good drafts after ``n`` rounds, from ``start`` good at round 0.

    With no recovery this is ``start * (1-e)^n`` (the motivating decay); with
    recovery ``r`` the chain's closed form
    ``r/(e+r) + (start - r/(e+r)) * (1-e-r)^n``.
    """
    for name, value in (("e", e), ("recovery", recovery), ("start", start)):
        if not 0.0 <= value <= 1.0:
            raise StatisticsError(f"{name}: must lie in [0, 1], got {value}")
    if n < 0:
        raise StatisticsError(f"n: must not be negative, got {n}")
    if e + recovery == 0:
        return start
    steady = recovery / (e + recovery)
    return steady + (start - steady) * (1 - e - recovery) ** n
