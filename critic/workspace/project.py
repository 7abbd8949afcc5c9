"""A project's settings: ``critic.toml`` (found upwards) and ``CRITIC_*`` environment variables.

Each setting is taken from the first place that has it: the command-line
flag, then the environment variable, then the project file, then the
default. :func:`resolve` says, for every setting, where its value came from
(``critic config`` prints that), so a surprising value can be traced.

``critic.toml`` is the first found in the working directory or a parent::

    model = "fast"                 # a GGUF path, a URL, or a [models.NAME] below
    roles_dirs = ["roles"]         # relative to the file's folder
    log_dir = "runs"               # likewise
    bus = "nats://127.0.0.1:4222"

    [judge]                        # the stop rules of `critic run` (score, calibrate:
    accept_at = 0.9                # accept_at; debate: the two budgets)
    discard_below = 0.1
    max_rounds = 4
    patience = 2
    max_total_tokens = 20000
    max_seconds = 300

    [http]                         # every HTTP model
    max_connections = 4
    max_attempts = 5
    timeout = 120

    [local]                        # llama.cpp models
    shared_critics = 3             # the critics of a round share one context (0: their own)

    [models.fast]                  # a named model: --model fast, or model = "fast" in a role
    base_url = "https://api.example.com/v1"
    model = "small-model"
    api_key_env = "EXAMPLE_API_KEY"   # the variable's name; the key stays in the environment
    headers = { "X-Team" = "lab" }
    max_connections = 8               # over [http]; a flag or CRITIC_* variable still wins

Environment: ``CRITIC_MODEL``, ``CRITIC_LOG_DIR``, ``CRITIC_BUS``,
``CRITIC_ACCEPT_AT``, ``CRITIC_DISCARD_BELOW``, ``CRITIC_MAX_ROUNDS``,
``CRITIC_PATIENCE``, ``CRITIC_MAX_TOTAL_TOKENS``, ``CRITIC_MAX_SECONDS``,
``CRITIC_MAX_CONNECTIONS``, ``CRITIC_MAX_ATTEMPTS``, ``CRITIC_HTTP_TIMEOUT``,
``CRITIC_SHARED_CRITICS``;
extra roles folders keep their own variable, ``CRITIC_ROLES_PATH`` (read by
the role registry, in addition to these). ``critic eval`` takes none of the
judge settings: an experiment file defines its conditions' rules itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from critic.backends.options import ENDPOINT_NAME, ModelEndpoint, ModelOptions
from critic.errors import ConfigError

PROJECT_FILE = "critic.toml"
JUDGE = ("accept_at", "discard_below", "max_rounds", "patience", "max_total_tokens", "max_seconds")
HTTP = ("max_connections", "max_attempts", "timeout")
LOCAL = ("shared_critics",)
DEFAULTS: dict[str, object] = {
    "model": None, "roles_dirs": (), "log_dir": Path("critic-logs"), "bus": None,
    # The defaults of `critic run` (RunConfig) and of ModelOptions, restated by a test.
    "judge.accept_at": 0.8, "judge.discard_below": 0.0, "judge.max_rounds": 3,
    "judge.patience": None, "judge.max_total_tokens": None, "judge.max_seconds": None,
    "http.max_connections": 4, "http.max_attempts": 5, "http.timeout": 120.0,
    "local.shared_critics": 0,
}
ENV: dict[str, str] = {
    "model": "CRITIC_MODEL", "log_dir": "CRITIC_LOG_DIR", "bus": "CRITIC_BUS",
    **{f"judge.{k}": f"CRITIC_{k.upper()}" for k in JUDGE},
    "http.max_connections": "CRITIC_MAX_CONNECTIONS", "http.max_attempts": "CRITIC_MAX_ATTEMPTS",
    "http.timeout": "CRITIC_HTTP_TIMEOUT", "local.shared_critics": "CRITIC_SHARED_CRITICS",
}


class JudgeTable(BaseModel):
    """``[judge]``: the judge's stop rules (see :class:`~critic.judges.rules.ThresholdJudge`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    accept_at: float | None = Field(default=None, ge=0.0, le=1.0)
    discard_below: float | None = Field(default=None, ge=0.0, le=1.0)
    max_rounds: int | None = Field(default=None, ge=1)
    patience: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0.0)


