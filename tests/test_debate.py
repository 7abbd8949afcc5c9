"""Debate orchestration on the scripted backend: stopping, votes, failures, contexts."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import anyio
import jinja2
import pytest

from critic import (
    Debate,
    LLMCritic,
    LLMDebateJudge,
    LLMDebater,
    MemoryBus,
    RoleRegistry,
    TranscriptHeader,
    TranscriptWriter,
    read_transcript,
)
from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.backends.scripted import Reply
from critic.errors import ConfigError, ModelError
from critic.messages import (
    Answer,
    ChatMessage,
    DebateJudgeRequest,
    DebateOutcome,
    DebateRequest,
    DebateRound,
    DebateVerdict,
    ModelCall,
)
from critic.prompts import PromptLibrary, PromptTemplate
from critic.protocols import Backend
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

QUESTION = "What is 12 * 13?"
ROLES = RoleRegistry(include_plugins=False, env_path="")


def debate(
    scripts: dict[str, list[Reply]],
    *,
    n: int = 3,
    rounds: int = 2,
    personas: dict[str, str] | None = None,
    critics: Sequence[str] = (),
    judge: str | None = None,
    converge_at: float = 1.0,
    transcript: TranscriptWriter | None = None,
    delays: dict[str, float] | None = None,
    timeout: float = 600.0,
) -> tuple[Debate, ScriptedModel]:
    model = ScriptedModel(scripts=scripts, delays=delays or {})
    prompts = PromptLibrary()
    debaters = []
    for i in range(1, n + 1):
        name = f"debater-{i}"
        persona = (personas or {}).get(name)
        template = None
        if persona is not None:
            template = _inline_template(persona)
        debaters.append(LLMDebater(name, model.backend(name), prompts=prompts, persona=template))
    made = Debate(
        QUESTION, debaters,
        critics=[LLMCritic(ROLES.get(c), model.backend(c), seed=0) for c in critics],
        rounds=rounds, converge_at=converge_at, bus=MemoryBus(serialize=True),
        transcript=transcript, timeout=timeout,
    )
    if judge is not None:
        made.judge = LLMDebateJudge(ROLES.get(judge), model.backend(judge))
    return made, model


def _inline_template(text: str) -> PromptTemplate:
    return PromptTemplate("<persona>", jinja2.Template(text))


async def test_convergence_in_round_one_stops_early() -> None:
    d, model = debate({
        "debater-1": ["12 * 13 = 156. Answer: 156"],
        "debater-2": ["Answer: 156"],
        "debater-3": ["I get 156."],
    }, rounds=3)
    outcome = await d.run()
    assert outcome.decision == "accept" and outcome.answer == "156"
    assert outcome.stop == "converged" and outcome.convergence_round == 1
    assert outcome.rounds_used == 1
    assert outcome.answers == ({"debater-1": "156", "debater-2": "156", "debater-3": "156"},)
    assert len(model.calls) == 3  # nobody was asked a second time
    assert outcome.metrics.agreement == (1.0,) and outcome.metrics.answer_changes == 0


async def test_two_one_split_is_resolved_by_majority() -> None:
    d, _ = debate({
        "debater-1": ["Answer: 156", "Answer: 156"],
        "debater-2": ["Answer: 156", "Answer: 156"],
        "debater-3": ["Answer: 144", "Still 144. Answer: 144"],
    })
    outcome = await d.run()
    assert outcome.stop == "max_rounds" and outcome.convergence_round is None
    assert outcome.rounds_used == 2
    assert outcome.decision == "accept" and outcome.answer == "156"
    assert outcome.verdict.votes == {"156": 2, "144": 1}
    assert "2 of 3" in outcome.reason
    assert outcome.metrics.agreement == pytest.approx((2 / 3, 2 / 3))


async def test_no_majority_is_discarded_with_its_reason() -> None:
    d, _ = debate({
        "debater-1": ["Answer: 156", "Answer: 156"],
        "debater-2": ["Answer: 144", "Answer: 144"],
        "debater-3": ["Answer: 12", "Answer: 13"],
    })
    outcome = await d.run()
    assert outcome.decision == "discard" and outcome.answer is None
    assert "no consensus" in outcome.reason
    assert outcome.metrics.answer_changes == 1  # debater-3: 12 -> 13
    assert outcome.rounds[1].changed == ("debater-3",)


async def test_a_failing_debater_is_excluded_and_reported() -> None:
    d, model = debate({
        "debater-1": ["Answer: 156", "Answer: 156"],
        "debater-2": [ModelError("context window exceeded")],
        "debater-3": ["Answer: 144", "You convinced me. Answer: 156"],
    })
    outcome = await d.run()
    assert outcome.failed == {"debater-2": "ModelError: context window exceeded"}
    assert len(model.calls_of("debater-2")) == 1  # not asked again after failing
    assert outcome.answers[0]["debater-2"] is None and outcome.answers[1]["debater-2"] is None
    # The two who answered converge in round 2; the failed one does not vote.
    assert outcome.stop == "converged" and outcome.convergence_round == 2
    assert outcome.decision == "accept" and outcome.verdict.votes == {"156": 2}
    assert outcome.metrics.majority_flipped is False
    assert outcome.metrics.majorities == (None, "156")
    round_two = model.calls_of("debater-1")[1].messages[-1].content
    assert "debater-2" not in round_two


async def test_round_two_carries_exactly_the_others_answers_not_their_contexts() -> None:
    personas = {
        "debater-1": "SECRET-PERSONA-ONE: you are a cautious accountant.",
        "debater-2": "SECRET-PERSONA-TWO: you are a bold physicist.",
        "debater-3": "SECRET-PERSONA-THREE: you are a poet.",
    }
    d, model = debate({
        "debater-1": ["R1-TEXT-ONE Answer: 156", "Answer: 156"],
        "debater-2": ["R1-TEXT-TWO Answer: 144", "Answer: 156"],
        "debater-3": ["R1-TEXT-THREE Answer: 150", "Answer: 156"],
    }, personas=personas)
    outcome = await d.run()
    assert outcome.convergence_round == 2
    texts = {"debater-1": "R1-TEXT-ONE", "debater-2": "R1-TEXT-TWO", "debater-3": "R1-TEXT-THREE"}
    for name in texts:
        first, second = model.calls_of(name)
        assert first.messages[0].content == personas[name]
        assert len(first.messages) == 2  # its persona and the question, nothing else
        # Round 2 extends its own conversation by one user turn.
        assert second.messages[:3] == (*first.messages, second.messages[2])
        assert second.messages[2].role == "assistant"
        assert second.messages[2].content.startswith(texts[name])
        update = second.messages[3].content
        for other, text in texts.items():
            if other == name:
                assert text not in update  # its own answer is in its context, not re-sent
            else:
                assert f"{other}:\n{text}" in update
        seen = "\n".join(m.content for m in second.messages)
        for other, persona in personas.items():
            if other != name:
                assert persona not in seen, f"{name} saw {other}'s hidden persona"


async def test_debate_requests_on_the_bus_carry_the_others_round_one_answers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "debate.jsonl"
    writer = TranscriptWriter(path, TranscriptHeader(session="x", mode="debate"))
    d, _ = debate({
        "debater-1": ["Answer: 1", "Answer: 156"],
        "debater-2": ["Answer: 2", "Answer: 156"],
        "debater-3": ["Answer: 3", "Answer: 156"],
    }, transcript=writer)
    outcome = await d.run()
    writer.close()
    transcript = read_transcript(path)
    requests = [p for p in transcript.payloads("debate_request")]
    assert len(requests) == 6
    round_one = {
        a.debater: a for p in transcript.payloads("debate_round")
        if isinstance(p, DebateRound) and p.round == 1 for a in p.answers
    }
    for request in requests:
        assert isinstance(request, DebateRequest)
        if request.round == 1:
            assert request.others == ()
            continue
        others = {a.debater: a.text for a in request.others}
        assert others == {n: a.text for n, a in round_one.items() if n != request.debater}
    assert isinstance(transcript.envelopes[-1].payload, DebateOutcome)
    assert transcript.envelopes[-1].payload == outcome
    assert sum(isinstance(p, Answer) for p in transcript.payloads("answer")) == 6


async def test_critics_review_answers_and_the_debaters_see_their_critiques() -> None:
    critique = json.dumps({"problems": ["CRIT-PROBLEM"], "suggestion": "recheck", "score": 4})
    d, model = debate({
        "debater-1": ["Answer: 156", "Answer: 156"],
        "debater-2": ["Answer: 144", "Answer: 156"],
        "correctness": [critique, critique],
    }, n=2, critics=["correctness"])
    outcome = await d.run()
    assert len(model.calls_of("correctness")) == 2  # each round-1 answer, not the last round
    assert len(outcome.rounds[0].critiques) == 2
    assert {c.debater for c in outcome.rounds[0].critiques} == {"debater-1", "debater-2"}
    update = model.calls_of("debater-1")[1].messages[-1].content
    assert "CRIT-PROBLEM" in update and "correctness on debater-2's answer" in update
    assert outcome.decision == "accept" and outcome.answer == "156"


async def test_configurable_majority_converges_early() -> None:
    d, _ = debate({
        "debater-1": ["Answer: 156"], "debater-2": ["Answer: 156"], "debater-3": ["Answer: 1"],
    }, converge_at=0.6)
    outcome = await d.run()
    assert outcome.stop == "converged" and outcome.convergence_round == 1
    assert outcome.answer == "156"


async def test_majority_flip_and_changes_are_counted() -> None:
    d, _ = debate({
        "debater-1": ["Answer: 144", "Answer: 156", "Answer: 156"],
        "debater-2": ["Answer: 144", "Answer: 156", "Answer: 156"],
        "debater-3": ["Answer: 156", "Answer: 156", "Answer: 156"],
    }, rounds=3)
    outcome = await d.run()
    assert outcome.metrics.majorities == ("144", "156")
    assert outcome.metrics.majority_flipped is True
    assert outcome.metrics.answer_changes == 2
    assert outcome.convergence_round == 2 and outcome.rounds_used == 2


async def test_llm_judge_picks_an_answer_and_falls_back_to_the_vote() -> None:
    said = json.dumps({"reason": "156 is 12 times 13", "decision": "accept", "answer": "156"})
    d, model = debate({
        "debater-1": ["Answer: 156"], "debater-2": ["Answer: 144"], "debate-judge": [said],
    }, n=2, rounds=1, judge="debate-judge")
    outcome = await d.run()
    assert outcome.decision == "accept" and outcome.answer == "156"
    assert outcome.reason.startswith("debate-judge: ")
    judge_prompt = model.calls_of("debate-judge")[0].messages[-1].content
    # Blind by default: neutral labels, no debater names.
    assert QUESTION in judge_prompt and "Answer 1:\n" in judge_prompt
    assert "Answer 2:\n" in judge_prompt and "debater-" not in judge_prompt
    assert sorted(outcome.verdict.shown) == ["debater-1", "debater-2"]

    broken = ModelError("judge down")
    d, _ = debate({
        "debater-1": ["Answer: 156"], "debater-2": ["Answer: 144"], "debate-judge": [broken],
    }, n=2, rounds=1, judge="debate-judge")
    outcome = await d.run()
    assert outcome.decision == "discard" and "the majority vote decided" in outcome.reason


async def test_a_debater_that_hangs_times_out_and_is_excluded() -> None:
    d, _ = debate({
        "debater-1": ["Answer: 156"], "debater-2": ["Answer: 156"], "debater-3": ["Answer: 1"],
    }, rounds=1, delays={"debater-3": math.inf}, timeout=0.3)
    outcome = await d.run()  # a hang here fails on the per-test timeout
    assert set(outcome.failed) == {"debater-3"}
    assert outcome.stop == "converged" and outcome.answer == "156"


def test_bad_settings_are_config_errors() -> None:
    model = ScriptedModel()
    one = [LLMDebater("a", model.backend("a"))]
    with pytest.raises(ConfigError, match="--rounds"):
        Debate(QUESTION, one, rounds=0)
    with pytest.raises(ConfigError, match="--converge-at"):
        Debate(QUESTION, one, converge_at=0.5)
    with pytest.raises(ConfigError, match="share a name"):
        Debate(QUESTION, [*one, LLMDebater("a", model.backend("a"))])
    with pytest.raises(ConfigError, match="empty"):
        Debate("  ", one)


async def test_critic_replay_renders_a_debate_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from critic.cli.main import main

    path = tmp_path / "debate.jsonl"
    writer = TranscriptWriter(path, TranscriptHeader(session="x", mode="debate"))
    d, _ = debate({
        "debater-1": ["Answer: 144", "Answer: 156"],
        "debater-2": ["Answer: 156", "Answer: 156"],
        "debater-3": [ModelError("boom")],
    }, transcript=writer)
    await d.run()
    writer.close()
    capsys.readouterr()
    assert main(["replay", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "round 1 · agreement 0.50" in shown and "round 2 · agreement 1.00" in shown
    assert "converged" in shown and "debate outcome" in shown
    round_two = shown[shown.index("round 2"):]
    assert "changed" in round_two.split("debater-2")[0]  # debater-1 changed its mind
    assert "changed" not in shown[: shown.index("round 2")]
    assert "excluded debater-3: ModelError: boom" in shown


class Rendezvous:
    """Backends that answer only once all ``n`` of them have been called.

    Debaters asked one after another would wait for each other until their
    timeout and be excluded; asked concurrently, all answer. No clock decides.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.all_here = anyio.Event()

    def wrap(self, backend: Backend) -> Backend:
        meeting = self

        class Waiting:
            name = backend.name

            async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams,
                               schema: JsonSchema | None = None) -> Completion:
                meeting.arrived += 1
                if meeting.arrived == meeting.n:
                    meeting.all_here.set()
                await meeting.all_here.wait()
                return await backend.complete(messages, params, schema)

        return Waiting()


