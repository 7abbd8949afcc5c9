"""How well one scorer's scores track the labels: the figures of a calibration report.

For a role (or a judge) with a score in [0, 1] per item, *pass* being the
positive class:

- ``auroc``: P(a passing item outscores a failing one), ties 1/2, with a
  bootstrap interval resampled within each class;
- ``threshold``: the most accurate cut ``score >= threshold`` on all the data
  (the one to use from now on), found by :func:`threshold_sweep`;
- ``accuracy``, ``kappa`` and ``confusion``: of **held-out** calls. Items are
  split into stratified folds; each item is called by the threshold chosen on
  the other folds, so these figures are not inflated by tuning the threshold
  on the items they are reported on (``in_sample_accuracy`` is the optimistic
  figure, for contrast);
- ``spearman``: rank correlation of the score with a graded label (None when
  the labels are pass/fail only).

Every interval is a seeded percentile bootstrap (95 % by default) from
:mod:`critic.experiments.statistics`; a statistic undefined on the data (e.g.
AUROC when every item passes) is None with a None interval, never a guess.
For preference pairs, ``accuracy`` is the share of pairs whose preferred
output scored strictly higher, and ``auroc`` P(preferred scores higher), ties 1/2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from critic.errors import StatisticsError
from critic.experiments.statistics import (
    Interval,
    accuracy_ci,
    auroc_ci,
    cohen_kappa_ci,
    paired_bootstrap_diff,
    spearman_ci,
)
from critic.experiments.thresholds import cross_validated_threshold, threshold_sweep


class Confusion(BaseModel):
    """Held-out calls against the labels (*pass* is positive)."""

    model_config = ConfigDict(frozen=True)

    tp: int
    fp: int
    tn: int
    fn: int


class ScorerCalibration(BaseModel):
    """One role's (or judge's) figures; ``*_ci`` are ``[low, high]``."""

    model_config = ConfigDict(frozen=True)

    n: int
    """Items the figures cover (scored ones)."""
    unscored: int
    """Items this scorer failed to score (left out of every figure)."""
    accuracy: float | None = None
    accuracy_ci: tuple[float, float] | None = None
    kappa: float | None = None
    kappa_ci: tuple[float, float] | None = None
    auroc: float | None = None
    auroc_ci: tuple[float, float] | None = None
    spearman: float | None = None
    spearman_ci: tuple[float, float] | None = None
    confusion: Confusion = Confusion(tp=0, fp=0, tn=0, fn=0)
    roc: list[tuple[float, float]] = []
    """``[false positive rate, true positive rate]`` from the strictest threshold to the loosest."""
    threshold: float | None = None
    in_sample_accuracy: float | None = None
    folds: int | None = None
    sweep: list[dict[str, float | int]] = []
    """Every distinct threshold: ``threshold``, ``tp``, ``fp``, ``tn``, ``fn``, ``accuracy``."""


def _pair(interval: Interval) -> tuple[float, float]:
    return (interval.low, interval.high)


def _or_none(compute: Callable[[], Interval]) -> Interval | None:
    try:
        return compute()
    except StatisticsError:
        return None


def calibrate_scores(scores: Sequence[float], passed: Sequence[bool], *,
                     grades: Sequence[float | None] | None = None, unscored: int = 0,
                     seed: int = 0, folds: int = 5, n_resamples: int = 2000) -> ScorerCalibration:
    """The figures for one scorer (see the module docstring)."""
    n = len(scores)
    if n == 0:
        return ScorerCalibration(n=0, unscored=unscored)
    labels = list(passed)
    figures: dict[str, object] = {"n": n, "unscored": unscored}
    auroc = _or_none(lambda: auroc_ci(scores, labels, seed=seed, n_resamples=n_resamples))
    if auroc is not None:
        figures.update(auroc=auroc.estimate, auroc_ci=_pair(auroc))
    points = threshold_sweep(scores, labels)
    figures["sweep"] = [{"threshold": p.threshold, "tp": p.true_positives,
                         "fp": p.false_positives, "tn": p.true_negatives,
                         "fn": p.false_negatives, "accuracy": p.accuracy} for p in points]
    if len(set(labels)) == 2:
        # Strictest cut first, so the curve runs from (0, 0) to (1, 1).
        figures["roc"] = [(p.false_positive_rate or 0.0, p.true_positive_rate or 0.0)
                          for p in reversed(points)]
    k = min(folds, n)
    if k >= 2:
        cv = cross_validated_threshold(scores, labels, seed=seed, folds=k)
        predicted = [False] * n
        for fold in cv.folds:
            for i in fold.held_out:
                predicted[i] = scores[i] >= fold.threshold
        figures.update(threshold=cv.threshold, in_sample_accuracy=cv.in_sample_accuracy, folds=k)
        accuracy = accuracy_ci(labels, predicted, seed=seed, n_resamples=n_resamples)
        figures.update(accuracy=accuracy.estimate, accuracy_ci=_pair(accuracy))
        kappa = _or_none(lambda: cohen_kappa_ci(labels, predicted, seed=seed,
                                                n_resamples=n_resamples))
        if kappa is not None:
            figures.update(kappa=kappa.estimate, kappa_ci=_pair(kappa))
        figures["confusion"] = Confusion(
            tp=sum(1 for y, p in zip(labels, predicted, strict=True) if y and p),
            fp=sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p),
            tn=sum(1 for y, p in zip(labels, predicted, strict=True) if not y and not p),
            fn=sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p))
    if grades is not None and all(g is not None for g in grades):
        graded = [float(g) for g in grades if g is not None]
        rho = _or_none(lambda: spearman_ci(scores, graded, seed=seed, n_resamples=n_resamples))
        if rho is not None:
            figures.update(spearman=rho.estimate, spearman_ci=_pair(rho))
    return ScorerCalibration.model_validate(figures)


def calibrate_preferences(preferred: Sequence[float], other: Sequence[float], *,
                          unscored: int = 0, seed: int = 0,
                          n_resamples: int = 2000) -> ScorerCalibration:
    """Figures for preference pairs: the preferred output's score against the other's."""
    n = len(preferred)
    if n == 0:
        return ScorerCalibration(n=0, unscored=unscored)
    wins = [1.0 if p > o else 0.0 for p, o in zip(preferred, other, strict=True)]
    ties_half = [1.0 if p > o else 0.5 if p == o else 0.0
                 for p, o in zip(preferred, other, strict=True)]
    # The mean of n outcomes with a bootstrap interval: the paired difference from zero.
    zeros = [0.0] * n
    accuracy = paired_bootstrap_diff(zeros, wins, seed=seed, n_resamples=n_resamples)
    auroc = paired_bootstrap_diff(zeros, ties_half, seed=seed, n_resamples=n_resamples)
    return ScorerCalibration(n=n, unscored=unscored, accuracy=accuracy.estimate,
                             accuracy_ci=_pair(accuracy), auroc=auroc.estimate,
                             auroc_ci=_pair(auroc))
