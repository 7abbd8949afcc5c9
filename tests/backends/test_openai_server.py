"""The HTTP backend against a real llama_cpp.server serving SmolLM2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from critic.backends.base import GenerationParams
from critic.backends.openai import OpenAIModel
from critic.messages import ChatMessage, Critique, ModelCall
from critic.transcript import read_transcript
from tests.servers import LlamaServer

pytestmark = pytest.mark.model

TASK = "Write a Python function that reverses a string."


def critic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "critic.cli.main", *args],
                          capture_output=True, text=True, timeout=300)


def calls_by_agent(path: Path) -> dict[str, list[ModelCall]]:
    calls: dict[str, list[ModelCall]] = {}
    for call in read_transcript(path).payloads("model_call"):
        assert isinstance(call, ModelCall)
        calls.setdefault(call.agent, []).append(call)
    return calls


@pytest.mark.anyio
async def test_plain_completion_with_usage_and_latency(llama_server: LlamaServer) -> None:
    model = OpenAIModel(llama_server.url)
    completion = await model.backend("a").complete(
        [ChatMessage(role="user", content="Say hello.")], GenerationParams(max_tokens=16, seed=0))
    await model.aclose()
    assert completion.text.strip() and completion.attempts == 1
    assert completion.usage.prompt_tokens > 0 and 0 < completion.usage.completion_tokens <= 16
    assert completion.latency > 0 and completion.finish_reason in ("stop", "length")


@pytest.mark.timeout(300)  # three agents through one server that serves a request at a time
def test_critic_run_against_the_server_gives_structured_critiques(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    transcript = tmp_path / "t.jsonl"
    result = critic("run", TASK, "--model", llama_server.url, "--role", "correctness",
                    "--role", "clarity", "--max-rounds", "1", "--max-tokens", "48", "--json",
                    "--transcript", str(transcript))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["draft"]["text"].strip() and outcome["verdicts"][0]["critiques_used"] == 2
    critiques = read_transcript(transcript).payloads("critique")
    assert {c.role for c in critiques if isinstance(c, Critique) and c.score is not None} == {
        "correctness", "clarity"}
    calls = calls_by_agent(transcript)
    for call in (*calls["generator"], *calls["correctness"], *calls["clarity"]):
        assert call.backend == f"openai:{llama_server.url}" and call.status == "ok"
        assert call.usage.prompt_tokens > 0 and call.latency > 0
    schema_call = calls["correctness"][0]
    assert schema_call.json_schema is not None and json.loads(schema_call.completion or "")
    header = read_transcript(transcript).header
    assert header.models["generator"] == {"kind": "openai", "url": llama_server.url, "model": ""}


def _role_on(model: str, roles_dir: Path) -> None:
    roles_dir.mkdir(exist_ok=True)
    (roles_dir / "elsewhere.toml").write_text(
        'name = "elsewhere"\ndescription = "correctness, on another model"\nkind = "llm"\n'
        'prompt = "correctness.j2"\nsystem = "critic_system.j2"\nscale = [1, 10]\n'
        f'max_tokens = 96\nmodel = "{model}"\n'
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("generator_on", ["local", "http"])
def test_local_and_http_models_are_interchangeable_per_agent(
    llama_server: LlamaServer, model_path: Path, tmp_path: Path, generator_on: str
) -> None:
    local, remote = str(model_path), llama_server.url
    generator, role = (local, remote) if generator_on == "local" else (remote, local)
    _role_on(role, tmp_path / "roles")
    transcript = tmp_path / "t.jsonl"
    result = critic("run", TASK, "--model", generator, "--roles-dir", str(tmp_path / "roles"),
                    "--role", "elsewhere", "--max-rounds", "1", "--max-tokens", "48", "--json",
                    "--transcript", str(transcript))
    assert result.returncode == 0, result.stderr
    calls = calls_by_agent(transcript)
    on_http = {agent for agent, cs in calls.items() if cs[0].backend.startswith("openai:")}
    on_local = {agent for agent, cs in calls.items() if cs[0].backend.startswith("llama.cpp:")}
    if generator_on == "local":
        assert (on_local, on_http) == ({"generator"}, {"elsewhere"})
    else:
        assert (on_local, on_http) == ({"elsewhere"}, {"generator"})
    critique = read_transcript(transcript).payloads("critique")[0]
    assert isinstance(critique, Critique) and critique.status == "ok"
