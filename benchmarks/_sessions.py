"""Session pieces shared by the session benchmarks (not a benchmark itself).

* :class:`FixedRoundsJudge` revises until its last round, so every run has the
  same number of rounds whatever the model's scores;
* :class:`TimedModel` wraps a model so every backend call is recorded with its
  exact inputs and its start/end times as the event loop saw them;
* :func:`replay` makes the same calls again without the framework (the baseline).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.judges.rules import aggregate, feedback_from
from critic.messages import ChatMessage, JudgeRequest, Verdict
from critic.protocols import Backend, Model, Recorder
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role


@dataclass(frozen=True)
class FixedRoundsJudge:
    """Revise until round ``rounds``, then discard (``stop="max_rounds"``)."""

    rounds: int
    name: str = "fixed-rounds"

    async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict:
        critiques = request.critiques
        round = request.draft.round
        last = round >= self.rounds
        return Verdict(
            round=round, decision="discard" if last else "revise",
            stop="max_rounds" if last else None,
            reason=f"fixed {self.rounds}-round benchmark, round {round}",
            aggregate=aggregate(critiques),
            scores={c.role: c.score for c in critiques if c.score is not None},
            critiques_used=sum(c.scored for c in critiques),
            critiques_failed=sum(not c.scored for c in critiques),
            feedback=feedback_from(critiques),
        )


def roles(names: Sequence[str], max_tokens: int | None = None) -> list[Role]:
    """Built-in roles, optionally with a smaller token cap (keeps model runs short)."""
    registry = RoleRegistry()
    loaded = [registry.get(name) for name in names]
    if max_tokens is None:
        return loaded
    return [dataclasses.replace(r, spec=r.spec.model_copy(update={"max_tokens": max_tokens}))
            for r in loaded]


@dataclass(frozen=True)
class Call:
    """One backend call as the event loop saw it."""

    agent: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    schema: JsonSchema | None
    start: float
    end: float
    completion: Completion | None


@dataclass
class TimedBackend:
    inner: Backend
    agent: str
    calls: list[Call]

    @property
    def name(self) -> str:
        return self.inner.name

    async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams,
                       schema: JsonSchema | None = None) -> Completion:
        start = time.perf_counter()
        completion: Completion | None = None
        try:
            completion = await self.inner.complete(messages, params, schema)
            return completion
        finally:
            self.calls.append(Call(self.agent, tuple(messages), params, schema, start,
                                   time.perf_counter(), completion))


@dataclass
class TimedModel:
    """A model whose backends record every call in :attr:`calls` (in completion order)."""

    inner: Model
    calls: list[Call] = field(default_factory=list)

    def backend(self, agent: str) -> TimedBackend:
        return TimedBackend(self.inner.backend(agent), agent, self.calls)

    def describe(self) -> dict[str, str]:
        return self.inner.describe()

    async def aclose(self) -> None:
        await self.inner.aclose()


def busy_time(calls: Sequence[Call]) -> float:
    """Seconds during which at least one model call was in flight (union of intervals)."""
    total = 0.0
    current_start = current_end = None
    for call in sorted(calls, key=lambda c: c.start):
        if current_end is None or call.start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = call.start, call.end
        else:
            current_end = max(current_end, call.end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total


def rounds_of(calls: Sequence[Call], generator: str = "generator") -> list[list[Call]]:
    """Split calls (ordered by start) into rounds: each starts with a generator call."""
    rounds: list[list[Call]] = []
    for call in sorted(calls, key=lambda c: c.start):
        if call.agent == generator or not rounds:
            rounds.append([])
        rounds[-1].append(call)
    return rounds


async def replay(calls: Sequence[Call], model: Model, generator: str = "generator"
                 ) -> tuple[float, float]:
    """Make the same calls on fresh backends of ``model`` with no framework.

    Returns the wall seconds and the sum of the backends' own call latencies.

    Per round: the generator's call, then every critic's calls at once (each
    critic's own calls in order), as the session made them.
    """
    backends: dict[str, Backend] = {}

    def backend(agent: str) -> Backend:
        if agent not in backends:
            backends[agent] = model.backend(agent)
        return backends[agent]

    latencies: list[float] = []

    async def sequence(agent_calls: list[Call]) -> None:
        for call in agent_calls:
            completion = await backend(call.agent).complete(call.messages, call.params,
                                                            call.schema)
            latencies.append(completion.latency)

    start = time.perf_counter()
    for round_calls in rounds_of(calls, generator):
        head = [c for c in round_calls if c.agent == generator]
        await sequence(head)
        by_agent: dict[str, list[Call]] = {}
        for call in round_calls:
            if call.agent != generator:
                by_agent.setdefault(call.agent, []).append(call)
        async with anyio.create_task_group() as tg:
            for agent_calls in by_agent.values():
                tg.start_soon(sequence, agent_calls)
    return time.perf_counter() - start, sum(latencies)
