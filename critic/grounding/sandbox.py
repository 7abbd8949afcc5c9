"""Run untrusted Python from a draft in a contained child process.

Layers, outermost first:

- Isolation (:mod:`critic.grounding.isolation`): bubblewrap where it works,
  else ``unshare``, each giving the same world: own PID, network, mount, IPC
  and UTS namespaces, a fresh ``/proc``, a read-only root, private
  size-limited ``/tmp``, ``/var/tmp`` and ``/dev/shm``, the working directory
  as the only writable host path, and death with our process.
- A launcher (:mod:`critic.grounding._launcher`, PID 1 of the namespace) that
  sets rlimits (CPU, address space, file size, process count) and, when we
  are root, drops to a fresh unprivileged uid per run: root ignores
  RLIMIT_NPROC, and the count is per uid, so concurrent runs do not share it.
- ``python -I`` on the base interpreter (no venv site-packages), stdin from
  ``/dev/null``, a minimal environment, a fresh working directory.

At the wall-clock limit the parent kills the namespace's PID 1, so every
process the program started is gone when :func:`run_python` returns. Working
directories are locked while in use; one left behind by a killed process is
removed by the next run. Where neither tool works the run still happens,
with one warning and a note in the result (``isolation == "none"``).

    result = await run_python("print(1 + 1)")
    assert result.ok and result.stdout == "2\\n"
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import marshal
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import anyio
from anyio.abc import ByteReceiveStream, Process
from pydantic import BaseModel, ConfigDict, Field

from critic.errors import ConfigError
from critic.grounding.isolation import (
    NOTES,
    Isolation,
    bwrap_command,
    unshare_command,
    unshare_world,
)

Limit = Literal["wall_time", "cpu_time", "memory", "file_size", "processes", "output", "killed"]

# Unnamed uids, one per run; far above the ranges distributions hand out.
_UID_BASE, _UID_SPAN = 3_000_000_000, 1_000_000
# "flock-": made by code that locks its directories, so only those are ever
# taken for abandoned (an older critic's directory in use is not locked).
_WORKDIR_PREFIX = "critic-sandbox-flock-"
_MB = 1024 * 1024


class SandboxLimits(BaseModel):
    """Bounds for one run; tight by default, since drafts are small programs.

    ``file_size_mb`` also sizes each private tmpfs (``/tmp``, ``/var/tmp``,
    ``/dev/shm``): their pages are RAM that ``memory_mb`` does not count.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_time: float = Field(default=10.0, gt=0)
    cpu_time: int = Field(default=5, ge=1)
    memory_mb: int = Field(default=512, ge=64)
    file_size_mb: int = Field(default=16, ge=1)
    processes: int = Field(default=32, ge=1)
    output_bytes: int = Field(default=64_000, ge=1)


