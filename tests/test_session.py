"""Orchestration on the scripted backend: the judge loop, failures, context separation."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from critic import (
    LLMCritic,
    LLMGenerator,
    MemoryBus,
    RoleRegistry,
    Session,
    Task,
    ThresholdJudge,
    TranscriptHeader,
    TranscriptWriter,
    read_transcript,
)
from critic.backends.scripted import Reply
from critic.config import RunConfig
from critic.errors import ModelError
from critic.messages import Critique, Draft, ModelCall, Outcome, Verdict
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

ROLES = RoleRegistry()


def critique(score: int, problem: str = "a problem") -> str:
    return json.dumps({"problems": [problem], "suggestion": f"fix {problem}", "score": score})


def session(
    scripts: dict[str, list[Reply]],
    *,
    roles: Sequence[str] = ("correctness", "clarity"),
    judge: ThresholdJudge | None = None,
    delays: dict[str, float] | None = None,
    transcript: TranscriptWriter | None = None,
    timeout: float | None = None,
) -> tuple[Session, ScriptedModel]:
    model = ScriptedModel(scripts=scripts, delays=delays or {})
    critics = []
    for name in roles:
        role = ROLES.get(name)
        if timeout is not None:
            role = type(role)(role.spec.model_copy(update={"timeout": timeout}), role.source,
                              role.path, role.prompt, role.system)
        critics.append(LLMCritic(role, model.backend(name), seed=0))
    made = Session(
        Task(prompt="Write a function that reverses a string."),
        LLMGenerator(model.backend("generator")),
        judge or ThresholdJudge(accept_at=0.8, max_rounds=3),
        critics,
        bus=MemoryBus(serialize=True),
        transcript=transcript,
    )
    return made, model


async def test_accept_in_round_one() -> None:
    s, model = session({"generator": ["draft one"], "correctness": [critique(9)],
                        "clarity": [critique(10)]})
    outcome = await s.run()
    assert outcome.decision == "accept" and outcome.stop == "accepted"
    assert outcome.rounds == 1
    assert outcome.draft is not None and outcome.draft.text == "draft one"
    assert outcome.score == pytest.approx((8 / 9 + 1.0) / 2)
    assert outcome.verdicts[0].critiques_used == 2
    assert len(model.calls_of("generator")) == 1


async def test_revise_then_accept_feeds_back_only_the_judges_feedback() -> None:
    s, model = session({
        "generator": ["draft one", "draft two"],
        "correctness": [critique(3, "off by one"), critique(10)],
        "clarity": [critique(4, "bad names"), critique(9)],
    })
    outcome = await s.run()
    assert outcome.decision == "accept" and outcome.rounds == 2
    assert outcome.draft is not None and outcome.draft.text == "draft two"
    assert [v.decision for v in outcome.verdicts] == ["revise", "accept"]
    second = model.calls_of("generator")[1].messages
    assert "off by one" in second[-1].content and "bad names" in second[-1].content
    # A fresh revision (the default): the task, the first draft quoted, the feedback.
    assert [m.role for m in second] == ["system", "user"]
    assert "draft one" in second[-1].content and s.task.prompt in second[-1].content


async def test_discard_by_threshold() -> None:
    s, _ = session(
        {"generator": ["bad"], "correctness": [critique(1)], "clarity": [critique(2)]},
        judge=ThresholdJudge(accept_at=0.8, discard_below=0.3, max_rounds=3),
    )
    outcome = await s.run()
    assert outcome.decision == "discard" and outcome.stop == "threshold"
    assert outcome.rounds == 1


async def test_discard_by_patience_keeps_the_best_draft() -> None:
    s, _ = session(
        {"generator": ["d1", "d2", "d3", "d4"],
         "correctness": [critique(6), critique(5), critique(6), critique(9)],
         "clarity": [critique(6), critique(5), critique(6), critique(9)]},
        judge=ThresholdJudge(accept_at=0.9, patience=2, max_rounds=5),
    )
    outcome = await s.run()
    assert outcome.decision == "discard" and outcome.stop == "plateau"
    assert outcome.rounds == 3
    assert outcome.draft is not None and outcome.draft.text == "d1"  # best, earliest
    assert "no improvement" in outcome.reason


async def test_discard_by_max_rounds() -> None:
    s, model = session(
        {"generator": ["d1", "d2"], "correctness": [critique(5), critique(7)],
         "clarity": [critique(5), critique(7)]},
        judge=ThresholdJudge(accept_at=0.9, max_rounds=2),
    )
    outcome = await s.run()
    assert outcome.decision == "discard" and outcome.stop == "max_rounds"
    assert outcome.rounds == 2 and len(model.calls_of("generator")) == 2
    assert outcome.draft is not None and outcome.draft.text == "d2"
    assert outcome.score == pytest.approx(6 / 9)


async def test_critic_that_raises_is_unscored_and_session_goes_on() -> None:
    s, _ = session({"generator": ["d1"], "correctness": [ModelError("server exploded")],
                    "clarity": [critique(10)]})
    outcome = await s.run()
    verdict = outcome.verdicts[0]
    assert verdict.critiques_used == 1 and verdict.critiques_failed == 1
    assert verdict.scores == {"clarity": 1.0}
    assert outcome.decision == "accept"  # on the one critique it could score
    assert "1 of 2" in verdict.reason


async def test_critic_that_times_out_is_unscored() -> None:
    s, _ = session(
        {"generator": ["d1"], "correctness": [critique(10)], "clarity": [critique(10)]},
        delays={"clarity": math.inf}, timeout=0.3,
    )
    outcome = await s.run()  # a hang here fails on the per-test timeout
    verdict = outcome.verdicts[0]
    assert verdict.critiques_failed == 1 and set(verdict.scores) == {"correctness"}


async def test_no_scored_critique_stops_without_a_blind_revision() -> None:
    s, model = session(
        {"generator": ["d1", "d2"], "correctness": [ModelError("x"), ModelError("x")],
         "clarity": [ModelError("y"), ModelError("y")]},
        judge=ThresholdJudge(accept_at=0.0, max_rounds=3),
    )
    outcome = await s.run()
    assert [v.decision for v in outcome.verdicts] == ["discard"]
    assert outcome.decision == "discard" and outcome.stop == "no_scores"
    assert outcome.rounds == 1 and len(model.calls_of("generator")) == 1


async def test_no_scored_critique_revises_blindly_only_when_asked() -> None:
    s, model = session(
        {"generator": ["d1", "d2"], "correctness": [ModelError("x"), ModelError("x")],
         "clarity": [ModelError("y"), ModelError("y")]},
        judge=ThresholdJudge(accept_at=0.0, max_rounds=2, revise_unscored=True),
    )
    outcome = await s.run()
    assert [v.decision for v in outcome.verdicts] == ["revise", "discard"]
    assert outcome.decision == "discard" and outcome.stop == "no_scores"
    assert "No critic could review" in model.calls_of("generator")[1].messages[-1].content


async def test_malformed_output_is_repaired() -> None:
    fenced = "Here you go:\n```json\n" + critique(9) + "\n```"
    s, model = session({"generator": ["d1"], "correctness": [fenced], "clarity": [critique(9)]})
    outcome = await s.run()
    assert outcome.verdicts[0].scores["correctness"] == pytest.approx(8 / 9)
    assert len(model.calls_of("correctness")) == 1  # repaired without a new call


async def test_malformed_output_is_retried_then_marked_failed() -> None:
    s, model = session({"generator": ["d1"], "correctness": ["nope", "{\"score\": 99}", "{"],
                        "clarity": ["not json", critique(9)]})
    outcome = await s.run()
    verdict = outcome.verdicts[0]
    assert set(verdict.scores) == {"clarity"}  # clarity succeeded on its second try
    assert verdict.critiques_failed == 1
    assert len(model.calls_of("correctness")) == 3
    retry = model.calls_of("clarity")[1].messages
    assert retry[-2].content == "not json" and "not valid" in retry[-1].content


async def test_generator_failure_ends_the_session_with_a_reason() -> None:
    s, _ = session({"generator": [ModelError("out of memory")]})
    outcome = await s.run()
    assert outcome.decision == "discard" and outcome.stop == "error"
    assert "out of memory" in outcome.reason


async def test_contexts_are_separate_on_the_recorded_calls() -> None:
    s, model = session({
        "generator": ["GEN-DRAFT-1", "GEN-DRAFT-2"],
        "correctness": [critique(3, "CORR-PROBLEM"), critique(9)],
        "clarity": [critique(3, "CLAR-PROBLEM"), critique(9)],
    })
    await s.run()
    gen_system = model.calls_of("generator")[0].messages[0].content
    for name, other in (("correctness", "CLAR-PROBLEM"), ("clarity", "CORR-PROBLEM")):
        for call in model.calls_of(name):
            text = "\n".join(m.content for m in call.messages)
            assert gen_system not in text, "a critic saw the generator's system prompt"
            assert other not in text, "a critic saw another critic's output"
            assert "GEN-DRAFT" in text  # ...but it does see the draft it reviews
            assert len(call.messages) == 2  # fresh context: its system prompt and the review
    critic_prompts = {m.content for c in model.calls if c.agent != "generator" for m in c.messages}
    for call in model.calls_of("generator"):
        for message in call.messages:
            assert message.content not in critic_prompts, "generator saw a critic's context"


async def test_transcript_records_every_envelope(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    config = RunConfig(task="Write a function.", roles=("correctness", "clarity"), seed=7)
    writer = TranscriptWriter(path, TranscriptHeader(session="x", config=config))
    s, model = session(
        {"generator": ["d1", "d2"], "correctness": [critique(3), critique(9)],
         "clarity": [critique(3), critique(9)]},
        transcript=writer,
    )
    outcome = await s.run()
    writer.close()
    t = read_transcript(path)
    assert t.header.config == config  # the header reads back into the config that made it
    kinds = [e.payload.kind for e in t.envelopes]
    assert kinds[0] == "task" and kinds[-1] == "outcome"
    assert len(t.payloads("draft")) == 2
    assert len([c for c in t.payloads("critique") if isinstance(c, Critique)]) == 4
    assert len(t.payloads("verdict")) == 2
    calls = [p for p in t.payloads("model_call") if isinstance(p, ModelCall)]
    assert len(calls) == len(model.calls) == 6
    assert {c.agent for c in calls} == {"generator", "correctness", "clarity"}
    # Each recorded call holds the exact messages the backend received.
    def key(messages: tuple[object, ...]) -> str:
        return repr(messages)

    assert sorted(map(key, (c.messages for c in calls))) == sorted(
        map(key, (c.messages for c in model.calls))
    )
    final = t.payloads("outcome")[0]
    assert isinstance(final, Outcome) and final == outcome
    verdicts = [v for v in t.payloads("verdict") if isinstance(v, Verdict)]
    assert [v.decision for v in verdicts] == ["revise", "accept"]
    drafts = [d for d in t.payloads("draft") if isinstance(d, Draft)]
    assert drafts[0].usage.completion_tokens == 1  # usage travels with the reply
