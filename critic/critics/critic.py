"""The LLM critic: renders its role's templates and asks for a structured critique.

Context separation is structural: a critic is handed a :class:`ReviewRequest`
(task and draft, nothing else) and starts a fresh conversation from its own
templates, so it never sees the generator's system prompt or history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from critic.errors import CriticError
from critic.messages import ChatMessage, Critique, ReviewRequest
from critic.protocols import Backend, Recorder
from critic.roles.spec import RoleCritic
from critic.structured import complete_structured


class CritiqueOutput(BaseModel):
    """What an LLM critic must return (the score's range is set per role)."""

    model_config = ConfigDict(extra="forbid")

    # Length caps go into the JSON schema, so constrained decoding cannot
    # run away in a repetition loop (small models do).
    problems: list[Annotated[str, Field(max_length=200)]] = Field(max_length=4)
    suggestion: str = Field(max_length=300)
    score: int


def critique_schema(low: float, high: float) -> type[CritiqueOutput]:
    """The output model of a role with score range [low, high]: critique first, then score."""
    lo, hi = math.ceil(low), math.floor(high)
    if hi - lo <= 100:
        # An enum is enforced by grammar-constrained decoding; min/max are not.
        allowed: Any = Literal.__getitem__(tuple(range(lo, hi + 1)))
        return create_model("CritiqueOutput", __base__=CritiqueOutput, score=(allowed, ...))
    return create_model(
        "CritiqueOutput", __base__=CritiqueOutput, score=(int, Field(ge=lo, le=hi))
    )


@dataclass
class LLMCritic(RoleCritic):
    """A prompt-based critic: renders its role's templates, asks for a structured critique."""

    backend: Backend
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""

    def __post_init__(self) -> None:
        if self.role.prompt is None:
            raise CriticError(f"role {self.role.name!r} has no prompt template")
        self._output = critique_schema(*self.role.spec.scale)

    def messages(self, request: ReviewRequest) -> list[ChatMessage]:
        """The whole context of one review: built from the request alone."""
        task = request.task
        variables = {
            "task": task.prompt, "draft": request.draft.text, "round": request.draft.round,
            "reference": task.reference, "tests": task.tests, "feedback": None,
        }
        return self.role.messages(**variables)

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        spec = self.role.spec
        output = await complete_structured(
            self.backend, self.messages(request), self._output, self.role.params(self.seed),
            agent=self.name, record=record, attempts=self.attempts,
        )
        return Critique(
            role=self.name, round=request.draft.round, score=spec.normalize(output.score),
            raw_score=output.score, problems=tuple(p.strip() for p in output.problems if p.strip()),
            suggestion=output.suggestion.strip(), weight=spec.weight,
        )
