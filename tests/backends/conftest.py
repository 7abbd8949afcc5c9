"""A real OpenAI-compatible server (llama-cpp-python's, serving SmolLM2), once per test run."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import LlamaServer


@pytest.fixture(scope="session")
def llama_server(model_path: Path) -> Iterator[LlamaServer]:
    """``python -m llama_cpp.server`` on 127.0.0.1, a free port; stopped by PID at the end."""
    if importlib.util.find_spec("llama_cpp.server") is None or importlib.util.find_spec(
            "uvicorn") is None:
        pytest.skip("llama-cpp-python's [server] extra is not installed")
    with LlamaServer.running(model_path) as server:
        yield server
