"""A judge role's model scoring one answer, shown under a label: what the length,
identity and self-preference probes of :mod:`critic.calibration.probes` measure.

The label is shown on purpose (the identity probe swaps a name for "Answer 1"),
so a run that must not show names passes the neutral label.

    scorer = LLMAnswerScorer(registry.get("llm-judge"), model.backend("scorer"))
    score = await scorer.score(question, answer, "Answer 1", record)   # in [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from critic.errors import ConfigError
from critic.messages import ChatMessage
from critic.protocols import Backend, Recorder
from critic.roles.spec import Role
from critic.structured import complete_structured

#: What a pointwise judge is asked; the role contributes its system prompt, model and sampling.
SCORE_PROMPT = """Question:
{question}

{label}:
{answer}

How well does this answer answer the question? Give a one-sentence reason first, then a
grade from 0 (wrong or useless) to 4 (correct and complete)."""


class ScoreOutput(BaseModel):
    """The reason first, then a grade on a 5-point scale (an enum, so decoding cannot wander)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300)
    grade: Literal[0, 1, 2, 3, 4]


@dataclass
class LLMAnswerScorer:
    """Grades one answer 0-4 on a judge role's model; :meth:`score` returns grade / 4."""

    role: Role
    backend: Backend
    seed: int | None = None
    attempts: int = 3

    def __post_init__(self) -> None:
        if self.role.spec.kind != "judge":
            raise ConfigError(
                f"role {self.role.name!r} is not a judge role (kind {self.role.spec.kind!r})"
            )

    async def score(self, question: str, answer: str, label: str, record: Recorder) -> float:
        messages = ([ChatMessage(role="system", content=self.role.system.render(task=question))]
                    if self.role.system is not None else [])
        messages.append(ChatMessage(role="user", content=SCORE_PROMPT.format(
            question=question, label=label, answer=answer)))
        output = await complete_structured(
            self.backend, messages, ScoreOutput, self.role.params(self.seed),
            agent=self.role.name, record=record, attempts=self.attempts,
        )
        return output.grade / 4
