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
from tests.scoring.critics import HOLD_AFTER, write_plugin_dist

ROOT = Path(__file__).resolve().parents[2]


def env_with(site: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(site)] if site else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("CRITIC_ROLES_PATH", None)
    return env


def critic(*args: str, env: dict[str, str] | None = None,
           timeout: float = 50) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "critic.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env=env or env_with())


def write_records(path: Path, n: int) -> Path:
    path.write_text("".join(
        json.dumps({"id": f"r{i}", "input": "say something", "output": "x" * (i % 13)}) + "\n"
        for i in range(n)))
    return path


def start_and_wait(args: list[str], env: dict[str, str], out: Path,
                   lines: int) -> subprocess.Popen[str]:
    """Start `critic score` and wait until ``out`` holds ``lines`` lines.

    Polls observed state (the file), with a deadline only as a guard against a hang.
    """
    process = subprocess.Popen([sys.executable, "-m", "critic.cli.main", *args], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 50
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            return process
        if process.poll() is not None:
            raise AssertionError(f"critic score ended early: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    process.communicate()
    raise AssertionError(f"critic score wrote fewer than {lines} lines in 50 s")


def assert_every_id_once(out: Path, n: int) -> None:
    lines = out.read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]  # every line is whole JSON
    assert sorted(ids) == sorted(f"r{i}" for i in range(n))
    assert len(read_results(out)) == n


def one_line_error(result: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    for part in parts:
        assert part in result.stderr, (part, result.stderr)


@pytest.fixture
def slow_env(tmp_path: Path) -> dict[str, str]:
    return env_with(write_plugin_dist(tmp_path / "site"))


def holding(env: dict[str, str], after: int) -> dict[str, str]:
    """``env`` for a run that writes exactly ``after`` results, then waits to be stopped."""
    return {**env, HOLD_AFTER: str(after)}


def test_sigkill_part_way_then_resume(tmp_path: Path, slow_env: dict[str, str]) -> None:
    n, held = 400, 30
    source, out = write_records(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    args = ["score", str(source), "-o", str(out), "--role", "slow-length", "--concurrency", "4"]
    process = start_and_wait(args, holding(slow_env, held), out, lines=held)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    complete = out.read_bytes()
    assert complete.count(b"\n") == held and complete.endswith(b"\n")
    # A line is one write(2), so a kill lands between lines; tear the tail as a kill
    # inside a write would, so resume has a torn line to cut off.
    out.write_bytes(complete + b'{"format":1,"id":"r399","crit')
    # The killed run's lock died with it: resuming is not refused.
    resumed = critic(*args, "--resume", env=slow_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "discarded a half-written last line (29 bytes)" in resumed.stderr
    assert f"wrote {n - held} results" in resumed.stderr
    assert out.read_bytes().startswith(complete)  # lines already written were kept as they were
    assert_every_id_once(out, n)
    again = critic(*args, "--resume", env=slow_env)
    assert again.returncode == 0 and "wrote 0 results" in again.stderr
    assert_every_id_once(out, n)


def test_sigterm_stops_cleanly(tmp_path: Path, slow_env: dict[str, str]) -> None:
    n, held = 400, 20
    source, out = write_records(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    args = ["score", str(source), "-o", str(out), "--role", "slow-length", "--concurrency", "8"]
    # 20 results, then 8 records in flight that never finish on their own.
    process = start_and_wait(args, holding(slow_env, held), out, lines=held)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert out.read_bytes().endswith(b"\n")
    assert len(read_results(out)) == held  # the records in flight were not written at all
    resumed = critic(*args, "--resume", env=slow_env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"wrote {n - held} results" in resumed.stderr
    assert_every_id_once(out, n)


def test_a_second_run_on_a_locked_output_is_refused_at_once(
    tmp_path: Path, slow_env: dict[str, str]
) -> None:
    n, held = 50, 10
    source, out = write_records(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(out.name)
    args = ["score", str(source), "--role", "slow-length", "--concurrency", "2"]
    first = start_and_wait([*args, "-o", str(out)], holding(slow_env, held), out, lines=held)
    try:
        before = out.read_bytes()
        for target, extra in ((out, "--resume"), (out, "--overwrite"), (link, "--resume")):
            second = critic(*args, "-o", str(target), extra, env=slow_env)
            one_line_error(second, "another run is writing it")
            assert out.read_bytes() == before  # neither read as done, truncated nor appended to
        assert first.poll() is None  # the refusal did not disturb the run holding the lock
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 130
    resumed = critic(*args, "-o", str(out), "--resume", env=slow_env)
    assert resumed.returncode == 0, resumed.stderr
    assert_every_id_once(out, n)


def invalid_input(path: Path) -> bytes:
    """Two records and an invalid line (so --skip-invalid has an error to write)."""
    data = write_records(path, 2).read_bytes() + b"not json\n"
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("case", ["same", "symlink", "hardlink", "errors-is-input",
                                  "errors-is-output", "errors-links-to-output"])
def test_an_output_that_is_the_input_is_refused(
    tmp_path: Path, slow_env: dict[str, str], case: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data = invalid_input(source)
    alias = tmp_path / "alias.jsonl"
    if case == "symlink":
        alias.symlink_to(source)
    elif case == "hardlink":
        os.link(source, alias)
    elif case == "errors-links-to-output":
        alias.symlink_to(out)
    output, errors, message = {
        "same": (source, None, f"--output {source}: is the input file"),
        "symlink": (alias, None, f"--output {alias}: is the input file"),
        "hardlink": (alias, None, f"--output {alias}: is the input file"),
        "errors-is-input": (out, source, f"--errors {source}: is the input file"),
        "errors-is-output": (out, out, f"--errors {out}: is the output file"),
        "errors-links-to-output": (out, alias, f"--errors {alias}: is the output file"),
    }[case]
    extra = ["--errors", str(errors)] if errors else []
    result = critic("score", str(source), "-o", str(output), "--role", "slow-length",
                    "--skip-invalid", "--overwrite", *extra, env=slow_env)
    one_line_error(result, message)
    assert source.read_bytes() == data
    assert not out.exists()


def test_an_existing_errors_file_is_kept_unless_resume_or_overwrite(
    tmp_path: Path, slow_env: dict[str, str]
) -> None:
    source, out, errors = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "bad.jsonl"
    invalid_input(source)
    errors.write_text("an earlier run's errors\n")
    args = ["score", str(source), "-o", str(out), "--role", "slow-length", "--skip-invalid",
            "--errors", str(errors)]
    refused = critic(*args, env=slow_env)
    one_line_error(refused, f"{errors} already exists (the --errors file)", "--overwrite")
    assert errors.read_text() == "an earlier run's errors\n" and not out.exists()
    replaced = critic(*args, "--overwrite", env=slow_env)
    assert replaced.returncode == 0, replaced.stderr
    assert [json.loads(line)["line"] for line in errors.read_text().splitlines()] == [3]
    assert len(read_results(out)) == 2
    without = critic("score", str(source), "-o", str(tmp_path / "x.jsonl"), "--role",
                     "slow-length", "--errors", str(errors), env=slow_env)
    one_line_error(without, "--errors: only written with --skip-invalid")


def test_an_empty_input_is_accepted_with_a_warning(tmp_path: Path, slow_env: dict[str, str]) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(b"")
    result = critic("score", str(source), "-o", str(out), "--role", "slow-length", env=slow_env)
    assert result.returncode == 0, result.stderr
    assert f"warning: {source} holds no records to score\n" in result.stderr
    assert read_results(out) == []
    source.write_bytes(b"not json\n")
    all_bad = critic("score", str(source), "-o", str(out), "--role", "slow-length",
                     "--skip-invalid", "--overwrite", env=slow_env)
    assert all_bad.returncode == 0, all_bad.stderr
    assert "holds no records to score (every line was invalid)" in all_bad.stderr
    two = critic("score", str(write_records(source, 2)), "-o", str(out), "--role",
                 "slow-length", "--overwrite", env=slow_env)
    assert two.returncode == 0 and "warning" not in two.stderr


def test_files_that_cannot_be_read_or_written_are_one_line_errors(
    tmp_path: Path, slow_env: dict[str, str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    source = write_records(tmp_path / "in.jsonl", 3)
    for path in (Path("/dev/zero"), fifo, tmp_path):  # each would hang, grow or fail late
        result = critic("score", str(path), "-o", str(tmp_path / "out.jsonl"), "--role",
                        "slow-length", env=slow_env)
        one_line_error(result, f"cannot read {path}: not a regular file")
    if Path("/dev/full").exists():
        full = critic("score", str(source), "-o", "/dev/full", "--role", "slow-length",
                      env=slow_env)
        one_line_error(full, "cannot write /dev/full: No space left on device")


@pytest.mark.parametrize(("value", "shown"), [
    ('"metadata": {"x": NaN}', "NaN is not a JSON number"),
    ('"target": Infinity', "Infinity is not a JSON number"),
    ('"metadata": {"x": [-Infinity]}', "-Infinity is not a JSON number"),
    ('"target": 1e999', "1e999 is too large for a number"),
])
def test_nan_and_infinity_are_rejected_with_their_line(
    tmp_path: Path, slow_env: dict[str, str], value: str, shown: str
) -> None:
    source = write_records(tmp_path / "in.jsonl", 1)
    with source.open("a") as fh:
        fh.write('{"id": "x", "input": "t", "output": "o", ' + value + "}\n")
    result = critic("score", str(source), "-o", str(tmp_path / "out.jsonl"), "--role",
                    "slow-length", env=slow_env)
    one_line_error(result, f"{source}:2: {shown}")


def test_a_model_free_critique_carries_its_latency(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "input": "Print hi.", "output": "print('hi')"}) + "\n")
    out = tmp_path / "out.jsonl"
    result = critic("score", str(source), "-o", str(out), "--role", "runs")
    assert result.returncode == 0, result.stderr
    (scored,) = read_results(out)
    runs = scored.critiques["runs"]
    # Running the code in a sandbox takes time; it used to be reported as exactly 0.0.
    assert runs.usage.completion_tokens == 0 and runs.latency > 0
    assert runs.latency <= scored.latency


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
    result = critic(*args, "-o", str(out), "--summary", "--json")
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
    replayed = critic(*args, "--offline", "-o", str(tmp_path / "again.jsonl"))
    assert replayed.returncode == 0, replayed.stderr
    again = {r.id: r for r in read_results(tmp_path / "again.jsonl")}
    for key, r in results.items():
        assert again[key].critiques["quick-correctness"].score == r.critiques["quick-correctness"].score
        assert again[key].verdict.decision == r.verdict.decision


@pytest.mark.model
def test_critics_on_a_shared_context_score_as_on_their_own(tmp_path: Path,
                                                           model_path: Path) -> None:
    """CRITIC_SHARED_CRITICS puts the LLM critics on one shared-prefix context; at
    temperature 0 every critique is the one an own context gives."""
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "quick-correctness.toml").write_text(QUICK)
    (roles / "quick-clarity.toml").write_text(QUICK.replace("quick-correctness", "quick-clarity")
                                              .replace("correctness.j2", "clarity.j2"))
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": str(i), "input": "What is 2 + 2?",
                                          "output": answer}) + "\n"
                              for i, answer in enumerate(["4", "5", "four"])))
    scored = {}
    for shared in ("0", "2"):
        out = tmp_path / f"out-{shared}.jsonl"
        result = critic("score", str(source), "--role", "quick-correctness", "--role",
                        "quick-clarity", "--roles-dir", str(roles), "--concurrency", "3",
                        "--no-log", "-o", str(out), timeout=600,
                        env={**env_with(), "CRITIC_SHARED_CRITICS": shared})
        assert result.returncode == 0, result.stderr
        scored[shared] = {(r.id, name): (c.status, c.score, c.problems, c.usage.completion_tokens)
                          for r in read_results(out) for name, c in r.critiques.items()}
    assert len(scored["0"]) == 6 and all(v[0] == "ok" for v in scored["0"].values())
    assert scored["2"] == scored["0"]
