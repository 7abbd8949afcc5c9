"""Every extension point of critic, as a :class:`typing.Protocol`, in one place.

Implementations live elsewhere (a reference one beside each idea: the memory
bus in :mod:`critic.bus.memory`, the llama.cpp backend in
:mod:`critic.backends.llama_cpp`, the LLM critic in :mod:`critic.critics.critic`
...). This module depends only on data (messages, the backend call's
parameters, a role's spec), so any module can import it and it imports none
of them back.

=================  =========================================  ============================
extension point    one method                                 reference implementation
=================  =========================================  ============================
Bus                publish / subscribe / request              MemoryBus, NatsBus
Model / Backend    backend(agent) / complete(messages, ...)   LlamaCppModel, OpenAIModel
Critic             review(request, record) -> Critique        LLMCritic, UnitTestCritic
Generator          draft(request, record) -> Draft            LLMGenerator
Judge              judge(request, record) -> Verdict          ThresholdJudge, LLMJudge
Debater            answer(request, record) -> Answer          LLMDebater
DebateJudge        decide(request, record) -> DebateVerdict   MajorityJudge, LLMDebateJudge
AnswerExtractor    extract(text) -> str | None                NumberAnswer, OptionAnswer
PairwiseJudge      prefer(question, a, b, record) -> choice   LLMPairwiseJudge, BothOrders
AnswerScorer       score(question, answer, label, record)     (probes' scripted scorers)
CriticFactory      (role, ctx) -> Critic                      a critic kind (roles.kinds)
JudgeFactory       (ctx) -> Judge                             a ``critic.judges`` plugin
DebateJudgeFactory (ctx) -> DebateJudge                       a ``critic.debate_judges`` one
ModelOpener        (spec, options) -> Model                   a ``critic.backends`` plugin
=================  =========================================  ============================

Each has a registry with one entry-point group (:mod:`critic.roles.extensions`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.errors import BusError
from critic.messages import (
    Answer,
    ChatMessage,
    Critique,
    DebateJudgeRequest,
    DebateRequest,
    DebateVerdict,
    Draft,
    DraftRequest,
    Envelope,
    JudgeRequest,
    ModelCall,
    ReviewRequest,
    Verdict,
)
from critic.roles.spec import Role

#: Where an agent reports each model call it makes (the host records it).
Recorder = Callable[[ModelCall], Awaitable[None]]


# --- the bus ---------------------------------------------------------------------


class Subscription(Protocol):
    """Envelopes on the subscribed topic, in the order they were published."""

    def __aiter__(self) -> AsyncIterator[Envelope]: ...

    async def receive(self) -> Envelope: ...


@runtime_checkable
class Bus(Protocol):
    """How agents talk: the only channel between them.

    Topics are dot-separated; a subscription pattern may use ``*`` for one
    token and a final ``>`` for the rest (NATS semantics). Subscribers that
    share a ``group`` split the messages between them (one each) instead of
    each getting a copy.
    """

    async def publish(self, envelope: Envelope) -> None:
        """Deliver ``envelope`` to every subscriber of its topic (waits if they are full)."""
        ...

    def subscribe(
        self, pattern: str, *, group: str | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe for the duration of an ``async with`` block."""
        ...

    async def request(self, envelope: Envelope, *, timeout: float | None = None) -> Envelope:
        """Publish ``envelope`` and wait for the first reply to it.

        Raises :class:`~critic.errors.BusError` when nobody serves the topic and
        :class:`TimeoutError` when no reply arrives within ``timeout`` seconds.
        """
        ...

    async def aclose(self) -> None:
        """Release the bus; subscriptions end."""
        ...


Reply = Envelope | TimeoutError | BusError
"""The outcome of one request of a fan-out: its reply, or why none came."""


@runtime_checkable
class FanOut(Protocol):
    """A bus that can send many requests at once and wait for all their replies in the
    requesting task (the memory bus): a fan-out then needs no task per request."""

    async def request_many(self, envelopes: Sequence[Envelope],
                           timeouts: Sequence[float | None]) -> list[Reply]:
        """Like :meth:`Bus.request` for each envelope, all at once; the outcomes in order."""
        ...


