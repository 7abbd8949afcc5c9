"""Threshold sweeps, and cross-validation that never reports on the data it tuned on."""

from __future__ import annotations

import doctest
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critic.errors import StatisticsError
from critic.experiments import thresholds
from critic.experiments.thresholds import cross_validated_threshold, threshold_sweep


def test_module_examples_hold() -> None:
    assert doctest.testmod(thresholds).failed == 0


def test_sweep_lists_every_distinct_call_with_its_counts() -> None:
    scores = [0.2, 0.4, 0.4, 0.7, 0.9]
    labels = [False, True, False, True, True]
    points = threshold_sweep(scores, labels)
    assert [p.threshold for p in points[:4]] == [0.2, pytest.approx(0.3), pytest.approx(0.55), 0.8]
    assert points[-1].threshold > 0.9
    assert [(p.true_positives, p.false_positives, p.true_negatives, p.false_negatives)
            for p in points] == [(3, 2, 0, 0), (3, 1, 1, 0), (2, 0, 2, 1), (1, 0, 2, 2), (0, 0, 2, 3)]
    assert [p.accuracy for p in points] == [0.6, 0.8, 0.8, 0.6, 0.4]
    assert points[0].true_positive_rate == 1.0 and points[-1].false_positive_rate == 0.0


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.integers(-4, 4), st.booleans()), min_size=1, max_size=30))
def test_each_point_counts_what_its_threshold_calls(rows: list[tuple[int, bool]]) -> None:
    scores, labels = [s for s, _ in rows], [y for _, y in rows]
    points = threshold_sweep(scores, labels)
    assert len(points) == len(set(scores)) + 1
    for point in points:
        called = [s >= point.threshold for s in scores]
        assert point.true_positives == sum(c and y for c, y in zip(called, labels, strict=True))
        assert point.false_positives == sum(c and not y for c, y in zip(called, labels, strict=True))
        assert point.total == len(rows)


def _noise(n: int, seed: int) -> tuple[list[float], list[bool]]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)], [rng.random() < 0.5 for _ in range(n)]


def test_folds_partition_the_data_and_keep_the_class_balance() -> None:
    scores, labels = _noise(103, seed=1)
    result = cross_validated_threshold(scores, labels, seed=3, folds=5)
    held = sorted(i for fold in result.folds for i in fold.held_out)
    assert held == list(range(103))
    positives = [sum(labels[i] for i in f.held_out) for f in result.folds]
    sizes = [len(f.held_out) for f in result.folds]
    assert max(positives) - min(positives) <= 1 and max(sizes) - min(sizes) <= 1


def test_each_fold_is_scored_with_a_threshold_chosen_without_it() -> None:
    scores, labels = _noise(80, seed=2)
    result = cross_validated_threshold(scores, labels, seed=0, folds=4)
    for fold in result.folds:
        train = [i for i in range(80) if i not in fold.held_out]
        sweep = threshold_sweep([scores[i] for i in train], [labels[i] for i in train])
        best = max(p.accuracy for p in sweep)
        assert fold.threshold == min(p.threshold for p in sweep if p.accuracy == best)
        assert fold.correct == sum((scores[i] >= fold.threshold) == labels[i] for i in fold.held_out)
    assert result.accuracy.estimate == sum(f.correct for f in result.folds) / 80


def test_cross_validation_does_not_report_the_optimism_of_tuning() -> None:
    # Scores unrelated to labels: the best in-sample threshold looks better than
    # chance, held-out accuracy stays at chance.
    scores, labels = _noise(300, seed=5)
    result = cross_validated_threshold(scores, labels, seed=5)
    assert result.in_sample_accuracy > 0.55
    assert result.accuracy.estimate < result.in_sample_accuracy
    assert 0.5 in result.accuracy


def test_separable_scores_are_called_perfectly_out_of_sample() -> None:
    rng = random.Random(8)
    labels = [rng.random() < 0.4 for _ in range(60)]
    scores = [rng.uniform(0.6, 1.0) if y else rng.uniform(0.0, 0.4) for y in labels]
    result = cross_validated_threshold(scores, labels, seed=1)
    assert result.accuracy.estimate == 1.0 and result.in_sample_accuracy == 1.0
    assert 0.4 < result.threshold <= 0.6 + 1e-9


def test_same_seed_same_folds() -> None:
    scores, labels = _noise(50, seed=9)
    assert (cross_validated_threshold(scores, labels, seed=4)
            == cross_validated_threshold(scores, labels, seed=4))
    assert (cross_validated_threshold(scores, labels, seed=4).folds
            != cross_validated_threshold(scores, labels, seed=5).folds)


def test_bad_folds_are_rejected() -> None:
    with pytest.raises(StatisticsError, match="folds: must be at least 2"):
        cross_validated_threshold([0.1, 0.2], [0, 1], seed=0, folds=1)
    with pytest.raises(StatisticsError, match="folds: 5 folds need at least 5 observations, got 3"):
        cross_validated_threshold([0.1, 0.2, 0.3], [0, 1, 1], seed=0)
    with pytest.raises(StatisticsError, match="scores: no observations"):
        threshold_sweep([], [])
