"""Statistics against hand-computed values, simulations with a known truth, and properties."""

from __future__ import annotations

import doctest
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.errors import CriticError, StatisticsError
from critic.experiments import statistics
from critic.experiments.statistics import (
    accuracy,
    accuracy_ci,
    auroc,
    auroc_ci,
    average_ranks,
    chi_square_sf,
    cohen_kappa,
    cohen_kappa_ci,
    confusion_matrix,
    discordant_pairs,
    mcnemar_exact,
    paired_bootstrap_diff,
    proportion_ci,
    spearman,
    spearman_ci,
)

# No deadline: a property must not fail because the shared machine was busy.
quick = settings(deadline=None, max_examples=200)


def test_module_examples_hold() -> None:
    assert doctest.testmod(statistics).failed == 0


# Wilson intervals published by Newcombe (1998), Statistics in Medicine 17:857, table I.
@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_published_values(successes: int, n: int, low: float, high: float) -> None:
    interval = proportion_ci(successes, n)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert interval.estimate == successes / n and interval.method == "wilson"


def test_wilson_stays_inside_zero_and_one() -> None:
    assert proportion_ci(0, 5).low == 0.0
    assert proportion_ci(5, 5).high == 1.0
    assert proportion_ci(5, 5).low < 1.0


def test_wilson_coverage_is_near_nominal() -> None:
    rng = random.Random(20240601)
    truth, n, repetitions = 0.3, 50, 400
    covered = 0
    for _ in range(repetitions):
        successes = sum(rng.random() < truth for _ in range(n))
        covered += truth in proportion_ci(successes, n)
    assert 0.90 <= covered / repetitions <= 0.99


def _paired_sample(rng: random.Random, items: int, seeds: int) -> tuple[list[int], list[int], list[int]]:
    """Items with their own difficulty and their own effect of the treatment (mean +0.1)."""
    a, b, ids = [], [], []
    for item in range(items):
        difficulty = rng.uniform(0.3, 0.5)
        effect = rng.choice((-0.3, 0.5))
        for _ in range(seeds):
            a.append(int(rng.random() < difficulty))
            b.append(int(rng.random() < difficulty + effect))
            ids.append(item)
    return a, b, ids


def test_paired_bootstrap_coverage_is_near_nominal() -> None:
    rng = random.Random(7)
    covered = 0
    repetitions = 200
    for repetition in range(repetitions):
        a, b, _ = _paired_sample(rng, items=60, seeds=1)
        interval = paired_bootstrap_diff(a, b, seed=repetition, n_resamples=300)
        covered += 0.1 in interval
    assert 0.90 <= covered / repetitions <= 0.99


def test_clustered_bootstrap_covers_where_resampling_runs_would_not() -> None:
    # Eight seeds per item and an effect that varies by item: resampling single
    # runs treats 8x the evidence as independent, so its interval is too narrow.
    rng = random.Random(11)
    clustered = naive = 0
    repetitions = 150
    for repetition in range(repetitions):
        a, b, ids = _paired_sample(rng, items=30, seeds=8)
        clustered += 0.1 in paired_bootstrap_diff(a, b, seed=repetition, items=ids, n_resamples=300)
        naive += 0.1 in paired_bootstrap_diff(a, b, seed=repetition, n_resamples=300)
    assert 0.90 <= clustered / repetitions <= 0.99
    assert naive / repetitions < 0.90


def test_paired_bootstrap_is_reproducible_from_its_seed() -> None:
    a, b, ids = _paired_sample(random.Random(3), items=40, seeds=2)
    first = paired_bootstrap_diff(a, b, seed=5, items=ids)
    assert first == paired_bootstrap_diff(a, b, seed=5, items=ids)
    assert first != paired_bootstrap_diff(a, b, seed=6, items=ids)
    assert first.estimate == pytest.approx((sum(b) - sum(a)) / len(a))
    assert first.resamples == 2000 and first.n == 80
    assert first.low <= first.estimate <= first.high


def test_paired_bootstrap_of_identical_conditions_is_zero() -> None:
    interval = paired_bootstrap_diff([1, 0, 1, 1], [1, 0, 1, 1], seed=0)
    assert (interval.low, interval.estimate, interval.high) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(("fixed", "broken", "p"), [
    (0, 0, 1.0),
    (1, 0, 1.0),           # 2 * 1/2
    (5, 0, 0.0625),        # 2 * 1/32
    (0, 5, 0.0625),
    (10, 2, 0.03857421875),  # 2 * (1 + 12 + 66) / 4096
    (3, 3, 1.0),           # 2 * 42/64, capped
    (6, 1, 0.125),         # 2 * (1 + 7) / 128
])
def test_mcnemar_exact_matches_hand_computed_values(fixed: int, broken: int, p: float) -> None:
    assert mcnemar_exact(fixed, broken) == p


