"""``critic eval`` on scripted models whose truth is known (no real model)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from critic.backends.cache import CachedModel, ResponseCache
from critic.backends.scripted import ScriptedModel
from critic.errors import ConfigError, TranscriptError
from critic.experiments.conditions import load_experiment
from critic.experiments.drift import count_transitions
from critic.experiments.records import EvalRecord, RoundRecord, read_records
from critic.experiments.runner import WITHHELD, run_experiment
from critic.experiments.summary import drift
from critic.messages import ChatMessage
from critic.viewer.reports import ExperimentSummary
from tests.experiments.scripted_eval import (
    HIDDEN,
    ScriptedPool,
    code_items,
    drifting_generator,
    eval_parts,
    number_items,
    repairing_generator,
    scripted,
)

pytestmark = pytest.mark.anyio

BUGGY = {0, 2, 3, 5, 7, 8, 11, 13}  # 8 of 16 first drafts fail the hidden tests

REPAIR = """
name = "repair"
dataset = "items.jsonl"
seeds = [0]
baseline = "single"

[conditions.single]
rounds = 1

[conditions.tests-only]
rounds = 3
roles = ["doctests"]
feedback = "none"

[conditions.grounded]
rounds = 3
roles = ["doctests", "noop"]
"""


def _experiment(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


@pytest.mark.timeout(600)  # ~200 sandbox runs: 20 s on an idle machine
async def test_grounded_beats_tests_only_with_exact_counts_and_no_oracle_leak(
        tmp_path: Path) -> None:
    code_items(tmp_path / "items.jsonl", 16, buggy=BUGGY)
    model = scripted(repairing_generator)
    registry, kinds = eval_parts(tmp_path)
    experiment = load_experiment(_experiment(tmp_path, REPAIR))
    summary = await run_experiment(experiment, tmp_path / "out", base=tmp_path,
                                   pool=ScriptedPool(model), registry=registry, kinds=kinds,
                                   ablate=True, concurrency=4)
    ExperimentSummary.model_validate(summary)  # the keys the viewer reads
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written == summary
    conditions = summary["conditions"]
    assert isinstance(conditions, dict)
    assert conditions["single"]["pass_rate"] == 0.5
    assert conditions["tests-only"]["pass_rate"] == 0.5
    assert conditions["grounded"]["pass_rate"] == 1.0
    comparisons = {c["condition"]: c for c in summary["comparisons"]}  # type: ignore[attr-defined]
    grounded, blind = comparisons["grounded"], comparisons["tests-only"]
    assert (grounded["fixed"], grounded["broken"], grounded["diff"]) == (8, 0, 0.5)
    assert grounded["ci"][0] > 0  # the interval excludes 0
    assert grounded["p_value"] == pytest.approx(2 / 2**8)
    assert (blind["fixed"], blind["broken"], blind["diff"]) == (0, 0, 0.0)
    # Leave-one-critic-out: the doctests critic carries the effect, noop none.
    ablations = {(a["condition"], a["critic"]): a
                 for a in summary["ablations"]}  # type: ignore[attr-defined]
    doctests, noop = ablations["grounded", "doctests"], ablations["grounded", "noop"]
    assert doctests["fixed"] == 8 and doctests["broken"] == 0 and doctests["ci"][0] > 0
    assert noop["diff"] == 0.0
    assert noop["ci"][0] <= 0.0 <= noop["ci"][1]
    # Without doctests, tests-only is left with no critic: the same as resampling blind.
    assert ablations["tests-only", "doctests"]["diff"] == 0.0
    # Every round's draft is judged by the oracle: grounded fixes in round 2.
    records = {r.id: r for r in read_records(tmp_path / "out" / "results.jsonl")}
    fixed = records[EvalRecord.key("grounded", "item-0", 0)]
    assert [r.passed for r in fixed.rounds] == [False, True]
    assert fixed.rounds[0].scores["doctests"] == 0.0
    withheld = records[EvalRecord.key("tests-only", "item-0", 0)]
    assert [r.passed for r in withheld.rounds] == [False, False, False]
    assert len(records) == 16 * 6  # 3 conditions + 3 ablations, one line per unit
    # The oracle never reached a model; the withheld condition never saw test text.
    assert model.calls
    for call in model.calls:
        for message in call.messages:
            assert HIDDEN not in message.content
            assert "== -" not in message.content and "(2) ==" not in message.content
    # Revisions: a growing conversation (continue) or a fresh one quoting the draft (fresh).
    revisions = [c.messages[-1].content for c in model.calls
                 if len(c.messages) > 2 or "What the reviewers found:" in c.messages[-1].content]
    assert any(WITHHELD in text for text in revisions)
    assert any("failing:" in text for text in revisions)
    assert all("failing:" not in text for text in revisions if WITHHELD in text)


async def test_targets_never_reach_a_model(tmp_path: Path) -> None:
    number_items(tmp_path / "numbers.jsonl", 5)
    model = scripted(lambda messages: "Answer: 7")
    experiment = load_experiment(_experiment(tmp_path, """
