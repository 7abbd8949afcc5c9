"""What one model call takes and gives: sampling parameters and the completion.

The :class:`~critic.protocols.Backend` and :class:`~critic.protocols.Model`
protocols that use them live in :mod:`critic.protocols`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from critic.messages import Usage

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
