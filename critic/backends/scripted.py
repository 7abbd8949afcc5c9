"""A deterministic backend for orchestration tests: replies come from a script."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import SupportsIndex

import anyio

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.errors import ModelError
from critic.messages import ChatMessage, Usage

Reply = str | Exception | Callable[[Sequence[ChatMessage]], str]


@dataclass
class ScriptedCall:
    """One call a scripted backend received."""

    agent: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    schema: JsonSchema | None


@dataclass
class ScriptedBackend:
    """Answers each call with the next reply of its agent's script.

    A reply is a string, an exception to raise, or a function of the messages.
    ``delay`` seconds pass before each answer (anyio sleep, so cancellable).
    """

    agent: str
    replies: list[Reply]
    calls: list[ScriptedCall]
    delay: float = 0.0
    name: str = "scripted"

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        schema: JsonSchema | None = None,
    ) -> Completion:
        self.calls.append(ScriptedCall(self.agent, tuple(messages), params, schema))
        if self.delay:
            await anyio.sleep(self.delay)
        if not self.replies:
            raise ModelError(f"scripted backend for {self.agent!r} ran out of replies")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        text = reply(messages) if callable(reply) else reply
        prompt = sum(len(m.content.split()) for m in messages)
        return Completion(
            text=text,
            usage=Usage(prompt_tokens=prompt, completion_tokens=len(text.split())),
            finish_reason="stop",
        )


@dataclass
class ScriptedModel:
    """Scripts per agent name; records every call in :attr:`calls`, in order.

    An agent without a script gets ``default`` (a reply used for every call).
    """

    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    default: Reply | None = None
    delays: dict[str, float] = field(default_factory=dict)
    calls: list[ScriptedCall] = field(default_factory=list)

    def backend(self, agent: str) -> ScriptedBackend:
        replies = self.scripts.setdefault(agent, [])
        if not replies and self.default is not None:
            replies = _Repeat(self.default)
        return ScriptedBackend(agent, replies, self.calls, self.delays.get(agent, 0.0))

    def calls_of(self, agent: str) -> list[ScriptedCall]:
        return [c for c in self.calls if c.agent == agent]

    def describe(self) -> dict[str, str]:
        return {"kind": "scripted"}

    async def aclose(self) -> None:
        return None


class _Repeat(list[Reply]):
    """A script that never runs out: always the same reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__([reply])

    def pop(self, index: SupportsIndex = -1) -> Reply:
        return self[0]