async def test_the_debaters_of_a_round_answer_concurrently() -> None:
    d, _ = debate({f"debater-{i}": ["Answer: 156"] for i in (1, 2, 3)}, rounds=1, timeout=60)
    meeting = Rendezvous(3)
    for debater in d.debaters:
        assert isinstance(debater, LLMDebater)
        debater.backend = meeting.wrap(debater.backend)
    outcome = await d.run()
    assert outcome.failed == {} and outcome.answer == "156"


def test_debater_settings_come_from_the_role_only_where_it_sets_them() -> None:
    from critic.config import DebateConfig
    from critic.debate.run import debater_params
    from critic.roles.spec import Role, RoleSpec

    config = DebateConfig(question="q", seed=10, temperature=0.7, max_tokens=64)
    assert debater_params(config, None, 2).model_dump(exclude={"fresh_context"}) == {
        "max_tokens": 64, "temperature": 0.7, "seed": 12,
    }
    hot = Role(RoleSpec(name="hot", description="d", kind="debater", temperature=1.2), "test")
    assert debater_params(config, hot, 1).model_dump(exclude={"fresh_context"}) == {
        "max_tokens": 64, "temperature": 1.2, "seed": 11,
    }
    fixed = Role(RoleSpec(name="f", description="d", kind="debater", seed=5, max_tokens=9), "t")
    assert debater_params(config, fixed, 1).model_dump(exclude={"fresh_context"}) == {
        "max_tokens": 9, "temperature": 0.7, "seed": 5,
    }


