"""Schema-constrained model calls: parse with pydantic, repair, retry with the error shown."""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from critic.backends.base import Completion, GenerationParams
from critic.errors import MalformedOutput, ModelError
from critic.messages import ChatMessage, ModelCall, Usage
from critic.protocols import Backend

T = TypeVar("T", bound=BaseModel)
Recorder = Callable[[ModelCall], Awaitable[None]]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)

# Generating a JSON schema costs ~0.2 ms, paid on every critic call before this
# cache (a third of a session's own overhead); weak keys, as roles make their types.
_SCHEMAS: weakref.WeakKeyDictionary[type[BaseModel], tuple[dict[str, object], str]] = (
    weakref.WeakKeyDictionary()
)


def _schema_and_text(output_type: type[BaseModel]) -> tuple[dict[str, object], str]:
    cached = _SCHEMAS.get(output_type)
    if cached is None:
        schema = output_type.model_json_schema()
        cached = _SCHEMAS[output_type] = (schema, json.dumps(schema, sort_keys=True))
    return cached


def json_schema(output_type: type[BaseModel]) -> dict[str, object]:
    """The JSON schema of ``output_type``, computed once per type (do not mutate it)."""
    return _schema_and_text(output_type)[0]


# The recorded text of a schema, by the schema's identity: the schemas passed here
# are the cached ones above, so each is serialized once rather than on every call.
_SCHEMA_TEXTS: dict[int, tuple[dict[str, object], str]] = {}


def _schema_text(schema: dict[str, object]) -> str:
    known = _SCHEMA_TEXTS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    text = json.dumps(schema, sort_keys=True)
    if len(_SCHEMA_TEXTS) < 256:  # holding the schema keeps its id from being reused
        _SCHEMA_TEXTS[id(schema)] = (schema, text)
    return text


def repair_json(text: str) -> str:
    """The JSON object inside a completion wrapped in prose or a code fence."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def parse_output(text: str, output_type: type[T]) -> T:
    """Validate ``text`` as ``output_type``, trying a repaired version before failing."""
    try:
        return output_type.model_validate_json(text)
    except ValidationError as first:
        repaired = repair_json(text)
        if repaired != text:
            try:
                return output_type.model_validate_json(repaired)
            except ValidationError:
                pass
        # llama.cpp's schema grammar lets raw newlines into strings (its `char`
        # rule is [^"\\]), which strict JSON rejects; accept them, then validate.
        try:
            return output_type.model_validate(json.loads(repaired, strict=False))
        except (ValueError, ValidationError):
            pass
        detail = first.errors()[0]
        where = ".".join(str(p) for p in detail["loc"]) or "(output)"
        raise MalformedOutput(f"{where}: {detail['msg']}") from first


async def call_model(
    backend: Backend,
    messages: Sequence[ChatMessage],
    params: GenerationParams,
    *,
    agent: str,
    record: Recorder,
    schema: dict[str, object] | None = None,
) -> Completion:
    """One backend call, recorded (success or failure) through ``record``."""
    record_params: dict[str, float | int | str | None] = {
        "max_tokens": params.max_tokens, "temperature": params.temperature, "seed": params.seed,
    }
    if params.fresh_context:
        record_params["context"] = "fresh"
    schema_text = _schema_text(schema) if schema is not None else None
    try:
        completion = await backend.complete(messages, params, schema)
    except ModelError as exc:
        await record(ModelCall(
            agent=agent, backend=backend.name, model=backend.name, messages=tuple(messages),
            params=record_params, json_schema=schema_text, completion=None,
            status="error", error=str(exc),
            # Backends that retry (HTTP) say how many attempts the failure took.
            attempts=getattr(exc, "attempts", 1),
        ))
        raise
    await record(_answered_call(agent, backend.name, tuple(messages), record_params,
                                schema_text, completion))
    return completion


#: What validation sets on a :class:`ModelCall` built by :func:`_answered_call`.
_ANSWERED_FIELDS = frozenset({"agent", "backend", "model", "messages", "params", "json_schema",
                              "completion", "usage", "latency", "attempts"})


def _answered_call(agent: str, backend: str, messages: tuple[ChatMessage, ...],
                   params: dict[str, float | int | str | None], schema: str | None,
                   completion: Completion) -> ModelCall:
    """The record of a call that answered: ``ModelCall(...)`` with these values, built
    without validation when each already has its field's type (a validated
    :class:`Completion`, the messages as sent, the params as built here): four per
    session round, at 2.5 µs of validation each. Anything else is validated."""
    usage, latency, attempts = completion.usage, completion.latency, completion.attempts
    typed = (type(agent) is str and type(backend) is str and type(completion.text) is str
             and type(usage) is Usage and type(latency) is float and type(attempts) is int)
    for message in messages:  # a loop, not all(<generator>): a third of the saving went there
        typed = typed and type(message) is ChatMessage
    if not typed:
        return ModelCall(
            agent=agent, backend=backend, model=backend, messages=messages, params=params,
            json_schema=schema, completion=completion.text, usage=usage, latency=latency,
            attempts=attempts,
        )
    call = ModelCall.__new__(ModelCall)
    object.__setattr__(call, "__dict__", {
        "kind": "model_call", "agent": agent, "backend": backend, "model": backend,
        "messages": messages, "params": params, "json_schema": schema,
        "completion": completion.text, "usage": usage, "latency": latency,
        "attempts": attempts, "status": "ok", "error": None,
    })
    object.__setattr__(call, "__pydantic_fields_set__", set(_ANSWERED_FIELDS))
    object.__setattr__(call, "__pydantic_extra__", None)
    object.__setattr__(call, "__pydantic_private__", None)
    return call


async def complete_structured(
    backend: Backend,
    messages: Sequence[ChatMessage],
    output_type: type[T],
    params: GenerationParams,
    *,
    agent: str,
    record: Recorder,
    attempts: int = 3,
) -> T:
    """Ask for JSON matching ``output_type``; retry malformed output, then give up.

    Each retry shows the model its bad answer and the validation error, with
    the seed moved on so a deterministic model does not repeat itself.
    Raises :class:`MalformedOutput` after ``attempts`` tries.
    """
    attempts = max(attempts, 1)  # as tenacity did: one try at least
    schema = json_schema(output_type)
    conversation = list(messages)
    # A plain loop: tenacity's retry state cost more than the rest of a critic's
    # call on a fast backend, and a malformed answer needs no backoff (the model is
    # asked again at once, with the seed moved on).
    for number in range(1, attempts + 1):
        seed = None if params.seed is None else params.seed + number - 1
        completion = await call_model(
            backend, conversation,
            params if seed == params.seed else params.model_copy(update={"seed": seed}),
            agent=agent, record=record, schema=schema,
        )
        try:
            return parse_output(completion.text, output_type)
        except MalformedOutput as exc:
            if number == attempts:
                raise
            conversation = [
                *messages,
                ChatMessage(role="assistant", content=completion.text),
                ChatMessage(
                    role="user",
                    content=f"That reply was not valid ({exc}). "
                    "Answer again with only the JSON object.",
                ),
            ]
    raise AssertionError("unreachable")  # pragma: no cover
