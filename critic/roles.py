"""Critic and judge roles: declarative TOML files plus prompt templates.

A role file (``roles/NAME.toml``)::

    name = "correctness"
    description = "Does the draft do what the task asks, without errors?"
    kind = "llm"                 # or a kind registered by code
    prompt = "correctness.j2"    # template in a prompts folder
    system = "critic_system.j2"  # optional
    scale = [1, 10]              # the role's native score range
    temperature = 0.0
    max_tokens = 200
    seed = 0                     # optional
    model = "http://127.0.0.1:8080/v1"   # optional: this role's own model
    timeout = 120.0
    weight = 1.0

Unknown keys are an error. Templates are rendered once at load time, so a
missing template or an undefined variable fails here, naming the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from critic.errors import ConfigError
from critic.templates import PromptLibrary, PromptTemplate, package_data_dir

LLM_KINDS = frozenset({"llm", "judge"})


class RoleSpec(BaseModel):
    """A role as declared in its TOML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    description: str = Field(min_length=1)
    kind: str = "llm"
    prompt: str | None = None
    system: str | None = None
    scale: tuple[float, float] = (1.0, 10.0)
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=200, ge=1)
    seed: int | None = None
    model: str | None = None
    timeout: float = Field(default=120.0, gt=0.0)
    weight: float = Field(default=1.0, ge=0.0)
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Settings for code-defined kinds (e.g. a sandbox time limit)."""

    @model_validator(mode="after")
    def _check(self) -> RoleSpec:
        low, high = self.scale
        if low >= high:
            raise ValueError(f"scale minimum {low:g} must be below maximum {high:g}")
        if self.kind in LLM_KINDS and self.prompt is None:
            raise ValueError(f"kind {self.kind!r} needs a prompt template")
        return self

    def normalize(self, raw: float) -> float:
        """The raw score on this role's scale mapped to [0, 1] (clamped)."""
        low, high = self.scale
        return min(1.0, max(0.0, (raw - low) / (high - low)))


@dataclass(frozen=True)
class Role:
    """A loaded role: its spec, where it came from, and its checked templates."""

    spec: RoleSpec
    source: str
    path: Path | None = None
    prompt: PromptTemplate | None = None
    system: PromptTemplate | None = None

    @property
    def name(self) -> str:
        return self.spec.name


def _field_of(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(file)"
    return f"{where}: {first['msg']}"


def load_role_file(path: Path, prompts: PromptLibrary, *, source: str = "file") -> Role:
    """Parse, validate and load the templates of one role file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read role file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    try:
        spec = RoleSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_field_of(exc)}") from exc
    library = prompts.with_dirs([path.parent, path.parent.parent / "prompts"])
    try:
        prompt = library.load(spec.prompt) if spec.prompt else None
        system = library.load(spec.system) if spec.system else None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return Role(spec, source, path, prompt, system)


def load_role_dir(
    directory: Path, prompts: PromptLibrary, *, source: str | None = None
) -> dict[str, Role]:
    """Every ``*.toml`` role in ``directory``; two files declaring one name is an error."""
    if not directory.is_dir():
        raise ConfigError(f"roles folder not found: {directory}")
    roles: dict[str, Role] = {}
    for path in sorted(directory.glob("*.toml")):
        role = load_role_file(path, prompts, source=source or str(directory))
        if role.name in roles:
            raise ConfigError(
                f"role {role.name!r} is defined twice: {roles[role.name].path} and {path}"
            )
        roles[role.name] = role
    return roles


def check_role_dir(directory: Path, prompts: PromptLibrary | None = None) -> list[str]:
    """Every problem in a folder of roles, one line each (empty: all good)."""
    prompts = prompts or PromptLibrary()
    if not directory.is_dir():
        return [f"{directory}: roles folder not found"]
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            role = load_role_file(path, prompts)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if role.name in seen:
            problems.append(f"{path}: name: role {role.name!r} is also defined in {seen[role.name]}")
        else:
            seen[role.name] = path
    return problems


@dataclass
class RoleRegistry:
    """Roles by name, from sources in precedence order (a later source wins).

    Sources: the built-in ``roles/`` folder, then each folder of
    ``$CRITIC_ROLES_PATH`` (``os.pathsep``-separated), then ``extra_dirs``.
    Nothing is read until :meth:`load` is called.
    """

    extra_dirs: Sequence[Path] = ()
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    include_builtin: bool = True
    env_path: str | None = None
    _roles: dict[str, Role] | None = None

    def _sources(self) -> Iterable[tuple[str, Path]]:
        if self.include_builtin:
            yield "builtin", package_data_dir("roles")
        env = self.env_path if self.env_path is not None else os.environ.get("CRITIC_ROLES_PATH", "")
        for part in env.split(os.pathsep):
            if part:
                yield f"env:{part}", Path(part)
        for directory in self.extra_dirs:
            yield f"dir:{directory}", Path(directory)

    def load(self) -> dict[str, Role]:
        if self._roles is None:
            roles: dict[str, Role] = {}
            for source, directory in self._sources():
                roles.update(load_role_dir(directory, self.prompts, source=source))
            self._roles = roles
        return self._roles

    def get(self, name: str) -> Role:
        roles = self.load()
        if name not in roles:
            known = ", ".join(sorted(roles)) or "none"
            raise ConfigError(f"unknown role {name!r} (known roles: {known})")
        return roles[name]
