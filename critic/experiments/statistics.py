"""Seeded, model-free statistics for experiments, calibration and benchmarks.

Standard library only: the exact binomial comes from :func:`math.comb`, normal
quantiles from :class:`statistics.NormalDist`, and every bootstrap draws from
its own ``random.Random(seed)``, so the same inputs and seed give the same
interval on any machine.

- proportions: :func:`proportion_ci` (Wilson score interval);
- paired conditions: :func:`paired_bootstrap_diff` (items resampled, so several
  seeds of one item stay together) and :func:`mcnemar_exact`;
- discrimination: :func:`auroc`, :func:`auroc_ci` (resampled within each class);
- agreement: :func:`accuracy`, :func:`cohen_kappa`, :func:`spearman`, each with a
  ``*_ci`` bootstrap twin, and :func:`confusion_matrix`;
- the chi-square tail :func:`chi_square_sf`, exact for whole degrees of freedom.

Thresholds live in :mod:`critic.experiments.thresholds`, the drift model in
:mod:`critic.experiments.drift`.

    >>> proportion_ci(8, 10).low > 0.49
    True
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from statistics import NormalDist
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from critic.errors import StatisticsError
from critic.experiments._checks import binary, check_level, check_same_length, finite

T = TypeVar("T", bound=Hashable)
Method = Literal["wilson", "bootstrap", "stratified-bootstrap"]


class Interval(BaseModel):
    """A point estimate with a confidence interval, and how the interval was made."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    level: float
    method: Method
    n: int
    """Observations the estimate is computed from."""
    resamples: int | None = None
    """Bootstrap resamples the interval rests on (those where the statistic was defined)."""

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


