"""Named models in critic.toml ([models.NAME]), [judge] and [http] with CRITIC_* variables.

The end-to-end tests run ``critic run`` against two real OpenAI-compatible stub
servers on 127.0.0.1 (benchmarks/_latency_server.py), the generator on one and
a critic on the other, and assert on what each server recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from critic.backends.openai import OpenAIModel
from critic.backends.pool import ModelPool
from critic.errors import ConfigError
from critic.workspace.project import DEFAULTS, judge_settings, model_options, resolve
from tests.servers import StubServer

ROOT = Path(__file__).resolve().parents[2]
ROLE = """name = "strict"
description = "Correctness, asked of the critic's own provider."
kind = "llm"
prompt = "correctness.j2"
system = "critic_system.j2"
scale = [1, 10]
max_tokens = 60
model = "crit"
"""


def critic(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRITIC_")}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "critic.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**base, **(env or {})})


@pytest.fixture
def servers() -> Iterator[tuple[StubServer, StubServer]]:
    with StubServer.running(latency=0.0) as gen, StubServer.running(latency=0.0) as crit:
        yield gen, crit


def write_project(folder: Path, gen_url: str, crit_url: str, extra: str = "") -> Path:
    (folder / "roles").mkdir(parents=True, exist_ok=True)
    (folder / "roles" / "strict.toml").write_text(ROLE)
    (folder / "critic.toml").write_text(f"""
model = "gen"
roles_dirs = ["roles"]
{extra}
[models.gen]
base_url = "{gen_url}"
model = "gen-model"
api_key_env = "GEN_KEY"
headers = {{ "X-Provider" = "alpha" }}

