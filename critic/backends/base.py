"""The backend protocol: one async chat completion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from critic.messages import ChatMessage, Usage

JsonSchema = Mapping[str, object]


class GenerationParams(BaseModel):
    """Sampling parameters of one call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int | None = None
    fresh_context: bool = False
    """Start from an empty context: a local backend drops the KV cache it kept from
    earlier calls, so the result cannot depend on what it evaluated before (llama.cpp
    otherwise starts from whatever prefix of the prompt it still holds, tokens it
    generated included). HTTP backends leave caching to their server."""


class Completion(BaseModel):
    """What a backend returns: the text, token usage and wall-clock latency."""

    model_config = ConfigDict(frozen=True)

    text: str
    usage: Usage = Usage()
    latency: float = 0.0
    finish_reason: str | None = None
    attempts: int = 1


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
