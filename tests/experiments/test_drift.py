"""The drift model fitted to simulated sessions whose true rates are known."""

from __future__ import annotations

import doctest
import math
import random
from statistics import NormalDist

import pytest

from critic.errors import StatisticsError
from critic.experiments import drift
from critic.experiments.drift import (
    RoundTransitions,
    count_transitions,
    fit_decay,
    homogeneity_test,
    predicted_good_share,
    transition_rates,
)


def _simulate(rng: random.Random, items: int, rounds: int, *, drift_by_round: list[float],
              recovery: float, start: float) -> list[list[bool]]:
    """Each item's good/bad state round by round under the two-state chain."""
    paths = []
    for _ in range(items):
        state = rng.random() < start
        path = [state]
        for step in range(rounds - 1):
            state = rng.random() >= drift_by_round[step] if state else rng.random() < recovery
            path.append(state)
        paths.append(path)
    return paths


def test_module_examples_hold() -> None:
    assert doctest.testmod(drift).failed == 0


def test_fit_recovers_the_true_rates_of_a_simulated_process() -> None:
    paths = _simulate(random.Random(2024), items=2000, rounds=6, drift_by_round=[0.1] * 5,
                      recovery=0.25, start=0.7)
    fit = fit_decay(count_transitions(paths))
    assert abs(fit.drift.estimate - 0.1) <= 0.03
    assert fit.recovery is not None and abs(fit.recovery.estimate - 0.25) <= 0.03
    assert 0.1 in fit.drift and 0.25 in fit.recovery
    assert [r.round for r in fit.rounds] == [2, 3, 4, 5, 6]
    assert fit.homogeneity is not None and fit.homogeneity.dof == 4
    assert fit.homogeneity.min_expected >= 5
    # The fitted chain predicts the good share actually observed in the last round.
    observed = sum(p[-1] for p in paths) / len(paths)
    start = sum(p[0] for p in paths) / len(paths)
    assert fit.predicted_good_share(5, start=start) == pytest.approx(observed, abs=0.03)


def test_homogeneity_test_holds_its_size_when_the_rate_is_constant() -> None:
    rng = random.Random(31)
    repetitions = 200
    rejected = 0
    for _ in range(repetitions):
        paths = _simulate(rng, items=300, rounds=5, drift_by_round=[0.1] * 4, recovery=0.3,
                          start=0.8)
        result = homogeneity_test(count_transitions(paths))
        assert result is not None
        rejected += result.p_value < 0.05
    # Binomial(200, 0.05) lies in 3..19 with probability > 0.999.
    assert 3 <= rejected <= 19


def test_homogeneity_test_detects_a_drift_rate_that_grows() -> None:
    paths = _simulate(random.Random(5), items=2000, rounds=5, drift_by_round=[0.05, 0.1, 0.2, 0.3],
                      recovery=0.3, start=0.9)
    fit = fit_decay(count_transitions(paths))
    assert fit.homogeneity is not None and fit.homogeneity.p_value < 1e-6
    per_round = [r.drift.estimate for r in fit.rounds if r.drift is not None]
    assert per_round == sorted(per_round)


def test_homogeneity_statistic_matches_a_hand_computed_table() -> None:
    # Rounds x (stay good, go bad): (40, 10) and (30, 20); expected (35, 15) in each row.
    table = [RoundTransitions(round=2, good_good=40, good_bad=10),
             RoundTransitions(round=3, good_good=30, good_bad=20)]
    result = homogeneity_test(table)
    assert result is not None
    assert result.statistic == pytest.approx(2 * (25 / 35 + 25 / 15))
    assert result.dof == 1 and result.min_expected == 15
    # One degree of freedom: the chi-square tail is the two-sided normal tail at sqrt(x).
    two_sided = 2 * (1 - NormalDist().cdf(math.sqrt(result.statistic)))
    assert result.p_value == pytest.approx(two_sided, rel=1e-9)
    assert round(result.p_value, 4) == 0.0291


def test_identical_extreme_rates_and_single_rounds() -> None:
    never = [RoundTransitions(round=2, good_good=5), RoundTransitions(round=3, good_good=7)]
    result = homogeneity_test(never)
    assert result is not None and result.p_value == 1.0
    assert homogeneity_test([RoundTransitions(round=2, good_good=5, good_bad=1)]) is None
    # A round without good drafts has no drift rate and is left out of the test.
    rounds = [*never, RoundTransitions(round=4, bad_bad=3)]
    assert transition_rates(rounds)[2].drift is None
    assert fit_decay(rounds).homogeneity.rounds == 2  # type: ignore[union-attr]


def test_transition_counts_follow_ragged_paths() -> None:
    counts = count_transitions([[True, True, False, True], [False, True], [True]])
    assert counts == [
        RoundTransitions(round=2, good_good=1, bad_good=1),
        RoundTransitions(round=3, good_bad=1),
        RoundTransitions(round=4, bad_good=1),
    ]
    rates = transition_rates(counts)
    assert rates[0].drift is not None and rates[0].drift.estimate == 0.0
    assert rates[0].recovery is not None and rates[0].recovery.estimate == 1.0
    assert rates[1].recovery is None


def test_predicted_good_share() -> None:
    assert predicted_good_share(0.1, 0) == 1.0
    assert predicted_good_share(0.1, 3) == pytest.approx(0.9**3)
    assert predicted_good_share(0.2, 5, start=0.5) == pytest.approx(0.5 * 0.8**5)
    # With recovery, the closed form agrees with stepping the chain.
    share = 0.6
    for _ in range(7):
        share = share * (1 - 0.1) + (1 - share) * 0.3
    assert predicted_good_share(0.1, 7, recovery=0.3, start=0.6) == pytest.approx(share)
    assert predicted_good_share(0.1, 500, recovery=0.3) == pytest.approx(0.75)
    assert predicted_good_share(0.0, 9, start=0.4) == 0.4


@pytest.mark.parametrize(("call", "message"), [
    (lambda: predicted_good_share(1.5, 2), r"e: must lie in \[0, 1\]"),
    (lambda: predicted_good_share(0.1, -1), "n: must not be negative"),
    (lambda: fit_decay([]), "transitions: no rounds"),
    (lambda: fit_decay([RoundTransitions(round=2, bad_bad=4)]), "no good draft in any round"),
    (lambda: fit_decay([RoundTransitions(round=2, good_good=1),
                        RoundTransitions(round=2, good_bad=1)]), "round numbers repeat"),
    (lambda: count_transitions([[True], [False]]), "no item has two rounds"),
])
def test_bad_input_raises_one_clear_error(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(StatisticsError, match=message):
        call()