[models.crit]
base_url = "{crit_url}"
model = "crit-model"
api_key_env = "CRIT_KEY"
headers = {{ "X-Provider" = "beta", "X-Team" = "lab" }}
""")
    return folder


KEYS = {"GEN_KEY": "gen-secret", "CRIT_KEY": "crit-secret", "CRITIC_API_KEY": "shared-secret"}


def test_generator_and_critic_each_reach_their_own_provider(
    servers: tuple[StubServer, StubServer], tmp_path: Path
) -> None:
    gen, crit = servers
    project = write_project(tmp_path, gen.url, crit.url)
    transcript = tmp_path / "t.jsonl"
    result = critic("run", "Write a Python function that adds.", "--role", "strict",
                    "--max-rounds", "1", "--json", "--transcript", str(transcript),
                    cwd=project, env=KEYS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdicts"][0]["critiques_used"] == 1
    to_gen, to_crit = gen.requests(), crit.requests()
    assert len(to_gen) == 1 and len(to_crit) == 1
    assert to_gen[0]["model"] == "gen-model" and not to_gen[0]["structured"]
    assert to_crit[0]["model"] == "crit-model" and to_crit[0]["structured"]
    assert to_gen[0]["headers"]["authorization"] == "Bearer gen-secret"
    assert to_crit[0]["headers"]["authorization"] == "Bearer crit-secret"
    assert to_gen[0]["headers"]["x-provider"] == "alpha" and "x-team" not in to_gen[0]["headers"]
    assert to_crit[0]["headers"]["x-provider"] == "beta"
    assert to_crit[0]["headers"]["x-team"] == "lab"
    # Keys reach only their server: never the transcript.
    text = transcript.read_text()
    assert "secret" not in text
    header = json.loads(text.splitlines()[0])
    assert header["models"]["generator"]["url"] == gen.url
    assert header["models"]["strict"]["url"] == crit.url


def test_a_named_model_without_api_key_env_sends_no_shared_key(
    servers: tuple[StubServer, StubServer], tmp_path: Path
) -> None:
    gen, _crit = servers
    (tmp_path / "critic.toml").write_text(f'[models.open]\nbase_url = "{gen.url}"\n')
    result = critic("run", "Say hi.", "--role", "concision", "--model", "open", "--max-rounds",
                    "1", "--json", "--no-log", cwd=tmp_path, env=KEYS)
    assert result.returncode == 0, result.stderr
    sent = gen.requests()
    assert len(sent) == 2  # the draft and the concision critique, both on the named model
    assert all("authorization" not in r["headers"] for r in sent)
    assert all(r["model"] is None for r in sent)  # no server model name given


def test_a_missing_key_variable_is_one_line_naming_file_and_field(
    servers: tuple[StubServer, StubServer], tmp_path: Path
) -> None:
    gen, crit = servers
    project = write_project(tmp_path, gen.url, crit.url)
    result = critic("run", "Add.", "--role", "strict", "--max-rounds", "1", "--no-log",
                    cwd=project, env={"GEN_KEY": "gen-secret"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert (f"{project / 'critic.toml'}: models.crit.api_key_env: environment variable "
            "CRIT_KEY is not set") in result.stderr
    assert crit.requests() == []


@pytest.mark.parametrize(("table", "message"), [
    ('base_url = "http://127.0.0.1:9/v1"\napi_key = "sk-1"', "models.x.api_key: Extra inputs"),
    ('base_url = "http://127.0.0.1:9/v1"\nheaders = { "X-A" = "two\\nlines" }',
     "models.x.headers: X-A: the value must be printable ASCII on one line"),
    ('base_url = "http://127.0.0.1:9/v1"\nheaders = { "Bad Name" = "v" }',
     "models.x.headers: 'Bad Name': not a valid header name"),
    ('base_url = "http://127.0.0.1:9/v1"\nheaders = { Authorization = "Bearer sk" }',
     "models.x.headers: Authorization: give the key's variable as api_key_env"),
    ('base_url = "http://127.0.0.1:9/v1"\napi_key_env = "sk-live-123"',
     "models.x.api_key_env: 'sk-live-123' is not an environment variable name"),
    ('base_url = "ftp://host/v1"', "models.x.base_url: not an http(s) URL"),
    ('base_url = "http://127.0.0.1:9/v1"\nmax_connections = 0', "models.x.max_connections:"),
])
def test_a_bad_model_table_is_one_line_naming_file_and_field(
    tmp_path: Path, table: str, message: str
) -> None:
    (tmp_path / "critic.toml").write_text(f"[models.x]\n{table}\n")
    with pytest.raises(ConfigError, match=message.split(": ", 1)[0]):
        resolve(environ={}, start=tmp_path)
    result = critic("config", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert f"{tmp_path / 'critic.toml'}: {message}" in " ".join(result.stderr.split())


def test_bad_names_and_bad_values_in_judge_and_http(tmp_path: Path) -> None:
    (tmp_path / "critic.toml").write_text('[models."a.b"]\nbase_url = "http://127.0.0.1:9"\n')
    with pytest.raises(ConfigError, match=r"critic.toml: models: 'a.b': a model name"):
        resolve(environ={}, start=tmp_path)
    (tmp_path / "critic.toml").write_text("[judge]\naccept_at = 2\n")
    with pytest.raises(ConfigError, match=r"critic.toml: judge.accept_at: Input should be less"):
        resolve(environ={}, start=tmp_path)
    (tmp_path / "critic.toml").write_text("[http]\nretries = 2\n")
    with pytest.raises(ConfigError, match=r"critic.toml: http.retries: Extra inputs"):
        resolve(environ={}, start=tmp_path)
    (tmp_path / "critic.toml").write_text("")
    with pytest.raises(ConfigError, match=r"^CRITIC_MAX_CONNECTIONS='0': Input should be greater"):
        model_options(environ={"CRITIC_MAX_CONNECTIONS": "0"}, start=tmp_path)


def test_judge_rules_flag_then_env_then_file_then_default(tmp_path: Path) -> None:
    (tmp_path / "critic.toml").write_text("[judge]\naccept_at = 0.9\nmax_rounds = 4\n")
    env = {"CRITIC_ACCEPT_AT": "0.7", "CRITIC_MAX_SECONDS": "30"}
    assert judge_settings({}, tmp_path, accept_at=None, max_rounds=None, patience=None) == {
        "accept_at": 0.9, "max_rounds": 4, "patience": None}
    assert judge_settings(env, tmp_path, accept_at=None, max_rounds=None, max_seconds=None) == {
        "accept_at": 0.7, "max_rounds": 4, "max_seconds": 30.0}
    assert judge_settings(env, tmp_path, accept_at=0.6, max_rounds=2) == {
        "accept_at": 0.6, "max_rounds": 2}
    found = resolve(environ=env, start=tmp_path)
    assert found["judge.accept_at"].source == "env CRITIC_ACCEPT_AT"
    assert found["judge.max_rounds"].source == f"file {tmp_path / 'critic.toml'}"
    assert found["judge.discard_below"].source == "default"


def test_defaults_are_those_of_the_run_config_and_model_options() -> None:
    from critic.backends.options import ModelOptions
    from critic.config import RunConfig
    for name in ("accept_at", "discard_below", "max_rounds", "patience", "max_total_tokens",
                 "max_seconds"):
        assert DEFAULTS[f"judge.{name}"] == RunConfig.model_fields[name].default, name
    for name in ("max_connections", "max_attempts", "timeout"):
        assert DEFAULTS[f"http.{name}"] == ModelOptions.model_fields[name].default, name
    assert DEFAULTS["local.shared_critics"] == ModelOptions.model_fields["shared_critics"].default


def test_shared_critics_env_then_file_reach_the_local_model(tmp_path: Path,
                                                            model_path: Path) -> None:
    """``[local] shared_critics`` / CRITIC_SHARED_CRITICS opens llama.cpp models whose
    LLM critics share one context; a bad value is one line naming where it came from."""
    from critic.backends.llama_cpp import LlamaCppModel

    (tmp_path / "critic.toml").write_text("[local]\nshared_critics = 2\n")
    assert model_options(environ={}, start=tmp_path).shared_critics == 2
    options = model_options(environ={"CRITIC_SHARED_CRITICS": "3"}, start=tmp_path)
    model = ModelPool(str(model_path), options).get()
    assert isinstance(model, LlamaCppModel) and model.shared_sequences == 3
    assert model.shared_backend("clarity").shared
    own = model_options(environ={"CRITIC_SHARED_CRITICS": "0"}, start=tmp_path)
    plain = ModelPool(str(model_path), own).get()
    assert isinstance(plain, LlamaCppModel) and plain.shared_sequences == 0
    with pytest.raises(ConfigError, match=r"^CRITIC_SHARED_CRITICS='-1': Input should be greater"):
        model_options(environ={"CRITIC_SHARED_CRITICS": "-1"}, start=tmp_path)
    (tmp_path / "critic.toml").write_text("[local]\nshared_critics = \"many\"\n")
    result = critic("config", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert f"{tmp_path / 'critic.toml'}: local.shared_critics: Input should be a valid integer" \
        in " ".join(result.stderr.split())


@pytest.mark.anyio
async def test_http_numbers_flag_then_env_then_model_table_then_http_table(tmp_path: Path) -> None:
    (tmp_path / "critic.toml").write_text(
        "[http]\nmax_connections = 3\ntimeout = 30\n"
        '[models.fast]\nbase_url = "http://127.0.0.1:9/v1"\nmax_connections = 8\n'
        '[models.slow]\nbase_url = "http://127.0.0.1:9/v1"\n')

    async def numbers(**given: object) -> dict[str, tuple[int, int, float]]:
        options = model_options(start=tmp_path, **given)  # type: ignore[arg-type]
        pool = ModelPool(None, options)
        try:
            found = {}
            for name in ("fast", "slow"):
                model = pool.get(name)
                assert isinstance(model, OpenAIModel)
                o = model.options
                found[name] = (o.max_connections, o.max_attempts, o.timeout)
            return found
        finally:
            await pool.aclose()

    # File only: a model's own table beats [http], which beats the defaults.
    assert await numbers(environ={}) == {"fast": (8, 5, 30.0), "slow": (3, 5, 30.0)}
    # A variable is the user's word for every model, its table's number included.
    env = {"CRITIC_MAX_CONNECTIONS": "2", "CRITIC_HTTP_TIMEOUT": "7", "CRITIC_MAX_ATTEMPTS": "9"}
    assert await numbers(environ=env) == {"fast": (2, 9, 7.0), "slow": (2, 9, 7.0)}
    # A flag beats the variable.
    assert await numbers(environ=env, max_connections=1) == {
        "fast": (1, 9, 7.0), "slow": (1, 9, 7.0)}


def test_an_unknown_bare_name_says_no_such_named_model(tmp_path: Path) -> None:
    (tmp_path / "critic.toml").write_text('[models.fast]\nbase_url = "http://127.0.0.1:9/v1"\n')
    result = critic("run", "x", "--model", "fsat", "--role", "concision", "--no-log", cwd=tmp_path)
    assert result.returncode == 2
    assert "model 'fsat': no [models.fsat] in critic.toml (named models: fast)" in result.stderr


def test_judge_rules_from_env_and_file_steer_a_real_run(
    servers: tuple[StubServer, StubServer], tmp_path: Path
) -> None:
    # The stub's critique scores 7 of 10 (0.67 < accept_at 0.8): every round is revised
    # until max_rounds, so the rounds played show which max_rounds won.
    gen, crit = servers
    project = write_project(tmp_path, gen.url, crit.url, extra="")
    with (project / "critic.toml").open("a") as fh:
        fh.write("\n[judge]\nmax_rounds = 2\n")

    def rounds(*flags: str, env: dict[str, str] | None = None) -> int:
        result = critic("run", "Add.", "--role", "strict", "--json", "--no-log", *flags,
                        cwd=project, env={**KEYS, **(env or {})})
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)
        assert outcome["stop"] == "max_rounds"
        return len(outcome["verdicts"])

    assert rounds() == 2
    assert rounds(env={"CRITIC_MAX_ROUNDS": "1"}) == 1
    assert rounds("--max-rounds", "3", env={"CRITIC_MAX_ROUNDS": "1"}) == 3
    shown = critic("config", cwd=project, env={"CRITIC_MAX_ROUNDS": "1"})
    assert "judge.max_rounds = 1    (env CRITIC_MAX_ROUNDS)" in shown.stdout.splitlines()
    assert any(line.startswith(f"models.crit = {crit.url}#crit-model; key from $CRIT_KEY; "
                               "headers X-Provider, X-Team") for line in shown.stdout.splitlines())
    assert "crit-secret" not in shown.stdout


def test_debaters_and_an_eval_condition_use_named_models(
    servers: tuple[StubServer, StubServer], tmp_path: Path
) -> None:
    gen, crit = servers
    project = write_project(tmp_path, gen.url, crit.url)
    debated = critic("debate", "What is 2 + 2?", "--debaters", "2", "--rounds", "1", "--json",
                     "--no-log", cwd=project, env=KEYS)  # the default model: "gen" in the file
    assert debated.returncode == 0, debated.stderr
    assert [r["model"] for r in gen.requests()] == ["gen-model", "gen-model"]
    (project / "items.jsonl").write_text('{"id": "a", "input": "What is 1 + 1?", "target": "2"}\n')
    (project / "e.toml").write_text('name = "n"\ndataset = "items.jsonl"\nbaseline = "c"\n'
                                    '[conditions.c]\nmodel = "crit"\n')
    evaluated = critic("eval", "e.toml", "-o", "out", "--no-log", cwd=project, env=KEYS)
    assert evaluated.returncode == 0, evaluated.stderr
    (sent,) = crit.requests()
    assert sent["model"] == "crit-model"
    assert sent["headers"]["authorization"] == "Bearer crit-secret"