class _Undefined(Exception):
    """A statistic with no value on this (re)sample, e.g. kappa when both raters are constant."""


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def proportion_ci(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion.

    Unlike the normal ("Wald") interval it stays inside [0, 1] and keeps close
    to its nominal coverage for small ``n`` and proportions near 0 or 1.
    """
    check_level(level)
    if n <= 0:
        raise StatisticsError(f"n: must be positive, got {n}")
    if not 0 <= successes <= n:
        raise StatisticsError(f"successes: must lie in 0..{n}, got {successes}")
    p = successes / n
    z = _z(level)
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0 or n successes the bound is exact in theory; rounding must not leak past it.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(estimate=p, low=low, high=high, level=level, method="wilson", n=n)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default, Hyndman-Fan 7)."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _percentile_interval(estimate: float, replicates: list[float], *, level: float, n: int,
                         method: Method, requested: int) -> Interval:
    if not replicates:
        raise StatisticsError(f"the statistic was undefined on all {requested} bootstrap resamples")
    replicates.sort()
    alpha = (1 - level) / 2
    return Interval(estimate=estimate, low=_quantile(replicates, alpha),
                    high=_quantile(replicates, 1 - alpha), level=level, method=method, n=n,
                    resamples=len(replicates))


def _check_resamples(n_resamples: int) -> None:
    if n_resamples < 1:
        raise StatisticsError(f"n_resamples: must be at least 1, got {n_resamples}")


def _clusters(n: int, items: Sequence[Hashable] | None) -> list[list[int]]:
    """Observation indices grouped by item, in order of first appearance (one group each if none)."""
    if items is None:
        return [[i] for i in range(n)]
    if len(items) != n:
        raise StatisticsError(f"items: {len(items)} ids for {n} observations")
    groups: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(item, []).append(i)
    return list(groups.values())


def _bootstrap(statistic: Callable[[list[int]], float], clusters: list[list[int]], *,
               seed: int, n_resamples: int) -> list[float]:
    """The statistic on ``n_resamples`` resamples of whole clusters (undefined ones skipped)."""
    rng = random.Random(seed)
    k = len(clusters)
    replicates = []
    for _ in range(n_resamples):
        indices = [i for c in rng.choices(range(k), k=k) for i in clusters[c]]
        try:
            replicates.append(statistic(indices))
        except _Undefined:
            continue
    return replicates


def paired_bootstrap_diff(a: Sequence[float], b: Sequence[float], *, seed: int,
                          items: Sequence[Hashable] | None = None, n_resamples: int = 2000,
                          level: float = 0.95) -> Interval:
    """``mean(b) - mean(a)`` over paired outcomes, with a percentile bootstrap interval.

    ``a[i]`` and ``b[i]`` are one observation under two conditions (0/1 for
    pass/fail, or any number). With ``items`` (an item id per observation) whole
    items are resampled, so several seeds of one problem move together and the
    interval reflects how many *problems* there are, not how many runs.

        >>> paired_bootstrap_diff([0, 0, 1, 1], [1, 1, 1, 1], seed=0).estimate
        0.5
    """
    check_level(level)
    _check_resamples(n_resamples)
    check_same_length("a", a, "b", b)
    diffs = [y - x for x, y in zip(finite("a", a), finite("b", b), strict=True)]
    clusters = _clusters(len(diffs), items)
    # A cluster enters a resample only through its sum and size: precompute both.
    sums = [math.fsum(diffs[i] for i in c) for c in clusters]
    sizes = [len(c) for c in clusters]
    rng = random.Random(seed)
    k = len(clusters)
    replicates = []
    for _ in range(n_resamples):
        chosen = rng.choices(range(k), k=k)
        replicates.append(math.fsum(sums[c] for c in chosen) / sum(sizes[c] for c in chosen))
    return _percentile_interval(math.fsum(diffs) / len(diffs), replicates, level=level,
                                n=len(diffs), method="bootstrap", requested=n_resamples)


class DiscordantPairs(BaseModel):
    """Paired pass/fail outcomes where the two conditions disagree."""

    model_config = ConfigDict(frozen=True)

    fixed: int
    """Failed under the control, passed under the treatment."""
    broken: int
    """Passed under the control, failed under the treatment."""


def discordant_pairs(control: Sequence[bool | int], treatment: Sequence[bool | int]) -> DiscordantPairs:
    """Count the pairs :func:`mcnemar_exact` tests."""
    check_same_length("control", control, "treatment", treatment)
    pairs = list(zip(binary("control", control), binary("treatment", treatment), strict=True))
    return DiscordantPairs(fixed=sum(1 for c, t in pairs if not c and t),
                           broken=sum(1 for c, t in pairs if c and not t))


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value: a sign test on the discordant pairs.

    Under no difference each discordant pair is a fair coin, so the p-value is
    twice the binomial(fixed + broken, 1/2) tail of the rarer outcome, capped
    at 1. Computed in exact integers; 1.0 when there is no discordant pair.
    """
    if fixed < 0 or broken < 0:
        raise StatisticsError(f"fixed, broken: counts must not be negative, got {fixed}, {broken}")
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(fixed, broken) + 1))
    return min(1.0, 2 * tail / (1 << n))


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the average of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def _auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise _Undefined
    rank_sum = math.fsum(r for r, y in zip(average_ranks(scores), labels, strict=True) if y)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auroc(scores: Sequence[float], labels: Sequence[bool | int]) -> float:
    """Area under the ROC curve: P(a positive outscores a negative), ties counting 1/2.

    The Mann-Whitney U statistic over ``positives x negatives``, from average
    ranks. 1.0: every positive above every negative; 0.5: no separation.
    """
    check_same_length("scores", scores, "labels", labels)
    try:
        return _auroc(finite("scores", scores), binary("labels", labels))
    except _Undefined:
        raise StatisticsError("labels: AUROC needs at least one positive and one negative") from None


