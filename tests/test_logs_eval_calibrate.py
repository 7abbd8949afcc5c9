"""``critic eval`` and ``critic calibrate`` recorded in the log directory by default.

Calibration runs the model-free ``slow-length`` plugin critic; the eval runs
against a real OpenAI-compatible stub server on 127.0.0.1 (a named model).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.workspace.logs import latest_run, list_runs, new_log_path
from tests.calibration.test_calibrate_cli import write_labelled
from tests.experiments.scripted_eval import number_items
from tests.scoring.critics import write_plugin_dist
from tests.servers import StubServer

ROOT = Path(__file__).resolve().parents[1]


def critic(*args: str, cwd: Path, logs: Path, site: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRITIC_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([str(site)] if site else [])])
    env["COLUMNS"] = "400"  # `critic logs` prints a table: one row per line
    return subprocess.run([sys.executable, "-m", "critic.cli", *args, "--log-dir", str(logs)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def test_logs_summarize_experiments_and_calibrations(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    copy = new_log_path(logs, "eval", suffix=".json")
    copy.write_text(json.dumps({
        "kind": "experiment", "experiment": {"name": "repair", "dataset": "humaneval"},
        "conditions": {"single": {"pass_rate": 0.25}, "grounded": {"pass_rate": 0.5}}}))
    folder = new_log_path(logs, "calibrate", suffix="")
    (folder / "report.json").write_text(json.dumps({
        "kind": "calibration", "data": "labels.jsonl",
        "roles": {"correctness": {"auroc": 0.41}, "doctests": {"auroc": None}}}))
    stopped = new_log_path(logs, "eval", suffix="")  # stopped before its summary
    (stopped / "results.jsonl").write_text("")
    runs = list_runs(logs)
    by_path = {r.path: r for r in runs}
    assert by_path[copy].task == "repair (humaneval)"
    assert by_path[copy].decision == "pass rate: single 0.25, grounded 0.50"
    assert by_path[folder].task == "labels.jsonl"
    assert by_path[folder].decision == "auroc: correctness 0.41, doctests —"
    assert by_path[stopped].task is None and by_path[stopped].decision is None
    # The newest run with something to view, not the folder without a summary.
    assert latest_run(logs).path in {copy, folder}
    assert latest_run(logs).path != stopped


def test_calibrate_logs_by_default_and_view_renders_it(tmp_path: Path) -> None:
    site = write_plugin_dist(tmp_path / "site")
    data, logs = write_labelled(tmp_path / "labels.jsonl", 12), tmp_path / "logs"
    result = critic("calibrate", str(data), "--role", "slow-length", "--resamples", "50",
                    cwd=tmp_path, logs=logs, site=site)
    assert result.returncode == 0, result.stderr
    (folder,) = logs.iterdir()
    assert folder.name.endswith("-calibrate") and (folder / "report.json").is_file()
    assert (folder / "report.json.scores.jsonl").is_file()
    listed = critic("logs", cwd=tmp_path, logs=logs)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "calibrate" in line)
    assert "auroc: slow-length 1.00" in row and str(folder) in listed.stdout
    shown = critic("view", cwd=tmp_path, logs=logs)
    assert shown.returncode == 0, shown.stderr
    page = Path(shown.stdout.strip())
    assert page.parent == folder and "slow-length" in page.read_text()

    # -o FILE: the report goes there and a copy is recorded; --no-log records nothing.
    mine = tmp_path / "mine.json"
    named = critic("calibrate", str(data), "--role", "slow-length", "--resamples", "50",
                   "-o", str(mine), cwd=tmp_path, logs=logs, site=site)
    assert named.returncode == 0, named.stderr
    (copy,) = (p for p in logs.iterdir() if p.suffix == ".json")
    assert copy.name.endswith("-calibrate.json") and copy.read_bytes() == mine.read_bytes()
    quiet = critic("calibrate", str(data), "--role", "slow-length", "--resamples", "50",
                   "-o", str(tmp_path / "quiet.json"), "--no-log", cwd=tmp_path, logs=logs,
                   site=site)
    assert quiet.returncode == 0, quiet.stderr
    assert len([p for p in logs.iterdir() if p.suffix != ".html"]) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--no-log"], "-o/--output: needed with --no-log"),
    (["--resume"], "--resume: needs -o/--output"),
])
def test_without_o_a_run_needs_the_log(tmp_path: Path, args: list[str], message: str) -> None:
    data, logs = write_labelled(tmp_path / "labels.jsonl", 3), tmp_path / "logs"
    (tmp_path / "e.toml").write_text(
        'name="x"\ndataset="arithmetic"\nbaseline="a"\n[conditions.a]\nrounds=1\n')
    for command in (["calibrate", str(data), "--role", "doctests"],
                    ["eval", str(tmp_path / "e.toml")]):
        result = critic(*command, *args, cwd=tmp_path, logs=logs, timeout=60)
        assert result.returncode == 2 and result.stderr.strip().splitlines() == [
            f"error: {message}" + (" (otherwise the run is written to the log directory)"
                                   if "--no-log" in args else ", the run to finish")]
    assert not logs.exists() or not any(logs.iterdir())


def test_eval_logs_by_default_lists_and_views_it(tmp_path: Path) -> None:
    number_items(tmp_path / "numbers.jsonl", 2)
    (tmp_path / "experiment.toml").write_text(
        'name="logged"\ndataset="numbers.jsonl"\nbaseline="free"\n[conditions.free]\nrounds=1\n')
    logs = tmp_path / "logs"
    bad = critic("eval", "experiment.toml", "--model", "nope", cwd=tmp_path, logs=logs)
    assert bad.returncode == 2
    assert not logs.exists() or not any(logs.iterdir())  # the reserved folder is gone again
    with StubServer.running(latency=0.0) as stub:
        (tmp_path / "critic.toml").write_text(f'[models.stub]\nbase_url = "{stub.url}"\n')
        result = critic("eval", "experiment.toml", "--model", "stub", cwd=tmp_path, logs=logs)
        assert result.returncode == 0, result.stderr
        named = critic("eval", "experiment.toml", "--model", "stub", "-o", "out", cwd=tmp_path,
                       logs=logs)
        assert named.returncode == 0, named.stderr
    (folder,) = (p for p in logs.iterdir() if p.is_dir())
    assert folder.name.endswith("-eval") and (folder / "results.jsonl").is_file()
    (copy,) = (p for p in logs.iterdir() if p.suffix == ".json")
    assert copy.read_bytes() == (tmp_path / "out" / "summary.json").read_bytes()
    listed = critic("logs", cwd=tmp_path, logs=logs)
    rows = [line for line in listed.stdout.splitlines() if " eval " in line]
    assert len(rows) == 2
    assert all("logged (numbers.jsonl)" in r and "pass rate: free 0.00" in r for r in rows)
    shown = critic("view", cwd=tmp_path, logs=logs)
    assert shown.returncode == 0, shown.stderr
    page = Path(shown.stdout.strip())
    assert page == copy.with_suffix(".html")  # the newest: the copy of the -o run
    text = page.read_text()
    assert "Pass rate per condition" in text and "n=2" in text