class SandboxResult(BaseModel):
    """What happened: exit status, outputs, duration and which limit (if any) was hit."""

    model_config = ConfigDict(frozen=True)

    exit_code: int | None
    """The program's exit status; 128 + N: killed by signal N; None: killed at wall time."""
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration: float
    limit: Limit | None = None
    """The limit that stopped the program; ``killed``: a SIGKILL no limit of ours sent."""
    isolation: Isolation
    """The isolation in force: ``bwrap``, ``unshare`` or ``none``."""
    uid: int | None = None
    """The unprivileged uid the program ran as (when we are root)."""
    files: dict[str, str] = Field(default_factory=dict)
    """Files asked for by ``read_back``, read from the working directory after the run."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None

    @property
    def network_isolated(self) -> bool:
        return self.isolation != "none"

    @property
    def notes(self) -> tuple[str, ...]:
        return (NOTES[self.isolation],)


# Whether each tool works on this machine (a fact about the host, probed once).
_works: dict[Isolation, str | None] = {}


async def _probe(isolation: Isolation) -> str | None:
    """None if ``isolation`` runs a program here, else why not (one line)."""
    if isolation not in _works:
        try:
            result = await _run(isolation, "pass", SandboxLimits(), {}, (), ())
        except OSError as exc:
            _works[isolation] = str(exc)
        else:
            lines = result.stderr.strip().splitlines() or [f"exit status {result.exit_code}"]
            _works[isolation] = None if result.ok else lines[-1]
    return _works[isolation]


async def resolve_isolation(wanted: Literal["bwrap", "unshare"] | None = None) -> Isolation:
    """The isolation a run gets: ``wanted``, or the best that works here.

    A ``wanted`` tool that does not work is a :class:`~critic.errors.ConfigError`;
    with none wanted and none working, the answer is ``none`` (warned about once).
    """
    if wanted is not None:
        if wanted not in ("bwrap", "unshare"):
            raise ConfigError(f"sandbox isolation: {wanted!r} is not 'bwrap' or 'unshare'")
        why = await _probe(wanted)
        if why is not None:
            raise ConfigError(f"sandbox isolation {wanted!r} does not work here: {why}")
        return wanted
    for isolation in ("bwrap", "unshare"):
        if await _probe(isolation) is None:
            return isolation
    if "none" not in _works:
        _works["none"] = None
        warnings.warn(f"critic sandbox: {NOTES['none']}", RuntimeWarning, stacklevel=2)
    return "none"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if found is None:
        raise FileNotFoundError(f"{name} is not installed")
    return found


def _base_python() -> str:
    # The interpreter behind the venv: drafts get the standard library only.
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def _world_runnable(path: str) -> bool:
    """Whether any user can execute ``path`` (every folder above it searchable)."""
    target = Path(path)
    try:
        if not target.stat().st_mode & 0o001:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in target.parents)
    except OSError:
        return False


def _snippet_python(drop: bool) -> str:
    """The interpreter the launcher and program run on; the run's uid must reach it.

    The base one unless, as root, it sits where other users cannot go (pyenv
    under ``/root``): then the system ``python3``. The sandbox would reach the
    base one through fresh folders, but this keeps the choice isolation left
    as it was, and a base interpreter with a heavy ``site`` (here, .pth files
    importing certifi: 40-75 ms per start, measured) slows every run.
    """
    base = _base_python()
    if not drop or _world_runnable(base):
        return base
    system = shutil.which("python3", path="/usr/bin:/bin")
    return os.path.realpath(system) if system and _world_runnable(system) else base


def _claim_workdir() -> tuple[Path, int]:
    """A fresh working directory and the descriptor whose lock marks it in use.

    The lock (``flock``) dies with its holder, so a directory nobody holds is
    one a killed process left behind: those are removed here first.
    """
    base = Path(tempfile.gettempdir())
    _remove_abandoned(base)
    while True:
        path = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX, dir=base))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # another run's sweep removed it before we could lock it: again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Another run's sweep may have taken it for abandoned before we locked it.
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return path, fd
        except OSError:
            pass
        os.close(fd)


def _remove_abandoned(base: Path) -> None:
    with contextlib.suppress(OSError), os.scandir(base) as entries:
        for entry in entries:
            if not entry.name.startswith(_WORKDIR_PREFIX):
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError:
                continue  # not a directory, or not ours
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # in use
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            os.close(fd)


def _release_workdir(path: Path, fd: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.close(fd)


async def _drain(stream: ByteReceiveStream | None, bound: int, out: bytearray) -> bool:
    """Read a stream to its end, keeping ``bound`` bytes; True if more was discarded."""
    truncated = False
    if stream is None:
        return False
    try:
        async for chunk in stream:
            room = bound - len(out)
            if room > 0:
                out.extend(chunk[:room])
            if len(chunk) > room:
                truncated = True
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
    return truncated


class _Pipe:
    """A pipe between us and the sandbox; what it reports is a few JSON objects, read when due."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._data = bytearray()
        self._eof = False

    def close_write(self) -> None:
        if self.write_fd >= 0:  # once: the number may be reused by then
            os.close(self.write_fd)
            self.write_fd = -1

    def objects(self) -> list[dict[str, object]]:
        """Every JSON object written so far (a program could write junk: bounded, skipped)."""
        with contextlib.suppress(BlockingIOError):  # nothing more yet
            while not self._eof and self.read_fd >= 0 and len(self._data) < 65536:
                chunk = os.read(self.read_fd, 4096)
                self._eof = not chunk
                self._data.extend(chunk)
        decoder, found = json.JSONDecoder(), []
        rest = self._data.decode("utf-8", "replace").lstrip()
        while rest:
            try:
                value, end = decoder.raw_decode(rest)
            except ValueError:
                break
            if isinstance(value, dict):
                found.append(value)
            rest = rest[end:].lstrip()
        return found

    def close_read(self) -> None:
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def close(self) -> None:
        self.close_write()
        self.close_read()