def auroc_ci(scores: Sequence[float], labels: Sequence[bool | int], *, seed: int,
             n_resamples: int = 2000, level: float = 0.95) -> Interval:
    """:func:`auroc` with a bootstrap interval resampled within each class.

    Positives are resampled among positives and negatives among negatives, so
    every resample keeps both classes (and the class balance) of the data.
    """
    check_level(level)
    _check_resamples(n_resamples)
    estimate = auroc(scores, labels)
    values, flags = finite("scores", scores), binary("labels", labels)
    positive = [s for s, y in zip(values, flags, strict=True) if y]
    negative = [s for s, y in zip(values, flags, strict=True) if not y]
    resampled_labels = [True] * len(positive) + [False] * len(negative)
    rng = random.Random(seed)
    replicates = [
        _auroc(rng.choices(positive, k=len(positive)) + rng.choices(negative, k=len(negative)),
               resampled_labels)
        for _ in range(n_resamples)
    ]
    return _percentile_interval(estimate, replicates, level=level, n=len(values),
                                method="stratified-bootstrap", requested=n_resamples)


class ConfusionMatrix(BaseModel):
    """Counts of (actual, predicted) label pairs; ``counts[i][j]``: actual ``labels[i]``,
    predicted ``labels[j]``."""

    model_config = ConfigDict(frozen=True)

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    @property
    def total(self) -> int:
        return sum(map(sum, self.counts))

    @property
    def agreement(self) -> float:
        """The share of the diagonal: accuracy, or observed agreement of two raters."""
        return sum(self.counts[i][i] for i in range(len(self.labels))) / self.total

    def count(self, actual: str, predicted: str) -> int:
        return self.counts[self.labels.index(actual)][self.labels.index(predicted)]


def confusion_matrix(actual: Sequence[Hashable], predicted: Sequence[Hashable], *,
                     labels: Sequence[Hashable] | None = None) -> ConfusionMatrix:
    """Tabulate ``actual`` against ``predicted``.

    Labels are shown as ``str(label)``, in the order of ``labels`` if given, else in
    order of first appearance (``actual`` first), so the table is deterministic.
    """
    check_same_length("actual", actual, "predicted", predicted)
    order = list(dict.fromkeys(labels if labels is not None else [*actual, *predicted]))
    index = {label: i for i, label in enumerate(order)}
    names = [str(label) for label in order]
    if len(set(names)) != len(names):
        raise StatisticsError(f"labels: two labels print the same ({names})")
    counts = [[0] * len(order) for _ in order]
    for row, (x, y) in enumerate(zip(actual, predicted, strict=True)):
        if x not in index or y not in index:
            raise StatisticsError(f"observation {row}: label {x if x not in index else y!r} "
                                  f"is not among labels {names}")
        counts[index[x]][index[y]] += 1
    return ConfusionMatrix(labels=tuple(names), counts=tuple(tuple(r) for r in counts))


