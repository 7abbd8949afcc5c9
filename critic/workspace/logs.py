"""Runs recorded by default: one log directory, one file per run, named by time and command.

``critic run``, ``debate``, ``score``, ``eval`` and ``calibrate`` write their
transcript, results or report under the log directory unless given
``--no-log``; ``critic logs`` lists what is there and ``critic view`` with no
path shows the newest. ``eval`` and ``calibrate`` write a folder there
(``summary.json`` / ``report.json`` inside) when not given ``-o``, and record a
copy of that file when they are. The directory is,
first found: the ``--log-dir`` flag, ``$CRITIC_LOG_DIR``, ``./critic-logs``.

A command opts in with two calls (its file then shows up in ``critic logs``)::

    log_dir = resolve_log_dir(flag_value)            # flag > env > file > default
    path = new_log_path(log_dir, "eval", suffix="")  # "" for a run that writes a folder
    ...write the run's output to path...

Names are ``YYYYmmdd-HHMMSS-COMMAND[-N]SUFFIX`` (UTC), so a plain sort is by
time and the command is read back from the name, whatever the file holds.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from critic.errors import ConfigError, CriticError
from critic.messages import DebateOutcome, Outcome, Task
from critic.transcript import read_transcript
from critic.workspace.project import resolve

_NAME = re.compile(r"^(?P<time>\d{8}-\d{6})-(?P<command>[a-z][a-z0-9_]*)(?:-\d+)?(?P<suffix>\.[\w.]+)?$")
_TIME = "%Y%m%d-%H%M%S"


def resolve_log_dir(flag: Path | None = None, environ: Mapping[str, str] | None = None,
                    start: Path | None = None) -> Path:
    """The log directory: ``flag``, else ``$CRITIC_LOG_DIR``, else ``critic.toml``'s
    ``log_dir``, else ``./critic-logs`` (see :mod:`critic.workspace.project`)."""
    value = resolve({"log_dir": flag}, environ=environ, start=start)["log_dir"].value
    assert isinstance(value, Path)
    return value


def new_log_path(log_dir: Path, command: str, *, suffix: str = ".jsonl",
                 now: datetime | None = None) -> Path:
    """A path in ``log_dir`` (created if needed) that no earlier run has taken.

    Two runs started in the same second get ``-2``, ``-3``... rather than
    sharing a file; the name is reserved by creating it empty (a folder when
    ``suffix`` is ""), which writers such as :class:`TranscriptWriter` accept.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", command):
        raise ValueError(f"command name {command!r} must be lower-case letters, digits, _")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_TIME)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"log directory {log_dir}: cannot create it ({exc.strerror})") from exc
    for n in range(1, 10_000):
        path = log_dir / f"{stamp}-{command}{'' if n == 1 else f'-{n}'}{suffix}"
        try:
            if suffix:
                path.touch(exist_ok=False)
            else:
                path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"log directory {log_dir}: cannot write in it ({exc.strerror})") from exc
        return path
    raise ConfigError(f"log directory {log_dir}: too many runs named {stamp}-{command}")


@dataclass(frozen=True)
class RecordedRun:
    """One entry of ``critic logs``: when, which command, what it was asked, how it ended."""

    path: Path
    time: datetime
    command: str
    task: str | None = None
    decision: str | None = None