def test_mcnemar_counts_only_discordant_pairs() -> None:
    pairs = discordant_pairs([1, 1, 0, 0, 0, 1], [1, 0, 1, 1, 0, 1])
    assert (pairs.fixed, pairs.broken) == (2, 1)


def test_auroc_extremes_and_ties() -> None:
    labels = [False, False, True, True]
    assert auroc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], labels) == 0.5
    # scikit-learn's roc_auc_score example.
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # One positive tied with one of two negatives: (1/2 + 1) / 2.
    assert auroc([0.5, 0.5, 0.2], [1, 0, 0]) == 0.75


def _pairwise_auroc(scores: list[int], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


scored = st.lists(st.tuples(st.integers(-5, 5), st.booleans()), min_size=2, max_size=40).filter(
    lambda rows: len({y for _, y in rows}) == 2)


@quick
@given(scored)
def test_auroc_is_the_pairwise_win_rate(rows: list[tuple[int, bool]]) -> None:
    scores, labels = [s for s, _ in rows], [y for _, y in rows]
    assert auroc(scores, labels) == pytest.approx(_pairwise_auroc(scores, labels))


@quick
@given(scored)
def test_auroc_of_negated_scores_is_the_complement(rows: list[tuple[int, bool]]) -> None:
    scores, labels = [s for s, _ in rows], [y for _, y in rows]
    assert auroc(scores, labels) + auroc([-s for s in scores], labels) == pytest.approx(1.0)
    assert auroc(scores, [not y for y in labels]) == pytest.approx(1 - auroc(scores, labels))


def test_auroc_ci_keeps_both_classes_in_every_resample() -> None:
    # One positive among nine: an unstratified resample would often lack it.
    scores = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.95, 0.05]
    labels = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    interval = auroc_ci(scores, labels, seed=1, n_resamples=500)
    assert interval.resamples == 500 and interval.method == "stratified-bootstrap"
    assert interval.estimate == auroc(scores, labels) == 8 / 9
    # Only the negatives vary: 7 or 8 of 9 below the positive's 0.9 most of the time.
    assert interval.low < interval.estimate <= interval.high == 1.0


def test_auroc_ci_coverage_is_near_nominal() -> None:
    # Binormal scores, positives shifted by d: the true AUROC is Phi(d / sqrt 2).
    shift = 1.0
    truth = 0.5 * math.erfc(-shift / 2)
    rng = random.Random(99)
    covered, repetitions = 0, 120
    for repetition in range(repetitions):
        positives = [rng.gauss(shift, 1) for _ in range(30)]
        negatives = [rng.gauss(0, 1) for _ in range(30)]
        interval = auroc_ci(positives + negatives, [1] * 30 + [0] * 30, seed=repetition,
                            n_resamples=200)
        covered += truth in interval
    assert 0.88 <= covered / repetitions <= 0.99


def test_kappa_matches_the_textbook_example() -> None:
    # 50 proposals: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po 0.7, pe 0.5.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0
    assert accuracy(a, b) == 0.7


def test_kappa_of_two_constant_raters_is_undefined() -> None:
    with pytest.raises(StatisticsError, match="kappa is undefined"):
        cohen_kappa(["pass"] * 4, ["pass"] * 4)


def test_kappa_ci_leaves_out_undefined_resamples() -> None:
    # Mostly one label: some resamples see only "pass" from both raters.
    a = ["pass"] * 6 + ["fail"]
    b = ["pass"] * 6 + ["fail"]
    interval = cohen_kappa_ci(a, b, seed=0, n_resamples=400)
    assert interval.resamples is not None and 0 < interval.resamples < 400
    assert interval.low == interval.high == 1.0


def test_spearman_matches_the_scipy_example() -> None:
    # Ranks of y with a tie: 1, 2, 3.5, 5, 3.5 -> 8 / sqrt(95).
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert spearman([1, 2, 3], [30, 20, 10]) == -1.0
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


@quick
@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=3, max_size=30).filter(
    lambda rows: len({x for x, _ in rows}) > 1 and len({y for _, y in rows}) > 1))
def test_spearman_ignores_monotone_rescaling(rows: list[tuple[int, int]]) -> None:
    x, y = [p for p, _ in rows], [q for _, q in rows]
    assert spearman([math.exp(v) for v in x], [3 * v + 1 for v in y]) == pytest.approx(spearman(x, y))
    assert spearman(x, [-v for v in y]) == pytest.approx(-spearman(x, y))