def _accuracy(actual: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    return sum(1 for x, y in zip(actual, predicted, strict=True) if x == y) / len(actual)


def accuracy(actual: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """The share of observations where ``predicted`` equals ``actual``."""
    check_same_length("actual", actual, "predicted", predicted)
    return _accuracy(actual, predicted)


def _kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    n = len(a)
    observed = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    counts_a, counts_b = Counter(a), Counter(b)
    expected = sum(counts_a[k] * counts_b[k] for k in counts_a) / (n * n)
    if expected == 1.0:  # both raters gave one and the same label throughout
        raise _Undefined
    return (observed - expected) / (1 - expected)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa: agreement of two raters beyond what their label rates give by chance.

    Undefined (an error) when both raters use one and the same label throughout.
    """
    check_same_length("a", a, "b", b)
    try:
        return _kappa(a, b)
    except _Undefined:
        raise StatisticsError("kappa is undefined: both raters gave one and the same label "
                              "to every observation") from None


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    rx, ry = average_ranks(x), average_ranks(y)
    mx, my = math.fsum(rx) / len(rx), math.fsum(ry) / len(ry)
    sxy = math.fsum((p - mx) * (q - my) for p, q in zip(rx, ry, strict=True))
    sxx = math.fsum((p - mx) ** 2 for p in rx)
    syy = math.fsum((q - my) ** 2 for q in ry)
    if sxx == 0 or syy == 0:
        raise _Undefined
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's r of the average ranks (ties share ranks)."""
    check_same_length("x", x, "y", y)
    try:
        return _spearman(finite("x", x), finite("y", y))
    except _Undefined:
        raise StatisticsError("spearman is undefined: x or y has a single distinct value") from None


def _bootstrap_pairs(statistic: Callable[[list[T], list[T]], float],
                     estimate: float, a: Sequence[T], b: Sequence[T], *, seed: int,
                     items: Sequence[Hashable] | None, n_resamples: int, level: float) -> Interval:
    check_level(level)
    _check_resamples(n_resamples)
    replicates = _bootstrap(lambda idx: statistic([a[i] for i in idx], [b[i] for i in idx]),
                            _clusters(len(a), items), seed=seed, n_resamples=n_resamples)
    return _percentile_interval(estimate, replicates, level=level, n=len(a), method="bootstrap",
                                requested=n_resamples)


def accuracy_ci(actual: Sequence[Hashable], predicted: Sequence[Hashable], *, seed: int,
                items: Sequence[Hashable] | None = None, n_resamples: int = 2000,
                level: float = 0.95) -> Interval:
    """:func:`accuracy` with a bootstrap interval (whole items resampled when ``items`` is given).

    With independent observations, :func:`proportion_ci` of the correct count is the
    exact-form alternative; the bootstrap is for clustered observations.
    """
    estimate = accuracy(actual, predicted)
    return _bootstrap_pairs(_accuracy, estimate, actual, predicted, seed=seed, items=items,
                            n_resamples=n_resamples, level=level)


def cohen_kappa_ci(a: Sequence[Hashable], b: Sequence[Hashable], *, seed: int,
                   items: Sequence[Hashable] | None = None, n_resamples: int = 2000,
                   level: float = 0.95) -> Interval:
    """:func:`cohen_kappa` with a bootstrap interval; resamples where kappa is undefined
    are left out (``Interval.resamples`` says how many remained)."""
    estimate = cohen_kappa(a, b)
    return _bootstrap_pairs(_kappa, estimate, a, b, seed=seed, items=items,
                            n_resamples=n_resamples, level=level)


def spearman_ci(x: Sequence[float], y: Sequence[float], *, seed: int,
                items: Sequence[Hashable] | None = None, n_resamples: int = 2000,
                level: float = 0.95) -> Interval:
    """:func:`spearman` with a bootstrap interval; resamples with a constant side are left out."""
    estimate = spearman(x, y)
    return _bootstrap_pairs(_spearman, estimate, finite("x", x), finite("y", y), seed=seed, items=items,
                            n_resamples=n_resamples, level=level)


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square with ``dof`` (a positive whole number) degrees of freedom.

    Exact closed forms: for even ``dof`` the Poisson sum
    ``exp(-x/2) * sum_{i < dof/2} (x/2)^i / i!``; for odd ``dof``
    ``erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) * sum_{i=1}^{(dof-1)/2} x^(i-1) / (1*3*...*(2i-1))``.
    Terms are summed in log space so large statistics neither overflow nor lose digits.
    """
    if dof < 1:
        raise StatisticsError(f"dof: must be a positive whole number, got {dof}")
    if not math.isfinite(statistic) or statistic < 0:
        raise StatisticsError(f"statistic: must be a finite number >= 0, got {statistic}")
    x = statistic
    if x == 0:
        return 1.0
    if dof % 2 == 0:
        # log(x) - log(2), not log(x / 2): halving a subnormal x can round to 0.
        log_half = math.log(x) - math.log(2)
        logs = [i * log_half - math.lgamma(i + 1) - x / 2 for i in range(dof // 2)]
        return min(1.0, math.fsum(math.exp(v) for v in logs))
    total = math.erfc(math.sqrt(x / 2))
    log_lead = 0.5 * (math.log(2) + math.log(x) - math.log(math.pi)) - x / 2
    log_odd_factorial = 0.0  # log(1*3*...*(2i-1))
    terms = []
    for i in range(1, (dof - 1) // 2 + 1):
        log_odd_factorial += math.log(2 * i - 1)
        terms.append(math.exp(log_lead + (i - 1) * math.log(x) - log_odd_factorial))
    return min(1.0, math.fsum([total, *terms]))