def _cut(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rate(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "—"


def _report_summary(path: Path) -> tuple[str | None, str | None]:
    """An experiment's name and pass rates, or a calibration's data and AUROCs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    if data.get("kind") == "experiment":
        about = data.get("experiment") or {}
        conditions = data.get("conditions") or {}
        rates = ", ".join(f"{name} {_rate(c.get('pass_rate'))}" for name, c in conditions.items()
                          if isinstance(c, dict))
        name = about.get("name") if isinstance(about, dict) else None
        task = f"{name} ({about.get('dataset', '?')})" if name else None
        return task, _cut(f"pass rate: {rates}") if rates else None
    if data.get("kind") == "calibration":
        roles = data.get("roles") or {}
        aurocs = ", ".join(f"{name} {_rate(r.get('auroc'))}" for name, r in roles.items()
                           if isinstance(r, dict))
        return str(data.get("data", "")) or None, _cut(f"auroc: {aurocs}") if aurocs else None
    return None, None


def _summary(path: Path) -> tuple[str | None, str | None]:
    """The task and decision of a transcript, or the summary of an experiment or calibration
    report; (None, None) for anything else or a torn file."""
    path = viewable(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None, None
    if path.suffix == ".json":
        return _report_summary(path)
    try:
        transcript = read_transcript(path, tolerate_torn_tail=True)
    except CriticError:
        return None, None
    task: str | None = None
    decision: str | None = None
    for envelope in transcript.envelopes:
        payload = envelope.payload
        if isinstance(payload, Task) and task is None:
            task = payload.prompt
        elif isinstance(payload, Outcome):
            decision = payload.decision
        elif isinstance(payload, DebateOutcome):
            task = task or payload.question
            decision = payload.decision + ("" if payload.answer is None else f" ({payload.answer})")
    return task, decision


def list_runs(log_dir: Path, limit: int | None = None) -> list[RecordedRun]:
    """Recorded runs in ``log_dir``, newest first (files not named by :func:`new_log_path` skipped)."""
    if not log_dir.is_dir():
        return []
    # Pages `critic view` wrote beside a run are not runs.
    named = sorted(((m, p) for p in log_dir.iterdir()
                    if (m := _NAME.match(p.name)) and p.suffix != ".html"),
                   key=lambda mp: mp[1].name, reverse=True)
    runs: list[RecordedRun] = []
    for match, path in named[:limit]:
        task, decision = _summary(path)
        runs.append(RecordedRun(
            path=path, command=match["command"], task=task, decision=decision,
            time=datetime.strptime(match["time"], _TIME).replace(tzinfo=UTC),
        ))
    return runs


def latest_run(log_dir: Path) -> RecordedRun:
    """The newest recorded run with something in it; a :class:`ConfigError` if there is none."""
    for run in list_runs(log_dir):
        shown = viewable(run.path)
        if shown.is_file() and shown.stat().st_size > 0:  # e.g. not an eval stopped early
            return run
    raise ConfigError(f"no recorded runs in {log_dir}; pass a file to view or run a command first")


@contextmanager
def run_log(log_dir: Path, command: str, given: Path | None, *,
            record: bool = True) -> Iterator[Path | None]:
    """The transcript path of a run: ``given`` if the user named one, else a fresh log path
    (None with ``record=False``). A reserved file the run never wrote to (it failed before
    starting, e.g. a model that does not load) is removed, so it never shows in ``critic logs``."""
    if given is not None or not record:
        yield given
        return
    path = new_log_path(log_dir, command)
    try:
        yield path
    finally:
        if path.is_file() and path.stat().st_size == 0:
            path.unlink(missing_ok=True)


@contextmanager
def run_output(log_dir: Path, command: str, given: Path | None, *, record: bool = True,
               resume: bool = False, name: str = "") -> Iterator[Path]:
    """Where a run that the user may point elsewhere with ``-o`` writes (``eval``, ``calibrate``):
    ``given``, else ``name`` in a fresh folder of the log directory (the folder itself when
    ``name`` is ""). The folder is removed again if the run wrote nothing (only empty files). A run
    given ``-o`` is recorded after it ends with :func:`record_copy` of its summary."""
    if given is not None:
        yield given
        return
    if resume:
        raise ConfigError("--resume: needs -o/--output, the run to finish")
    if not record:
        raise ConfigError("-o/--output: needed with --no-log (otherwise the run is written "
                          "to the log directory)")
    folder = new_log_path(log_dir, command, suffix="")
    try:
        yield folder / name if name else folder
    finally:
        # A run that failed before recording anything (a model that does not open) may
        # have created empty files and folders; they are not a run to list.
        if folder.is_dir() and all(p.is_dir() or p.stat().st_size == 0 for p in folder.rglob("*")):
            shutil.rmtree(folder)


def record_copy(log_dir: Path, command: str, source: Path) -> Path:
    """Record a copy of ``source`` (e.g. a score file as this run left it) as a run of ``command``.

    For commands whose output the user names and may append to across runs:
    the log keeps what the file held when this run ended.
    """
    path = new_log_path(log_dir, command, suffix=source.suffix or ".jsonl")
    try:
        shutil.copyfile(source, path)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise ConfigError(f"log directory {log_dir}: cannot record {source} ({exc.strerror})") from exc
    return path


def viewable(path: Path) -> Path:
    """The file to show for a recorded run: itself, or a folder's summary.json / report.json."""
    if path.is_dir():
        for name in ("summary.json", "report.json"):
            if (path / name).is_file():
                return path / name
    return path