async def test_every_debater_failing_is_a_discard() -> None:
    d, _ = debate({"debater-1": [ModelError("a")], "debater-2": [ModelError("b")]}, n=2)
    outcome = await d.run()
    assert outcome.decision == "discard" and outcome.stop == "no_debaters"
    assert outcome.rounds_used == 1 and set(outcome.failed) == {"debater-1", "debater-2"}
    assert "no debater answered" in outcome.reason


async def _ignore(call: ModelCall) -> None:
    return None


async def test_a_blind_judge_sees_a_seeded_shuffle_under_neutral_labels(tmp_path: Path) -> None:
    """The transcript records the order the judge saw; replaying the recorded judge request
    with the recorded completion (no model) reproduces the verdict and the exact prompt."""
    said = json.dumps({"reason": "most agree", "decision": "accept", "answer": "156"})
    values = {f"debater-{i}": v for i, v in enumerate((156, 144, 156, 150, 156), 1)}
    orders = set()
    for seed in range(6):
        path = tmp_path / f"debate-{seed}.jsonl"
        writer = TranscriptWriter(path, TranscriptHeader(session="x", mode="debate"))
        scripts: dict[str, list[Reply]] = {n: [f"Answer: {v}"] for n, v in values.items()}
        d, model = debate({**scripts, "debate-judge": [said]}, n=5, rounds=1,
                          judge="debate-judge", transcript=writer)
        assert isinstance(d.judge, LLMDebateJudge)
        d.judge.seed = seed
        outcome = await d.run()
        writer.close()
        prompt = model.calls_of("debate-judge")[0].messages[-1].content
        shown = outcome.verdict.shown
        assert sorted(shown) == [f"debater-{i}" for i in range(1, 6)]
        orders.add(shown)
        # What the transcript says the judge saw is what its prompt held, label by label.
        for i, name in enumerate(shown, 1):
            assert f"Answer {i}:\nAnswer: {values[name]}" in prompt
        transcript = read_transcript(path)
        [request] = transcript.payloads("debate_judge_request")
        [verdict] = transcript.payloads("debate_verdict")
        [call] = [c for c in transcript.payloads("model_call")
                  if isinstance(c, ModelCall) and c.agent == "debate-judge"]
        assert isinstance(request, DebateJudgeRequest) and isinstance(verdict, DebateVerdict)
        assert verdict.shown == shown
        replayed_model = ScriptedModel(scripts={"debate-judge": [call.completion or ""]})
        replay = LLMDebateJudge(ROLES.get("debate-judge"),
                                replayed_model.backend("debate-judge"), seed=seed)
        again = await replay.decide(request, _ignore)
        assert again.model_copy(update={"usage": verdict.usage}) == verdict
        assert replayed_model.calls[0].messages == call.messages
    # Seeds change the order (6 seeds over 120 orders: all equal would be a broken shuffle).
    assert len(orders) > 1


async def test_a_judge_that_is_not_blind_sees_names_in_the_debaters_order() -> None:
    said = json.dumps({"reason": "r", "decision": "accept", "answer": "156"})
    d, model = debate({
        "debater-1": ["Answer: 156"], "debater-2": ["Answer: 144"], "debate-judge": [said],
    }, n=2, rounds=1, judge="debate-judge")
    assert isinstance(d.judge, LLMDebateJudge)
    d.judge.blind = False
    outcome = await d.run()
    prompt = model.calls_of("debate-judge")[0].messages[-1].content
    assert prompt.index("debater-1:\nAnswer: 156") < prompt.index("debater-2:\nAnswer: 144")
    assert outcome.verdict.shown == ()