def test_bootstrap_variants_are_seeded_and_bracket_their_estimate() -> None:
    rng = random.Random(4)
    x = [rng.random() for _ in range(40)]
    y = [v + rng.gauss(0, 0.3) for v in x]
    first = spearman_ci(x, y, seed=2, n_resamples=300)
    assert first == spearman_ci(x, y, seed=2, n_resamples=300)
    assert first.low < first.estimate < first.high
    labels = [v > 0.5 for v in x]
    calls = [v > 0.5 for v in y]
    acc = accuracy_ci(labels, calls, seed=2, n_resamples=300)
    assert acc.estimate == accuracy(labels, calls)
    assert acc.low <= acc.estimate <= acc.high < 1.0
    kappa = cohen_kappa_ci(labels, calls, seed=2, n_resamples=300)
    assert kappa.low < kappa.estimate < kappa.high


def test_confusion_matrix_counts_each_pair() -> None:
    matrix = confusion_matrix(["pass", "pass", "fail", "fail", "fail"],
                              ["pass", "fail", "fail", "fail", "pass"])
    assert matrix.labels == ("pass", "fail")
    assert matrix.counts == ((1, 1), (1, 2))
    assert matrix.count("fail", "pass") == 1 and matrix.total == 5
    assert matrix.agreement == 0.6
    ordered = confusion_matrix([True, False], [True, True], labels=[False, True])
    assert ordered.labels == ("False", "True") and ordered.counts == ((0, 1), (0, 1))
    with pytest.raises(StatisticsError, match="observation 1: label 'maybe'"):
        confusion_matrix(["pass", "fail"], ["pass", "maybe"], labels=["pass", "fail"])


@pytest.mark.parametrize(("statistic", "dof"), [
    (3.841458820694124, 1), (5.991464547107979, 2), (7.814727903251178, 3),
    (11.070497693516351, 5), (18.307038053275146, 10), (43.77297182574219, 30),
])
def test_chi_square_tail_at_published_critical_values(statistic: float, dof: int) -> None:
    assert chi_square_sf(statistic, dof) == pytest.approx(0.05, abs=1e-12)


@quick
@given(st.floats(0, 500), st.integers(1, 40))
def test_chi_square_tail_is_a_probability_that_falls_with_x_and_rises_with_dof(
        x: float, dof: int) -> None:
    p = chi_square_sf(x, dof)
    assert 0.0 <= p <= 1.0
    # Up to rounding: near 1 the sum of terms lands within an ulp or two of it.
    assert chi_square_sf(x + 1, dof) <= p + 1e-12
    assert p <= chi_square_sf(x, dof + 1) + 1e-12
    if dof == 2:
        assert p == pytest.approx(math.exp(-x / 2))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: proportion_ci(3, 0), "n: must be positive"),
    (lambda: proportion_ci(4, 3), "successes: must lie in 0..3"),
    (lambda: proportion_ci(1, 3, level=1.0), "level: must lie strictly between 0 and 1"),
    (lambda: paired_bootstrap_diff([], [], seed=0), "a: no observations"),
    (lambda: paired_bootstrap_diff([1, 0], [1], seed=0), r"a and b: lengths differ \(2 vs 1\)"),
    (lambda: paired_bootstrap_diff([1, 0], [1, 1], seed=0, items=["x"]), "items: 1 ids for 2"),
    (lambda: paired_bootstrap_diff([1], [1], seed=0, n_resamples=0), "n_resamples"),
    (lambda: auroc([0.1, float("nan")], [0, 1]), r"scores\[1\]: not a finite number"),
    (lambda: auroc([0.1, 0.2], [1, 1]), "at least one positive and one negative"),
    (lambda: auroc([0.1, 0.2], [1, 2]), r"labels\[1\]: must be True/False"),
    (lambda: auroc(["x", 0.2], [1, 0]), r"scores\[0\]: not a number \('x'\)"),  # type: ignore[list-item]
    (lambda: spearman([1, 1], [1, 2]), "spearman is undefined"),
    (lambda: mcnemar_exact(-1, 2), "counts must not be negative"),
    (lambda: chi_square_sf(1.0, 0), "dof: must be a positive whole number"),
])
def test_bad_input_raises_one_clear_error(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(StatisticsError, match=message) as caught:
        call()
    assert isinstance(caught.value, CriticError) and isinstance(caught.value, ValueError)
