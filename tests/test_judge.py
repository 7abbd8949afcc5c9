from __future__ import annotations

import pytest
from pydantic import ValidationError

from critic.judges.rules import NO_FEEDBACK, ThresholdJudge, aggregate, bounded, feedback_from
from critic.messages import Critique, Draft, JudgeRequest, ModelCall, Task

pytestmark = pytest.mark.anyio


async def no_record(call: ModelCall) -> None:
    raise AssertionError("the threshold judge calls no model")


def request(round: int, *scores: float | None, history: tuple[float | None, ...] = (),
            **kw: object) -> JudgeRequest:
    critiques = tuple(
        Critique(role=f"r{i}", round=round, score=s, problems=("p",))
        if s is not None else Critique(role=f"r{i}", round=round, status="error", error="x")
        for i, s in enumerate(scores)
    )
    return JudgeRequest(task=Task(prompt="t"), draft=Draft(round=round, text="d"),
                        critiques=critiques, history=history, **kw)


def test_aggregate_is_weighted_and_ignores_failures() -> None:
    crits = [
        Critique(role="a", round=1, score=1.0, weight=3.0),
        Critique(role="b", round=1, score=0.0, weight=1.0),
        Critique(role="c", round=1, status="timeout", error="slow", weight=100.0),
    ]
    assert aggregate(crits) == pytest.approx(0.75)
    assert aggregate(crits[2:]) is None


async def test_rules() -> None:
    judge = ThresholdJudge(accept_at=0.8, discard_below=0.2, patience=2, max_rounds=4)
    assert (await judge.judge(request(1, 0.9, 0.7), no_record)).decision == "accept"
    low = await judge.judge(request(1, 0.1, 0.1), no_record)
    assert (low.decision, low.stop) == ("discard", "threshold")
    mid = await judge.judge(request(1, 0.5), no_record)
    assert (mid.decision, mid.stop) == ("revise", None)
    assert "p" in mid.feedback
    flat = await judge.judge(request(3, 0.5, history=(0.6, 0.5)), no_record)
    assert (flat.decision, flat.stop) == ("discard", "plateau")
    rising = await judge.judge(request(3, 0.7, history=(0.5, 0.6)), no_record)
    assert rising.decision == "revise"
    last = await judge.judge(request(4, 0.5, history=(0.2, 0.3, 0.4)), no_record)
    assert (last.decision, last.stop) == ("discard", "max_rounds")


async def test_unscored_round_stops_at_once_instead_of_revising_blindly() -> None:
    judge = ThresholdJudge(accept_at=0.0, max_rounds=3)
    first = await judge.judge(request(1, None, None), no_record)
    assert (first.decision, first.stop) == ("discard", "no_scores")
    assert first.critiques_failed == 2 and first.aggregate is None
    assert first.feedback == "" and "not revising without feedback" in first.reason


async def test_revise_unscored_asks_for_the_blind_revision_explicitly() -> None:
    judge = ThresholdJudge(accept_at=0.0, max_rounds=2, revise_unscored=True)
    first = await judge.judge(request(1, None, None), no_record)
    assert (first.decision, first.stop) == ("revise", None)
    assert first.feedback == NO_FEEDBACK and "revise_unscored" in first.reason
    second = await judge.judge(request(2, None), no_record)
    assert (second.decision, second.stop) == ("discard", "no_scores")


async def test_budgets_stop_the_session() -> None:
    judge = ThresholdJudge(max_tokens=100, max_seconds=5.0, max_rounds=9)
    tokens = await judge.judge(request(1, 0.5, tokens_used=150), no_record)
    assert tokens.stop == "budget" and "token" in tokens.reason
    time = await judge.judge(request(1, 0.5, elapsed=6.0), no_record)
    assert time.stop == "budget" and "time" in time.reason


def test_invalid_thresholds_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ThresholdJudge(accept_at=0.3, discard_below=0.5)
    with pytest.raises(ValidationError):
        ThresholdJudge(max_rounds=0)


def test_feedback_has_problems_and_suggestions_only() -> None:
    text = feedback_from([
        Critique(role="a", round=1, score=0.5, problems=("bug",), suggestion="fix it"),
        Critique(role="b", round=1, status="error", error="SECRET-ERROR"),
    ])
    assert "bug" in text and "fix it" in text and "SECRET-ERROR" not in text


def test_bounded_cuts_to_the_limit_and_says_how_much() -> None:
    assert bounded("short", 100) == "short"
    exact = "y" * 100
    assert bounded(exact, 100) == exact
    text = "x" * 5000
    cut = bounded(text, 1500)
    assert len(cut) <= 1500
    kept = cut.split("\n")[0]
    assert set(kept) == {"x"}
    assert cut.endswith(f"[... cut {5000 - len(kept)} chars]")
    assert len(kept) + (5000 - len(kept)) == 5000  # nothing lost unaccounted
    with pytest.raises(ValueError):
        bounded(text, 5)


def test_feedback_is_bounded_per_critic_and_in_total() -> None:
    huge = "1" * 2300  # a test's output: one 2,300-digit number
    crits = [
        Critique(role=f"r{i}", round=1, score=0.0, problems=(f"expected 2, got {huge}",),
                 suggestion=f"fix r{i}")
        for i in range(5)
    ]
    text = feedback_from(crits, per_critic=1500, total=4000)
    assert len(text) <= 4000
    assert text.endswith(" chars]") and "[... cut " in text
    # Each critic's part was cut on its own first: the first two appear whole up to
    # their own marker, so one verbose critic cannot crowd out the next.
    assert text.count("[... cut ") >= 3
    assert text.index("r1 (score 0.00):") < 1600
    # Below the bounds nothing changes.
    small = [Critique(role="a", round=1, score=0.5, problems=("bug",), suggestion="fix it")]
    assert feedback_from(small) == "a (score 0.50):\n- bug\nSuggestion: fix it"


async def test_the_judge_applies_its_feedback_bounds() -> None:
    judge = ThresholdJudge(feedback_per_critic=200, feedback_total=300)
    crits = tuple(Critique(role=f"r{i}", round=1, score=0.1, problems=("z" * 1000,))
                  for i in range(3))
    verdict = await judge.judge(JudgeRequest(task=Task(prompt="t"), draft=Draft(round=1, text="d"),
                                             critiques=crits), no_record)
    assert verdict.decision == "revise"
    assert len(verdict.feedback) <= 300 and "[... cut " in verdict.feedback
