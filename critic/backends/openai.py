"""Any OpenAI-compatible server (llama.cpp's, vLLM, Ollama, hosted APIs) over httpx.

One :class:`OpenAIModel` owns one ``httpx.AsyncClient`` and one anyio
``CapacityLimiter``; every agent's backend shares both, so ``max_connections``
bounds the requests in flight to that server however many critics fan out.

Transient failures (connect errors, timeouts, 429, 5xx) are retried with
tenacity: exponential backoff with jitter, or the server's ``Retry-After``.
Other 4xx fail at once with the server's own message. The limiter is held per
attempt, not during backoff, so a waiting retry does not block other agents.

The API key (``CRITIC_API_KEY`` or ``OPENAI_API_KEY``, or a named model's own
``api_key_env``, see :class:`~critic.backends.options.ModelEndpoint`) goes only into the
``Authorization`` header: never into :meth:`OpenAIModel.describe`, names,
errors or transcripts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import anyio
import httpx
from pydantic import BaseModel, ConfigDict, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.errors import ConfigError, ModelError, RetriesExhausted
from critic.messages import ChatMessage, Usage

API_KEY_VARIABLES = ("CRITIC_API_KEY", "OPENAI_API_KEY")


class HttpOptions(BaseModel):
    """Limits of an HTTP model: connections, retries, timeouts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_connections: int = Field(default=4, ge=1)
    """Requests in flight to this server at once, across all agents."""
    max_attempts: int = Field(default=5, ge=1)
    """Tries per call, the first included, before giving up."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds for one attempt (connect, write, read each)."""
    backoff: float = Field(default=0.5, ge=0)
    """Base of the exponential backoff with full jitter, in seconds."""
    max_backoff: float = Field(default=30.0, ge=0)
    """Longest wait between attempts, ``Retry-After`` included."""


class _Transient(ModelError):
    """A failure worth retrying; ``retry_after`` is the server's hint, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_model_url(spec: str) -> tuple[str, str | None]:
    """``http://host:port/v1#name`` → (base URL without trailing slash, model name or None)."""
    url, _, name = spec.partition("#")
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"--model: not an http(s) URL: {url}")
    return url.rstrip("/"), (name or None)


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The first API key set in ``CRITIC_API_KEY`` or ``OPENAI_API_KEY`` (read when asked)."""
    env = os.environ if environ is None else environ
    return next((env[v] for v in API_KEY_VARIABLES if env.get(v)), None)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _server_message(response: httpx.Response) -> str:
    """The error text a server sent: OpenAI's ``error.message``, FastAPI's ``detail``, or the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if "detail" in body:
            return json.dumps(body["detail"])[:300]
    return json.dumps(body)[:300]


def _rejects_json_schema(response: httpx.Response) -> bool:
    """A refusal naming the format: 400/422, or 500 from llama-cpp-python's
    server, which answers its own request validation errors with 500."""
    return response.status_code in (400, 422, 500) and (
        "json_schema" in response.text or "response_format" in response.text)


@dataclass
class _Wait:
    """Backoff with full jitter, replaced by the server's Retry-After when it sent one."""

    options: HttpOptions

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.options.max_backoff)
        jitter = wait_random_exponential(multiplier=self.options.backoff,
                                         max=self.options.max_backoff)
        return float(jitter(state))


