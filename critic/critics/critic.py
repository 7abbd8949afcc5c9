"""The LLM critic: renders its role's templates and asks for a structured critique.

Context separation is structural: a critic is handed a :class:`ReviewRequest`
(task and draft, nothing else) and starts a fresh conversation from its own
templates, so it never sees the generator's system prompt or history.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from critic.backends.base import GenerationParams
from critic.errors import CriticError
from critic.messages import ChatMessage, Critique, ModelCall, ReviewRequest
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
    """The output model of a role with score range [low, high]: critique first, then score.

    One type per range, shared by every critic of every session: its JSON schema is
    then generated once (``critic.structured.json_schema`` caches it per type).
    """
    return _critique_schema(math.ceil(low), math.floor(high))


@functools.cache
def _critique_schema(lo: int, hi: int) -> type[CritiqueOutput]:
    if hi - lo <= 100:
        # An enum is enforced by grammar-constrained decoding; min/max are not.
        allowed: Any = Literal.__getitem__(tuple(range(lo, hi + 1)))
        return create_model("CritiqueOutput", __base__=CritiqueOutput, score=(allowed, ...))
    return create_model(
        "CritiqueOutput", __base__=CritiqueOutput, score=(int, Field(ge=lo, le=hi))
    )


#: Sessions a critic with session memory remembers at once (a worker serves many).
REMEMBERED_SESSIONS = 64


@dataclass
class LLMCritic(RoleCritic):
    """A prompt-based critic: renders its role's templates, asks for a structured critique.

    The role's ``memory`` decides what a review sees: ``none`` (the default), a
    clean context with the task and the draft only, the backend's cached prompt
    dropped first, so the score depends on this review alone; ``session``, the
    critic's own conversation in this session, its earlier reviews included
    (see :attr:`~critic.roles.spec.RoleSpec.memory`). A request without a session
    (``critic score``) is always reviewed in a clean state.
    """

    backend: Backend
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""
    _memory: OrderedDict[str, list[ChatMessage]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _sampling: dict[tuple[int | None, bool], GenerationParams] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.role.prompt is None:
            raise CriticError(f"role {self.role.name!r} has no prompt template")
        self._output = critique_schema(*self.role.spec.scale)

    def _params(self, *, fresh: bool) -> GenerationParams:
        # The role's sampling never changes: built once per seed, not copied per review.
        key = (self.seed, fresh)
        params = self._sampling.get(key)
        if params is None:
            params = self._sampling[key] = self.role.params(self.seed).model_copy(
                update={"fresh_context": fresh})
        return params

    def messages(self, request: ReviewRequest) -> list[ChatMessage]:
        """The context of one review without memory: built from the request alone."""
        task = request.task
        variables = {
            "task": task.prompt, "draft": request.draft.text, "round": request.draft.round,
            "reference": task.reference, "tests": task.tests, "feedback": None,
            "metadata": dict(request.metadata),
        }
        return self.role.messages(**variables)

    def remembered(self, session: str) -> list[ChatMessage]:
        """This critic's conversation in ``session`` so far (empty without session memory)."""
        return list(self._memory.get(session, ()))

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        spec = self.role.spec
        session = request.session if spec.memory == "session" else None
        history = self._memory.get(session) if session is not None else None
        messages = self.messages(request)
        if history:  # later reviews add only the new request to the conversation
            messages = [*history, messages[-1]]
        params = self._params(fresh=not history)
        calls: list[ModelCall] = []

        async def keep(call: ModelCall) -> None:
            calls.append(call)
            await record(call)

        output = await complete_structured(
            self.backend, messages, self._output, params, agent=self.name,
            # Only session memory reads the calls back: no extra hop per call without it.
            record=keep if session is not None else record, attempts=self.attempts,
        )
        if session is not None:
            # The reply exactly as generated, so the next call's prompt starts with the
            # tokens the backend already holds.
            said = calls[-1].completion or output.model_dump_json()
            self._memory[session] = [*messages, ChatMessage(role="assistant", content=said)]
            self._memory.move_to_end(session)
            while len(self._memory) > REMEMBERED_SESSIONS:
                self._memory.popitem(last=False)
        return Critique(
            role=self.name, round=request.draft.round, score=spec.normalize(output.score),
            raw_score=output.score, problems=tuple(p.strip() for p in output.problems if p.strip()),
            suggestion=output.suggestion.strip(), weight=spec.weight,
        )