name = "t"
dataset = "numbers.jsonl"
baseline = "single"
[conditions.single]
rounds = 2
"""))
    summary = await run_experiment(experiment, tmp_path / "out", base=tmp_path,
                                   pool=ScriptedPool(model), transcripts=False)
    assert summary["conditions"]["single"]["pass_rate"] == 0.0  # type: ignore[index]
    for call in model.calls:
        for message in call.messages:
            for k in range(5):
                assert str(k + 1000) not in message.content


@pytest.mark.slow
@pytest.mark.timeout(900)  # 8,000 scripted sessions: 26 s on an idle machine
async def test_drift_rate_recovered_from_a_known_generator(tmp_path: Path) -> None:
    number_items(tmp_path / "numbers.jsonl", 2000)
    experiment = load_experiment(_experiment(tmp_path, """
name = "drift"
dataset = "numbers.jsonl"
baseline = "blind"
[conditions.blind]
rounds = 4
feedback = "none"
select = "last"
# The scripted chain reads its earlier answers from one growing conversation.
generator = { revision = { strategy = "continue" } }
"""))
    summary = await run_experiment(experiment, tmp_path / "out", base=tmp_path,
                                   pool=ScriptedPool(scripted(drifting_generator(0.1))),
                                   transcripts=False, concurrency=8)
    decay = summary["decay"]["blind"]  # type: ignore[index]
    assert abs(decay["e"] - 0.1) <= 0.03
    assert decay["ci"][0] <= 0.1 <= decay["ci"][1]
    assert decay["recovery"] == 0.0
    assert decay["fit"]["p_value"] > 0.001  # one constant e fits
    transitions = summary["transitions"]["blind"]  # type: ignore[index]
    assert [r["round"] for r in transitions["good_to_bad"]["per_round"]] == [2, 3, 4]
    # (1-e)^3 of the first drafts are still good at the end.
    assert abs(summary["conditions"]["blind"]["pass_rate"] - 0.9**3) < 0.03  # type: ignore[index]


def test_drift_interval_covers_the_true_rate_near_95_percent() -> None:
    """Coverage of the summary's ``e`` interval over 200 seeds of a known chain."""
    import random

    covered = 0
    for seed in range(200):
        rng = random.Random(seed)
        records = []
        for k in range(200):
            path = [True]
            for _ in range(3):
                path.append(path[-1] and rng.random() >= 0.1)
            records.append(EvalRecord(
                id=str(k), condition="c", item=str(k), seed=0, final_round=4,
                passed=path[-1], stop="max_rounds", tokens=0, seconds=0.0,
                rounds=tuple(RoundRecord(round=i + 1, draft="", passed=p)
                             for i, p in enumerate(path))))
        found = drift(records)
        assert found is not None and found[1] is not None
        low, high = found[1]["ci"]
        covered += low <= 0.1 <= high
        assert count_transitions([[r.passed for r in x.rounds] for x in records])
    assert 0.90 <= covered / 200 <= 0.99


