"""``--ablate`` on votes and debates: leave-one-member-out finds the member that did it.

Scripted members whose truth is known (no real model): which member carries a
vote or a debate is decided by construction, and the ablation must say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from critic.backends.scripted import ScriptedModel
from critic.errors import ConfigError
from critic.experiments.conditions import load_experiment
from critic.experiments.records import read_records
from critic.experiments.runner import run_experiment
from critic.messages import ChatMessage
from tests.experiments.scripted_eval import ScriptedPool, number_items

pytestmark = pytest.mark.anyio

ITEMS = 12


def _question(messages: Sequence[ChatMessage]) -> int:
    question = next(m.content for m in messages if m.role == "user")
    found = re.search(r"What is (\d+)", question)
    assert found is not None
    return int(found.group(1))


def right(messages: Sequence[ChatMessage]) -> str:
    return f"Answer: {_question(messages) + 1000}"


def follower(wrong: int):  # type: ignore[no-untyped-def]
    """Wrong (``wrong``) in round 1; from round 2 on, right only if debater-1 was shown
    giving the right answer (it follows debater-1 and nobody else)."""

    def reply(messages: Sequence[ChatMessage]) -> str:
        if len(messages) > 2 and f"debater-1:\n{right(messages)}" in messages[-1].content:
            return right(messages)
        return f"Answer: {wrong}"

    return reply


def _ablations(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["condition"], a["member"]): a for a in summary["ablations"]}


async def test_a_vote_ablation_finds_the_voters_that_carry_the_majority(tmp_path: Path) -> None:
    """Voters 1 and 2 always right, voter 3 always wrong: without 1 or without 2 no answer has
    a majority (every item lost); without 3 nothing changes."""
    number_items(tmp_path / "numbers.jsonl", ITEMS)
    model = ScriptedModel(scripts={"debater-1": [right] * 100, "debater-2": [right] * 100},
                          default="Answer: 3")
    (tmp_path / "e.toml").write_text(
        'name = "v"\ndataset = "numbers.jsonl"\nbaseline = "vote"\n'
        '[conditions.vote]\nmode = "vote"\ndebaters = 3\n')
    summary = await run_experiment(load_experiment(tmp_path / "e.toml"), tmp_path / "out",
                                   base=tmp_path, pool=ScriptedPool(model), ablate=True,
                                   transcripts=False)
    rates = {n: c["pass_rate"] for n, c in summary["conditions"].items()}  # type: ignore[attr-defined]
    assert rates == {"vote": 1.0, "vote-without-debater-1": 0.0,
                     "vote-without-debater-2": 0.0, "vote-without-debater-3": 1.0}
    ablations = _ablations(summary)
    assert set(ablations) == {("vote", f"debater-{i}") for i in (1, 2, 3)}
    for member in ("debater-1", "debater-2"):
        carried = ablations["vote", member]
        assert carried["kind"] == "voter"
        assert (carried["diff"], carried["fixed"], carried["broken"]) == (1.0, ITEMS, 0)
        assert carried["ci"][0] > 0
        assert carried["p_value"] == pytest.approx(2 / 2**ITEMS)
    idle = ablations["vote", "debater-3"]
    assert (idle["diff"], idle["fixed"], idle["broken"]) == (0.0, 0, 0)
    assert idle["ci"][0] <= 0.0 <= idle["ci"][1]
    assert idle["p_value"] == 1.0
    # The voters left keep their names and seeds: the ablated vote asked exactly them.
    asked = {(c.agent, c.params.seed) for c in model.calls}
    assert asked == {("debater-1", 0), ("debater-2", 1), ("debater-3", 2)}
    assert len(read_records(tmp_path / "out" / "results.jsonl")) == 4 * ITEMS


async def test_a_debate_ablation_finds_the_debater_the_others_follow(tmp_path: Path) -> None:
    """Debater 1 is right; 2 and 3 start wrong and come round only when they see debater 1's
    answer. Leaving out debater 1 loses every item; leaving out 2 or 3 loses none."""
    number_items(tmp_path / "numbers.jsonl", ITEMS)
    model = ScriptedModel(scripts={"debater-1": [right] * 200,
                                   "debater-2": [follower(2)] * 200,
                                   "debater-3": [follower(3)] * 200})
    (tmp_path / "e.toml").write_text(
        'name = "d"\ndataset = "numbers.jsonl"\nbaseline = "debate"\n'
        '[conditions.debate]\nmode = "debate"\ndebaters = 3\nrounds = 2\n')
    summary = await run_experiment(load_experiment(tmp_path / "e.toml"), tmp_path / "out",
                                   base=tmp_path, pool=ScriptedPool(model), ablate=True,
                                   transcripts=False)
    rates = {n: c["pass_rate"] for n, c in summary["conditions"].items()}  # type: ignore[attr-defined]
    assert rates == {"debate": 1.0, "debate-without-debater-1": 0.0,
                     "debate-without-debater-2": 1.0, "debate-without-debater-3": 1.0}
    ablations = _ablations(summary)
    leader = ablations["debate", "debater-1"]
    assert leader["kind"] == "debater"
    assert (leader["diff"], leader["fixed"], leader["broken"]) == (1.0, ITEMS, 0)
    assert leader["ci"][0] > 0
    for member in ("debater-2", "debater-3"):
        follows = ablations["debate", member]
        assert (follows["diff"], follows["fixed"], follows["broken"]) == (0.0, 0, 0)
        assert follows["ci"][0] <= 0.0 <= follows["ci"][1]
    # The full debate really was won in round 2 (the followers came round), not in round 1.
    record = next(r for r in read_records(tmp_path / "out" / "results.jsonl")
                  if r.condition == "debate")
    assert [r.passed for r in record.rounds] == [False, True]


@pytest.mark.parametrize(("text", "message"), [
    ('mode = "vote"\ndebaters = 3\nleave_out = ["debater-4"]\n',
     r"conditions.a: leave_out: 'debater-4' is not a member"),
    ('mode = "vote"\ndebaters = 2\nleave_out = ["debater-1", "debater-2"]\n',
     r"conditions.a: leave_out: no member would be left"),
    ('rounds = 1\nleave_out = ["debater-1"]\n', r"leave_out: only a vote or a debate"),
])
def test_bad_leave_out_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "e.toml").write_text(
        f'name = "x"\ndataset = "d.jsonl"\nbaseline = "a"\n[conditions.a]\n{text}')
    with pytest.raises(ConfigError, match=message):
        load_experiment(tmp_path / "e.toml")
