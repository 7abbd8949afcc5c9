"""How models are opened: HTTP limits, named model endpoints and the response cache.

``critic run``, ``score`` and the other commands take ``--max-connections``,
``--max-attempts``, ``--cache`` and ``--offline``; they build one
:class:`ModelOptions` (completed from ``CRITIC_*`` variables and ``critic.toml``,
see :mod:`critic.workspace.project`) and hand it to :class:`~critic.backends.ModelPool`.

A named model (:class:`ModelEndpoint`, a ``[models.NAME]`` table of
``critic.toml``) is an OpenAI-compatible server with its own base URL, model
name, API key variable, extra headers and HTTP limits; ``--model NAME`` or a
role's ``model = "NAME"`` uses it, so a generator and a critic can talk to
different providers. The file names the *variable* holding the key, never
the key: it is read from the environment when the model is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critic.backends.openai import HttpOptions
from critic.errors import ConfigError

#: What a model name may look like: no ``:``, ``/`` or ``.``, so it never reads as a URL,
#: a plugin's ``NAME:rest`` or a GGUF path.
ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# RFC 9110 token characters (a header name) and a field value without control characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


class ModelEndpoint(BaseModel):
    """One named OpenAI-compatible model (``[models.NAME]`` in ``critic.toml``).

        [models.fast]
        base_url = "https://api.example.com/v1"
        model = "small-model"            # the server's name for it
        api_key_env = "EXAMPLE_API_KEY"  # the variable's NAME; the key stays in the environment
        headers = { "X-Team" = "lab" }
        max_connections = 8              # max_attempts and timeout likewise

    HTTP numbers left out come from the run's options (``[http]``, ``CRITIC_*``,
    flags); a flag or variable given for a run applies to this model too.
    Without ``api_key_env`` no ``Authorization`` header is sent: the shared
    ``CRITIC_API_KEY`` never goes to a provider it was not meant for.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    base_url: str
    model: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every request and recorded with the config (put secrets in ``api_key_env``)."""
    max_connections: int | None = Field(default=None, ge=1)
    max_attempts: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    origin: str = Field(default="", exclude=True)
    """Where it was defined (``FILE: models.NAME``), for error messages; not recorded."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {value!r} ({exc})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http(s) URL: {value!r}")
        if "#" in value:
            raise ValueError("name the server's model with `model`, not #NAME")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not _VARIABLE.match(value):
            raise ValueError(f"{value!r} is not an environment variable name "
                             "(the file names the variable holding the key, never the key)")
        return value

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r}: not a valid header name")
            if name.lower() == "authorization":
                raise ValueError(f"{name}: give the key's variable as api_key_env instead "
                                 "(headers are recorded in transcripts)")
            if not _HEADER_VALUE.match(text):
                raise ValueError(f"{name}: the value must be printable ASCII on one line")
        return value

    def where(self, field: str) -> str:
        return f"{self.origin}.{field}" if self.origin else field

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key from ``api_key_env`` (read now); a :class:`ConfigError` if it is not set."""
        if self.api_key_env is None:
            return None
        key = (os.environ if environ is None else environ).get(self.api_key_env, "")
        if not key.strip():
            raise ConfigError(f"{self.where('api_key_env')}: environment variable "
                              f"{self.api_key_env} is not set")
        return key.strip()

    def http(self, defaults: HttpOptions) -> HttpOptions:
        """``defaults`` with this model's own numbers where it sets them."""
        own = {k: getattr(self, k) for k in ("max_connections", "max_attempts", "timeout")
               if getattr(self, k) is not None}
        return defaults.model_copy(update=own)


class ModelOptions(BaseModel):
    """Options for opening models; recorded in the transcript header with the run config."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    max_connections: int = Field(default=4, ge=1)
    """Requests in flight at once to one HTTP model, across all agents using it."""
    max_attempts: int = Field(default=5, ge=1)
    """Tries per HTTP call before the agent's call fails."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds for one HTTP attempt (connect, write, read each)."""
    cache: Path | None = None
    """SQLite response cache; None: no cache."""
    offline: bool = False
    """Serve from the cache only; a miss is an error."""
    cache_sampled: bool = False
    """Cache calls with temperature > 0 and no seed too (off: they are not reproducible)."""
    endpoints: dict[str, ModelEndpoint] = Field(default_factory=dict)
    """Named models: a model spec equal to a key opens that endpoint."""
    shared_critics: int = Field(default=0, ge=0, le=64)
    """llama.cpp models: sequences of one shared-prefix context for their LLM critics
    (``LlamaCppModel.shared_sequences``); 0, each critic its own context."""

    @field_validator("endpoints")
    @classmethod
    def _names(cls, value: dict[str, ModelEndpoint]) -> dict[str, ModelEndpoint]:
        for name in value:
            if not ENDPOINT_NAME.match(name):
                raise ValueError(f"{name!r}: a model name is a letter, then letters, digits, "
                                 "_ or - (no '.', '/' or ':')")
        return value

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
        return HttpOptions(max_connections=self.max_connections, max_attempts=self.max_attempts,
                           timeout=self.timeout)
