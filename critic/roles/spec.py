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
    model = "http://127.0.0.1:8080/v1"   # optional: this role's own model (or a [models.NAME])
    timeout = 120.0
    weight = 1.0
    memory = "none"              # or "session": see RoleSpec.memory

Unknown keys are an error. Templates are rendered once at load time, so a
missing template or an undefined variable fails here, naming the file and field.

A role can also be a Python class published through an entry point in the
group ``critic.roles`` (see :mod:`critic.roles.plugins`); its :class:`Role` has
kind ``plugin`` and carries the class in :attr:`Role.plugin`.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from critic.backends.base import GenerationParams
from critic.backends.options import ENDPOINT_NAME
from critic.errors import ConfigError, RoleFileError
from critic.messages import ChatMessage
from critic.prompts import PromptLibrary, PromptTemplate

LLM_KINDS = frozenset({"llm", "judge"})
#: The kind of a role defined by a Python class (an entry point), not a TOML file.
PLUGIN_KIND = "plugin"


class RoleSpec(BaseModel):
    """A role as declared in its TOML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    description: str = Field(min_length=1)
    kind: str = "llm"
    prompt: str | None = Field(default=None, validate_default=True)
    system: str | None = None
    scale: tuple[float, float] = (1.0, 10.0)
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=200, ge=1)
    seed: int | None = None
    model: str | None = None
    timeout: float = Field(default=120.0, gt=0.0)
    weight: float = Field(default=1.0, ge=0.0)
    options: dict[str, JsonValue] = Field(default_factory=dict)
    """Settings for code-defined kinds (e.g. a sandbox time limit); values may be
    lists and tables (``banned = ["TODO", "FIXME"]``, ``[options.limits]``)."""
    memory: Literal["none", "session"] = "none"
    """Whether an LLM critic remembers its earlier reviews.

    ``none`` (the default): every review starts from a clean context holding only
    the task and the draft, and the backend's cache of earlier prompts is dropped,
    so a score depends on that review alone, not on the order reviews came in (issue
    13 saw the same request score 0.11 on a fresh llama.cpp context, 1.00 on a reused one).
    ``session``: the critic keeps one growing conversation per session and sees its
    own earlier reviews of the earlier drafts; the session's first review starts
    clean, later ones reuse the cached conversation. ``critic score`` always reviews
    each record in a clean state, whatever this says.
    """

    # Field validators (not one model validator) so an error names its field.
    @field_validator("prompt")
    @classmethod
    def _prompt_for_llm_kinds(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is None and kind in LLM_KINDS:
            raise ValueError(f"kind {kind!r} needs a prompt template")
        return value

    @field_validator("model")
    @classmethod
    def _model_spec(cls, value: str | None) -> str | None:
        if value is None or value.lower().endswith(".gguf") or ENDPOINT_NAME.match(value):
            return value  # a named model ([models.NAME] of critic.toml) is found when opened
        # ``NAME:rest``: a URL or a ``critic.backends`` plugin, checked when it is opened.
        if re.match(r"^[A-Za-z][A-Za-z0-9_.+-]+:.", value):
            return value
        raise ValueError(
            f"{value!r} is neither an http(s) URL, a critic.backends plugin's "
            "BACKEND:... spec, a named model of critic.toml nor a GGUF file path (*.gguf)"
        )

    @field_validator("scale")
    @classmethod
    def _scale_ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low >= high:
            raise ValueError(f"scale minimum {low:g} must be below maximum {high:g}")
        return value

    def normalize(self, raw: float) -> float:
        """The raw score on this role's scale mapped to [0, 1] (clamped)."""
        low, high = self.scale
        return min(1.0, max(0.0, (raw - low) / (high - low)))


