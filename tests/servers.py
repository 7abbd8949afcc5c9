"""Real servers for tests, reusable by any test module or benchmark.

:class:`LlamaServer` runs llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server``) on 127.0.0.1 on a free port, waits until
``GET /v1/models`` answers, and stops it by PID.

    with LlamaServer.running(model_path) as server:
        ...  # server.url == "http://127.0.0.1:PORT/v1"
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LlamaServer:
    """One ``llama_cpp.server`` process serving ``model`` (its log goes to ``log``)."""

    model: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
                 "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
                 "--n_threads", "1", "--seed", "0",
                 # Otherwise a new request silently cuts a running one short.
                 "--interrupt_requests", "False"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: see {self.log}")
            try:
                if httpx.get(f"{self.url}/models", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama_cpp.server not healthy within {timeout} s: see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()

    @classmethod
    @contextmanager
    def running(cls, model: Path) -> Iterator[LlamaServer]:
        with tempfile.TemporaryDirectory(prefix="llama-server-") as tmp:
            server = cls(model, free_port(), Path(tmp) / "server.log")
            server.start()
            try:
                yield server
            finally:
                server.stop()


@dataclass
class StubServer:
    """benchmarks/_latency_server.py: an OpenAI-compatible stub that answers a valid
    critique after ``latency`` seconds and counts requests (``stats()``)."""

    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, int]:
        body = httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json()
        return {str(k): int(v) for k, v in body.items()}

    def requests(self) -> list[dict[str, Any]]:
        """Each chat request received: ``model``, ``headers`` (lower-case names), ``structured``."""
        body = httpx.get(f"http://127.0.0.1:{self.port}/requests", timeout=5).json()
        assert isinstance(body, list)
        return body

    @classmethod
    @contextmanager
    def running(cls, latency: float = 0.2, concurrency: int = 8,
                hold: int = 0) -> Iterator[StubServer]:
        script = Path(__file__).parents[1] / "benchmarks" / "_latency_server.py"
        process = subprocess.Popen(
            [sys.executable, str(script), "--latency", str(latency),
             "--concurrency", str(concurrency), "--hold", str(hold)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert process.stdout is not None
            server = cls(process, int(process.stdout.readline()))  # it prints its port first
            deadline = time.monotonic() + 20
            while True:
                try:
                    server.stats()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield server
        finally:
            stop_process(process, grace=10)


def stop_process(process: subprocess.Popen[Any], *, grace: float = 30) -> None:
    """End a process this test started, by its PID: SIGTERM, SIGKILL after ``grace``
    seconds; then close the pipes we hold to it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
