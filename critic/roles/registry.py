"""The role registry: every role by name, from sources in precedence order."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path

from critic.errors import ConfigError
from critic.prompts import PromptLibrary, package_data_dir
from critic.roles.plugins import installed_entry_points, load_entry_point_roles
from critic.roles.spec import Role, load_role_dir


@dataclass
class RoleRegistry:
    """Roles by name, from sources in precedence order (a later source wins).

    Sources: the built-in ``roles/`` folder, then each folder of
    ``$CRITIC_ROLES_PATH`` (``os.pathsep``-separated), then ``extra_dirs``,
    then the entry points of the group ``critic.roles``. Nothing is read
    until :meth:`load` is called. ``entry_points`` replaces the installed
    entry points (tests inject their own); ``include_plugins=False`` skips them.
    """

    extra_dirs: Sequence[Path] = ()
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    include_builtin: bool = True
    env_path: str | None = None
    include_plugins: bool = True
    entry_points: Callable[[], Iterable[EntryPoint]] | None = None
    _roles: dict[str, Role] | None = None

    def _sources(self) -> Iterable[Callable[[], dict[str, Role]]]:
        def folder(directory: Path, source: str) -> Callable[[], dict[str, Role]]:
            return lambda: load_role_dir(directory, self.prompts, source=source)

        if self.include_builtin:
            yield folder(package_data_dir("roles"), "builtin")
        env = self.env_path if self.env_path is not None else os.environ.get("CRITIC_ROLES_PATH", "")
        for part in env.split(os.pathsep):
            if part:
                yield folder(Path(part), f"env:{part}")
        for directory in self.extra_dirs:
            yield folder(Path(directory), f"dir:{directory}")
        if self.include_plugins:
            found = self.entry_points or installed_entry_points
            yield lambda: load_entry_point_roles(found(), self.prompts)

    def load(self) -> dict[str, Role]:
        """Every role by name, reading the sources on the first call only."""
        if self._roles is None:
            roles: dict[str, Role] = {}
            for source in self._sources():
                roles.update(source())
            self._roles = roles
        return self._roles

    def get(self, name: str) -> Role:
        roles = self.load()
        if name not in roles:
            known = ", ".join(sorted(roles)) or "none"
            raise ConfigError(f"unknown role {name!r} (known roles: {known})")
        return roles[name]
