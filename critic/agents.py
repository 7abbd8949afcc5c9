"""Generator, critic and judge agents, each owning its own context.

An agent turns one request payload into one reply payload. Serving it on a
bus (:func:`serve`) is separate, so the same agent runs in-process, in a test
without a bus, or in a worker on another machine.

Context separation is structural: a critic is handed a :class:`ReviewRequest`
(task and draft, nothing else) and builds its conversation from its own
templates (and, with session memory, its own earlier reviews); the generator
only ever sees the task, its own drafts and the judge's feedback.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import anyio
from anyio.abc import TaskStatus
from pydantic import BaseModel, ConfigDict, Field, create_model

from critic.backends.base import Backend, GenerationParams
from critic.bus.base import Bus
from critic.errors import BusUnavailable, CriticError
from critic.messages import (
    ChatMessage,
    Critique,
    Draft,
    DraftRequest,
    Envelope,
    JudgeRequest,
    ModelCall,
    Payload,
    ReviewRequest,
    Revision,
    RevisionStrategy,
    Usage,
    Verdict,
    topic,
)
from critic.roles import Role
from critic.structured import Recorder, call_model, complete_structured
from critic.templates import PromptLibrary


@runtime_checkable
class Critic(Protocol):
    """Reviews one draft. Implementations: :class:`LLMCritic`, grounded critics, plugins."""

    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> float:
        """Weight of this critic's score in the judge's aggregate."""
        ...

    @property
    def timeout(self) -> float:
        """Seconds a review may take before it is recorded as timed out."""
        ...

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique: ...


@runtime_checkable
class Generator(Protocol):
    """Writes drafts; keeps its own conversation between rounds."""

    @property
    def name(self) -> str: ...

    async def draft(self, request: DraftRequest, record: Recorder) -> Draft: ...


@runtime_checkable
class Judge(Protocol):
    """Decides on a draft from its critiques: accept, revise or discard, and why."""

    @property
    def name(self) -> str: ...

    async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict: ...


#: The lowest temperature a revision samples at unless it is pinned (see :class:`RevisionPolicy`).
REVISION_TEMPERATURE = 0.7


class RevisionPolicy(BaseModel):
    """How the generator revises a draft the judge sent back.

    ``strategy``:

    * ``fresh`` (the default): each revision is a new context holding the
      system prompt and one message with the task, the failing draft quoted
      and the judge's feedback. Nothing else carries over, so the context
      stays small and a revision does not depend on the rounds before.
    * ``continue``: one growing conversation; each revision appends the
      feedback after the previous draft (the KV cache makes that cheap).

    Sampling: revision round ``r`` uses the seed ``seed + r - 1`` (``seed``
    being the generator's, so a run stays reproducible) and the temperature
    ``temperature`` if it is set (pinned, 0 included), else the generator's
    own but at least :data:`REVISION_TEMPERATURE`. Why: revising at
    temperature 0 with the previous draft in context made 26 of 36 revisions
    byte-identical to the draft they were meant to fix (issue 13); a revision
    must be free to differ. ``benchmarks/revision_identity.py`` measures the
    repeat rate of each strategy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: RevisionStrategy = "fresh"
    temperature: float | None = Field(default=None, ge=0.0)

    def sampling(self, params: GenerationParams, round: int) -> GenerationParams:
        """The parameters of revision round ``round`` (>= 2) given the generator's own."""
        temperature = (self.temperature if self.temperature is not None
                       else max(params.temperature, REVISION_TEMPERATURE))
        seed = None if params.seed is None else params.seed + round - 1
        return params.model_copy(update={
            "temperature": temperature, "seed": seed,
            # A fresh revision is a new context in the backend too.
            "fresh_context": self.strategy == "fresh",
        })


@dataclass
class LLMGenerator:
    """A generator on a model: one draft per round, revised as ``revision`` says.

    The first draft is written from a clean context (the system and task
    templates); revisions follow :class:`RevisionPolicy`. Each draft records
    how it was made in :attr:`Draft.revision`.
    """

    backend: Backend
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=320))
    name: str = "generator"
    system_template: str = "generator_system.j2"
    task_template: str = "generator_task.j2"
    revise_template: str = "generator_revise.j2"
    fresh_revise_template: str = "generator_revise_fresh.j2"
    revision: RevisionPolicy = field(default_factory=RevisionPolicy)
    conversation: list[ChatMessage] = field(default_factory=list)
    """The context of the latest call (with its reply); ``continue`` builds on it."""
    last_draft: str | None = None

    def __post_init__(self) -> None:
        # Load now so a broken template fails before the session starts.
        self._system = self.prompts.load(self.system_template)
        self._task = self.prompts.load(self.task_template)
        self._revise = self.prompts.load(self.revise_template)
        self._fresh_revise = self.prompts.load(self.fresh_revise_template)

    async def draft(self, request: DraftRequest, record: Recorder) -> Draft:
        task = request.task
        variables = {
            "task": task.prompt, "round": request.round, "feedback": request.feedback,
            "reference": task.reference, "tests": task.tests, "draft": self.last_draft,
        }
        revising = bool(self.conversation)
        if not revising:
            params = self.params.model_copy(update={"fresh_context": True})
            self.conversation = [
                ChatMessage(role="system", content=self._system.render(**variables)),
                ChatMessage(role="user", content=self._task.render(**variables)),
            ]
        elif self.revision.strategy == "continue":
            params = self.revision.sampling(self.params, request.round)
            self.conversation.append(
                ChatMessage(role="user", content=self._revise.render(**variables))
            )
        else:
            params = self.revision.sampling(self.params, request.round)
            self.conversation = [
                ChatMessage(role="system", content=self._system.render(**variables)),
                ChatMessage(role="user", content=self._fresh_revise.render(**variables)),
            ]
        completion = await call_model(
            self.backend, self.conversation, params, agent=self.name, record=record
        )
        self.conversation.append(ChatMessage(role="assistant", content=completion.text))
        self.last_draft = completion.text.strip()
        made = (Revision(strategy=self.revision.strategy, temperature=params.temperature,
                         seed=params.seed) if revising else None)
        return Draft(round=request.round, text=self.last_draft, author=self.name, revision=made)


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


