"""critic.toml + CRITIC_* settings: precedence, sources shown by ``critic config``, bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.errors import ConfigError
from critic.workspace.project import find_project_file, project_settings, resolve

ROOT = Path(__file__).resolve().parents[1]


def critic(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRITIC_")}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "critic.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**base, **(env or {})})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "critic.toml").write_text(
        'model = "/from/file.gguf"\nroles_dirs = ["roles"]\nlog_dir = "runs"\n'
        'bus = "nats://127.0.0.1:4999"\n')
    (tmp_path / "deep" / "er").mkdir(parents=True)
    return tmp_path


def test_precedence_flag_then_env_then_file_then_default(project: Path) -> None:
    start = project / "deep" / "er"
    assert find_project_file(start) == project / "critic.toml"
    file_only = resolve(environ={}, start=start)
    assert file_only["model"].value == "/from/file.gguf"
    assert file_only["model"].source == f"file {project / 'critic.toml'}"
    assert file_only["roles_dirs"].value == (project / "roles",)
    assert file_only["log_dir"].value == project / "runs"
    env = {"CRITIC_MODEL": "/from/env.gguf", "CRITIC_LOG_DIR": "envlogs"}
    with_env = resolve(environ=env, start=start)
    assert (with_env["model"].value, with_env["model"].source) == ("/from/env.gguf", "env CRITIC_MODEL")
    assert with_env["bus"].source.startswith("file ")  # not in env: the file still answers
    flagged = project_settings(model="/from/flag.gguf", roles_dirs=(Path("mine"),),
                               environ=env, start=start)
    assert flagged.model == "/from/flag.gguf" and flagged.roles_dirs == (Path("mine"),)
    assert flagged.log_dir == Path("envlogs")
    nothing = resolve(environ={}, start=project.parent / "elsewhere-without-file")
    assert {s.source for s in nothing.values()} == {"default"}
    assert nothing["log_dir"].value == Path("critic-logs")


def test_config_shows_each_value_and_its_source(project: Path) -> None:
    here = project / "deep" / "er"
    shown = critic("config", "--bus", "nats://127.0.0.1:4222", cwd=here,
                   env={"CRITIC_MODEL": "http://127.0.0.1:9/v1"})
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    toml = project / "critic.toml"
    assert "model = http://127.0.0.1:9/v1    (env CRITIC_MODEL)" in lines
    assert "bus = nats://127.0.0.1:4222    (flag)" in lines
    assert f"roles_dirs = {project / 'roles'}    (file {toml})" in lines
    assert f"log_dir = {project / 'runs'}    (file {toml})" in lines
    assert f"project file: {project / 'critic.toml'}" in shown.stdout


def test_run_takes_its_roles_dirs_and_model_from_the_file(project: Path) -> None:
    missing = critic("run", "x", cwd=project / "deep")
    assert missing.returncode == 2
    assert f"roles folder not found: {project / 'roles'}" in missing.stderr
    (project / "roles").mkdir()
    result = critic("run", "x", cwd=project / "deep")
    assert result.returncode == 2
    assert "model file not found: /from/file.gguf" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("text", "message"), [
    ("modle = 'x'\n", "modle: Extra inputs are not permitted"),
    ("model = \n", "not valid TOML"),
    ("roles_dirs = 3\n", "roles_dirs:"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "critic.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve(environ={}, start=tmp_path)
    result = critic("config", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "critic.toml") in result.stderr and message.split(":")[0] in result.stderr
