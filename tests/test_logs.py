"""Runs recorded by default (critic.workspace.logs) and ``critic logs`` / ``critic view`` end to end."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from critic.errors import ConfigError
from critic.messages import Outcome
from critic.transcript import read_transcript
from critic.workspace.logs import latest_run, list_runs, new_log_path, resolve_log_dir, viewable
from tests.viewer.fixtures import DRAFT_ONE, make_all

NOON = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp("inputs"))


def critic(*args: str, log_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "critic.cli", *args, "--log-dir", str(log_dir)],
        capture_output=True, text=True, timeout=timeout,
    )


def test_log_dir_precedence_flag_then_env_then_default(tmp_path: Path) -> None:
    env = {"CRITIC_LOG_DIR": "/from/env"}
    assert resolve_log_dir(Path("/from/flag"), env, start=tmp_path) == Path("/from/flag")
    assert resolve_log_dir(None, env, start=tmp_path) == Path("/from/env")
    assert resolve_log_dir(None, {"CRITIC_LOG_DIR": "  "}, start=tmp_path) == Path("critic-logs")
    assert resolve_log_dir(None, {}, start=tmp_path) == Path("critic-logs")


def test_names_by_time_and_command_never_shared(tmp_path: Path) -> None:
    first = new_log_path(tmp_path / "logs", "run", now=NOON)
    second = new_log_path(tmp_path / "logs", "run", now=NOON)
    folder = new_log_path(tmp_path / "logs", "eval", suffix="", now=NOON)
    assert first.name == "20261123-120000-run.jsonl"
    assert second.name == "20261123-120000-run-2.jsonl"
    assert folder.is_dir() and folder.name == "20261123-120000-eval"
    with pytest.raises(ValueError, match="command name"):
        new_log_path(tmp_path, "../x")


def test_list_newest_first_skipping_pages_and_strangers(tmp_path: Path, files: dict[str, Path]) -> None:
    logs = tmp_path / "logs"
    older = new_log_path(logs, "run", now=NOON)
    older.write_bytes(files["session"].read_bytes())
    newer = new_log_path(logs, "debate", now=NOON.replace(hour=13))
    newer.write_bytes(files["debate"].read_bytes())
    experiment = new_log_path(logs, "eval", suffix="", now=NOON.replace(hour=14))
    (experiment / "summary.json").write_bytes(files["experiment"].read_bytes())
    (logs / "20261123-150000-run.html").write_text("<html>")
    (logs / "notes.txt").write_text("mine")
    runs = list_runs(logs)
    assert [r.path for r in runs] == [experiment, newer, older]
    assert [r.command for r in runs] == ["eval", "debate", "run"]
    assert runs[2].task is not None and runs[2].decision in {"accept", "discard"}
    assert runs[1].decision is not None and runs[1].decision.startswith(("accept", "discard"))
    assert runs[2].time == NOON
    assert "None" not in (runs[1].decision or "")
    assert [r.path for r in list_runs(logs, limit=1)] == [experiment]
    assert latest_run(logs).path == experiment
    assert viewable(experiment) == experiment / "summary.json"


def test_latest_skips_a_run_that_wrote_nothing_and_fails_when_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no recorded runs"):
        latest_run(tmp_path / "none")
    new_log_path(tmp_path, "run", now=NOON)  # reserved, never written (e.g. model failed to load)
    with pytest.raises(ConfigError, match="no recorded runs"):
        latest_run(tmp_path)


def test_view_writes_one_escaped_page_and_prints_its_path(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    for kind, source in files.items():
        out = tmp_path / f"{kind}.html"
        result = critic("view", str(source), "-o", str(out), log_dir=tmp_path / "logs")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(out)
        page = out.read_text()
        assert page.startswith("<!DOCTYPE html>") or page.lstrip().lower().startswith("<!doctype")
        assert "<script>document.documentElement" not in page, kind
    assert "return s  # &lt;script&gt;" in (tmp_path / "session.html").read_text()
    assert DRAFT_ONE.splitlines()[0] in (tmp_path / "session.html").read_text()
    default = critic("view", str(files["session"]), log_dir=tmp_path / "logs")
    assert default.stdout.strip() == str(files["session"].with_suffix(".html"))


def test_view_refuses_to_clobber_and_without_runs_is_one_line(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    mine = tmp_path / "mine.html"
    mine.write_text("my notes")
    result = critic("view", str(files["session"]), "-o", str(mine), log_dir=tmp_path / "logs")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert mine.read_text() == "my notes"
    empty = critic("view", log_dir=tmp_path / "empty")
    assert empty.returncode == 2 and "no recorded runs" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1
    listing = critic("logs", log_dir=tmp_path / "empty")
    assert listing.returncode == 0 and "no recorded runs" in listing.stdout


@pytest.mark.model
def test_a_run_with_no_flags_is_listed_and_viewable(tmp_path: Path, model_path: Path) -> None:
    logs = tmp_path / "logs"
    task = "Write a haiku about rain."
    result = critic("run", task, "--role", "runs", "--max-rounds", "1", "--max-tokens", "40",
                    "--json", log_dir=logs, timeout=600)
    assert result.returncode == 0, result.stderr
    outcome = Outcome.model_validate_json(result.stdout)
    [recorded] = logs.glob("*-run.jsonl")
    assert read_transcript(recorded).payloads("outcome") == [outcome]

    listing = critic("logs", log_dir=logs)
    assert listing.returncode == 0, listing.stderr
    assert "run" in listing.stdout and "Write a haiku" in listing.stdout
    assert outcome.decision in listing.stdout

    shown = critic("view", log_dir=logs)
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()) == recorded.with_suffix(".html")
    assert task in recorded.with_suffix(".html").read_text()

    quiet = critic("run", task, "--role", "runs", "--max-rounds", "1", "--max-tokens", "8",
                   "--json", "--no-log", log_dir=logs, timeout=600)
    assert quiet.returncode == 0, quiet.stderr
    assert list(logs.glob("*.jsonl")) == [recorded]


def test_score_records_a_copy_of_its_results_and_no_log_does_not(tmp_path: Path) -> None:
    from tests.scoring.critics import write_plugin_dist
    from tests.scoring.test_score_cli import env_with, write_records

    env = env_with(write_plugin_dist(tmp_path / "site"))
    source, out, logs = write_records(tmp_path / "in.jsonl", 5), tmp_path / "out.jsonl", tmp_path / "l"
    args = [sys.executable, "-m", "critic.cli", "score", str(source), "-o", str(out),
            "--role", "slow-length", "--log-dir", str(logs)]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    [recorded] = logs.glob("*-score.jsonl")
    assert recorded.read_bytes() == out.read_bytes() and len(out.read_text().splitlines()) == 5
    assert f"recorded as {recorded}" in first.stderr
    assert [r.command for r in list_runs(logs)] == ["score"]
    quiet = subprocess.run([*args, "--overwrite", "--no-log"], capture_output=True, text=True,
                           timeout=120, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert list(logs.iterdir()) == [recorded]


def test_a_run_that_never_starts_leaves_no_log_file(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for command in ("run", "debate"):
        result = critic(command, "x", "--model", "/no/such.gguf", log_dir=logs)
        assert result.returncode == 2 and "model file not found" in result.stderr
    assert logs.is_dir() and list(logs.iterdir()) == []  # the reserved names were given back