class OpenAIModel:
    """An OpenAI-compatible server: ``/chat/completions`` under ``base_url``.

    ``transport`` is passed to httpx (tests give an ``httpx.MockTransport``).

        >>> model = OpenAIModel.from_spec("http://127.0.0.1:8080/v1#smollm2")
    """

    def __init__(
        self,
        base_url: str,
        model_name: str | None = None,
        *,
        options: HttpOptions | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url, _ = parse_model_url(base_url)
        self.model_name = model_name
        self.options = options or HttpOptions()
        # Extra headers (a provider's team or version header) go on every request;
        # the key is added last so no extra header can replace it.
        headers = dict(headers or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/", headers=headers, transport=transport,
            timeout=httpx.Timeout(self.options.timeout),
            limits=httpx.Limits(max_connections=self.options.max_connections),
        )
        self.limiter = anyio.CapacityLimiter(self.options.max_connections)
        # Flipped once a server refuses `json_schema`: then `json_object` + schema.
        self.json_object_only = False

    @classmethod
    def from_spec(
        cls, spec: str, *, options: HttpOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> OpenAIModel:
        """A model from ``--model URL[#name]``, with the API key from the environment."""
        url, name = parse_model_url(spec)
        return cls(url, name, options=options, api_key=api_key_from_env(), transport=transport)

    @property
    def identity(self) -> str:
        """What names this model in transcripts and cache keys (no secrets)."""
        return f"openai:{self.base_url}" + (f"#{self.model_name}" if self.model_name else "")

    def backend(self, agent: str) -> OpenAIBackend:
        return OpenAIBackend(self, agent)

    def describe(self) -> dict[str, str]:
        return {"kind": "openai", "url": self.base_url, "model": self.model_name or ""}

    async def aclose(self) -> None:
        await self._client.aclose()

    def _response_format(self, schema: JsonSchema) -> dict[str, object]:
        if self.json_object_only:
            # llama.cpp's server and others constrain decoding to `schema` here.
            return {"type": "json_object", "schema": dict(schema)}
        return {"type": "json_schema",
                "json_schema": {"name": "output", "schema": dict(schema), "strict": True}}

    def _body(
        self, messages: Sequence[ChatMessage], params: GenerationParams, schema: JsonSchema | None
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": params.max_tokens, "temperature": params.temperature,
        }
        if self.model_name:
            body["model"] = self.model_name
        if params.seed is not None:
            body["seed"] = params.seed
        if schema is not None:
            body["response_format"] = self._response_format(schema)
        return body

    async def _attempt(
        self, agent: str, messages: Sequence[ChatMessage], params: GenerationParams,
        schema: JsonSchema | None,
    ) -> httpx.Response:
        where = f"{self.base_url} ({agent})"
        async with self.limiter:
            try:
                response = await self._client.post(
                    "chat/completions", json=self._body(messages, params, schema))
            except httpx.TimeoutException as exc:
                raise _Transient(f"{where}: timed out ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                raise _Transient(f"{where}: {type(exc).__name__}: {exc}") from exc
        if schema is not None and not self.json_object_only and _rejects_json_schema(response):
            # Servers without the `json_schema` format get `json_object` with
            # the schema (llama.cpp's and vLLM's extension), once per model.
            self.json_object_only = True
            return await self._attempt(agent, messages, params, schema)
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(
                f"{where}: HTTP {response.status_code}: {_server_message(response)}",
                _retry_after(response),
            )
        if response.status_code >= 400:
            raise ModelError(
                f"{where}: HTTP {response.status_code}: {_server_message(response)}")
        return response

    async def complete(
        self, agent: str, messages: Sequence[ChatMessage], params: GenerationParams,
        schema: JsonSchema | None,
    ) -> Completion:
        started = time.perf_counter()
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.options.max_attempts),
                retry=retry_if_exception_type(_Transient),
                wait=_Wait(self.options),
                sleep=anyio.sleep,
                reraise=True,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    response = await self._attempt(agent, messages, params, schema)
        except _Transient as exc:
            raise RetriesExhausted(
                f"{exc} (gave up after {attempts} attempt{'s' * (attempts != 1)})", attempts
            ) from exc
        return _completion(response, time.perf_counter() - started, attempts, self.base_url)


def _completion(response: httpx.Response, latency: float, attempts: int, url: str) -> Completion:
    try:
        body = response.json()
        choice = body["choices"][0]
        text = choice["message"]["content"] or ""
        usage = body.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"{url}: not a chat completion: {response.text[:200]}") from exc
    return Completion(
        text=text,
        usage=Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0)),
        latency=latency, finish_reason=choice.get("finish_reason"), attempts=attempts,
    )


@dataclass
class OpenAIBackend:
    """One agent's view of an :class:`OpenAIModel` (stateless: the server keeps no context)."""

    model: OpenAIModel
    agent: str

    @property
    def name(self) -> str:
        return self.model.identity

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        schema: JsonSchema | None = None,
    ) -> Completion:
        return await self.model.complete(self.agent, messages, params, schema)