class HttpTable(BaseModel):
    """``[http]``: the limits of every HTTP model (a named model may set its own)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    max_connections: int | None = Field(default=None, ge=1)
    max_attempts: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0.0)


class LocalTable(BaseModel):
    """``[local]``: how llama.cpp models run (see :class:`~critic.backends.llama_cpp.LlamaCppModel`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    shared_critics: int | None = Field(default=None, ge=0, le=64)
    """Sequences of one shared-prefix context for the LLM critics of a model (0: each
    critic its own context)."""


_TABLES: dict[str, type[JudgeTable] | type[HttpTable] | type[LocalTable]] = {
    "judge": JudgeTable, "http": HttpTable, "local": LocalTable}


class ProjectFile(BaseModel):
    """What ``critic.toml`` may set; an unknown key is an error naming it (a typo is not ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    roles_dirs: tuple[Path, ...] | None = None
    log_dir: Path | None = None
    bus: str | None = None
    judge: JudgeTable = JudgeTable()
    http: HttpTable = HttpTable()
    local: LocalTable = LocalTable()
    models: dict[str, ModelEndpoint] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelEndpoint]) -> dict[str, ModelEndpoint]:
        for name in value:
            if not ENDPOINT_NAME.match(name):
                raise ValueError(f"{name!r}: a model name is a letter, then letters, digits, "
                                 "_ or - (no '.', '/' or ':')")
        return value

    def value(self, name: str) -> object:
        """A setting by its dotted name (``judge.accept_at``); None when the file leaves it out."""
        table, _, field = name.rpartition(".")
        return getattr(getattr(self, table) if table else self, field)


@dataclass(frozen=True)
class Setting:
    """One resolved value and where it came from: ``flag``, ``env NAME``, ``file PATH``, ``default``."""

    name: str
    value: object
    source: str


def find_project_file(start: Path | None = None) -> Path | None:
    """The nearest ``critic.toml`` in ``start`` (default: the working directory) or a parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    return ".".join(str(p) for p in err["loc"]), str(err["msg"]).removeprefix("Value error, ")


def read_project_file(path: Path) -> ProjectFile:
    """``path`` parsed and checked; folders in it are made relative to its own folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        project = ProjectFile.model_validate(data)
    except ValidationError as exc:
        field, msg = _first_error(exc)
        raise ConfigError(f"{path}: {field}: {msg}") from exc
    base = path.parent
    return project.model_copy(update={
        "roles_dirs": None if project.roles_dirs is None else tuple(base / p for p in project.roles_dirs),
        "log_dir": None if project.log_dir is None else base / project.log_dir,
        "models": {name: m.model_copy(update={"origin": f"{path}: models.{name}"})
                   for name, m in project.models.items()},
    })


def _from_env(name: str, variable: str, raw: str) -> object:
    """An environment value, checked like the same key in the file."""
    table, _, field = name.rpartition(".")
    if not table:
        return Path(raw) if name == "log_dir" else raw
    try:
        return getattr(_TABLES[table].model_validate({field: raw}), field)
    except ValidationError as exc:
        raise ConfigError(f"{variable}={raw!r}: {_first_error(exc)[1]}") from exc


def resolve(flags: Mapping[str, object] | None = None, *, environ: Mapping[str, str] | None = None,
            start: Path | None = None) -> dict[str, Setting]:
    """Every setting with its source: flag (not None) > environment (not empty) > file > default.

    Keys are :data:`DEFAULTS`' names (``judge.accept_at``...), then one
    ``models.NAME`` per named model of the file. An empty ``roles_dirs`` flag
    counts as not given, so the file's folders still apply.
    """
    flags = flags or {}
    environ = os.environ if environ is None else environ
    path = find_project_file(start)
    project = read_project_file(path) if path is not None else ProjectFile()
    settings: dict[str, Setting] = {}
    for name, default in DEFAULTS.items():
        flag = flags.get(name)
        env_name = ENV.get(name)
        env_value = environ.get(env_name, "").strip() if env_name else ""
        from_file = project.value(name)
        if flag is not None and flag != ():
            settings[name] = Setting(name, flag, "flag")
        elif env_name and env_value:
            settings[name] = Setting(name, _from_env(name, env_name, env_value), f"env {env_name}")
        elif from_file is not None:
            settings[name] = Setting(name, from_file, f"file {path}")
        else:
            settings[name] = Setting(name, default, "default")
    for model_name, endpoint in project.models.items():
        settings[f"models.{model_name}"] = Setting(f"models.{model_name}", endpoint, f"file {path}")
    return settings


@dataclass(frozen=True)
class ProjectSettings:
    """The resolved values, typed, for a command to pass on to its config."""

    model: str | None
    roles_dirs: tuple[Path, ...]
    log_dir: Path
    bus: str | None


def project_settings(*, model: str | None = None, roles_dirs: tuple[Path, ...] = (),
                     log_dir: Path | None = None, bus: str | None = None,
                     environ: Mapping[str, str] | None = None,
                     start: Path | None = None) -> ProjectSettings:
    """The flags a command was given, completed from the environment and ``critic.toml``."""
    found = resolve({"model": model, "roles_dirs": roles_dirs, "log_dir": log_dir, "bus": bus},
                    environ=environ, start=start)
    model_value, dirs, folder, bus_value = (found[k].value
                                            for k in ("model", "roles_dirs", "log_dir", "bus"))
    return ProjectSettings(
        model=None if model_value is None else str(model_value),
        roles_dirs=tuple(Path(str(p)) for p in dirs) if isinstance(dirs, tuple) else (),
        log_dir=Path(str(folder)), bus=None if bus_value is None else str(bus_value),
    )


def judge_settings(environ: Mapping[str, str] | None = None, start: Path | None = None,
                   **flags: float | int | None) -> dict[str, object]:
    """The judge rules a command takes (the keys of ``flags``, e.g. ``accept_at=None``),
    each from its flag, ``CRITIC_*``, ``[judge]`` or the default."""
    unknown = set(flags) - set(JUDGE)
    if unknown:
        raise TypeError(f"not judge settings: {', '.join(sorted(unknown))}")
    found = resolve({f"judge.{k}": v for k, v in flags.items()}, environ=environ, start=start)
    return {k: found[f"judge.{k}"].value for k in flags}


def model_options(*, max_connections: int | None = None, max_attempts: int | None = None,
                  timeout: float | None = None, cache: Path | None = None, offline: bool = False,
                  environ: Mapping[str, str] | None = None,
                  start: Path | None = None) -> ModelOptions:
    """The run's :class:`ModelOptions`: HTTP numbers from flag, ``CRITIC_*``, ``[http]`` or
    default, and the file's named models.

    A named model's own numbers beat ``[http]`` and the defaults (they are more
    specific), but not a flag or variable given for this run: those are the
    user's word for every model.
    """
    found = resolve({"http.max_connections": max_connections, "http.max_attempts": max_attempts,
                     "http.timeout": timeout}, environ=environ, start=start)
    shared_critics = found["local.shared_critics"].value
    numbers = {k: found[f"http.{k}"] for k in HTTP}
    pinned = {k: s.value for k, s in numbers.items()
              if s.source == "flag" or s.source.startswith("env ")}
    endpoints = {
        s.name.removeprefix("models."): s.value.model_copy(update=pinned)
        for s in found.values() if isinstance(s.value, ModelEndpoint)
    }
    return ModelOptions.parse(**{k: s.value for k, s in numbers.items()}, cache=cache,
                              offline=offline, endpoints=endpoints, shared_critics=shared_critics)
