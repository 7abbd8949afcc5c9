"""Topics as values: a session's subjects are built and read here, nowhere else.

Every subject of a session is ``critic.<session>.<parts...>``: ``task``,
``generate``, ``review.<role>``, ``judge``, ``model_call``, ``inbox.<id>`` ...
A :class:`Topic` validates its tokens (no dots, no blanks), so a role or
session name can never reshape another topic.

    Topic.of(session, "review", "correctness").subject  # 'critic.ab12.review.correctness'
    Topic.parse("critic.ab12.review.correctness").parts  # ('review', 'correctness')
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from critic.messages import Envelope

ROOT = "critic"
#: Session token that matches every session (workers serve all of them).
ANY_SESSION = "*"
_TOKEN = re.compile(r"^[^.\s*>]+$")


@dataclass(frozen=True)
class Topic:
    """One subject of one session (``session`` may be ``*``; the last part may be ``>``)."""

    session: str
    parts: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.session != ANY_SESSION and not _TOKEN.match(self.session):
            raise ValueError(f"invalid session token {self.session!r} in a topic")
        for i, part in enumerate(self.parts):
            last_wildcard = part == ">" and i == len(self.parts) - 1
            if not (last_wildcard or part == "*" or _TOKEN.match(part)):
                raise ValueError(f"invalid topic token {part!r}")

    @classmethod
    def of(cls, session: str, *parts: str) -> Topic:
        return cls(session, parts)

    @classmethod
    def parse(cls, subject: str) -> Topic:
        root, _, rest = subject.partition(".")
        session, _, tail = rest.partition(".")
        if root != ROOT or not session:
            raise ValueError(f"not a critic topic: {subject!r}")
        return cls(session, tuple(tail.split(".")) if tail else ())

    @property
    def subject(self) -> str:
        """The dotted subject on the wire."""
        return ".".join((ROOT, self.session, *self.parts))

    @property
    def kind(self) -> str | None:
        """The first part after the session (``review``, ``judge``, ``inbox`` ...)."""
        return self.parts[0] if self.parts else None


@functools.lru_cache(maxsize=4096)
def topic(session: str, *parts: str) -> str:
    """The subject ``critic.<session>.<parts...>`` (validated through :class:`Topic`).

    Cached: a session builds the same few subjects every round, and validating
    one costs more than the message it addresses.
    """
    return Topic(session, parts).subject


def review_topic(session: str, role: str) -> str:
    """Where the reviews of ``role`` are requested."""
    return topic(session, "review", role)


def inbox(envelope: Envelope) -> str:
    """The reply topic of a request: inside the session's namespace, so it is recorded."""
    # Each inbox is used once: only the id is checked here, the rest comes from the cache.
    if not _TOKEN.match(envelope.id):
        raise ValueError(f"invalid topic token {envelope.id!r}")
    return f"{topic(envelope.session, 'inbox')}.{envelope.id}"


def is_inbox_of(subject: str, request_id: str) -> bool:
    """Whether ``subject`` is the reply inbox of the request ``request_id``."""
    try:
        parsed = Topic.parse(subject)
    except ValueError:
        return False
    return parsed.parts == ("inbox", request_id)


def topic_matches(pattern: str, subject: str) -> bool:
    """NATS-style subject matching: ``*`` is one token, a final ``>`` one or more."""
    if pattern == subject:
        return True
    pat = pattern.split(".")
    tok = subject.split(".")
    for i, part in enumerate(pat):
        if part == ">":
            return i == len(pat) - 1 and len(tok) > i
        if i >= len(tok) or (part != "*" and part != tok[i]):
            return False
    return len(pat) == len(tok)
