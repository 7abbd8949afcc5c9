"""The LLM judge: decides from task, draft and critiques, never past the stop rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from critic import (
    ConfigError,
    Critique,
    Draft,
    JudgeRequest,
    LLMCritic,
    LLMGenerator,
    MemoryBus,
    ModelCall,
    PromptLibrary,
    Role,
    RoleRegistry,
    RoleSpec,
    Session,
    Task,
    ThresholdJudge,
    Verdict,
)
from critic.backends.pool import ModelPool
from critic.backends.scripted import Reply
from critic.judges.llm import JudgeOutput, LLMJudge
from critic.judges.select import build_judge
from critic.prompts import TEMPLATE_VARIABLES
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

ROLES = RoleRegistry(include_plugins=False)
TASK = Task(prompt="Write a Python function that reverses a string.")
DRAFT = Draft(round=1, text="def rev(s):\n    return s[::-1]")


def decision(decision: str, reason: str = "the reviews agree") -> str:
    return json.dumps({"reason": reason, "decision": decision})


def scored(score: float, problem: str = "no docstring") -> Critique:
    return Critique(role="clarity", round=1, score=score, raw_score=score * 10,
                    problems=(problem,), suggestion="add a docstring")


def request(*critiques: Critique, round: int = 1) -> JudgeRequest:
    return JudgeRequest(task=TASK, draft=DRAFT.model_copy(update={"round": round}),
                        critiques=critiques)


def judge(replies: list[Reply], *, max_rounds: int = 3) -> tuple[LLMJudge, ScriptedModel]:
    model = ScriptedModel(scripts={"llm-judge": replies})
    rules = ThresholdJudge(accept_at=0.8, max_rounds=max_rounds)
    return LLMJudge(ROLES.get("llm-judge"), model.backend("llm-judge"), rules, seed=0), model


class Calls(list[ModelCall]):
    async def __call__(self, call: ModelCall) -> None:
        self.append(call)


async def test_accept_reads_task_draft_and_critiques() -> None:
    j, model = judge([decision("accept", "correct and short")])
    record = Calls()
    verdict = await j.judge(request(scored(0.5, "SPECIFIC-PROBLEM")), record)
    assert (verdict.decision, verdict.stop) == ("accept", "accepted")
    assert verdict.reason.startswith("llm-judge: correct and short")
    assert verdict.scores == {"clarity": 0.5} and verdict.aggregate == 0.5
    [call] = model.calls_of("llm-judge")
    prompt = call.messages[-1].content
    assert TASK.prompt in prompt and DRAFT.text in prompt and "SPECIFIC-PROBLEM" in prompt
    assert call.messages[0].role == "system"
    assert call.schema == JudgeOutput.model_json_schema()
    assert len(record) == 1 and record[0].agent == "llm-judge"


async def test_revise_carries_the_judges_reason_to_the_generator() -> None:
    j, _ = judge([decision("revise", "needs a docstring")])
    verdict = await j.judge(request(scored(0.9)), Calls())
    assert (verdict.decision, verdict.stop) == ("revise", None)
    assert "Judge: needs a docstring" in verdict.feedback
    assert "add a docstring" in verdict.feedback


async def test_never_revises_past_max_rounds() -> None:
    j, _ = judge([decision("revise")], max_rounds=2)
    verdict = await j.judge(request(scored(0.5), round=2), Calls())
    assert (verdict.decision, verdict.stop) == ("discard", "max_rounds")
    assert "llm-judge asked to revise; the stop rules decide" in verdict.reason


async def test_discard_stands_with_stop_judge() -> None:
    j, _ = judge([decision("discard", "off task")])
    verdict = await j.judge(request(scored(0.9)), Calls())
    assert (verdict.decision, verdict.stop) == ("discard", "judge")
    assert "off task" in verdict.reason


@pytest.mark.parametrize("round", [1, 3])
async def test_no_scored_critique_cannot_accept_and_is_not_asked(round: int) -> None:
    j, model = judge([decision("accept")])
    failed = Critique(role="clarity", round=round, status="error", error="boom")
    verdict = await j.judge(request(failed, round=round), Calls())
    # The rules stop at once (no blind revision), and the model is never asked.
    assert (verdict.decision, verdict.stop) == ("discard", "no_scores")
    assert model.calls_of("llm-judge") == []


async def test_malformed_output_falls_back_to_the_rules() -> None:
    j, model = judge(["not json", '{"decision": "maybe"}', "{}"])
    verdict = await j.judge(request(scored(0.9)), Calls())
    assert (verdict.decision, verdict.stop) == ("accept", "accepted")  # the threshold rules
    assert "llm-judge failed" in verdict.reason
    assert len(model.calls_of("llm-judge")) == 3


def test_build_judge_by_name() -> None:
    rules = ThresholdJudge(max_rounds=2)
    pool = ModelPool("/no/such.gguf")
    assert build_judge("threshold", ROLES, pool, rules) is rules
    with pytest.raises(ConfigError, match=r"unknown judge 'nope' \(judges: threshold, ") as info:
        build_judge("nope", ROLES, pool, rules)
    assert "llm-judge" in str(info.value) and "clarity" not in str(info.value)
    with pytest.raises(ConfigError, match="role 'clarity' is a critic"):
        build_judge("clarity", ROLES, pool, rules)


async def test_session_with_the_llm_judge_records_its_calls() -> None:
    model = ScriptedModel(scripts={
        "generator": ["draft one", "draft two"],
        "correctness": [json.dumps({"problems": ["x"], "suggestion": "y", "score": 9})] * 2,
        "llm-judge": [decision("revise", "try again"), decision("accept", "good now")],
    })
    rules = ThresholdJudge(accept_at=0.8, max_rounds=3)
    session = Session(
        TASK, LLMGenerator(model.backend("generator")),
        LLMJudge(ROLES.get("llm-judge"), model.backend("llm-judge"), rules, seed=0),
        [LLMCritic(ROLES.get("correctness"), model.backend("correctness"), seed=0)],
        bus=MemoryBus(serialize=True),
    )
    seen: list[Verdict] = []
    session.observer = lambda e: seen.append(e.payload) if isinstance(e.payload, Verdict) else None
    outcome = await session.run()
    assert outcome.decision == "accept" and outcome.rounds == 2
    assert [v.decision for v in seen] == ["revise", "accept"]
    # The generator's second turn got the judge's reason, and no critic context.
    revise_prompt = model.calls_of("generator")[1].messages[-1].content
    assert "Judge: try again" in revise_prompt


def test_a_judge_role_needing_other_variables_fails_at_construction(tmp_path: Path) -> None:
    (tmp_path / "debate.j2").write_text("{{ task }}\n{{ answers }}")
    check = {**TEMPLATE_VARIABLES, "answers": "ANSWERS"}  # as a debate loop would render it
    template = PromptLibrary([tmp_path]).load("debate.j2", check=check)
    spec = RoleSpec(name="debate-ish", description="d", kind="judge", prompt="debate.j2")
    role = Role(spec, f"dir:{tmp_path}", tmp_path / "debate-ish.toml", template)
    with pytest.raises(ConfigError, match=r"cannot judge a critique session: .*'answers' is undefined"):
        LLMJudge(role, ScriptedModel().backend("debate-ish"))