def _init_pidfd(reports: list[dict[str, object]], outer: int) -> int | None:
    """A pidfd on the namespace's PID 1, if it has reported and is still the outer's child."""
    for report in reports:
        pid = report.get("child-pid", report.get("init"))
        if not isinstance(pid, int):
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        try:
            # Only a child of our own process is the one we started (PIDs are reused).
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == outer:
                return pidfd
        except (OSError, ValueError, IndexError):
            pass
        os.close(pidfd)
    return None


def _stop(process: Process, reports: list[dict[str, object]], lifeline: _Pipe,
          isolation: Isolation) -> None:
    """End the sandbox, whether the program ended, timed out or we were cancelled.

    Once the namespace's PID 1 is dead the kernel ends every process inside
    before the outer tool can exit, so nothing is left when ``wait`` returns;
    killing the outer tool instead would return while they are still dying.
    """
    pidfd = _init_pidfd(reports, process.pid)
    if pidfd is not None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.close(pidfd)
    lifeline.close_write()  # PID 1 exits on this too (the way it goes before it reported)
    if isolation == "none":  # no namespace: the launcher's process group is all we know
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _which_limit(code: int | None, exit_report: dict[str, object] | None, stderr: str,
                 limits: SandboxLimits) -> Limit | None:
    if code is None:
        return "wall_time"
    if exit_report is not None:
        number = exit_report.get("signal")
        killed_by = number if isinstance(number, int) else None
    else:
        killed_by = -code if code < 0 else code - 128 if code > 128 else None
    if killed_by == signal.SIGXCPU:
        return "cpu_time"
    if killed_by == signal.SIGKILL:
        # The hard CPU limit, a second above the soft one, kills with SIGKILL too.
        # Only a program that ignored SIGXCPU runs past the soft limit, and the
        # reported CPU time runs short of the kernel's own count (1.84-1.89 s
        # measured at a 2 s hard limit), so past the soft limit means the CPU.
        cpu = exit_report.get("cpu") if exit_report else None
        spent = isinstance(cpu, int | float) and cpu >= limits.cpu_time
        return "cpu_time" if spent else "killed"
    if killed_by == signal.SIGXFSZ or "File too large" in stderr:
        return "file_size"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory"
    if "Resource temporarily unavailable" in stderr and "fork" in stderr.lower():
        return "processes"
    return None


def _prepare(workdir: Path, files: Mapping[str, str], uid: int | None) -> None:
    for name, text in files.items():
        (workdir / name).write_text(text, encoding="utf-8")
    if uid is not None:  # the unprivileged child must own its directory, and only that
        for path in [workdir, *workdir.iterdir()]:
            os.chown(path, uid, uid)


def _read_back(workdir: Path, names: tuple[str, ...], bound: int) -> dict[str, str]:
    back = {}
    for name in names:
        path = workdir / name
        # The snippet could have planted a symlink to a file it may not read.
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                back[name] = handle.read(bound).decode("utf-8", "replace")
    return back


def _launcher_text() -> str:
    return Path(__file__).with_name("_launcher.py").read_text(encoding="utf-8")


