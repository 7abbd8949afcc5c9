"""Every built-in role on the real SmolLM2 model: a valid critique, a valid verdict.

Model tests run on asyncio only: the scripted tests already cover trio, and
each real generation costs seconds on these 2-core machines.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from critic import (
    Draft,
    JudgeRequest,
    LlamaCppModel,
    LLMCritic,
    ModelCall,
    PromptLibrary,
    ReviewRequest,
    Role,
    RoleRegistry,
    Task,
    ThresholdJudge,
)
from critic.judges.llm import JudgeOutput, LLMJudge
from critic.messages import Critique
from critic.prompts import package_data_dir
from critic.roles.spec import load_role_file

pytestmark = [pytest.mark.anyio, pytest.mark.model]

BUILTIN = RoleRegistry(include_plugins=False, env_path="")


def builtin_role_files() -> dict[str, tuple[str, Path]]:
    """Name -> (kind, file) of each built-in role, read without loading any template.

    Each test loads only its own role, so one broken role fails one test, not collection.
    """
    files = {}
    for path in package_data_dir("roles").glob("*.toml"):
        spec = tomllib.loads(path.read_text())
        files[spec["name"]] = (spec.get("kind", "llm"), path)
    return files


ROLE_FILES = builtin_role_files()
CRITIC_ROLES = sorted(n for n, (kind, _) in ROLE_FILES.items() if kind == "llm")


def builtin(name: str) -> Role:
    return load_role_file(ROLE_FILES[name][1], PromptLibrary(), source="builtin")
TASK = Task(prompt="Write a Python function that reverses a string.")
DRAFT = Draft(round=1, text="```python\ndef reverse(s):\n    return s[::-1]\n```")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def model(model_path: Path) -> AsyncIterator[LlamaCppModel]:
    loaded = LlamaCppModel(model_path, n_ctx=2048)
    yield loaded
    await loaded.aclose()


class Calls(list[ModelCall]):
    async def __call__(self, call: ModelCall) -> None:
        self.append(call)


def test_the_library_is_complete() -> None:
    roles = BUILTIN.load()
    assert set(roles) >= {"correctness", "clarity", "concision", "factuality", "safety",
                          "instruction-following", "llm-judge"}
    assert roles["llm-judge"].spec.kind == "judge"
    assert all(r.spec.description and "\n" not in r.spec.description for r in roles.values())
    # The safety role carries its constitution and asks for the critique before the score.
    safety = roles["safety"].prompt
    assert safety is not None
    text = safety.render(task="T", draft="D", round=1, feedback=None, reference=None, tests=None)
    assert "constitution" in text and text.index("critique") < text.index("score safety")


@pytest.mark.parametrize("name", CRITIC_ROLES)
async def test_builtin_critic_returns_a_valid_critique(model: LlamaCppModel, name: str) -> None:
    critic = LLMCritic(builtin(name), model.backend(name), seed=0)
    record = Calls()
    critique = await critic.review(ReviewRequest(task=TASK, draft=DRAFT, role=name), record)
    assert isinstance(critique, Critique)
    assert critique.status == "ok" and critique.role == name
    assert critique.score is not None and 0.0 <= critique.score <= 1.0
    assert critique.raw_score is not None and 1 <= critique.raw_score <= 10
    assert record and record[-1].status == "ok" and record[-1].json_schema
    assert TASK.prompt in record[-1].messages[-1].content


async def test_llm_judge_on_the_local_model(model: LlamaCppModel) -> None:
    judge = LLMJudge(builtin("llm-judge"), model.backend("llm-judge"),
                     ThresholdJudge(max_rounds=3), seed=0)
    critique = Critique(role="clarity", round=1, score=0.6, raw_score=6.4,
                        problems=("no docstring",), suggestion="add a docstring")
    record = Calls()
    verdict = await judge.judge(JudgeRequest(task=TASK, draft=DRAFT, critiques=(critique,)), record)
    assert verdict.decision in {"accept", "revise", "discard"}
    assert verdict.reason.startswith("llm-judge: ")  # the model decided, not the fallback
    assert [c.status for c in record] == ["ok"]
    output = JudgeOutput.model_validate_json(record[0].completion or "")
    assert output.decision == verdict.decision
    assert "no docstring" in record[0].messages[-1].content