def test_repairs_are_reported_when_no_draft_was_ever_good_to_drift_from() -> None:
    """A condition that stops at its first passing draft never has a good draft with a next
    round, so no drift rate can be fitted; how often a failing draft was repaired still counts."""
    paths = [[False, True], [False, False, False], [False, False, True], [False]]
    records = [EvalRecord(
        id=str(k), condition="grounded", item=str(k), seed=0, final_round=len(path),
        passed=path[-1], stop="accepted" if path[-1] else "max_rounds", tokens=0, seconds=0.0,
        rounds=tuple(RoundRecord(round=i + 1, draft="", passed=p) for i, p in enumerate(path)))
        for k, path in enumerate(paths)]
    found = drift(records)
    assert found is not None
    transitions, decay = found
    assert decay is None
    repaired = transitions["bad_to_good"]
    assert (repaired["rate"], repaired["n"]) == (2 / 5, 5)  # 2 repairs of 5 failing drafts
    low, high = repaired["ci"]
    assert low < 0.4 < high
    assert [(r["round"], r["n"], r["rate"]) for r in repaired["per_round"]] == [
        (2, 3, 1 / 3), (3, 2, 1 / 2)]
    assert transitions["good_to_bad"]["rate"] is None and transitions["good_to_bad"]["n"] == 0
    assert drift(records[-1:]) is None  # one round only: no transition at all


async def test_resume_runs_each_unit_exactly_once(tmp_path: Path) -> None:
    number_items(tmp_path / "numbers.jsonl", 6)
    text = """
name = "r"
dataset = "numbers.jsonl"
seeds = [0, 1]
baseline = "single"
[conditions.single]
rounds = 1
"""
    experiment = load_experiment(_experiment(tmp_path, text))
    out = tmp_path / "out"
    model = scripted(lambda m: "Answer: 1000")
    await run_experiment(experiment, out, base=tmp_path, pool=ScriptedPool(model), limit=3,
                         transcripts=False)
    assert len(model.calls) == 6
    # A torn last line (a killed run) is cut off, then the rest is run once.
    with (out / "results.jsonl").open("a") as fh:
        fh.write('{"format": 1, "id": "single|q5')
    with pytest.raises(TranscriptError, match="--resume"):
        await run_experiment(experiment, out, base=tmp_path, pool=ScriptedPool(model))
    summary = await run_experiment(experiment, out, base=tmp_path, pool=ScriptedPool(model),
                                   resume=True, transcripts=False)
    assert len(model.calls) == 12
    ids = [r.id for r in read_records(out / "results.jsonl")]
    assert len(ids) == len(set(ids)) == 12
    assert summary["conditions"]["single"]["n"] == 12  # type: ignore[index]


async def test_cache_rerun_makes_no_call_and_a_swapped_critic_reuses_the_rest(
        tmp_path: Path) -> None:
    code_items(tmp_path / "items.jsonl", 6, buggy={1, 4})
    registry, kinds = eval_parts(tmp_path)
    inner = scripted(repairing_generator)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        def pool() -> ScriptedPool:
            return ScriptedPool(CachedModel(inner, cache))

        first = load_experiment(_experiment(tmp_path, """
name = "c"
dataset = "items.jsonl"
baseline = "grounded"
[conditions.grounded]
rounds = 3
roles = ["doctests"]
"""))
        await run_experiment(first, tmp_path / "a", base=tmp_path, pool=pool(),
                             registry=registry, kinds=kinds)
        assert len(inner.calls) == 6 + 2  # six first drafts, two revisions
        await run_experiment(first, tmp_path / "b", base=tmp_path, pool=pool(),
                             registry=registry, kinds=kinds)
        assert len(inner.calls) == 8  # unchanged: zero model calls
        swapped = load_experiment(_experiment(tmp_path, """
name = "c"
dataset = "items.jsonl"
baseline = "grounded"
[conditions.grounded]
rounds = 3
roles = ["doctests", "noop"]
"""))
        summary = await run_experiment(swapped, tmp_path / "c", base=tmp_path, pool=pool(),
                                       registry=registry, kinds=kinds)
        # First drafts are unchanged (cached); only the two revisions, whose feedback now
        # names the noop critic too, are new calls.
        assert len(inner.calls) == 8 + 2
        assert summary["conditions"]["grounded"]["pass_rate"] == 1.0  # type: ignore[index]
    finally:
        cache.close()


