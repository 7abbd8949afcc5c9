"""What to report about a scored file: score statistics, verdicts and agreement.

Everything is computed with the standard library:

* per role: count scored, mean, median, sample standard deviation, failures
  (critiques whose status is not ``ok``);
* verdict counts;
* for each pair of roles, over the records both scored: Spearman's rank
  correlation (ties get the average of their ranks; None when fewer than two
  records or a role gave every record the same score) and Cohen's kappa of
  pass/fail, where a score passes when it is ``>= threshold``;
* when records carry a ``target`` label, the judge's accuracy and kappa
  against it. Labels map to pass/fail as: ``true``, ``1``, and the strings
  ``accept``, ``pass``, ``yes``, ``true``, ``correct``, ``1`` (any case) are
  *pass*; ``false``, ``0``, and ``discard``, ``reject``, ``fail``, ``no``,
  ``false``, ``incorrect``, ``0`` are *fail*. Any other target (a reference
  answer) is not a label and is left out. The judge predicts *pass* when it
  accepts.

Spearman, kappa and accuracy come with a seeded percentile bootstrap 95 %
interval (``*_ci``, None where undefined), computed by the same code as
``critic calibrate``'s (:mod:`critic.experiments.statistics`).
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from critic.errors import StatisticsError
from critic.experiments import statistics as shared
from critic.experiments.statistics import average_ranks
from critic.scoring.records import Label
from critic.scoring.results import ScoreResult

__all__ = ["Agreement", "RoleStats", "Summary", "TargetAgreement", "average_ranks", "cohen_kappa",
           "label_of", "spearman", "summarize"]

T = TypeVar("T")
_PASS = {"accept", "pass", "yes", "true", "correct", "1"}
_FAIL = {"discard", "reject", "fail", "no", "false", "incorrect", "0"}


def label_of(target: Label | None) -> bool | None:
    """A target as pass (True) / fail (False), or None when it is not a label."""
    if isinstance(target, bool):
        return target
    if isinstance(target, int | float):
        return True if target == 1 else False if target == 0 else None
    if isinstance(target, str):
        word = target.strip().lower()
        return True if word in _PASS else False if word in _FAIL else None
    return None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks (None if undefined)."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of one length")
    if len(x) < 2:
        return None
    return _defined(lambda: shared.spearman(x, y))


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two pass/fail ratings (None if empty or chance agreement is total)."""
    if len(a) != len(b):
        raise ValueError("kappa needs two sequences of one length")
    if not a:
        return None
    return _defined(lambda: shared.cohen_kappa(a, b))


def _defined(compute: Callable[[], T]) -> T | None:
    """The statistic, or None where the data leave it undefined (a constant side, too few)."""
    try:
        return compute()
    except StatisticsError:
        return None


def _ci(compute: Callable[[], shared.Interval]) -> tuple[float, float] | None:
    interval = _defined(compute)
    return None if interval is None else (interval.low, interval.high)


class RoleStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    scored: int
    failures: int
    mean: float | None
    median: float | None
    stdev: float | None


class Agreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    roles: tuple[str, str]
    n: int
    spearman: float | None
    kappa: float | None
    spearman_ci: tuple[float, float] | None = None
    kappa_ci: tuple[float, float] | None = None


class TargetAgreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    accuracy: float | None
    kappa: float | None
    accuracy_ci: tuple[float, float] | None = None
    kappa_ci: tuple[float, float] | None = None


class Summary(BaseModel):
    """The summary of one output file (``critic summarize --json`` prints this)."""

    model_config = ConfigDict(frozen=True)

    records: int
    failed_records: int
    threshold: float
    roles: dict[str, RoleStats]
    verdicts: dict[str, int]
    agreement: list[Agreement]
    judge_vs_target: TargetAgreement | None


def summarize(results: Sequence[ScoreResult], *, threshold: float = 0.5, seed: int = 0,
              resamples: int = 2000) -> Summary:
    """Statistics of a set of results (see the module docstring for definitions)."""
    names: list[str] = []
    for result in results:
        names.extend(n for n in result.critiques if n not in names)
    roles: dict[str, RoleStats] = {}
    for name in names:
        critiques = [r.critiques[name] for r in results if name in r.critiques]
        scores = [c.score for c in critiques if c.status == "ok" and c.score is not None]
        roles[name] = RoleStats(
            scored=len(scores), failures=sum(c.status != "ok" for c in critiques),
            mean=statistics.fmean(scores) if scores else None,
            median=statistics.median(scores) if scores else None,
            stdev=statistics.stdev(scores) if len(scores) >= 2 else None,
        )
    agreement = []
    for a, b in itertools.combinations(names, 2):
        pairs = [(ca.score, cb.score) for r in results
                 if (ca := r.critiques.get(a)) is not None and (cb := r.critiques.get(b)) is not None
                 and ca.score is not None and cb.score is not None
                 and ca.status == "ok" and cb.status == "ok"]
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        pass_a, pass_b = [x >= threshold for x in xs], [y >= threshold for y in ys]
        agreement.append(Agreement(
            roles=(a, b), n=len(pairs), spearman=spearman(xs, ys),
            kappa=cohen_kappa(pass_a, pass_b),
            spearman_ci=_ci(partial(shared.spearman_ci, xs, ys, seed=seed,
                                    n_resamples=resamples)),
            kappa_ci=_ci(partial(shared.cohen_kappa_ci, pass_a, pass_b, seed=seed,
                                 n_resamples=resamples)),
        ))
    labelled = [(r.verdict.decision == "accept", label) for r in results
                if (label := label_of(r.target)) is not None]
    judge_vs_target = None
    if labelled:
        predicted, truth = [p[0] for p in labelled], [p[1] for p in labelled]
        judge_vs_target = TargetAgreement(
            n=len(labelled),
            accuracy=sum(p == t for p, t in labelled) / len(labelled),
            kappa=cohen_kappa(predicted, truth),
            accuracy_ci=_ci(lambda: shared.accuracy_ci(truth, predicted, seed=seed,
                                                       n_resamples=resamples)),
            kappa_ci=_ci(lambda: shared.cohen_kappa_ci(predicted, truth, seed=seed,
                                                       n_resamples=resamples)),
        )
    return Summary(
        records=len(results), failed_records=sum(r.failed for r in results), threshold=threshold,
        roles=roles, verdicts=dict(sorted(Counter(r.verdict.decision for r in results).items())),
        agreement=agreement, judge_vs_target=judge_vs_target,
    )
