"""Turning a score into a pass/fail call: every threshold, and one chosen honestly.

A threshold ``t`` calls an observation positive when ``score >= t``.
:func:`threshold_sweep` lists every distinct call the scores allow;
:func:`cross_validated_threshold` picks the best threshold on training folds and
reports accuracy only on the folds it did not see, so the figure is not inflated
by having been tuned on the data it is reported on.

    >>> [p.accuracy for p in threshold_sweep([0.1, 0.9], [False, True])]
    [0.5, 1.0, 0.5]
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from critic.errors import StatisticsError
from critic.experiments._checks import binary, check_same_length, finite
from critic.experiments.statistics import Interval, proportion_ci


class ThresholdPoint(BaseModel):
    """The calls one threshold makes: positive when ``score >= threshold``."""

    model_config = ConfigDict(frozen=True)

    threshold: float
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int

    @property
    def total(self) -> int:
        return (self.true_positives + self.false_positives
                + self.true_negatives + self.false_negatives)

    @property
    def accuracy(self) -> float:
        return (self.true_positives + self.true_negatives) / self.total

    @property
    def true_positive_rate(self) -> float | None:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else None

    @property
    def false_positive_rate(self) -> float | None:
        negatives = self.false_positives + self.true_negatives
        return self.false_positives / negatives if negatives else None


def _between(below: float, above: float) -> float:
    """A cut strictly above ``below`` and at most ``above``: the midpoint, unless rounding
    lands it on ``below`` (adjacent floats)."""
    middle = below / 2 + above / 2
    return middle if below < middle <= above else above


def _sweep(scores: Sequence[float], labels: Sequence[bool]) -> list[ThresholdPoint]:
    distinct = sorted(set(scores))
    positives_at = dict.fromkeys(distinct, 0)
    negatives_at = dict.fromkeys(distinct, 0)
    for score, label in zip(scores, labels, strict=True):
        (positives_at if label else negatives_at)[score] += 1
    positives, negatives = sum(labels), len(labels) - sum(labels)
    # Cuts: the lowest score (everything positive), one between each pair of
    # neighbours (midpoints, so unseen scores fall on the side nearer their
    # neighbours), and just above the highest (everything negative).
    cuts = [distinct[0], *(_between(lo, hi) for lo, hi in itertools.pairwise(distinct)),
            math.nextafter(distinct[-1], math.inf)]
    points = []
    tp, fp = positives, negatives  # called positive at the lowest cut
    for i, cut in enumerate(cuts):
        points.append(ThresholdPoint(threshold=cut, true_positives=tp, false_positives=fp,
                                     true_negatives=negatives - fp, false_negatives=positives - tp))
        if i < len(distinct):  # scores equal to distinct[i] fall below the next cut
            tp -= positives_at[distinct[i]]
            fp -= negatives_at[distinct[i]]
    return points


def threshold_sweep(scores: Sequence[float], labels: Sequence[bool | int]) -> list[ThresholdPoint]:
    """Every distinct classification of ``scores``, lowest threshold first.

    ``len(distinct scores) + 1`` points, from "all positive" to "all negative".
    """
    check_same_length("scores", scores, "labels", labels)
    return _sweep(finite("scores", scores), binary("labels", labels))


def _best(points: list[ThresholdPoint]) -> ThresholdPoint:
    """The most accurate threshold; among equals the lowest (so the choice is deterministic)."""
    return max(points, key=lambda p: (p.accuracy, -p.threshold))


class Fold(BaseModel):
    """One held-out fold: the threshold chosen without it and how it did on it."""

    model_config = ConfigDict(frozen=True)

    held_out: tuple[int, ...]
    """Indices (into the input) of the observations this fold held out."""
    threshold: float
    correct: int


class CrossValidatedThreshold(BaseModel):
    """Held-out accuracy of a threshold tuned on the other folds, pooled over folds."""

    model_config = ConfigDict(frozen=True)

    accuracy: Interval
    """Correct held-out calls over all observations, with a Wilson interval."""
    folds: tuple[Fold, ...]
    threshold: float
    """The best threshold on all the data: the one to use from now on (not what
    ``accuracy`` measured; its in-sample accuracy is ``in_sample_accuracy``)."""
    in_sample_accuracy: float
    """The optimistic figure, for contrast: accuracy of ``threshold`` on the data it was chosen on."""


def _stratified_folds(labels: Sequence[bool], folds: int, seed: int) -> list[list[int]]:
    """Indices dealt round-robin into folds, each class shuffled on its own."""
    rng = random.Random(seed)
    assigned: list[list[int]] = [[] for _ in range(folds)]
    turn = 0
    for wanted in (True, False):
        members = [i for i, y in enumerate(labels) if y is wanted]
        rng.shuffle(members)
        for i in members:
            assigned[turn % folds].append(i)
            turn += 1
    return [sorted(fold) for fold in assigned]


def cross_validated_threshold(scores: Sequence[float], labels: Sequence[bool | int], *,
                              seed: int, folds: int = 5, level: float = 0.95) -> CrossValidatedThreshold:
    """Choose the threshold on ``folds - 1`` folds, count correct calls on the remaining one.

    Folds are stratified (each class shuffled with ``random.Random(seed)`` and
    dealt round-robin), so every fold has about the overall class balance.
    """
    check_same_length("scores", scores, "labels", labels)
    if folds < 2:
        raise StatisticsError(f"folds: must be at least 2, got {folds}")
    values, flags = finite("scores", scores), binary("labels", labels)
    if len(values) < folds:
        raise StatisticsError(f"folds: {folds} folds need at least {folds} observations, "
                              f"got {len(values)}")
    results = []
    for held_out in _stratified_folds(flags, folds, seed):
        outside = set(held_out)
        train = [i for i in range(len(values)) if i not in outside]
        cut = _best(_sweep([values[i] for i in train], [flags[i] for i in train])).threshold
        correct = sum(1 for i in held_out if (values[i] >= cut) == flags[i])
        results.append(Fold(held_out=tuple(held_out), threshold=cut, correct=correct))
    overall = _best(_sweep(values, flags))
    return CrossValidatedThreshold(
        accuracy=proportion_ci(sum(f.correct for f in results), len(values), level),
        folds=tuple(results), threshold=overall.threshold, in_sample_accuracy=overall.accuracy,
    )
