"""Known-truth checks of the calibration figures with scripted scores."""

from __future__ import annotations

import random

import pytest

from critic.calibration.metrics import calibrate_preferences, calibrate_scores


def test_a_perfect_critic_has_auroc_one_and_a_tight_interval() -> None:
    passed = [i % 2 == 0 for i in range(60)]
    scores = [0.9 if p else 0.1 for p in passed]
    figures = calibrate_scores(scores, passed, seed=3)
    assert figures.auroc == 1.0
    assert figures.auroc_ci is not None and figures.auroc_ci[0] >= 0.99
    assert figures.accuracy == 1.0 and figures.kappa == 1.0
    assert figures.confusion.model_dump() == {"tp": 30, "fp": 0, "tn": 30, "fn": 0}
    assert figures.threshold is not None and 0.1 < figures.threshold <= 0.9
    assert figures.roc[0] == (0.0, 0.0) and figures.roc[-1] == (1.0, 1.0)
    assert (0.0, 1.0) in figures.roc
    assert figures.spearman is None  # pass/fail labels: no grades to rank against


def test_a_random_critic_has_an_interval_covering_chance() -> None:
    rng = random.Random(11)
    passed = [rng.random() < 0.5 for _ in range(200)]
    scores = [rng.random() for _ in passed]
    figures = calibrate_scores(scores, passed, seed=5)
    assert figures.auroc_ci is not None and figures.auroc_ci[0] < 0.5 < figures.auroc_ci[1]
    assert figures.kappa_ci is not None and figures.kappa_ci[0] < 0.0 < figures.kappa_ci[1]
    assert figures.accuracy_ci is not None and figures.accuracy_ci[0] < 0.5 < figures.accuracy_ci[1]


def test_accuracy_is_held_out_not_tuned_on_the_items_it_reports() -> None:
    # Random scores: a threshold tuned on all items looks better than chance in sample;
    # the held-out figure must not inherit that optimism.
    rng = random.Random(2)
    passed = [rng.random() < 0.5 for _ in range(40)]
    scores = [rng.random() for _ in passed]
    figures = calibrate_scores(scores, passed, seed=1)
    assert figures.in_sample_accuracy is not None and figures.accuracy is not None
    assert figures.accuracy < figures.in_sample_accuracy
    c = figures.confusion
    assert (c.tp + c.tn) / 40 == figures.accuracy


def test_the_same_seed_gives_the_same_report_and_another_seed_other_intervals() -> None:
    rng = random.Random(4)
    passed = [rng.random() < 0.4 for _ in range(50)]
    scores = [min(1.0, max(0.0, (0.7 if p else 0.4) + rng.gauss(0, 0.2))) for p in passed]
    assert calibrate_scores(scores, passed, seed=9) == calibrate_scores(scores, passed, seed=9)
    assert (calibrate_scores(scores, passed, seed=9).auroc_ci
            != calibrate_scores(scores, passed, seed=10).auroc_ci)


def test_graded_labels_give_spearman_with_its_interval() -> None:
    grades = [i / 29 for i in range(30)]
    scores = [g * g for g in grades]  # monotone: rank correlation exactly 1
    figures = calibrate_scores(scores, [g >= 0.5 for g in grades], grades=grades, seed=0)
    assert figures.spearman == pytest.approx(1.0)
    assert figures.spearman_ci is not None and figures.spearman_ci[0] == pytest.approx(1.0)


def test_one_class_only_leaves_auroc_undefined_not_guessed() -> None:
    figures = calibrate_scores([0.2, 0.9, 0.5, 0.7, 0.1], [True] * 5, seed=0)
    assert figures.auroc is None and figures.auroc_ci is None
    assert figures.roc == []  # no failing item: no false positive rate
    assert figures.accuracy is not None


def test_preferences_count_strict_wins_and_half_ties() -> None:
    figures = calibrate_preferences([0.9, 0.5, 0.2, 0.8], [0.1, 0.5, 0.6, 0.3], seed=0)
    assert figures.accuracy == 0.5  # two strict wins of four
    assert figures.auroc == pytest.approx(2.5 / 4)
    assert figures.accuracy_ci is not None and figures.accuracy_ci[0] <= 0.5 <= figures.accuracy_ci[1]
