"""The one error family of critic.

Every error a user can cause derives from :class:`CriticError` and names the
file, field or line at fault; the CLI prints it on one line and exits with 2.

    CriticError
    ├── ConfigError        a bad option, config value or role file
    │   ├── RoleFileError       a role file's problems, each ``field: message``
    │   └── TemplateBoundError  a prompt template past a render bound (loops, time, size)
    ├── TranscriptError    a transcript or JSONL file that cannot be read or written
    ├── SuiteError         a task with no tests, or tests that cannot be read
    ├── ModelError         a model that cannot be loaded or called
    │   ├── MalformedOutput    a completion that does not fit the requested schema
    │   ├── RetriesExhausted   every attempt of an HTTP call failed transiently
    │   └── CacheMiss          an offline call whose answer is not in the cache
    ├── BusError           a bus that cannot be reached or has nobody serving a topic
    │   └── BusUnavailable    the work was not done: server unreachable, no reply, nobody serving
    │       └── NobodyServes     no subscriber (no worker) serves the topic
    └── StatisticsError    data a statistic cannot be computed from (also a ValueError)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class CriticError(Exception):
    """Root of every error a user of critic can cause or must handle."""


class ConfigError(CriticError):
    """An invalid option, configuration value or role definition."""


class RoleFileError(ConfigError):
    """A role file with one or more problems, each ``field: message``."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__(f"{path}: " + "; ".join(self.problems))


class TemplateBoundError(ConfigError):
    """A prompt template that exceeded a render bound: iterations, time, size or recursion."""


class TranscriptError(CriticError):
    """A transcript or JSONL file that cannot be read, parsed or written."""


class SuiteError(CriticError):
    """A task with no tests to run, or a tests text that cannot be read."""


class ModelError(CriticError):
    """A model that cannot be loaded, or a call to it that failed."""


class MalformedOutput(ModelError):
    """A completion that does not parse into the requested schema."""


class RetriesExhausted(ModelError):
    """Every allowed attempt of a call failed transiently; ``attempts`` says how many."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class CacheMiss(ModelError):
    """An offline call whose answer is not in the cache."""


class BusError(CriticError):
    """A bus that cannot be reached, or a request nobody answers."""


class BusUnavailable(BusError):
    """The bus could not get the work done: nothing was answered, so nothing may be
    counted as done (``critic score`` stops and ``--resume`` scores the record again)."""


class NobodyServes(BusUnavailable):
    """A request to a topic that no subscriber (no worker) serves."""


class StatisticsError(CriticError, ValueError):
    """Data a statistic cannot be computed from: empty, mismatched or missing a class."""
