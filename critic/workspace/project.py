"""A project's settings: ``critic.toml`` (found upwards) and ``CRITIC_*`` environment variables.

Each setting is taken from the first place that has it: the command-line
flag, then the environment variable, then the project file, then the
default. :func:`resolve` says, for every setting, where its value came from
(``critic config`` prints that), so a surprising value can be traced.

``critic.toml`` is the first found in the working directory or a parent::

    model = "http://127.0.0.1:8080/v1"
    roles_dirs = ["roles"]         # relative to the file's folder
    log_dir = "runs"               # likewise
    bus = "nats://127.0.0.1:4222"

Environment: ``CRITIC_MODEL``, ``CRITIC_LOG_DIR``, ``CRITIC_BUS``;
extra roles folders keep their own variable, ``CRITIC_ROLES_PATH``
(read by the role registry, in addition to these).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from critic.errors import ConfigError

PROJECT_FILE = "critic.toml"
DEFAULTS: dict[str, object] = {
    "model": None, "roles_dirs": (), "log_dir": Path("critic-logs"), "bus": None,
}
ENV: dict[str, str] = {"model": "CRITIC_MODEL", "log_dir": "CRITIC_LOG_DIR", "bus": "CRITIC_BUS"}


class ProjectFile(BaseModel):
    """What ``critic.toml`` may set; an unknown key is an error naming it (a typo is not ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    roles_dirs: tuple[Path, ...] | None = None
    log_dir: Path | None = None
    bus: str | None = None


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
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {field}: {err['msg']}") from exc
    base = path.parent
    return project.model_copy(update={
        "roles_dirs": None if project.roles_dirs is None else tuple(base / p for p in project.roles_dirs),
        "log_dir": None if project.log_dir is None else base / project.log_dir,
    })


def resolve(flags: Mapping[str, object] | None = None, *, environ: Mapping[str, str] | None = None,
            start: Path | None = None) -> dict[str, Setting]:
    """Every setting with its source: flag (not None) > environment (not empty) > file > default.

    An empty ``roles_dirs`` flag counts as not given, so the file's folders still apply.
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
        from_file = getattr(project, name)
        if flag is not None and flag != ():
            settings[name] = Setting(name, flag, "flag")
        elif env_name and env_value:
            settings[name] = Setting(name, Path(env_value) if name == "log_dir" else env_value,
                                     f"env {env_name}")
        elif from_file is not None:
            settings[name] = Setting(name, from_file, f"file {path}")
        else:
            settings[name] = Setting(name, default, "default")
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
    model_value, dirs, folder, bus_value = (found[k].value for k in DEFAULTS)
    return ProjectSettings(
        model=None if model_value is None else str(model_value),
        roles_dirs=tuple(Path(str(p)) for p in dirs) if isinstance(dirs, tuple) else (),
        log_dir=Path(str(folder)), bus=None if bus_value is None else str(bus_value),
    )
