"""``critic score - -o -`` in a pipe, and a record's ``metadata`` reaching its critics.

Through the real command (subprocesses). The critics are a model-free plugin
role that reports what its request carried, and a TOML role on an
OpenAI-compatible server on 127.0.0.1 that records every prompt it is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from critic.scoring.results import ScoreResult, read_results
from tests.scoring.test_score_cli import env_with

ECHO = '''
from critic import Critique


class EchoMetadata:
    """Scores 1 and repeats, as its one problem, the metadata its request carried."""

    description = "Echoes the record's metadata."
    weight = 1.0
    timeout = 60.0

    def __init__(self, role, ctx):
        self.name = role.name

    async def review(self, request, record):
        import json
        return Critique(role=self.name, round=1, score=1.0,
                        problems=(json.dumps(request.metadata, sort_keys=True),))
'''


def echo_dist(site: Path) -> Path:
    """An installed-looking distribution with the class role ``echo-metadata``."""
    (site / "critic_echo_metadata").mkdir(parents=True)
    (site / "critic_echo_metadata" / "__init__.py").write_text(ECHO)
    info = site / "critic_echo_metadata-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: critic-echo-metadata\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[critic.roles]\n"
                                           "echo-metadata = critic_echo_metadata:EchoMetadata\n")
    return site


def critic(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "critic.cli.main", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


RECORDS = [
    {"id": "a", "input": "Say hi.", "output": "hi", "metadata": {"model": "m-1", "n": 1}},
    {"id": "b", "input": "Say bye.", "output": "bye"},
]


def jsonl(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.fixture
def echo_env(tmp_path: Path) -> dict[str, str]:
    return env_with(echo_dist(tmp_path / "site"))


def test_stdin_to_stdout_holds_only_results(echo_env: dict[str, str]) -> None:
    result = critic(["score", "-", "-o", "-", "--role", "echo-metadata", "--summary"],
                    jsonl(RECORDS), echo_env)
    assert result.returncode == 0, result.stderr
    # Every stdout line is a result (the summary and messages went to stderr).
    results = {r.id: r for r in map(ScoreResult.model_validate_json,
                                    result.stdout.splitlines())}
    assert set(results) == {"a", "b"}
    echoed = results["a"].critiques["echo-metadata"].problems
    assert json.loads(echoed[0]) == {"model": "m-1", "n": 1}  # the critic saw the metadata
    assert results["a"].metadata == {"model": "m-1", "n": 1}
    assert json.loads(results["b"].critiques["echo-metadata"].problems[0]) == {}
    assert "wrote 2 results to stdout" in result.stderr
    assert "echo-metadata" in result.stderr  # the summary's table, on stderr


def test_stdin_to_a_file_and_a_file_to_stdout(tmp_path: Path, echo_env: dict[str, str]) -> None:
    out = tmp_path / "out.jsonl"
    first = critic(["score", "-", "-o", str(out), "--role", "echo-metadata"], jsonl(RECORDS),
                   echo_env)
    assert first.returncode == 0, first.stderr
    assert {r.id for r in read_results(out)} == {"a", "b"} and first.stdout == ""
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(RECORDS))
    second = critic(["score", str(source), "-o", "-", "--role", "echo-metadata", "--summary",
                     "--json"], "", echo_env)
    assert second.returncode == 0, second.stderr
    assert len(second.stdout.splitlines()) == 2
    summary = json.loads(second.stderr.strip().splitlines()[-1])
    assert summary["roles"]["echo-metadata"]["scored"] == 2


@pytest.mark.parametrize(("line", "message"), [
    ('{"id": "c", "input": "x", "output": "y", "metadata": [1, 2]}',
     "stdin:2: metadata: Input should be a valid dictionary"),
    ('{"id": "c", "input": "x", "output": "y", "metadata": "model=m"}',
     "stdin:2: metadata: Input should be a valid dictionary"),
    ('{"id": "c", "input": "x", "output": "y", "metadata": {"x": NaN}}', "stdin:2: "),
])
def test_malformed_metadata_is_one_line_with_its_line(
    echo_env: dict[str, str], line: str, message: str
) -> None:
    result = critic(["score", "-", "-o", "-", "--role", "echo-metadata"],
                    jsonl(RECORDS[:1]) + line + "\n", echo_env)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # nothing was scored, so nothing half-written on stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize(("extra", "message"), [
    (["--resume"], "resume: needs an output file to resume, not -o - (stdout)"),
    (["--skip-invalid"], "with -o - (stdout), --skip-invalid needs --errors FILE"),
])
def test_stdout_refuses_what_needs_a_file(echo_env: dict[str, str], extra: list[str],
                                          message: str) -> None:
    result = critic(["score", "-", "-o", "-", "--role", "echo-metadata", *extra],
                    jsonl(RECORDS), echo_env)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- a TOML role's template sees the metadata -------------------------------------------

CRITIQUE = json.dumps({"problems": [], "suggestion": "", "score": 8})


class Recording(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that answers a critique and keeps each request body."""

    bodies: list[dict[str, object]]

    def _send(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "recorder", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append(json.loads(self.rfile.read(length)))
        self._send({"id": "x", "object": "chat.completion", "model": "recorder",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": CRITIQUE}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5}})

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[dict[str, object]]]]:
    bodies: list[dict[str, object]] = []
    handler = type("Handler", (Recording,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


ROLE = """
name = "by-model"
description = "asks about the model that wrote the answer"
kind = "llm"
prompt = "by-model.j2"
scale = [1, 10]
"""

TEMPLATE = textwrap.dedent("""\
    Task: {{ task }}
    Answer: {{ draft }}
    {% if metadata.model is defined %}Written by: {{ metadata.model }}{% else %}Unknown author{% endif %}
    Score it.
""")


def test_a_toml_template_sees_the_metadata(
    tmp_path: Path, recorder: tuple[str, list[dict[str, object]]]
) -> None:
    url, bodies = recorder
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "by-model.toml").write_text(ROLE)
    (roles / "by-model.j2").write_text(TEMPLATE)
    result = critic(["score", "-", "-o", "-", "--role", "by-model", "--roles-dir", str(roles),
                     "--model", url, "--concurrency", "1"], jsonl(RECORDS), env_with())
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    prompts = sorted(str(body["messages"][-1]["content"])  # type: ignore[index]
                     for body in bodies)
    assert len(prompts) == 2
    assert any("Answer: hi\nWritten by: m-1" in p for p in prompts)
    assert any("Answer: bye\nUnknown author" in p for p in prompts)
