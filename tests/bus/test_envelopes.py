"""`critic.bus.envelopes`: the unvalidated fast paths build exactly what pydantic builds, and
hand anything they cannot vouch for to pydantic, errors included."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from critic.backends.base import Completion
from critic.bus.envelopes import evolve, reply, sealed
from critic.messages import (
    ENVELOPE_ADAPTER,
    ChatMessage,
    Critique,
    Draft,
    Envelope,
    ModelCall,
    Task,
    Usage,
)
from critic.structured import _answered_call

TASK = Task(prompt="p")


def same(built: Any, validated: Any) -> None:
    """Equal, dumped alike (field order included) and with the same fields set."""
    assert built == validated
    assert type(built) is type(validated)
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == validated.model_fields_set
    assert repr(built) == repr(validated)


@pytest.mark.parametrize("parent", [None, "a1"])
def test_sealed_is_the_validated_envelope(parent: str | None) -> None:
    built = sealed("s1", "critic.s1.task", "session", TASK, parent=parent)
    validated = Envelope(id=built.id, timestamp=built.timestamp, session="s1",
                         topic="critic.s1.task", sender="session", parent=parent, payload=TASK)
    # The id and timestamp were given here, not defaulted: set them on both sides alike.
    same(evolve(built, id=built.id, timestamp=built.timestamp), validated)
    assert ENVELOPE_ADAPTER.validate_json(ENVELOPE_ADAPTER.dump_json(built)) == built


def test_sealed_ids_differ() -> None:
    assert sealed("s", "critic.s.task", "x", TASK).id != sealed("s", "critic.s.task", "x", TASK).id


def test_sealed_leaves_what_it_cannot_vouch_for_to_pydantic() -> None:
    with pytest.raises(ValidationError):
        sealed("s", "critic.s.task", "x", {"kind": "task"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        sealed("s", "critic.s.task", 3, TASK)  # type: ignore[arg-type]
    # A payload subclass is not vouched for by type, yet validation accepts it.
    class Special(Task):
        pass
    assert isinstance(sealed("s", "critic.s.task", "x", Special(prompt="p")).payload, Special)


def test_reply_goes_to_the_inbox_and_needs_one() -> None:
    request = evolve(sealed("s", "critic.s.generate", "session", TASK), reply_to="critic.s.inbox.1")
    answer = reply(request, Draft(round=1, text="d"), sender="generator")
    assert (answer.topic, answer.parent, answer.sender) == ("critic.s.inbox.1", request.id,
                                                            "generator")
    with pytest.raises(ValueError, match="expects no reply"):
        reply(sealed("s", "critic.s.task", "session", TASK), TASK, sender="x")


def test_evolve_is_model_copy() -> None:
    critique = Critique(role="r", round=1, score=0.5, problems=("p",))
    changes = {"usage": Usage(prompt_tokens=3), "latency": 0.25}
    same(evolve(critique, **changes), critique.model_copy(update=changes))
    assert critique.usage == Usage()  # the original is untouched


def test_answered_call_is_the_validated_model_call() -> None:
    messages = (ChatMessage(role="system", content="s"), ChatMessage(role="user", content="u"))
    params: dict[str, float | int | str | None] = {"max_tokens": 5, "temperature": 0.0,
                                                   "seed": None, "context": "fresh"}
    completion = Completion(text="t", usage=Usage(prompt_tokens=2, completion_tokens=1),
                            latency=0.5, attempts=2)
    validated = ModelCall(agent="a", backend="b", model="b", messages=messages, params=params,
                          json_schema="{}", completion="t", usage=completion.usage,
                          latency=0.5, attempts=2)
    same(_answered_call("a", "b", messages, params, "{}", completion), validated)
    # Messages that are not ChatMessage instances go through validation (and fail there).
    with pytest.raises(ValidationError):
        _answered_call("a", "b", ({"role": "user"},), params, None,  # type: ignore[arg-type]
                       completion)
