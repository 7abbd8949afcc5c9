"""How models are opened: HTTP limits and the response cache, shared by every command.

``critic run`` and ``critic score`` both take ``--max-connections``,
``--max-attempts``, ``--cache`` and ``--offline``; they build one
:class:`ModelOptions` and hand it to :class:`~critic.backends.ModelPool`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from critic.backends.openai import HttpOptions
from critic.errors import ConfigError


class ModelOptions(BaseModel):
    """Options for opening models; recorded in the transcript header with the run config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_connections: int = Field(default=4, ge=1)
    """Requests in flight at once to one HTTP model, across all agents using it."""
    max_attempts: int = Field(default=5, ge=1)
    """Tries per HTTP call before the agent's call fails."""
    cache: Path | None = None
    """SQLite response cache; None: no cache."""
    offline: bool = False
    """Serve from the cache only; a miss is an error."""
    cache_sampled: bool = False
    """Cache calls with temperature > 0 and no seed too (off: they are not reproducible)."""

    @model_validator(mode="after")
    def _offline_needs_cache(self) -> ModelOptions:
        if self.offline and self.cache is None:
            raise ValueError("--offline needs --cache FILE to serve from")
        return self

    @classmethod
    def parse(cls, **values: object) -> ModelOptions:
        """Validate CLI values, turning the first problem into a one-line :class:`ConfigError`."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"--{field.replace('_', '-')}: {msg}" if field else msg) from exc

    def http(self) -> HttpOptions:
        return HttpOptions(max_connections=self.max_connections, max_attempts=self.max_attempts)
