"""Where things go on the NATS bus: the work stream and its subjects, consumer names,
presence pings, and the bus's URL. The design is told in :mod:`critic.bus.nats`.

Kept apart from the bus (no nats-py here), so a config can check a ``--bus`` URL
and the work side can name subjects without importing the bus.
"""

from __future__ import annotations

import hashlib

from critic.errors import ConfigError

#: JetStream stream holding work messages until a consumer acks them.
STREAM = "CRITIC_WORK"
#: Subjects the stream captures (work topics under the prefix).
WORK_SUBJECTS = ("work.critic.*.review.>", "work.critic.*.score.>")
#: Prefix of the JetStream copy of a work topic.
WORK_PREFIX = "work."
#: Prefix of the presence pings: ``live.<pattern>`` (workers), ``live.<inbox>`` (requesters).
LIVE_PREFIX = "live."


def is_work(pattern: str) -> bool:
    """Whether ``pattern`` lies inside the durable work subjects."""
    parts = pattern.split(".")
    return len(parts) >= 4 and parts[0] == "critic" and parts[2] in ("review", "score")


def may_hold_work(pattern: str) -> bool:
    """Whether ``pattern`` matches some work subject (``critic.<s>.review|score.<...>``)."""
    for i, part in enumerate(pattern.split(".")):
        if part == ">":
            return True
        if (i == 0 and part not in ("critic", "*")) or (i == 2 and part not in ("review", "score", "*")):
            return False
        if i == 3:
            return True
    return False


def durable_name(pattern: str, group: str) -> str:
    """A consumer name for (pattern, group): NATS names may not hold ``.``, ``*``, ``>``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in group)[:40]
    digest = hashlib.sha1(pattern.encode()).hexdigest()[:12]
    return f"{safe}-{digest}"


def check_bus_url(url: str) -> str:
    """``nats://host:port`` (or ``tls://``); anything else is a one-line ConfigError."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("nats", "tls") or not sep or not rest:
        raise ConfigError(f"--bus: expected nats://HOST:PORT, got {url!r}")
    return url
