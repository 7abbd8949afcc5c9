"""Hostile snippets through the ``runs`` role and ``run_python``: each is contained and reported.

Every escape is tried on both isolations (bubblewrap and ``unshare``); a test
whose tool does not work on this machine skips, saying why. Nothing here waits
for a fixed time: tests wait for observed state (a process in ``/proc``, a
file, a line of output), with a generous bound only so a broken sandbox fails
instead of hanging.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

import critic
from critic.backends.pool import ModelPool
from critic.errors import ConfigError
from critic.grounding import sandbox
from critic.grounding.execution import extract_code, trim_traceback
from critic.grounding.sandbox import SandboxLimits, _remove_abandoned, resolve_isolation, run_python
from critic.messages import Critique, Draft, ReviewRequest, Task
from critic.protocols import CriticContext
from critic.roles.kinds import default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role

pytestmark = pytest.mark.anyio

# Tight limits keep each hostile run short; the wall limit is only a backstop.
TIGHT = {"wall_time": 60.0, "cpu_time": 2, "memory_mb": 256, "file_size_mb": 4,
         "processes": 16, "output_bytes": 4096}
LIMITS = SandboxLimits.model_validate(TIGHT)
REPO = Path(critic.__file__).resolve().parents[1]
# Runs run_python in a process of its own, for tests that kill it or feed its stdin.
PARENT = """
import json, sys, anyio
from critic.grounding.sandbox import SandboxLimits, run_python

async def main() -> None:
    limits = SandboxLimits.model_validate_json(sys.argv[3])
    result = await run_python(sys.argv[1], isolation=sys.argv[2], limits=limits)
    print(result.model_dump_json(), flush=True)

anyio.run(main)
"""


def _usable() -> dict[str, str | None]:
    """Why each isolation does not work here (None: it works), asked in a fresh process."""
    probe = ("import anyio, json\nfrom critic.grounding.sandbox import _probe\n"
             "print(json.dumps({n: anyio.run(_probe, n) for n in ('bwrap', 'unshare')}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=_env(), check=True, timeout=120)
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="session")
def usable() -> dict[str, str | None]:
    return _usable()


@pytest.fixture(params=["bwrap", "unshare"])
def isolation(request: pytest.FixtureRequest, usable: dict[str, str | None]) -> str:
    name = str(request.param)
    if usable[name] is not None:
        pytest.skip(f"{name} does not work on this machine: {usable[name]}")
    return name


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": path,
            "LANG": "C.UTF-8", **extra}


def runs_role(**options: float | int) -> Role:
    role = RoleRegistry().get("runs")
    spec = role.spec.model_copy(update={"options": {**TIGHT, **options}})
    return Role(spec=spec, source=role.source, path=role.path)


async def review(code: str, **options: float | int) -> Critique:
    critic_ = default_kinds().build(runs_role(**options), CriticContext(ModelPool(None)))

    async def record(call: object) -> None:
        raise AssertionError("a python-exec critic calls no model")

    request = ReviewRequest(task=Task(prompt="write code"), role="runs",
                            draft=Draft(round=1, text=f"```python\n{code}\n```", author="g"))
    return await critic_.review(request, record)


def text_of(critique: Critique) -> str:
    return "\n".join(critique.problems)


def _processes_with(token: str) -> list[int]:
    """Host PIDs whose command line holds ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue  # gone meanwhile
    return found


def _exists(path: Path) -> bool:
    return os.path.exists(path)  # False where we may not look (a non-root user on /root)


