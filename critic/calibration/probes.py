"""Bias probes: does a judge's verdict move with things that should not matter?

Each probe changes one thing a fair judge ignores and measures the effect, with
a confidence interval; a probe is ``flagged`` when its interval excludes 0 (no
effect). Intervals come from :mod:`critic.experiments.statistics` (Wilson for
rates, the seeded paired bootstrap for shifts), so a seed gives the same report.

- ``position`` (pairwise judge): each pair is judged as (a, b) and as (b, a).
  The effect is the **flip rate**, the share of pairs whose choice changed with
  the order. Where pairs say which answer is better, ``accuracy`` is the
  consistency-adjusted accuracy: an inconsistent pair counts as a tie (half a point).
- ``length`` (scorer): the same answer padded with neutral text; the effect is the
  mean score shift (padded minus original).
- ``identity`` (scorer): the same answer shown under its real label (a debater's or a
  model's name) and under "Answer 1"; the effect is the mean shift (real minus neutral).
- ``self_preference`` (scorer): per question, the judge's score on its own model's output
  minus its mean score on the other models' outputs. :attr:`ProbesReport.judge_is_generator`
  says whether the judge's model generated any of the outputs at all.

    report = await run_probes(judge=judge, scorer=scorer, pairs=pairs, outputs=outputs,
                              judge_model="smollm2-360m", seed=0)
    report.probes["position"].flagged
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from critic.experiments.statistics import Interval, paired_bootstrap_diff, proportion_ci
from critic.judges.pairwise import swap
from critic.messages import ModelCall
from critic.protocols import AnswerScorer, PairwiseJudge, Recorder

#: Appended to an answer by the length probe: adds words, not content.
NEUTRAL_PADDING = (
    "\n\nThe answer above is complete as written. Nothing further needs to be added to it, "
    "and the reasoning given already covers the question as it was asked."
)

#: The label every answer gets when its identity must not show.
NEUTRAL_LABEL = "Answer 1"


class PairItem(BaseModel):
    """Two answers to one question; ``better`` (if known) says which one deserves to win."""

    model_config = ConfigDict(frozen=True)

    question: str
    a: str
    b: str
    better: Literal["a", "b"] | None = None
    """None when unlabelled."""


class LabelledOutput(BaseModel):
    """An answer with where it came from: its display label and the model that wrote it."""

    model_config = ConfigDict(frozen=True)

    question: str
    answer: str
    label: str
    """How it is shown with its identity (a debater's or a model's name)."""
    model: str | None = None
    """The model that generated it (compared with the judge's for self-preference)."""


class ProbeResult(BaseModel):
    """One probe's effect, its interval, and whether the interval excludes no-effect (0)."""

    model_config = ConfigDict(frozen=True)

    effect: float
    ci: tuple[float, float]
    flagged: bool
    n: int
    """Items the effect rests on (pairs, answers, or questions)."""
    level: float
    method: str
    accuracy: float | None = None
    """Position probe only: consistency-adjusted accuracy on the labelled pairs."""
    accuracy_ci: tuple[float, float] | None = None


class ProbesReport(BaseModel):
    """Every probe that could run on the data given, by name; JSON ``probes.<probe>``."""

    model_config = ConfigDict(frozen=True)

    probes: dict[str, ProbeResult]
    judge_model: str | None = None
    judge_is_generator: bool | None = None
    """Whether the judge's model also wrote some of the outputs (None if unknown)."""


def _result(interval: Interval, **extra: object) -> ProbeResult:
    return ProbeResult.model_validate({
        "effect": interval.estimate, "ci": (interval.low, interval.high),
        "flagged": 0.0 not in interval, "n": interval.n, "level": interval.level,
        "method": interval.method, **extra,
    })


def _mean_ci(values: Sequence[float], *, seed: int, level: float,
             items: Sequence[Hashable] | None = None) -> Interval:
    """The mean of ``values`` with a seeded bootstrap interval (a paired difference from 0)."""
    return paired_bootstrap_diff([0.0] * len(values), values, seed=seed, items=items, level=level)


async def _ignore(call: ModelCall) -> None:
    return None


async def position_probe(judge: PairwiseJudge, pairs: Sequence[PairItem], *, seed: int = 0,
                         level: float = 0.95, record: Recorder = _ignore) -> ProbeResult:
    """Flip rate over ``pairs`` judged in both orders, and consistency-adjusted accuracy."""
    flips = 0
    credits: list[float] = []
    for pair in pairs:
        forward = await judge.prefer(pair.question, pair.a, pair.b, record)
        backward = swap(await judge.prefer(pair.question, pair.b, pair.a, record))
        consistent = forward == backward
        flips += not consistent
        if pair.better is not None:
            choice = forward if consistent else "tie"
            credits.append(0.5 if choice == "tie" else float(choice == pair.better))
    rate = proportion_ci(flips, len(pairs), level)
    if not credits:
        return _result(rate)
    accuracy = _mean_ci(credits, seed=seed, level=level)
    return _result(rate, accuracy=accuracy.estimate, accuracy_ci=(accuracy.low, accuracy.high))


async def length_probe(scorer: AnswerScorer, outputs: Sequence[LabelledOutput], *,
                       padding: str = NEUTRAL_PADDING, seed: int = 0, level: float = 0.95,
                       record: Recorder = _ignore) -> ProbeResult:
    """Mean score shift when each answer is padded with ``padding`` (neutral labels)."""
    original, padded = [], []
    for item in outputs:
        original.append(await scorer.score(item.question, item.answer, NEUTRAL_LABEL, record))
        padded.append(await scorer.score(item.question, item.answer + padding, NEUTRAL_LABEL,
                                         record))
    return _result(paired_bootstrap_diff(original, padded, seed=seed, level=level))


async def identity_probe(scorer: AnswerScorer, outputs: Sequence[LabelledOutput], *,
                         seed: int = 0, level: float = 0.95,
                         record: Recorder = _ignore) -> ProbeResult:
    """Mean score shift from the neutral label to each answer's real label."""
    neutral, named = [], []
    for item in outputs:
        neutral.append(await scorer.score(item.question, item.answer, NEUTRAL_LABEL, record))
        named.append(await scorer.score(item.question, item.answer, item.label, record))
    return _result(paired_bootstrap_diff(neutral, named, seed=seed, level=level))


async def self_preference_probe(scorer: AnswerScorer, outputs: Sequence[LabelledOutput],
                                judge_model: str, *, seed: int = 0, level: float = 0.95,
                                record: Recorder = _ignore) -> ProbeResult | None:
    """Per question, the score of ``judge_model``'s own output minus the mean of the
    others'; None when no question has outputs of both kinds. Scored under neutral
    labels, so this measures preference for the *style* of its own model, not its name."""
    own: dict[str, list[float]] = defaultdict(list)
    others: dict[str, list[float]] = defaultdict(list)
    for item in outputs:
        if item.model is None:
            continue
        score = await scorer.score(item.question, item.answer, NEUTRAL_LABEL, record)
        (own if item.model == judge_model else others)[item.question].append(score)
    questions = [q for q in own if q in others]
    if not questions:
        return None
    mine = [sum(own[q]) / len(own[q]) for q in questions]
    theirs = [sum(others[q]) / len(others[q]) for q in questions]
    return _result(paired_bootstrap_diff(theirs, mine, seed=seed, level=level))


async def run_probes(*, judge: PairwiseJudge | None = None, scorer: AnswerScorer | None = None,
                     pairs: Sequence[PairItem] = (), outputs: Sequence[LabelledOutput] = (),
                     judge_model: str | None = None, padding: str = NEUTRAL_PADDING,
                     seed: int = 0, level: float = 0.95,
                     record: Recorder = _ignore) -> ProbesReport:
    """Every probe the inputs allow: ``position`` needs a pairwise judge and pairs; ``length``
    and ``identity`` a scorer and outputs; ``self_preference`` also ``judge_model`` and
    outputs of several models. Probes with no data are left out, not reported as 0."""
    probes: dict[str, ProbeResult] = {}
    if judge is not None and pairs:
        probes["position"] = await position_probe(judge, pairs, seed=seed, level=level,
                                                  record=record)
    if scorer is not None and outputs:
        probes["length"] = await length_probe(scorer, outputs, padding=padding, seed=seed,
                                              level=level, record=record)
        probes["identity"] = await identity_probe(scorer, outputs, seed=seed, level=level,
                                                  record=record)
        if judge_model is not None:
            own = await self_preference_probe(scorer, outputs, judge_model, seed=seed,
                                              level=level, record=record)
            if own is not None:
                probes["self_preference"] = own
    models = {o.model for o in outputs if o.model is not None}
    return ProbesReport(
        probes=probes, judge_model=judge_model,
        judge_is_generator=judge_model in models if judge_model is not None and models else None,
    )
