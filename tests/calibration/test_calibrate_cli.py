"""``critic calibrate`` as a real subprocess: files, built-in set, kill and resume, user errors."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from critic.scoring.results import read_results
from critic.viewer import write_html
from critic.viewer.reports import CalibrationReport
from tests.scoring.critics import write_plugin_dist
from tests.scoring.test_score_cli import critic, env_with, holding, one_line_error, start_and_wait


def write_labelled(path: Path, n: int) -> Path:
    """Outputs whose length tracks the label, so the length critic separates them."""
    path.write_text("".join(
        json.dumps({"id": f"r{i}", "input": "say something",
                    "output": "x" * (12 if i % 3 else 2), "label": "pass" if i % 3 else "fail"})
        + "\n" for i in range(n)))
    return path


@pytest.fixture
def slow_env(tmp_path: Path) -> dict[str, str]:
    return env_with(write_plugin_dist(tmp_path / "site"))


def test_a_labelled_file_gives_a_report_the_viewer_reads(tmp_path: Path,
                                                         slow_env: dict[str, str]) -> None:
    data, report = write_labelled(tmp_path / "labels.jsonl", 30), tmp_path / "report.json"
    result = critic("calibrate", str(data), "--role", "slow-length", "-o", str(report),
                    "--resamples", "300", env=slow_env)
    assert result.returncode == 0, result.stderr
    found = json.loads(report.read_text())
    CalibrationReport.model_validate(found)  # every key the HTML viewer needs
    assert "slow-length" in write_html(report).read_text()
    role = found["roles"]["slow-length"]
    assert found["kind"] == "calibration" and found["probes"] == {} and found["items"] == 30
    assert role["auroc"] == 1.0 and role["auroc_ci"] == [1.0, 1.0]
    assert role["confusion"] == {"tp": 20, "fp": 0, "tn": 10, "fn": 0}
    assert role["n"] == 30 and role["unscored"] == 0
    assert "threshold" in found["judges"]


def test_sigkill_part_way_then_resume_scores_every_id_once(tmp_path: Path,
                                                           slow_env: dict[str, str]) -> None:
    n, held = 120, 20
    data, report = write_labelled(tmp_path / "labels.jsonl", n), tmp_path / "report.json"
    scores = tmp_path / "report.json.scores.jsonl"
    args = ["calibrate", str(data), "--role", "slow-length", "-o", str(report),
            "--resamples", "200"]
    process = start_and_wait(args, holding(slow_env, held), scores, lines=held)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert not report.exists()
    before = scores.read_bytes()
    refused = critic(*args, env=slow_env)  # neither resume nor overwrite: nothing is touched
    one_line_error(refused, "already exists", "--resume")
    assert scores.read_bytes() == before
    resumed = critic(*args, "--resume", env=slow_env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({held} already there, {n} records)" in " ".join(resumed.stderr.split())
    assert scores.read_bytes().startswith(before)
    ids = [r.id for r in read_results(scores)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(n))  # every id exactly once
    assert json.loads(report.read_text())["roles"]["slow-length"]["n"] == n


def test_graded_csv_labels_give_spearman(tmp_path: Path, slow_env: dict[str, str]) -> None:
    data = tmp_path / "labels.csv"
    data.write_text("id,input,output,label\n" + "".join(
        f"g{i},say something,{'x' * i},{i / 12:.3f}\n" for i in range(12)))
    report = tmp_path / "report.json"
    result = critic("calibrate", str(data), "--role", "slow-length", "-o", str(report),
                    "--resamples", "200", env=slow_env)
    assert result.returncode == 0, result.stderr
    role = json.loads(report.read_text())["roles"]["slow-length"]
    # Length / 10, capped at 1: ties at the top, so rank correlation is high but not 1.
    assert 0.9 < role["spearman"] < 1.0
    assert role["spearman_ci"][0] <= role["spearman"] <= role["spearman_ci"][1]


def test_preference_pairs(tmp_path: Path, slow_env: dict[str, str]) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(
        {"id": f"p{i}", "input": "say", "output_a": "x" * (3 + i), "output_b": "x",
         "preferred": "a" if i < 6 else "b"}) + "\n" for i in range(8)))
    report = tmp_path / "report.json"
    result = critic("calibrate", str(data), "--role", "slow-length", "-o", str(report),
                    "--resamples", "200", env=slow_env)
    assert result.returncode == 0, result.stderr
    role = json.loads(report.read_text())["roles"]["slow-length"]
    assert role["n"] == 8 and role["accuracy"] == 6 / 8


@pytest.mark.parametrize(("line", "message"), [
    ({"id": "a", "input": "t", "output": "o"}, "labels.jsonl:2: label: missing"),
    ({"id": "a", "input": "t", "output": "o", "label": "maybe"},
     "labels.jsonl:2: label: 'maybe' is not pass/fail or a number"),
    ({"id": "a", "input": "t", "output": "o", "label": [1]}, "labels.jsonl:2: label:"),
    ({"id": "r0", "input": "t", "output": "o", "label": "pass"}, "labels.jsonl:2: id: duplicate"),
])
def test_bad_labels_are_one_line_errors(tmp_path: Path, line: dict[str, object],
                                        message: str) -> None:
    data = tmp_path / "labels.jsonl"
    data.write_text(json.dumps({"id": "r0", "input": "t", "output": "o", "label": "pass"}) + "\n"
                    + json.dumps(line) + "\n")
    report = tmp_path / "report.json"
    one_line_error(critic("calibrate", str(data), "--role", "doctests", "-o", str(report)),
                   message)
    assert not report.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "no-such-role"], "unknown role 'no-such-role'"),
    (["--role", "doctests", "--limit", "0"], "limit"),
    (["--role", "doctests", "--probes"], "--probes: needs a judge role (--judge NAME)"),
])
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    data = write_labelled(tmp_path / "labels.jsonl", 3)
    one_line_error(critic("calibrate", str(data), *args, "-o", str(tmp_path / "r.json")), message)


def test_missing_data_names_the_built_in_sets(tmp_path: Path) -> None:
    one_line_error(critic("calibrate", str(tmp_path / "nope.jsonl"), "--role", "doctests",
                          "-o", str(tmp_path / "r.json")), "nope.jsonl", "humaneval-mutants")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_doctests_separate_humaneval_mutants(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = critic("calibrate", "humaneval-mutants", "--role", "doctests", "--limit", "10",
                    "-o", str(report), timeout=280)
    assert result.returncode == 0, result.stderr
    found = json.loads(report.read_text())
    role = found["roles"]["doctests"]
    assert found["notes"]["problems"] == 10 and role["n"] == found["items"] > 10
    assert role["auroc"] >= 0.95
    assert role["auroc_ci"][0] <= role["auroc"] <= role["auroc_ci"][1]


QUICK = """
name = "quick-correctness"
description = "Does the draft do what the task asks?"
kind = "llm"
prompt = "correctness.j2"
system = "critic_system.j2"
scale = [1, 10]
max_tokens = 64
"""


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_correctness_reports_an_auroc_with_its_interval(tmp_path: Path,
                                                               model_path: Path) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "quick-correctness.toml").write_text(QUICK)
    report = tmp_path / "report.json"
    result = critic("calibrate", "humaneval-mutants", "--role", "quick-correctness",
                    "--roles-dir", str(roles), "--limit", "2", "--per-problem", "1",
                    "-o", str(report), "--concurrency", "2", timeout=580)
    assert result.returncode == 0, result.stderr
    role = json.loads(report.read_text())["roles"]["quick-correctness"]
    assert role["n"] + role["unscored"] == 4
    # Whatever SmolLM2 measures, it is reported with its interval (no claim of skill).
    if role["auroc"] is not None:
        assert role["auroc_ci"][0] <= role["auroc"] <= role["auroc_ci"][1]
    assert all(r.usage.completion_tokens > 0
               for r in read_results(tmp_path / "report.json.scores.jsonl"))


@pytest.mark.model
@pytest.mark.timeout(300)
def test_probes_of_a_judge_role_on_the_local_model(tmp_path: Path, model_path: Path) -> None:
    data = write_labelled(tmp_path / "labels.jsonl", 3)
    report = tmp_path / "report.json"
    result = critic("calibrate", str(data), "--role", "runs", "--judge", "llm-judge", "--probes",
                    "-o", str(report), timeout=280)
    assert result.returncode == 0, result.stderr
    probes = json.loads(report.read_text())["probes"]
    assert set(probes) == {"length", "identity"}  # graded data: no pairs, no model names
    for probe in probes.values():
        low, high = probe["ci"]
        assert low <= probe["effect"] <= high and isinstance(probe["flagged"], bool)
        assert probe["flagged"] == (low > 0 or high < 0)
    CalibrationReport.model_validate_json(report.read_text())  # the viewer still reads it