def _uid(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _wait_until(condition: Callable[[], bool], what: str, bound: float = 120.0) -> None:
    """Poll observed state; the bound only turns a hang into a failure."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


def _sleeper(token: str) -> str:
    """Code that turns into a process sleeping with ``token`` in its command line."""
    return ("import os, sys\n"
            "os.execv(sys.executable, [sys.executable, '-c', "
            f"'import time; time.sleep(3600)', {token[::-1]!r}[::-1]])\n")


@pytest.fixture
def token() -> str:
    return f"critic-test-{secrets.token_hex(6)}"


# --- reporting through the critic ----------------------------------------------------------


async def test_clean_code_scores_one(anyio_backend: str, usable: dict[str, str | None]) -> None:
    critique = await review("print(sum(range(10)))")
    assert critique.score == 1.0 and critique.problems == ()
    expected = "bubblewrap" if usable["bwrap"] is None else "unshare"
    assert f"(note: sandboxed with {expected})" in critique.suggestion


async def test_error_is_the_trimmed_traceback(anyio_backend: str) -> None:
    critique = await review("def f():\n    return 1 / 0\nf()")
    assert critique.score == 0.0
    assert "ZeroDivisionError: division by zero" in text_of(critique)
    assert 'File "main.py", line 2' in text_of(critique)
    assert "critic-sandbox-" not in text_of(critique)


async def test_infinite_loop_is_stopped_by_the_cpu_limit(anyio_backend: str) -> None:
    # CPU time only accrues while running: a slow machine takes longer, not differently.
    critique = await review("while True:\n    pass", cpu_time=1)
    assert critique.score == 0.0
    assert "used more than 1 s of CPU time (killed)" in text_of(critique)


async def test_sleeping_program_is_stopped_by_the_wall_limit(anyio_backend: str) -> None:
    critique = await review("import time\ntime.sleep(3600)", wall_time=0.5)
    assert critique.score == 0.0
    assert "did not finish within 0.5 s (killed)" in text_of(critique)


async def test_fork_bomb_is_contained(anyio_backend: str, isolation: str) -> None:
    bomb = "import os\nwhile True:\n    os.fork()"
    critique = await review(bomb)
    assert critique.score == 0.0
    assert "started too many processes (limit 16)" in text_of(critique)
    result = await run_python(bomb, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
    assert result.limit == "processes"
    if result.uid is not None:  # the bomb had a uid of its own: none of its processes is left
        assert [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) == result.uid] == []


async def test_allocating_50_gb_is_refused(anyio_backend: str) -> None:
    critique = await review("block = bytearray(50 * 1024 ** 3)")
    assert critique.score == 0.0
    assert "ran out of memory (limit 256 MB)" in text_of(critique)
    assert "MemoryError" in text_of(critique)


async def test_writing_10_gb_is_stopped(anyio_backend: str) -> None:
    code = ("with open('big', 'wb') as f:\n"
            "    for _ in range(10 * 1024):\n"
            "        f.write(b'0' * 1024 * 1024)")
    critique = await review(code)
    assert critique.score == 0.0
    assert "wrote a file larger than 4 MB" in text_of(critique)


async def test_printing_100_mb_is_truncated(anyio_backend: str) -> None:
    critique = await review(
        "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1024 * 1024)"
    )
    assert critique.score == 0.0
    assert "printed more than 4096 bytes (output truncated)" in text_of(critique)
    result = await run_python("print('y' * 100_000)", limits=SandboxLimits(output_bytes=1000))
    assert result.stdout_truncated and len(result.stdout) == 1000
    assert result.limit == "output" and result.exit_code == 0


async def test_parent_environment_is_absent(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRITIC_TEST_API_KEY", "secret")
    critique = await review(
        "import os, sys\nsys.exit(3 if 'CRITIC_TEST_API_KEY' in os.environ else 0)"
    )
    assert critique.score == 1.0, critique.problems


async def test_sigkill_is_reported_as_killed_not_as_cpu(anyio_backend: str) -> None:
    critique = await review("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert critique.score == 0.0
    assert "was killed by SIGKILL (not by a limit of the sandbox)" in text_of(critique)
    assert "CPU" not in text_of(critique)
    # The hard CPU limit kills with SIGKILL too; that one is the CPU limit.
    stubborn = ("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
                "while True:\n    pass")
    result = await run_python(stubborn, limits=SandboxLimits(cpu_time=1, wall_time=600))
    assert result.exit_code == 128 + signal.SIGKILL and result.limit == "cpu_time"


async def test_cpu_time_limit_is_reported(anyio_backend: str) -> None:
    result = await run_python("while True:\n    pass",
                              limits=SandboxLimits(wall_time=600, cpu_time=1))
    assert result.limit == "cpu_time" and result.exit_code == 128 + signal.SIGXCPU


async def test_exit_status_137_is_not_a_kill(anyio_backend: str) -> None:
    result = await run_python("import sys\nsys.exit(137)")
    assert result.exit_code == 137 and result.limit is None


# --- each escape, on each isolation ---------------------------------------------------------


async def test_private_tmp_is_empty_bounded_and_gone_afterwards(
    anyio_backend: str, isolation: str, token: str
) -> None:
    code = f"""
import errno, json, os
seen = {{"cwd": os.getcwd()}}
for folder in ("/tmp", "/var/tmp", "/dev/shm"):
    seen[folder] = sorted(os.listdir(folder))
    with open(os.path.join(folder, {token!r}), "w") as handle:
        handle.write("left behind?")
written = 0
try:
    while True:  # 1 MB files: the file size limit (4 MB) never trips, the tmpfs size does
        with open("/dev/shm/fill-%d" % written, "wb") as handle:
            handle.write(b"0" * 1024 * 1024)
        written += 1
except OSError as exc:
    seen["full"] = [errno.errorcode[exc.errno], written]
print(json.dumps(seen))
"""
    result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
    assert result.ok, result.stderr
    seen = json.loads(result.stdout)
    assert seen["full"][0] == "ENOSPC" and seen["full"][1] <= 4
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        # Empty, but for the way down to the working directory (in the host's temp dir).
        inside = Path(seen["cwd"]).relative_to(folder).parts[:1] if seen["cwd"].startswith(
            folder + "/") else ()
        assert seen[folder] == list(inside), (folder, seen[folder])
        assert not _exists(Path(folder) / token), f"{folder}/{token} reached the host"


async def test_nothing_but_the_working_directory_is_writable(
    anyio_backend: str, isolation: str, token: str
) -> None:
    targets = ["/", "/usr", "/usr/lib", "/etc", sys.base_prefix, "/root", "/var", "/dev",
               "/home", "/run", "/proc"]
    code = f"""
import json, os
outcome = {{}}
for folder in {targets!r}:
    try:
        with open(os.path.join(folder, {token!r}), "w") as handle:
            handle.write("x")
        outcome[folder] = "written"
    except OSError as exc:
        outcome[folder] = type(exc).__name__
with open("mine.txt", "w") as handle:
    outcome["."] = "written" if handle.write("fine") == 4 else "short"
print(json.dumps(outcome))
"""
    result = await run_python(code, limits=LIMITS, isolation=isolation,  # type: ignore[arg-type]
                              read_back=("mine.txt",))
    assert result.ok, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome.pop(".") == "written" and result.files == {"mine.txt": "fine"}
    assert all(value != "written" for value in outcome.values()), outcome
    for folder in [*targets, tempfile.gettempdir()]:
        assert not _exists(Path(folder) / token)


async def test_writing_a_host_file_fails(anyio_backend: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("untouched")
    os.chmod(tmp_path, 0o777)
    os.chmod(sentinel, 0o666)  # even a file anyone may write: the sandbox does not see it
    critique = await review(f"open({str(sentinel)!r}, 'w').write('overwritten')")
    assert sentinel.read_text() == "untouched"
    assert critique.score == 0.0
    assert "FileNotFoundError" in text_of(critique)


async def test_host_unix_sockets_are_unreachable(
    anyio_backend: str, isolation: str, tmp_path: Path, token: str
) -> None:
    os.chmod(tmp_path, 0o777)
    path = str(tmp_path / "service.sock")
    abstract = f"\0{token}"
    with socket.socket(socket.AF_UNIX) as on_disk, socket.socket(socket.AF_UNIX) as hidden:
        on_disk.bind(path)
        os.chmod(path, 0o777)
        hidden.bind(abstract)
        for server in (on_disk, hidden):
            server.listen(8)
        code = f"""
import socket
for address in ({path!r}, {abstract!r}):
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(address)
            client.sendall(b"sand")
        print("connected")
    except OSError as exc:
        print(type(exc).__name__)
"""
        result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
        assert result.ok, result.stderr
        assert "connected" not in result.stdout.split(), result.stdout
        # Both services answer here, and the first connection each one holds is ours.
        for server, address in ((on_disk, path), (hidden, abstract)):
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(address)
                client.sendall(b"host")
            server.settimeout(30)
            connection, _ = server.accept()
            with connection:
                assert connection.recv(4) == b"host"


async def test_no_network(anyio_backend: str, isolation: str) -> None:
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(8)
        udp.bind(("127.0.0.1", 0))
        tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]
        code = f"""
import socket
try:
    with socket.create_connection(("127.0.0.1", {tcp_port}), timeout=30) as client:
        client.sendall(b"sand")
    print("tcp connected")
except OSError as exc:
    print("tcp", type(exc).__name__, exc.strerror)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
    try:
        client.sendto(b"sand", ("127.0.0.1", {udp_port}))
    except OSError as exc:
        print("udp", type(exc).__name__)
"""
        result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
        assert result.ok, result.stderr
        assert "tcp connected" not in result.stdout
        assert ("Connection refused" in result.stdout
                or "Network is unreachable" in result.stdout), result.stdout
        # The listeners are reachable from here; what each received first is ours.
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=30) as client:
            client.sendall(b"host")
        tcp.settimeout(30)
        connection, _ = tcp.accept()
        with connection:
            assert connection.recv(4) == b"host"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"host", ("127.0.0.1", udp_port))
        udp.settimeout(30)
        assert udp.recv(16) == b"host"


async def test_host_processes_are_invisible(anyio_backend: str, isolation: str) -> None:
    code = """
import json, os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
lines = [open("/proc/%d/cmdline" % p, "rb").read(200).decode(errors="replace") for p in pids]
print(json.dumps({"pids": pids, "cmdlines": lines}))
"""
    result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
    assert result.ok, result.stderr
    seen = json.loads(result.stdout)
    assert seen["pids"] == [1, 2]  # the launcher and the program itself
    assert not any("pytest" in line for line in seen["cmdlines"])
    assert _exists(Path(f"/proc/{os.getpid()}/cmdline"))  # while here it is visible


async def test_program_cannot_kill_the_sandbox_init(anyio_backend: str, isolation: str) -> None:
    code = ("import os, signal\n"
            "try:\n    os.kill(1, signal.SIGKILL)\nexcept OSError as exc:\n"
            "    print(type(exc).__name__)\nprint('still running')")
    result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
    assert result.ok, result.stderr
    assert result.stdout.splitlines()[-1] == "still running"
    if result.uid is not None:  # a uid of its own: not even allowed to try
        assert result.stdout.splitlines()[0] == "PermissionError"


async def test_stdlib_imports_under_python_isolated(anyio_backend: str, isolation: str) -> None:
    code = ("import ctypes, decimal, json, sqlite3, ssl, sys, zlib, zoneinfo\n"
            "print(sys.flags.isolated, sys.executable)")
    result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
    assert result.ok, result.stderr
    assert result.stdout.split() == ["1", sandbox._snippet_python(os.geteuid() == 0)]
    assert result.isolation == isolation and result.network_isolated


async def test_child_outliving_the_parent_is_killed(
    anyio_backend: str, isolation: str, token: str
) -> None:
    # The parent waits until its daemonized child is running, then exits.
    child = f"open('started', 'w').close(); import time; time.sleep(3600)  # {token}"
    code = ("import os, subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True)\n"
            "while not os.path.exists('started'):\n    pass\n"
            "print('parent exits')")
    result = await run_python(code, limits=LIMITS, isolation=isolation)  # type: ignore[arg-type]
    assert result.ok and result.stdout == "parent exits\n", result
    assert _processes_with(token) == [], "the orphaned child survived the sandbox"


async def test_cancelled_run_leaves_no_process(
    anyio_backend: str, isolation: str, token: str
) -> None:
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            async def cancel_once_running() -> None:
                await anyio.to_thread.run_sync(
                    _wait_until, lambda: bool(_processes_with(token)), "the program to start")
                scope.cancel()

            tg.start_soon(cancel_once_running)
            await run_python(_sleeper(token), limits=LIMITS,
                             isolation=isolation)  # type: ignore[arg-type]
    assert scope.cancelled_caught
    assert _processes_with(token) == []


async def test_temp_dir_is_removed(anyio_backend: str) -> None:
    result = await run_python("import os\nprint(os.getcwd())")
    workdir = Path(result.stdout.strip())
    assert workdir.name.startswith("critic-sandbox-")
    assert not _exists(workdir)


async def test_unknown_isolation_is_a_config_error(anyio_backend: str) -> None:
    with pytest.raises(ConfigError, match="'docker' is not 'bwrap' or 'unshare'"):
        await resolve_isolation("docker")  # type: ignore[arg-type]


@pytest.fixture
def nothing_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one where neither tool works (the probe results are a host fact)."""
    for name in ("bwrap", "unshare"):
        monkeypatch.setitem(sandbox._works, name, f"{name}: Operation not permitted")
    monkeypatch.delitem(sandbox._works, "none", raising=False)


async def test_wanted_isolation_that_does_not_work_is_a_config_error(
    anyio_backend: str, nothing_works: None
) -> None:
    with pytest.raises(ConfigError, match="isolation 'unshare' does not work here: unshare: "
                                          "Operation not permitted"):
        await run_python("pass", isolation="unshare")


async def test_without_isolation_the_run_goes_ahead_and_says_so(
    anyio_backend: str, nothing_works: None
) -> None:
    with pytest.warns(RuntimeWarning, match="not isolated"):
        critique = await review("import sys\nprint(sys.stdin.read())")
    assert critique.score == 1.0, critique.problems
    assert "(note: not isolated: neither bubblewrap nor unshare works" in critique.suggestion
    result = await run_python("print(1)")  # warned once only
    assert result.ok and result.isolation == "none" and not result.network_isolated


# --- in a process of its own: its stdin, its death ------------------------------------------


def _parent(code: str, isolation: str, tmp: Path, stdin: int | None = None
            ) -> subprocess.Popen[str]:
    limits = SandboxLimits(wall_time=3600, cpu_time=60).model_dump_json()
    return subprocess.Popen([sys.executable, "-c", PARENT, code, isolation, limits],
                            env=_env(TMPDIR=str(tmp)), text=True, stdin=stdin,
                            stdout=subprocess.PIPE)


def _workdirs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("critic-sandbox-*"))


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A temp dir of its own for the parent process, so its working directories show."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    yield tmp


