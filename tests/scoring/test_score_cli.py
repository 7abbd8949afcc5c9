"""``critic score`` as a real subprocess: kill -9 and resume, SIGTERM, user errors, SmolLM2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from critic.scoring.results import read_results
from tests.scoring.critics import write_plugin_dist

ROOT = Path(__file__).resolve().parents[2]


def env_with(site: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(site)] if site else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("CRITIC_ROLES_PATH", None)
    return env


def critic(*args: str, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "critic.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env=env or env_with())


def write_records(path: Path, n: int) -> Path:
    path.write_text("".join(
        json.dumps({"id": f"r{i}", "input": "say something", "output": "x" * (i % 13)}) + "\n"
        for i in range(n)))
    return path


def start_and_wait(args: list[str], env: dict[str, str], out: Path,
                   lines: int) -> subprocess.Popen[str]:
    """Start `critic score` and wait until ``out`` holds at least ``lines`` lines."""
    process = subprocess.Popen([sys.executable, "-m", "critic.cli.main", *args], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            return process
        if process.poll() is not None:
            raise AssertionError(f"critic score ended early: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    raise AssertionError("critic score wrote too little in 60 s")


def assert_every_id_once(out: Path, n: int) -> None:
    lines = out.read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]  # every line is whole JSON
    assert sorted(ids) == sorted(f"r{i}" for i in range(n))
    assert len(read_results(out)) == n


@pytest.fixture
def slow_env(tmp_path: Path) -> dict[str, str]:
    return env_with(write_plugin_dist(tmp_path / "site"))


def test_sigkill_part_way_then_resume(tmp_path: Path, slow_env: dict[str, str]) -> None:
    n = 400
    source, out = write_records(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    args = ["score", str(source), "-o", str(out), "--role", "slow-length", "--concurrency", "4"]
    process = start_and_wait(args, slow_env, out, lines=30)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    written = out.read_bytes()
    complete = written[: written.rfind(b"\n") + 1]
    assert 30 <= complete.count(b"\n") < n
    torn = not written.endswith(b"\n")
    if not torn:  # the kill landed between lines: tear the tail as a mid-write kill would
        out.write_bytes(written + b'{"format":1,"id":"r399","crit')
    resumed = critic(*args, "--resume", env=slow_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "discarded a half-written last line" in resumed.stderr
    assert out.read_bytes().startswith(complete)  # lines already written were kept as they were
    assert_every_id_once(out, n)
    again = critic(*args, "--resume", env=slow_env)
    assert again.returncode == 0 and "wrote 0 results" in again.stderr
    assert_every_id_once(out, n)


def test_sigterm_stops_cleanly(tmp_path: Path, slow_env: dict[str, str]) -> None:
    n = 400
    source, out = write_records(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    args = ["score", str(source), "-o", str(out), "--role", "slow-length", "--concurrency", "8"]
    process = start_and_wait(args, slow_env, out, lines=20)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    data = out.read_bytes()
    assert data.endswith(b"\n")  # in-flight records were not written at all
    done = len(read_results(out))
    assert 20 <= done < n
    assert critic(*args, "--resume", env=slow_env).returncode == 0
    assert_every_id_once(out, n)


def test_summary_at_the_end_and_records_to_the_errors_file(
    tmp_path: Path, slow_env: dict[str, str]
) -> None:
    source = write_records(tmp_path / "in.jsonl", 5)
    with source.open("ab") as fh:
        fh.write(b'{"id": "r1", "input": "t", "output": "dup"}\n\xff\xfe junk\n')
    out = tmp_path / "out.jsonl"
    args = ["score", str(source), "-o", str(out), "--role", "slow-length"]
    failed = critic(*args, env=slow_env)
    assert failed.returncode == 2 and not out.exists()
    assert failed.stderr.strip() == (
        f"error: {source}:6: duplicate id 'r1' (first on line 2)"
    )
    result = critic(*args, "--skip-invalid", "--summary", "--json", env=slow_env)
    assert result.returncode == 0, result.stderr
    assert "skipped 2 invalid lines" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["records"] == 5 and summary["roles"]["slow-length"]["scored"] == 5
    errors = (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()
    assert [json.loads(e)["line"] for e in errors] == [6, 7]


@pytest.mark.parametrize(("extra", "message"), [
    (["--role", "nope"], "unknown role 'nope'"),
    (["--role", "clarity", "--concurrency", "0"], "--concurrency"),
    (["--role", "clarity", "--judge", "clarity"], "--judge: role 'clarity' is a critic"),
])
def test_user_errors_are_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    source = write_records(tmp_path / "in.jsonl", 2)
    result = critic("score", str(source), "-o", str(tmp_path / "out.jsonl"), *extra)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


QUICK = """
name = "quick-correctness"
description = "correctness, with a short answer"
kind = "llm"
prompt = "correctness.j2"
system = "critic_system.j2"
scale = [1, 10]
max_tokens = 64
"""


@pytest.mark.model
def test_llm_role_on_smollm2(tmp_path: Path, model_path: Path) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "quick-correctness.toml").write_text(QUICK)
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": "good", "input": "What is 2 + 2?", "output": "4", "target": "pass"}) + "\n"
        + json.dumps({"id": "bad", "input": "What is 2 + 2?", "output": "5", "target": "fail"})
        + "\n")
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    args = ["score", str(source), "--role", "quick-correctness", "--roles-dir", str(roles),
            "--concurrency", "2", "--cache", str(cache)]
    result = critic(*args, "-o", str(out), "--summary", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    results = {r.id: r for r in read_results(out)}
    assert set(results) == {"good", "bad"}
    for r in results.values():
        critique = r.critiques["quick-correctness"]
        # A real model answered: tokens were spent, and a failure would say why.
        assert r.usage.completion_tokens > 0 and critique.latency > 0
        assert critique.status == "ok", critique.error
        assert critique.score is not None and 0.0 <= critique.score <= 1.0
        assert r.verdict.decision in ("accept", "discard")
    summary = json.loads(result.stdout)
    assert summary["roles"]["quick-correctness"]["scored"] == 2
    assert summary["judge_vs_target"]["n"] == 2
    # Scored again from the response cache alone: the same critiques, no model call made.
    replayed = critic(*args, "--offline", "-o", str(tmp_path / "again.jsonl"), timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    again = {r.id: r for r in read_results(tmp_path / "again.jsonl")}
    for key, r in results.items():
        assert again[key].critiques["quick-correctness"].score == r.critiques["quick-correctness"].score
        assert again[key].verdict.decision == r.verdict.decision