@pytest.mark.parametrize(("text", "message"), [
    ('name="x"\ndataset="d.jsonl"\nbaseline="a"\n[conditions.a]\nrounds=1\ncolour=2\n',
     r"experiment.toml: conditions.a.colour: unknown key"),
    ('name="x"\ndataset="d.jsonl"\nbaseline="b"\n[conditions.a]\nrounds=1\n',
     r"experiment.toml: baseline: 'b' is not a condition"),
    ('name="x"\ndataset="d.jsonl"\nbaseline="a"\n[conditions.a]\nrounds=2\n'
     '[conditions.a.rules]\nmax_seconds=-1\n', r"conditions.a: rules.max_seconds"),
    ('name="x"\ndataset="d.jsonl"\nbaseline="a"\n[conditions.a]\nmode="vote"\nrounds=2\n',
     r"conditions.a: rounds: a vote has one round"),
])
def test_bad_experiment_files_name_file_and_field(tmp_path: Path, text: str,
                                                  message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_experiment(_experiment(tmp_path, text))


async def test_bad_dataset_line_names_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"id": "a", "input": "q", "target": "1"}\n'
                                      '{"id": "b", "input": "q"}\n')
    experiment = load_experiment(_experiment(
        tmp_path, 'name="x"\ndataset="d.jsonl"\nbaseline="a"\n[conditions.a]\nrounds=1\n'))
    with pytest.raises(ConfigError, match=r"d.jsonl:2: item: needs exactly one of"):
        await run_experiment(experiment, tmp_path / "out", base=tmp_path,
                             pool=ScriptedPool(scripted("x")))
    assert not (tmp_path / "out" / "results.jsonl").exists()


async def test_vote_and_debate_against_a_single_answer(tmp_path: Path) -> None:
    """One wrong debater out of three: the majority is right, a single generator wrong."""
    number_items(tmp_path / "numbers.jsonl", 4)

    def right(messages: Sequence[ChatMessage]) -> str:
        question = next(m.content for m in messages if m.role == "user")
        return f"Answer: {int(question.split()[2]) + 1000}"

    model = ScriptedModel(scripts={"debater-2": [right] * 50, "debater-3": [right] * 50},
                          default="Answer: 3")
    experiment = load_experiment(_experiment(tmp_path, """
name = "v"
dataset = "numbers.jsonl"
baseline = "single"
[conditions.single]
rounds = 1
[conditions.vote]
mode = "vote"
debaters = 3
[conditions.debate]
mode = "debate"
debaters = 3
rounds = 2
"""))
    summary = await run_experiment(experiment, tmp_path / "out", base=tmp_path,
                                   pool=ScriptedPool(model))
    ExperimentSummary.model_validate(summary)
    rates = {n: c["pass_rate"] for n, c in summary["conditions"].items()}  # type: ignore[attr-defined]
    assert rates == {"single": 0.0, "vote": 1.0, "debate": 1.0}
    comparisons = {c["condition"]: c for c in summary["comparisons"]}  # type: ignore[attr-defined]
    assert (comparisons["vote"]["fixed"], comparisons["vote"]["broken"]) == (4, 0)
    records = {r.id: r for r in read_records(tmp_path / "out" / "results.jsonl")}
    debate = records[EvalRecord.key("debate", "q1", 0)]
    assert [(r.draft, r.passed) for r in debate.rounds] == [("1001", True), ("1001", True)]
    assert summary["decay"]["debate"]["e"] == 0.0  # type: ignore[index]
    # The target reaches no debater's prompt (round 2 shows the debaters' own answers).
    for call in model.calls:
        assert all("1001" not in m.content for m in call.messages[:2])
