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
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from critic.scoring.records import Label
from critic.scoring.results import ScoreResult

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


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks (None if undefined)."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of one length")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    try:
        return statistics.correlation(rx, ry)
    except statistics.StatisticsError:  # a constant sequence has no rank order
        return None


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two pass/fail ratings (None if empty or chance agreement is total)."""
    if len(a) != len(b):
        raise ValueError("kappa needs two sequences of one length")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    if chance == 1:
        return None
    return (observed - chance) / (1 - chance)


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


class TargetAgreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    accuracy: float | None
    kappa: float | None


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


def summarize(results: Sequence[ScoreResult], *, threshold: float = 0.5) -> Summary:
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
        agreement.append(Agreement(
            roles=(a, b), n=len(pairs), spearman=spearman(xs, ys),
            kappa=cohen_kappa([x >= threshold for x in xs], [y >= threshold for y in ys]),
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
        )
    return Summary(
        records=len(results), failed_records=sum(r.failed for r in results), threshold=threshold,
        roles=roles, verdicts=dict(sorted(Counter(r.verdict.decision for r in results).items())),
        agreement=agreement, judge_vs_target=judge_vs_target,
    )
