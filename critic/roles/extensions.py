"""One registry type for every extension point: built-ins, code, and installed plugins.

Each extension point has an :class:`Extensions` registry and one entry-point
group; an installed distribution adds a part by naming it there::

    [project.entry-points."critic.extractors"]
    roman = "my_pkg:RomanAnswer"

=====================  ======================  =========================================
extension point        entry-point group       the entry point resolves to
=====================  ======================  =========================================
critic role            ``critic.roles``        a Critic class or a folder of TOML roles
critic kind            ``critic.kinds``        a CriticFactory ``(role, ctx) -> Critic``
judge                  ``critic.judges``       a JudgeFactory ``(ctx) -> Judge``
debate judge           ``critic.debate_judges`` a DebateJudgeFactory ``(ctx) -> DebateJudge``
answer extractor       ``critic.extractors``   an AnswerExtractor, or a class making one
model backend          ``critic.backends``     a ModelOpener ``(spec, options) -> Model``
=====================  ======================  =========================================

Nothing is imported until a name is asked for (:meth:`Extensions.get`,
:meth:`Extensions.names`). A broken plugin (it fails to import, is not the
right kind of object, or takes a built-in's name) is reported once, as one
warning line on the ``critic.plugins`` logger naming its entry point, and
skipped: the built-ins and the other plugins keep working. Tests inject their
own entry points (``entry_points=``) instead of touching the installed ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from critic.errors import ConfigError

T = TypeVar("T")

log = logging.getLogger("critic.plugins")

# Each problem is reported once per process, however many registries meet it
# (the CLI checks a name while parsing flags and again while wiring the run).
_reported: set[str] = set()


def installed(group: str) -> list[EntryPoint]:
    """The installed entry points of ``group``, once each, in a stable order."""
    unique: dict[tuple[str, str, str], EntryPoint] = {}
    for ep in entry_points(group=group):
        # A distribution reachable twice on sys.path lists its entry points twice.
        unique.setdefault((distribution(ep), ep.name, ep.value), ep)
    return [unique[key] for key in sorted(unique)]


def distribution(ep: EntryPoint) -> str:
    """The name of the distribution that declares ``ep`` (``unknown`` for an injected one)."""
    return ep.dist.name if ep.dist is not None else "unknown"


def describe(ep: EntryPoint) -> str:
    """``entry point 'name' = 'module:attr' (distribution)``: how problems name a plugin."""
    return f"entry point {ep.name!r} = {ep.value!r} ({distribution(ep)})"


def report(message: str) -> None:
    """Log one plugin problem as a warning line, the first time it is met."""
    if message not in _reported:
        _reported.add(message)
        log.warning("critic: %s", message)


class Extensions(Generic[T]):
    """The parts of one extension point by name: built-ins, registered, then plugins.

    ``what`` names the point in messages (``answer extractor``); ``group`` is
    its entry-point group; ``accept`` turns what an entry point loads into a
    part, raising :class:`TypeError` (with a reason) for anything else.
    ``entry_points`` replaces the installed ones (tests); ``include_plugins=False``
    skips them.

        extractors = Extensions("answer extractor", "critic.extractors", accept_extractor)
        extractors.register("roman", RomanAnswer())

        @extractors.part("upper")
        class UpperAnswer: ...
    """

    def __init__(
        self,
        what: str,
        group: str,
        accept: Callable[[object], T],
        builtins: Mapping[str, T] | None = None,
        *,
        entry_points: Callable[[], Iterable[EntryPoint]] | None = None,
        include_plugins: bool = True,
    ) -> None:
        self.what = what
        self.group = group
        self.accept = accept
        self.builtins: dict[str, T] = dict(builtins or {})
        self.entry_points = entry_points
        self.include_plugins = include_plugins
        self._registered: dict[str, T] = {}
        self._plugins: dict[str, T] | None = None
        self._origins: dict[str, str] = {}

    def register(self, name: str, part: T) -> None:
        """Add (or replace) a part by name; code wins over built-ins and plugins."""
        self._registered[name] = part

    def part(self, name: str) -> Callable[[T], T]:
        """A decorator registering what it decorates under ``name``."""

        def decorate(part: T) -> T:
            self.register(name, part)
            return part

        return decorate

    def copy(self) -> Extensions[T]:
        """A registry with the same parts and sources; registering on it leaves this one alone."""
        other = Extensions(self.what, self.group, self.accept, self.builtins,
                           entry_points=self.entry_points, include_plugins=self.include_plugins)
        other._registered = dict(self._registered)
        return other

    def _load_plugins(self) -> dict[str, T]:
        if self._plugins is not None:
            return self._plugins
        plugins: dict[str, T] = {}
        found = self.entry_points or (lambda: installed(self.group))
        eps = list(found()) if self.include_plugins else []
        for ep in eps:
            where = f"{self.group} {describe(ep)}"
            if ep.name in self.builtins:
                report(f"{where}: skipped: {ep.name!r} is a built-in {self.what}")
                continue
            if ep.name in plugins:
                report(f"{where}: skipped: {self.what} {ep.name!r} is already provided by "
                       f"{self._origins[ep.name]}")
                continue
            try:
                part = self.accept(ep.load())
            except Exception as exc:  # whatever a plugin raises disables that plugin only
                report(f"{where}: skipped: {type(exc).__name__}: {exc}")
                continue
            plugins[ep.name] = part
            self._origins[ep.name] = describe(ep)
        self._plugins = plugins
        return plugins

    def load(self) -> dict[str, T]:
        """Every part by name (plugins are loaded on the first call only)."""
        return {**self._load_plugins(), **self.builtins, **self._registered}

    def names(self) -> list[str]:
        """Every name, built-ins first, then the rest sorted."""
        parts = self.load()
        return [*self.builtins, *sorted(n for n in parts if n not in self.builtins)]

    def __contains__(self, name: object) -> bool:
        return name in self.load()

    def origin(self, name: str) -> str:
        """Where a part came from: ``builtin``, ``registered`` or its entry point."""
        if name in self._registered:
            return "registered"
        if name in self.builtins:
            return "builtin"
        self._load_plugins()
        return self._origins.get(name, "unknown")

    def get(self, name: str, *, flag: str | None = None) -> T:
        """The part called ``name``; otherwise a one-line :class:`ConfigError` listing the names.

        ``flag`` prefixes the message (``--extract: unknown answer extractor ...``).
        """
        parts = self.load()
        if name not in parts:
            prefix = f"{flag}: " if flag else ""
            raise ConfigError(
                f"{prefix}unknown {self.what} {name!r} (known: {', '.join(self.names())})")
        return parts[name]
