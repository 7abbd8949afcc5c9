"""Hostile snippets through the ``runs`` role: each is contained and reported."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import anyio
import pytest

from critic.backends.pool import ModelPool
from critic.grounding.execution import extract_code, trim_traceback
from critic.grounding.sandbox import SandboxLimits, isolation_prefix, run_python
from critic.messages import Critique, Draft, ReviewRequest, Task
from critic.protocols import CriticContext
from critic.roles.kinds import default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role

pytestmark = pytest.mark.anyio

# Tight limits keep each hostile run to seconds.
TIGHT = {"wall_time": 3.0, "cpu_time": 2, "memory_mb": 256, "file_size_mb": 4,
         "processes": 16, "output_bytes": 4096}


def runs_role(**options: float | int) -> Role:
    role = RoleRegistry().get("runs")
    spec = role.spec.model_copy(update={"options": {**TIGHT, **options}})
    return Role(spec=spec, source=role.source, path=role.path)


async def review(code: str) -> Critique:
    critic = default_kinds().build(runs_role(), CriticContext(ModelPool(None)))

    async def record(call: object) -> None:
        raise AssertionError("a python-exec critic calls no model")

    request = ReviewRequest(task=Task(prompt="write code"), role="runs",
                            draft=Draft(round=1, text=f"```python\n{code}\n```", author="g"))
    return await critic.review(request, record)


def text_of(critique: Critique) -> str:
    return "\n".join(critique.problems)


async def test_clean_code_scores_one(anyio_backend: str) -> None:
    critique = await review("print(sum(range(10)))")
    assert critique.score == 1.0 and critique.problems == ()


async def test_error_is_the_trimmed_traceback(anyio_backend: str) -> None:
    critique = await review("def f():\n    return 1 / 0\nf()")
    assert critique.score == 0.0
    assert "ZeroDivisionError: division by zero" in text_of(critique)
    assert 'File "main.py", line 2' in text_of(critique)
    assert "critic-sandbox-" not in text_of(critique)


async def test_infinite_loop_is_killed(anyio_backend: str) -> None:
    start = time.monotonic()
    critique = await review("while True:\n    pass")
    assert time.monotonic() - start < 8
    assert critique.score == 0.0
    assert "did not finish within 3 s" in text_of(critique) or "CPU time" in text_of(critique)


async def test_fork_bomb_is_contained(anyio_backend: str) -> None:
    start = time.monotonic()
    critique = await review("import os\nwhile True:\n    os.fork()")
    assert time.monotonic() - start < 8
    assert critique.score == 0.0
    assert "too many processes" in text_of(critique) or "did not finish" in text_of(critique)
    result = await run_python("import os\nwhile True:\n    os.fork()",
                              limits=SandboxLimits.model_validate(TIGHT))
    assert result.limit in ("processes", "wall_time")
    if result.uid is not None:  # the bomb had a uid of its own: none of its processes is left
        assert _processes_of(result.uid, within=3.0) == []


def _processes_of(uid: int, within: float) -> list[str]:
    """Processes of ``uid`` still there after ``within`` seconds (teardown is asynchronous)."""
    deadline = time.monotonic() + within
    while True:
        left = [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) == uid]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _exists(path: Path) -> bool:
    return path.exists()


def _uid(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


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


async def test_writing_outside_the_temp_dir_fails(anyio_backend: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("untouched")
    os.chmod(tmp_path, 0o777)  # even a writable folder: the file itself is not ours
    critique = await review(f"open({str(sentinel)!r}, 'w').write('overwritten')")
    assert sentinel.read_text() == "untouched"
    if os.geteuid() == 0:  # as root the snippet runs as an unprivileged uid
        assert critique.score == 0.0
        assert "PermissionError" in text_of(critique)


async def test_no_network(anyio_backend: str) -> None:
    if await isolation_prefix() is None:
        pytest.skip("unshare does not work on this machine: the sandbox runs with network")
    accepted: list[tuple[socket.socket, object]] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError):  # the accept timeout
                    accepted.append(server.accept())

        thread = threading.Thread(target=accept)
        thread.start()
        try:
            # The listener is reachable from here, so a refusal is the sandbox's doing.
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
            await anyio.sleep(0.3)
            reachable = len(accepted)
            critique = await review(
                f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
            )
            await anyio.sleep(0.3)
        finally:
            stop.set()
            thread.join()
            for conn, _ in accepted:
                conn.close()
    assert reachable == 1
    assert len(accepted) == 1, "the snippet reached the listener"
    assert critique.score == 0.0
    assert "Network is unreachable" in text_of(critique)


async def test_parent_environment_is_absent(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRITIC_TEST_API_KEY", "secret")
    critique = await review(
        "import os, sys\nsys.exit(3 if 'CRITIC_TEST_API_KEY' in os.environ else 0)"
    )
    assert critique.score == 1.0, critique.problems


async def test_child_outliving_the_parent_is_killed(anyio_backend: str, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o777)
    marker = tmp_path / "alive"
    child = f"import time\ntime.sleep(1.0)\nopen({str(marker)!r}, 'w').write('yes')\n"
    code = ("import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True)\n"
            "print('parent exits')")
    critique = await review(code)
    assert critique.score == 1.0, critique.problems
    await anyio.sleep(2.0)
    assert not _exists(marker), "the orphaned child survived the sandbox"


async def test_printing_100_mb_is_truncated(anyio_backend: str) -> None:
    critique = await review(
        "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1024 * 1024)"
    )
    assert critique.score == 0.0
    assert "printed more than 4096 bytes (output truncated)" in text_of(critique)
    result = await run_python("print('y' * 100_000)", limits=SandboxLimits(output_bytes=1000))
    assert result.stdout_truncated and len(result.stdout) == 1000
    assert result.limit == "output" and result.exit_code == 0


async def test_temp_dir_is_removed(anyio_backend: str) -> None:
    result = await run_python("import os\nprint(os.getcwd())")
    workdir = Path(result.stdout.strip())
    assert workdir.name.startswith("critic-sandbox-")
    assert not _exists(workdir)


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


async def test_cpu_time_limit_is_reported(anyio_backend: str) -> None:
    result = await run_python("while True:\n    pass",
                              limits=SandboxLimits(wall_time=15, cpu_time=1))
    assert result.limit == "cpu_time" and result.exit_code == 128 + 24  # SIGXCPU
    assert result.duration < 15


async def test_program_cannot_kill_the_sandbox_init(anyio_backend: str) -> None:
    result = await run_python("import os, signal\nos.kill(1, signal.SIGKILL)")
    if result.network_isolated:  # PID 1 is the privileged launcher in the namespace
        assert "PermissionError" in result.stderr
