"""Run untrusted Python from a draft in a contained child process.

Layers, outermost first:

- ``unshare -n -p -f --kill-child`` (plus ``-U -r`` when not root): no network
  (only a downed loopback), and a PID namespace, so every process the snippet
  starts, including ones that daemonize, dies with it.
- A launcher that sets rlimits (CPU, address space, file size, process count)
  and, when we are root, drops to a fresh unprivileged uid per run: root
  ignores RLIMIT_NPROC, the count is per uid (so concurrent runs do not share
  it), and that uid can write nowhere but its own temporary directory.
- ``python -I`` on the base interpreter (no venv site-packages), a minimal
  environment, a fresh temporary working directory removed afterwards.

The parent kills the whole process group at the wall-clock limit and keeps at
most ``output_bytes`` of each stream. Where ``unshare`` does not work, the run
still happens without network isolation, with one warning and a note in the
result.

    result = await run_python("print(1 + 1)")
    assert result.ok and result.stdout == "2\\n"
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import anyio
from anyio.abc import ByteReceiveStream
from pydantic import BaseModel, ConfigDict, Field

Limit = Literal["wall_time", "cpu_time", "memory", "file_size", "processes", "output"]

# Unnamed uids, one per run; far above the ranges distributions hand out.
_UID_BASE, _UID_SPAN = 3_000_000_000, 1_000_000
NO_NETWORK_NOTE = "network not isolated on this machine (unshare unavailable)"

# The sandbox's first process (PID 1 of its namespace) stays privileged, so the
# program cannot kill it, and reports a fatal signal as 128 + N: `unshare` turns
# a child's death by signal into a plain exit status 1.
_LAUNCHER = """
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
pid = os.fork()
if pid == 0:
    try:
        for name, value in cfg["limits"].items():
            resource.setrlimit(getattr(resource, name), tuple(value))
        if cfg["uid"] is not None:
            os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
        os.execv(cfg["python"], [cfg["python"], "-I", *cfg["argv"]])
    finally:
        os._exit(127)
status = os.waitpid(pid, 0)[1]
sys.exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
"""


class SandboxLimits(BaseModel):
    """Bounds for one run; tight by default, since drafts are small programs."""

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
    network_isolated: bool
    uid: int | None = None
    """The unprivileged uid the program ran as (when we are root)."""
    files: dict[str, str] = Field(default_factory=dict)
    """Files asked for by ``read_back``, read from the working directory after the run."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None

    @property
    def notes(self) -> tuple[str, ...]:
        return () if self.network_isolated else (NO_NETWORK_NOTE,)


_isolation: dict[str, list[str] | None] = {}


def _unshare_argv() -> list[str]:
    argv = ["unshare", "-n", "-p", "-f", "--kill-child"]
    return argv if os.geteuid() == 0 else [*argv[:1], "-U", "-r", *argv[1:]]


async def isolation_prefix() -> list[str] | None:
    """The ``unshare`` command line that works here, or None (warned about once)."""
    if "argv" not in _isolation:
        argv: list[str] | None = _unshare_argv()
        try:
            assert argv is not None
            done = await anyio.run_process([*argv, "true"], check=False)
            if done.returncode != 0:
                argv = None
        except OSError:
            argv = None
        if argv is None:
            warnings.warn(f"critic sandbox: {NO_NETWORK_NOTE}", RuntimeWarning, stacklevel=2)
        _isolation["argv"] = argv
    return _isolation["argv"]


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
    """The interpreter the snippet runs on; after dropping root it must be reachable."""
    base = _base_python()
    if not drop or _world_runnable(base):
        return base
    system = shutil.which("python3", path="/usr/bin:/bin")
    return os.path.realpath(system) if system and _world_runnable(system) else base


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


def _which_limit(code: int | None, stderr: str, limits: SandboxLimits) -> Limit | None:
    if code is None:
        return "wall_time"
    killed_by = -code if code < 0 else code - 128 if code > 128 else None
    if killed_by in (signal.SIGXCPU, signal.SIGKILL):
        return "cpu_time"
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


async def run_python(
    code: str,
    *,
    limits: SandboxLimits | None = None,
    files: Mapping[str, str] | None = None,
    argv: tuple[str, ...] = (),
    read_back: tuple[str, ...] = (),
) -> SandboxResult:
    """Run ``code`` as ``main.py`` in a fresh directory (with ``files`` beside it)."""
    limits = limits or SandboxLimits()
    prefix = await isolation_prefix()
    root = os.geteuid() == 0
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if root else None
    workdir = Path(tempfile.mkdtemp(prefix="critic-sandbox-"))
    try:
        await anyio.to_thread.run_sync(
            _prepare, workdir, {**(files or {}), "main.py": code}, uid
        )
        mb = 1024 * 1024
        config = {
            "limits": {
                "RLIMIT_CPU": [limits.cpu_time, limits.cpu_time + 1],
                "RLIMIT_AS": [limits.memory_mb * mb] * 2,
                "RLIMIT_FSIZE": [limits.file_size_mb * mb] * 2,
                "RLIMIT_NPROC": [limits.processes] * 2,
                "RLIMIT_CORE": [0, 0],
            },
            "uid": uid,
            "python": _snippet_python(root),
            "argv": ["main.py", *argv],
        }
        command = [*(prefix or []), _base_python(), "-I", "-S", "-c", _LAUNCHER, json.dumps(config)]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir),
               "TMPDIR": str(workdir)}
        out, err = bytearray(), bytearray()
        truncated = {"out": False, "err": False}
        start = time.monotonic()
        process = await anyio.open_process(
            command, cwd=workdir, env=env, start_new_session=True, stdin=None,
        )
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
            # The group (and, through the PID namespace, every descendant) dies
            # whether the snippet ended, timed out or we were cancelled.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await process.wait()
                await process.aclose()
        duration = time.monotonic() - start
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        limit = _which_limit(code_, stderr, limits)
        if limit is None and (truncated["out"] or truncated["err"]):
            limit = "output"
        back = await anyio.to_thread.run_sync(
            _read_back, workdir, read_back, 4 * limits.output_bytes
        )
        return SandboxResult(
            exit_code=code_, stdout=stdout, stderr=stderr,
            stdout_truncated=truncated["out"], stderr_truncated=truncated["err"],
            duration=duration, limit=limit, network_isolated=prefix is not None, files=back,
            uid=uid,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
