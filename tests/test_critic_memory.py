"""Critic memory as a stated choice: ``memory = "none" | "session"``, and clean scoring."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from critic import LLMCritic, LLMGenerator, RoleRegistry, Session, Task
from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import LlamaCppModel
from critic.bus.memory import MemoryBus
from critic.errors import ConfigError
from critic.judges.rules import ThresholdJudge
from critic.messages import ChatMessage, Draft, ModelCall, ReviewRequest
from critic.prompts import PromptLibrary
from critic.roles.spec import Role, load_role_file
from critic.scoring.records import ScoreRecord
from critic.scoring.results import ScoreResult
from critic.scoring.scorer import Scorer, default_judge
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

ROLES = RoleRegistry()
TASK = Task(prompt="Write a function that reverses a string.")


def role(name: str = "correctness", **update: object) -> Role:
    base = ROLES.get(name)
    return dataclasses.replace(base, spec=base.spec.model_copy(update=update))


def critique(score: int, problem: str) -> str:
    return json.dumps({"problems": [problem], "suggestion": f"fix {problem}", "score": score})


async def no_record(call: ModelCall) -> None:
    return None


def test_memory_is_none_unless_a_role_says_otherwise(tmp_path: Path) -> None:
    assert ROLES.get("correctness").spec.memory == "none"
    (tmp_path / "p.j2").write_text("Review {{ draft }}")
    good = tmp_path / "good.toml"
    good.write_text('name = "good"\ndescription = "d"\nprompt = "p.j2"\nmemory = "session"\n')
    assert load_role_file(good, PromptLibrary()).spec.memory == "session"
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ndescription = "d"\nprompt = "p.j2"\nmemory = "forever"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: memory: "):
        load_role_file(bad, PromptLibrary())


async def test_without_memory_every_review_starts_clean() -> None:
    model = ScriptedModel(scripts={
        "generator": ["D1", "D2"], "correctness": [critique(2, "P-ONE"), critique(10, "none")],
    })
    session = Session(TASK, LLMGenerator(model.backend("generator")),
                      ThresholdJudge(accept_at=0.9, max_rounds=2),
                      [LLMCritic(role(), model.backend("correctness"), seed=0)],
                      bus=MemoryBus(serialize=True))
    await session.run()
    calls = model.calls_of("correctness")
    assert len(calls) == 2
    for call in calls:
        assert len(call.messages) == 2 and call.params.fresh_context
        assert "P-ONE" not in "\n".join(m.content for m in call.messages)


async def test_session_memory_keeps_one_conversation_per_session() -> None:
    model = ScriptedModel(scripts={
        "generator": ["D1", "D2", "E1"],
        "correctness": [critique(2, "P-ONE"), critique(10, "none"), critique(10, "none")],
    })
    critic = LLMCritic(role(memory="session"), model.backend("correctness"), seed=0)
    session = Session(TASK, LLMGenerator(model.backend("generator")),
                      ThresholdJudge(accept_at=0.9, max_rounds=2), [critic],
                      bus=MemoryBus(serialize=True))
    await session.run()
    first, second = model.calls_of("correctness")
    assert first.params.fresh_context and len(first.messages) == 2
    # Round 2 sees its own round-1 review, exactly as the model wrote it.
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user"]
    assert second.messages[:2] == first.messages
    assert second.messages[2] == ChatMessage(role="assistant", content=critique(2, "P-ONE"))
    assert "D2" in second.messages[3].content and not second.params.fresh_context
    assert [m.role for m in critic.remembered(session.id)][-2:] == ["user", "assistant"]
    assert len(critic.remembered(session.id)) == 5
    # Another session starts from nothing, and so does a review with no session.
    other = Session(TASK, LLMGenerator(model.backend("generator")),
                    ThresholdJudge(accept_at=0.9, max_rounds=1), [critic],
                    bus=MemoryBus(serialize=True))
    await other.run()
    third = model.calls_of("correctness")[2]
    assert len(third.messages) == 2 and third.params.fresh_context
    assert "P-ONE" not in "\n".join(m.content for m in third.messages)


async def test_scoring_reviews_each_record_clean_even_with_session_memory() -> None:
    model = ScriptedModel(default=critique(5, "meh"))
    critic = LLMCritic(role(memory="session"), model.backend("correctness"), seed=0)
    scorer = Scorer([critic], default_judge())
    for i in range(3):
        await scorer.score(ScoreRecord(id=f"r{i}", input="task", output=f"out {i}"))
    calls = model.calls_of("correctness")
    assert len(calls) == 3
    assert all(len(c.messages) == 2 and c.params.fresh_context for c in calls)
    assert not critic._memory  # nothing remembered between records


# --- on the real model -------------------------------------------------------------------

RECORDS = [
    ScoreRecord(id="add", input="Write a Python function add(a, b) returning a + b.",
                output="def add(a, b):\n    print(a - b)"),
    ScoreRecord(id="cap", input="What is the capital of France?", output="Paris."),
    ScoreRecord(id="sort", input="Sort the list [3, 1, 2] in ascending order.",
                output="[3, 2, 1]"),
]


def comparable(result: ScoreResult) -> dict[str, object]:
    """What a score is: per role the score, raw score, problems and suggestion."""
    return {name: (c.status, c.score, c.raw_score, c.problems, c.suggestion, c.usage.prompt_tokens)
            for name, c in result.critiques.items()}


async def score_in_order(model: LlamaCppModel, order: list[ScoreRecord]) -> dict[str, object]:
    # One critic on one context for the whole run: every record follows another's prompt.
    critic = LLMCritic(role("correctness", max_tokens=120), model.backend("correctness"), seed=0)
    scorer = Scorer([critic], default_judge())
    results = [await scorer.score(r) for r in order]
    assert all(not r.failed for r in results)  # compare real scores, not failures
    return {r.id: comparable(r) for r in results}


async def test_scores_do_not_depend_on_record_order_on_the_real_model(model_path: Path) -> None:
    """Issue 13 (5): the same records in two orders give identical scores."""
    model = LlamaCppModel(model_path, n_ctx=2048)
    forward = await score_in_order(model, RECORDS)
    backward = await score_in_order(model, list(reversed(RECORDS)))
    assert forward == backward
    # ...and equal to a record scored alone, on a context that never saw another.
    last = RECORDS[-1]
    assert (await score_in_order(model, [last]))[last.id] == forward[last.id]


async def test_fresh_context_drops_the_cached_prompt_on_the_real_model(model_path: Path) -> None:
    model = LlamaCppModel(model_path, n_ctx=2048)
    backend = model.backend("critic")
    first = [ChatMessage(role="system", content="You review answers."),
             ChatMessage(role="user", content="Review: Paris is the capital of France.")]
    second = [first[0], ChatMessage(role="user", content="Review: 2 + 2 = 5.")]
    params = GenerationParams(max_tokens=24, seed=0)
    await backend.complete(first, params)
    reused = await backend.complete(second, params)
    assert reused.usage.prompt_evaluated is not None
    assert reused.usage.prompt_evaluated < reused.usage.prompt_tokens  # the prefix was cached
    await backend.complete(first, params)
    clean = await backend.complete(second, params.model_copy(update={"fresh_context": True}))
    assert clean.usage.prompt_evaluated == clean.usage.prompt_tokens
    new = await model.backend("new").complete(second, params)
    assert clean.text == new.text


async def test_critic_memory_on_the_real_model(model_path: Path) -> None:
    model = LlamaCppModel(model_path, n_ctx=2048)
    critic = LLMCritic(role(memory="session", max_tokens=120), model.backend("m"), seed=0)
    calls: list[ModelCall] = []

    async def record(call: ModelCall) -> None:
        calls.append(call)

    last_of_round: list[ModelCall] = []
    for round, text in ((1, "def rev(s): return s"), (2, "def rev(s): return s[::-1]")):
        request = ReviewRequest(task=TASK, draft=Draft(round=round, text=text),
                                role="correctness", session="S")
        critique = await critic.review(request, record)
        assert critique.scored
        last_of_round.append(calls[-1])
    one, two = last_of_round
    assert one.params.get("context") == "fresh"
    assert two.params.get("context") is None  # round 2 continued the conversation
    assert two.messages[2] == ChatMessage(role="assistant", content=one.completion or "")
    # The conversation stayed in the backend: round 1's whole prompt was not evaluated again.
    evaluated = two.usage.prompt_evaluated
    assert evaluated is not None
    assert evaluated < two.usage.prompt_tokens - one.usage.prompt_tokens