@dataclass(frozen=True)
class Role:
    """A loaded role: its spec, where it came from, and its checked templates.

    ``source`` is ``builtin``, ``env:DIR``, ``dir:DIR`` or ``entrypoint:DIST:NAME``;
    ``plugin`` is the class of a class-based role (kind ``plugin``).
    """

    spec: RoleSpec
    source: str
    path: Path | None = None
    prompt: PromptTemplate | None = None
    system: PromptTemplate | None = None
    plugin: Callable[..., object] | None = None
    """A class-based role's class, called as ``plugin(role, ctx)`` (see :mod:`.kinds`)."""

    @property
    def name(self) -> str:
        return self.spec.name

    def messages(self, **variables: object) -> list[ChatMessage]:
        """The conversation of one call: the system template (if any), then the prompt."""
        if self.prompt is None:
            raise ConfigError(f"role {self.name!r} has no prompt template")
        messages = []
        if self.system is not None:
            messages.append(self._system_message if self.system.constant is not None
                            else ChatMessage(role="system", content=self.system.render(**variables)))
        messages.append(ChatMessage(role="user", content=self.prompt.render(**variables)))
        return messages

    @functools.cached_property
    def _system_message(self) -> ChatMessage:
        """The system turn of a role whose system template is literal text (built once)."""
        assert self.system is not None and self.system.constant is not None
        return ChatMessage(role="system", content=self.system.constant)

    def params(self, seed: int | None = None) -> GenerationParams:
        """Sampling of one call: the role's settings, and ``seed`` where it sets none."""
        spec = self.spec
        return GenerationParams(
            max_tokens=spec.max_tokens, temperature=spec.temperature,
            seed=spec.seed if spec.seed is not None else seed,
        )


def _fields_of(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(file)"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (not a role setting)"
        problems.append(f"{where}: {message}")
    return problems


def load_role_file(path: Path, prompts: PromptLibrary, *, source: str = "file") -> Role:
    """Parse, validate and load the templates of one role file.

    Raises :class:`RoleFileError` listing every problem found, each naming its field.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RoleFileError(path, [f"(file): cannot read role file: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RoleFileError(path, [f"(file): invalid TOML: {exc}"]) from exc
    try:
        spec = RoleSpec.model_validate(data)
    except ValidationError as exc:
        raise RoleFileError(path, _fields_of(exc)) from exc
    library = prompts.with_dirs([path.parent, path.parent.parent / "prompts"])
    templates: dict[str, PromptTemplate | None] = {}
    problems: list[str] = []
    for field_name, name in (("prompt", spec.prompt), ("system", spec.system)):
        try:
            templates[field_name] = library.load(name) if name else None
        except ConfigError as exc:
            problems.append(f"{field_name}: {exc}")
    if problems:
        raise RoleFileError(path, problems)
    return Role(spec, source, path, templates["prompt"], templates["system"])


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


def check_role_dir(
    directory: Path,
    prompts: PromptLibrary | None = None,
    *,
    known_kinds: Collection[str] | None = None,
) -> list[str]:
    """Every problem in a folder of roles, one line each, ``file: field: message``.

    An empty list means the folder is good. With ``known_kinds``, a kind
    outside it is a problem too.
    """
    prompts = prompts or PromptLibrary()
    if not directory.is_dir():
        return [f"{directory}: roles folder not found"]
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            role = load_role_file(path, prompts)
        except RoleFileError as exc:
            problems.extend(f"{exc.path}: {problem}" for problem in exc.problems)
            continue
        model = role.spec.model
        if model is not None and (model.lower().endswith(".gguf")
                                  and not model.startswith(("http://", "https://"))):
            problem = _local_model_problem(Path(model).expanduser())
            if problem:
                problems.append(f"{path}: model: {problem}")
        if known_kinds is not None and role.spec.kind not in known_kinds:
            known = ", ".join(sorted(known_kinds))
            problems.append(f"{path}: kind: unknown kind {role.spec.kind!r} (known: {known})")
        if role.name in seen:
            problems.append(f"{path}: name: role {role.name!r} is also defined in {seen[role.name]}")
        else:
            seen[role.name] = path
    return problems


def _local_model_problem(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return f"cannot read model file {path}: {exc.strerror}"
    return None if magic == b"GGUF" else f"{path} is not a GGUF model file"


@dataclass
class RoleCritic:
    """Base of a critic built from a role: its name, weight and timeout are the role's."""

    role: Role

    @property
    def name(self) -> str:
        return self.role.name

    @property
    def weight(self) -> float:
        return self.role.spec.weight

    @property
    def timeout(self) -> float:
        return self.role.spec.timeout