def test_stdin_is_dev_null(isolation: str, scratch: Path) -> None:
    code = "import os, sys\nprint(os.readlink('/proc/self/fd/0'))\nprint(repr(sys.stdin.read()))"
    parent = _parent(code, isolation, scratch, stdin=subprocess.PIPE)
    out, _ = parent.communicate("secret piped into critic\n", timeout=120)
    assert parent.returncode == 0
    result = json.loads(out)
    assert result["stdout"] == "/dev/null\n''\n"


def test_killing_the_parent_kills_the_sandbox(isolation: str, scratch: Path, token: str) -> None:
    parent = _parent(_sleeper(token), isolation, scratch)
    try:
        _wait_until(lambda: bool(_processes_with(token)), "the program to start")
        assert len(_workdirs(scratch)) == 1
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=60)
        _wait_until(lambda: not _processes_with(token), "the program to die with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
        if parent.stdout:
            parent.stdout.close()
    # The dead parent left its directory; the next run removes it.
    assert len(_workdirs(scratch)) == 1
    after = _parent("print('next')", isolation, scratch)
    out, _ = after.communicate(timeout=120)
    assert json.loads(out)["stdout"] == "next\n"
    assert _workdirs(scratch) == []


def test_only_abandoned_workdirs_are_removed(tmp_path: Path) -> None:
    abandoned = tmp_path / "critic-sandbox-flock-abandoned"
    held = tmp_path / "critic-sandbox-flock-held"
    unlocking = tmp_path / "critic-sandbox-made-by-a-critic-that-does-not-lock"
    for folder in (abandoned, held, unlocking):
        folder.mkdir()
        (folder / "file").write_text("x")
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _remove_abandoned(tmp_path)
        assert not abandoned.exists()
        assert (held / "file").exists() and (unlocking / "file").exists()
    finally:
        os.close(fd)


# --- pure functions ---------------------------------------------------------------------------


def test_extract_code() -> None:
    assert extract_code("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```") == "x = 1\n\ny = 2\n"
    # No python block: the lone fence lines go, the rest is taken as code.
    assert extract_code("```bash\nls\n```\nprint(1)") == "ls\nprint(1)\n"
    assert extract_code("def f():\n    return 1\n```") == "def f():\n    return 1\n"
    assert extract_code("print(2)") == "print(2)\n"


def test_trim_traceback_keeps_the_tail() -> None:
    stderr = "\n".join(f"line {i}" for i in range(40)) + "\nValueError: bad"
    trimmed = trim_traceback(stderr, lines=5)
    assert trimmed.splitlines() == ["line 36", "line 37", "line 38", "line 39", "ValueError: bad"]


def test_a_workdir_swept_before_it_is_locked_is_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Another process's sweep can remove a fresh directory between mkdtemp and flock.
    import shutil
    import tempfile

    made: list[str] = []
    real = tempfile.mkdtemp

    def swept_once(*args: object, **kwargs: object) -> str:
        path = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(path)
        if len(made) == 1:
            shutil.rmtree(path)
        return str(path)

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempfile, "mkdtemp", swept_once)
    path, fd = sandbox._claim_workdir()
    try:
        assert len(made) == 2 and path == Path(made[1]) and path.is_dir()
    finally:
        sandbox._release_workdir(path, fd)