# --- models ----------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """A model as one agent sees it.

    A backend instance belongs to one agent: local backends keep that agent's
    KV cache, so each agent gets its own instance (see :class:`Model`).
    ``schema``, when given, constrains the completion to JSON of that schema.
    """

    @property
    def name(self) -> str:
        """Identity for transcripts: backend kind and model, e.g. ``llama.cpp:SmolLM2.gguf``."""
        ...

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        schema: JsonSchema | None = None,
    ) -> Completion: ...


@runtime_checkable
class Model(Protocol):
    """A source of backends: one per agent, sharing whatever can be shared."""

    def backend(self, agent: str) -> Backend: ...

    def describe(self) -> dict[str, str]:
        """What goes into a transcript header (kind, file, sha256 or URL)."""
        ...

    async def aclose(self) -> None: ...


class Models(Protocol):
    """Where parts get their models by spec (None: the run's default model)."""

    def get(self, spec: str | None = None) -> Model: ...


# --- agents ----------------------------------------------------------------------


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


@runtime_checkable
class Debater(Protocol):
    """Answers a debate question, round after round, in its own context."""

    @property
    def name(self) -> str: ...

    async def answer(self, request: DebateRequest, record: Recorder) -> Answer: ...


@runtime_checkable
class DebateJudge(Protocol):
    """Decides a debate from its final answers: accept one, or discard, and why."""

    @property
    def name(self) -> str: ...

    async def decide(self, request: DebateJudgeRequest, record: Recorder) -> DebateVerdict: ...


@runtime_checkable
class AnswerExtractor(Protocol):
    """Reads the final answer out of a debater's text (async: it may ask a model)."""

    @property
    def name(self) -> str: ...

    async def extract(self, text: str) -> str | None: ...


#: A pairwise judge's choice: the first answer it was given, the second, or neither.
Preference = Literal["a", "b", "tie"]


@runtime_checkable
class PairwiseJudge(Protocol):
    """Prefers one of two answers to a question (what the bias probes measure)."""

    async def prefer(self, question: str, a: str, b: str, record: Recorder) -> Preference: ...


@runtime_checkable
class AnswerScorer(Protocol):
    """Scores one answer in [0, 1], shown under ``label`` (a name, or "Answer 1")."""

    async def score(self, question: str, answer: str, label: str, record: Recorder) -> float: ...


# --- building critics from roles -------------------------------------------------


@dataclass(frozen=True)
class CriticContext:
    """What a critic kind's factory may use: models (opened lazily) and the run's seed."""

    models: Models
    seed: int | None = None


class CriticFactory(Protocol):
    """A critic kind: builds the critic of one role (``kind = "..."`` in its TOML file).

    A class-based plugin role is such a factory too: ``cls(role, ctx)``.
    """

    def __call__(self, role: Role, ctx: CriticContext, /) -> Critic: ...


# --- plugins building judges and models ------------------------------------------


@dataclass(frozen=True)
class JudgeContext:
    """What a judge plugin may use: models, the run's seed, and the session's stop rules.

    ``rules`` is the rule-based judge of the run (``--accept-at``, ``--max-rounds``
    ...): a plugin may ask it first, as :class:`~critic.judges.llm.LLMJudge` does.
    """

    models: Models
    seed: int | None
    rules: Judge


class JudgeFactory(Protocol):
    """A ``critic.judges`` entry point: builds the judge ``critic run --judge NAME`` uses."""

    def __call__(self, ctx: JudgeContext, /) -> Judge: ...


@dataclass(frozen=True)
class DebateJudgeContext:
    """What a debate judge plugin may use: models, the seed, and the debate's extractor."""

    models: Models
    seed: int | None
    extractor: AnswerExtractor


class DebateJudgeFactory(Protocol):
    """A ``critic.debate_judges`` entry point: the judge of ``critic debate --judge NAME``."""

    def __call__(self, ctx: DebateJudgeContext, /) -> DebateJudge: ...


class ModelOpener(Protocol):
    """A ``critic.backends`` entry point: opens a model spec ``NAME:rest`` (``--model``).

    ``max_connections`` and ``max_attempts`` are the run's HTTP limits, for
    backends that talk to a server.
    """

    def __call__(self, spec: str, /, *, max_connections: int, max_attempts: int) -> Model: ...
