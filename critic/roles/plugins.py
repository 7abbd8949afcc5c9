"""Roles published by installed packages through the entry-point group ``critic.roles``.

An entry point resolves to one of:

* a **class** implementing the :class:`~critic.protocols.Critic` protocol. The
  role takes the entry point's name, kind ``plugin``, and the class's
  ``description`` attribute (or the first line of its docstring). The critic
  is built as ``cls(role, ctx)`` with its :class:`~critic.roles.spec.Role` and a
  :class:`~critic.protocols.CriticContext` (models, seed), like any other kind;
* a **folder** of TOML roles: a :class:`~pathlib.Path` or ``str`` attribute,
  or a module/package (its own folder). Templates are looked up beside the
  TOML files, then in ``../prompts``, then in critic's built-in prompts.

Every role gets the source ``entrypoint:<distribution>:<entry point name>``.
Nothing is imported until the registry loads. As at every extension point
(:mod:`critic.roles.extensions`), a broken entry point, or a second one
defining a role name already taken, is reported once as a warning naming it
and skipped; the other roles keep working.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

from pydantic import ValidationError

from critic.errors import ConfigError
from critic.prompts import PromptLibrary
from critic.roles.extensions import describe, distribution, installed, report
from critic.roles.spec import PLUGIN_KIND, Role, RoleSpec, load_role_dir

ENTRY_POINT_GROUP = "critic.roles"


def installed_entry_points() -> list[EntryPoint]:
    """The ``critic.roles`` entry points of the installed distributions, in a stable order."""
    return installed(ENTRY_POINT_GROUP)


def _dist_name(ep: EntryPoint) -> str:
    return distribution(ep)


def entry_point_source(ep: EntryPoint) -> str:
    """``entrypoint:<distribution>:<name>``: where a plugin role came from."""
    return f"entrypoint:{_dist_name(ep)}:{ep.name}"


def _where(ep: EntryPoint) -> str:
    return describe(ep)


def _class_role(ep: EntryPoint, cls: type) -> Role:
    if not callable(getattr(cls, "review", None)):
        raise ConfigError(f"{_where(ep)}: class {cls.__qualname__} has no review() method")
    description = getattr(cls, "description", None) or (inspect.getdoc(cls) or "").partition("\n")[0]
    try:
        spec = RoleSpec(name=ep.name, description=description, kind=PLUGIN_KIND)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{_where(ep)}: {field}: {first['msg']}") from exc
    try:
        inspect.signature(cls).bind("role", "ctx")
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{_where(ep)}: {cls.__qualname__}(role, ctx) is not a valid call: {exc}"
        ) from exc
    # Checked above as far as Python allows: it has review() and takes (role, ctx);
    # the critic it builds is checked against the Critic protocol when it is built.
    return Role(spec, entry_point_source(ep), None, plugin=cls)


def _folder_of(obj: object) -> Path | None:
    if isinstance(obj, str | os.PathLike):
        return Path(obj)
    if isinstance(obj, ModuleType):
        paths = list(getattr(obj, "__path__", []))
        if paths:
            return Path(paths[0])
        if obj.__file__:
            return Path(obj.__file__).parent
    return None


def load_entry_point(ep: EntryPoint, prompts: PromptLibrary) -> dict[str, Role]:
    """The roles one entry point provides; a broken plugin is a :class:`ConfigError`."""
    try:
        obj = ep.load()
    except Exception as exc:  # any import failure inside a plugin is the plugin's fault
        raise ConfigError(f"{_where(ep)}: cannot load: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, type):
        return {ep.name: _class_role(ep, obj)}
    folder = _folder_of(obj)
    if folder is None:
        raise ConfigError(
            f"{_where(ep)}: must be a Critic class or a folder of roles, not {type(obj).__name__}"
        )
    try:
        return load_role_dir(folder, prompts, source=entry_point_source(ep))
    except ConfigError as exc:
        raise ConfigError(f"{_where(ep)}: {exc}") from exc


def load_entry_point_roles(eps: Iterable[EntryPoint], prompts: PromptLibrary) -> dict[str, Role]:
    """The roles of every entry point that loads; a broken one is reported and skipped.

    A role name a previous entry point already defined is reported (naming
    both) and the later definition skipped.
    """
    roles: dict[str, Role] = {}
    origin: dict[str, str] = {}
    for ep in eps:
        try:
            provided = load_entry_point(ep, prompts)
        except ConfigError as exc:
            report(f"{ENTRY_POINT_GROUP} {exc}: skipped")
            continue
        for name, role in provided.items():
            here = str(role.path) if role.path else _where(ep)
            if name in roles:
                report(f"{ENTRY_POINT_GROUP} role {name!r} is defined twice: {origin[name]} and "
                       f"{here}: the second is skipped")
                continue
            roles[name] = role
            origin[name] = here
    return roles