async def run_python(
    code: str,
    *,
    limits: SandboxLimits | None = None,
    files: Mapping[str, str] | None = None,
    argv: tuple[str, ...] = (),
    read_back: tuple[str, ...] = (),
    isolation: Literal["bwrap", "unshare"] | None = None,
) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh directory (with ``files`` beside it).

    ``isolation`` picks the tool (default: bubblewrap if it works here, else
    ``unshare``); see :func:`resolve_isolation`.
    """
    chosen = await resolve_isolation(isolation)
    return await _run(chosen, code, limits or SandboxLimits(), files or {}, argv, read_back)


async def _run(isolation: Isolation, code: str, limits: SandboxLimits, files: Mapping[str, str],
               argv: tuple[str, ...], read_back: tuple[str, ...]) -> SandboxResult:
    root = os.geteuid() == 0
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if root else None
    workdir, lock = await anyio.to_thread.run_sync(_claim_workdir)
    # status and info: the launcher and bubblewrap report on them. lifeline: we
    # hold its write end, the launcher watches the other and ends when it closes.
    status, info, lifeline = _Pipe(), _Pipe(), _Pipe()
    os.set_blocking(lifeline.read_fd, True)
    try:
        await anyio.to_thread.run_sync(_prepare, workdir, {**files, "main.py": code}, uid)
        python = _snippet_python(root)
        tmp_bytes = limits.file_size_mb * _MB
        prefix: list[str] = []
        world = None
        if isolation == "bwrap":
            prefix = bwrap_command(_tool("bwrap"), python=python, workdir=str(workdir),
                                   tmp_bytes=tmp_bytes, root=root, info_fd=info.write_fd)
        elif isolation == "unshare":
            prefix = unshare_command(_tool("unshare"), root=root)
            world = unshare_world(python, workdir=str(workdir), tmp_bytes=tmp_bytes)
        config = {
            "limits": {
                "RLIMIT_CPU": [limits.cpu_time, limits.cpu_time + 1],
                "RLIMIT_AS": [limits.memory_mb * _MB] * 2,
                "RLIMIT_FSIZE": [limits.file_size_mb * _MB] * 2,
                "RLIMIT_NPROC": [limits.processes] * 2,
                "RLIMIT_CORE": [0, 0],
            },
            "uid": uid,
            "python": python,
            "argv": ["main.py", *argv],
            "workdir": str(workdir),
            "status_fd": status.write_fd,
            "lifeline_fd": lifeline.read_fd,
            "world": world,
        }
        command = [*prefix, python, "-I", "-S", "-c", _launcher_text(),
                   marshal.dumps(config).hex()]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir)}
        if isolation == "none":
            env["TMPDIR"] = str(workdir)  # the host's /tmp is all there is
        out, err = bytearray(), bytearray()
        truncated = {"out": False, "err": False}
        start = time.monotonic()
        process = await anyio.open_process(
            command, cwd=workdir, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
            pass_fds=(status.write_fd, lifeline.read_fd,
                      *([info.write_fd] if isolation == "bwrap" else [])),
        )
        status.close_write()
        info.close_write()
        lifeline.close_read()
        code_: int | None = None
        try:
            with anyio.move_on_after(limits.wall_time):
                async with anyio.create_task_group() as tg:
                    async def read(name: str, stream: ByteReceiveStream | None,
                                   into: bytearray) -> None:
                        truncated[name] = await _drain(stream, limits.output_bytes, into)

                    tg.start_soon(read, "out", process.stdout, out)
                    tg.start_soon(read, "err", process.stderr, err)
                    code_ = await process.wait()
        finally:
            _stop(process, [*info.objects(), *status.objects()], lifeline, isolation)
            with anyio.CancelScope(shield=True):
                await process.wait()
                await process.aclose()
        duration = time.monotonic() - start
        exits = [r for r in status.objects() if "exit" in r or "signal" in r]
        exit_report = exits[0] if exits else None
        if code_ is not None and exit_report is not None:
            number = exit_report.get("exit", exit_report.get("signal"))
            if isinstance(number, int):
                code_ = number if "exit" in exit_report else 128 + number
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        limit = _which_limit(code_, exit_report, stderr, limits)
        if limit is None and (truncated["out"] or truncated["err"]):
            limit = "output"
        back = await anyio.to_thread.run_sync(
            _read_back, workdir, read_back, 4 * limits.output_bytes
        )
        return SandboxResult(
            exit_code=code_, stdout=stdout, stderr=stderr,
            stdout_truncated=truncated["out"], stderr_truncated=truncated["err"],
            duration=duration, limit=limit, isolation=isolation, files=back, uid=uid,
        )
    finally:
        for pipe in (status, info, lifeline):
            pipe.close()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_release_workdir, workdir, lock)
