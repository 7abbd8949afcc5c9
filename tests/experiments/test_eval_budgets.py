"""Budgets in ``critic eval``: per condition in the experiment file, and a cap from the CLI.

Scripted runs count tokens as words; the CLI run goes to a real OpenAI-compatible
stub server on 127.0.0.1, named in critic.toml.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.errors import ConfigError
from critic.experiments.conditions import load_experiment
from critic.experiments.records import EvalRecord, read_records
from critic.experiments.runner import run_experiment
from critic.messages import DebateOutcome
from critic.testing import ScriptedModel
from critic.transcript import read_transcript
from tests.experiments.scripted_eval import ScriptedPool, number_items
from tests.servers import StubServer

ROOT = Path(__file__).resolve().parents[2]
# No critic (a resampling control, which revises without feedback), three rounds,
# and debaters who never agree: only max_rounds or a budget ends a unit.
EXPERIMENT = """
name = "budgets"
dataset = "numbers.jsonl"
baseline = "free"

[conditions.free]
rounds = 3

[conditions.tokens]
rounds = 3
max_total_tokens = {tokens}

[conditions.seconds]
rounds = 3
max_seconds = 0.001

[conditions.debate]
mode = "debate"
debaters = 3
rounds = 3
max_total_tokens = {tokens}
"""


def experiment_file(tmp_path: Path, tokens: int = 1) -> Path:
    number_items(tmp_path / "numbers.jsonl", 2)
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT.format(tokens=tokens))
    return path


def model() -> ScriptedModel:
    return ScriptedModel(scripts={"debater-2": ["Answer: 2"] * 9, "debater-3": ["Answer: 3"] * 9},
                         default="Answer: 7", delays={"generator": 0.005})


@pytest.mark.anyio
async def test_each_condition_stops_on_its_own_budget(tmp_path: Path) -> None:
    experiment = load_experiment(experiment_file(tmp_path))
    out = tmp_path / "out"
    await run_experiment(experiment, out, base=tmp_path, pool=ScriptedPool(model()))
    records = {r.id: r for r in read_records(out / "results.jsonl")}
    for item in ("q0", "q1"):
        free = records[EvalRecord.key("free", item, 0)]
        assert (free.stop, len(free.rounds)) == ("no_scores", 3)  # no critic: the last round
        for name in ("tokens", "seconds", "debate"):
            record = records[EvalRecord.key(name, item, 0)]
            assert (record.stop, len(record.rounds)) == ("budget", 1), name
    debate = records[EvalRecord.key("debate", "q0", 0)]
    assert debate.transcript is not None
    outcome = read_transcript(out / debate.transcript).envelopes[-1].payload
    assert isinstance(outcome, DebateOutcome) and outcome.stop == "budget"


@pytest.mark.anyio
async def test_a_cli_cap_applies_to_every_condition_and_keeps_lower_ones(tmp_path: Path) -> None:
    loaded = load_experiment(experiment_file(tmp_path, tokens=10**9))
    capped = loaded.within(max_total_tokens=1)
    assert {n: c.max_total_tokens for n, c in capped.conditions.items()} == {
        "free": 1, "tokens": 1, "seconds": 1, "debate": 1}
    assert capped.conditions["seconds"].max_seconds == 0.001  # untouched: no time cap given
    lower = load_experiment(experiment_file(tmp_path, tokens=5)).within(max_total_tokens=50)
    assert lower.conditions["tokens"].max_total_tokens == 5
    assert lower.conditions["free"].max_total_tokens == 50
    # A condition's other settings keep whether the file set them (debate temperature).
    assert capped.conditions["debate"].model_fields_set == (
        loaded.conditions["debate"].model_fields_set | {"max_total_tokens", "max_seconds"})
    out = tmp_path / "out"
    await run_experiment(capped, out, base=tmp_path, pool=ScriptedPool(model()))
    stops = {(r.condition, r.stop, len(r.rounds)) for r in read_records(out / "results.jsonl")}
    assert stops == {(n, "budget", 1) for n in ("free", "tokens", "seconds", "debate")}


def test_a_budget_in_rules_too_is_refused(tmp_path: Path) -> None:
    (tmp_path / "e.toml").write_text('name="x"\ndataset="arithmetic"\nbaseline="a"\n'
                                     "[conditions.a]\nmax_total_tokens=5\nrules={max_tokens=3}\n")
    with pytest.raises(ConfigError, match=r"conditions\.a: rules\.max_tokens: set the condition's"):
        load_experiment(tmp_path / "e.toml")


def critic(*args: str, cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CRITIC_")}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "critic.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env={**base, **(env or {})})


def test_cli_budget_flags_cap_a_real_http_run(tmp_path: Path) -> None:
    number_items(tmp_path / "numbers.jsonl", 2)
    (tmp_path / "experiment.toml").write_text(
        'name="cli"\ndataset="numbers.jsonl"\nbaseline="free"\n[conditions.free]\nrounds=3\n')
    with StubServer.running(latency=0.0) as stub:
        (tmp_path / "critic.toml").write_text(
            f'[models.stub]\nbase_url = "{stub.url}"\nmodel = "stub-model"\n')
        result = critic("eval", "experiment.toml", "-o", "out", "--model", "stub",
                        "--max-total-tokens", "1", "--no-log", cwd=tmp_path)
        sent = stub.requests()
    assert result.returncode == 0, result.stderr
    records = read_records(tmp_path / "out" / "results.jsonl")
    assert [(r.stop, len(r.rounds)) for r in records] == [("budget", 1), ("budget", 1)]
    assert len(sent) == 2 and {r["model"] for r in sent} == {"stub-model"}
    bad = critic("eval", "experiment.toml", "-o", "out2", "--max-seconds", "0", cwd=tmp_path,
                 timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--max-seconds" in bad.stderr