#: Sessions a critic with session memory remembers at once (a worker serves many).
REMEMBERED_SESSIONS = 64


@dataclass
class LLMCritic:
    """A prompt-based critic: renders its role's templates, asks for a structured critique.

    The role's ``memory`` decides what a review sees: ``none`` (the default), a
    clean context with the task and the draft only, the backend's cached prompt
    dropped first, so the score depends on this review alone; ``session``, the
    critic's own conversation in this session, its earlier reviews included
    (see :attr:`~critic.roles.RoleSpec.memory`). A request without a session
    (``critic score``) is always reviewed in a clean state.
    """

    role: Role
    backend: Backend
    attempts: int = 3
    seed: int | None = None
    """Used when the role sets no seed of its own."""
    _memory: OrderedDict[str, list[ChatMessage]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.role.prompt is None:
            raise CriticError(f"role {self.role.name!r} has no prompt template")
        self._output = critique_schema(*self.role.spec.scale)

    @property
    def name(self) -> str:
        return self.role.name

    @property
    def weight(self) -> float:
        return self.role.spec.weight

    @property
    def timeout(self) -> float:
        return self.role.spec.timeout

    def messages(self, request: ReviewRequest) -> list[ChatMessage]:
        """The context of one review without memory: built from the request alone."""
        task = request.task
        variables = {
            "task": task.prompt, "draft": request.draft.text, "round": request.draft.round,
            "reference": task.reference, "tests": task.tests, "feedback": None,
        }
        assert self.role.prompt is not None
        messages = []
        if self.role.system is not None:
            messages.append(ChatMessage(role="system", content=self.role.system.render(**variables)))
        messages.append(ChatMessage(role="user", content=self.role.prompt.render(**variables)))
        return messages

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
        params = GenerationParams(
            max_tokens=spec.max_tokens, temperature=spec.temperature,
            seed=spec.seed if spec.seed is not None else self.seed,
            fresh_context=not history,
        )
        calls: list[ModelCall] = []

        async def keep(call: ModelCall) -> None:
            calls.append(call)
            await record(call)

        output = await complete_structured(
            self.backend, messages, self._output, params,
            agent=self.name, record=keep, attempts=self.attempts,
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


def failed_critique(critic: str, round: int, status: str, error: str, weight: float) -> Critique:
    """The unscored critique recorded for a critic that raised or timed out."""
    return Critique(
        role=critic, round=round, status="timeout" if status == "timeout" else "error",
        error=error, weight=weight,
    )


Handler = Callable[[Envelope, Recorder], Awaitable[Payload]]


async def serve(
    bus: Bus,
    pattern: str,
    handler: Handler,
    *,
    name: str,
    group: str | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Answer every request on ``pattern`` with ``handler`` until cancelled.

    Model calls the handler makes are published as ``model_call`` envelopes
    (children of the request) before the reply, so they are recorded too.
    """
    async with bus.subscribe(pattern, group=group) as requests:
        task_status.started()
        async for request in requests:
            calls: list[ModelCall] = []

            async def record(
                call: ModelCall, request: Envelope = request, calls: list[ModelCall] = calls
            ) -> None:
                calls.append(call)
                await bus.publish(Envelope(
                    session=request.session, topic=topic(request.session, "model_call"),
                    sender=name, parent=request.id, payload=call,
                ))

            reply = await handler(request, record)
            if calls and isinstance(reply, Draft | Critique | Verdict):
                # The reply carries the cost of making it, so whoever collects
                # replies can account for usage without seeing the calls.
                usage = sum((c.usage for c in calls), Usage())
                update: dict[str, object] = {"usage": usage}
                if isinstance(reply, Critique):
                    update["latency"] = sum(c.latency for c in calls)
                reply = reply.model_copy(update=update)
            if request.reply_to is not None:
                await bus.publish(request.reply(reply, sender=name))


def critic_handler(critic: Critic) -> Handler:
    """Bus handler of a critic: a failure becomes an ``error`` critique.

    It raises only :class:`~critic.errors.BusUnavailable` (a critic served
    elsewhere that could not be reached): no review happened, so there is no
    critique to record, and the caller decides (``critic score`` stops).
    """

    async def handle(request: Envelope, record: Recorder) -> Payload:
        payload = request.payload
        if not isinstance(payload, ReviewRequest):
            return failed_critique(critic.name, 1, "error", f"unexpected {payload.kind}", 0.0)
        round = payload.draft.round
        try:
            with anyio.move_on_after(critic.timeout) as scope:
                return await critic.review(payload, record)
        except BusUnavailable:  # the work was not done at all: not the critic's verdict
            raise
        except Exception as exc:  # a critic must never take the session down
            return failed_critique(
                critic.name, round, "error", f"{type(exc).__name__}: {exc}", critic.weight
            )
        assert scope.cancelled_caught
        return failed_critique(
            critic.name, round, "timeout", f"no critique within {critic.timeout:g} s",
            critic.weight,
        )

    return handle
