"""Bias probes on scripted judges whose biases are known, and the pairwise controls."""

from __future__ import annotations

import json

import pytest

from critic.calibration.probes import (
    LabelledOutput,
    PairItem,
    identity_probe,
    length_probe,
    position_probe,
    run_probes,
    self_preference_probe,
)
from critic.judges.pairwise import BothOrders, LLMPairwiseJudge
from critic.judges.pointwise import LLMAnswerScorer
from critic.messages import ModelCall
from critic.protocols import Preference, Recorder
from critic.roles.registry import RoleRegistry
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

ROLES = RoleRegistry(include_plugins=False, env_path="")


def _pairs(n: int = 24) -> list[PairItem]:
    """Pairs where the right answer contains "correct"; its slot and length vary."""
    pairs = []
    for i in range(n):
        right = f"correct {i}" + " detail" * (i % 5)
        wrong = f"wrong {i}" + " filler" * ((i * 3) % 7)
        pairs.append(PairItem(question=f"q{i}", a=right, b=wrong, better="a") if i % 2 else
                     PairItem(question=f"q{i}", a=wrong, b=right, better="b"))
    return pairs


def _outputs(n: int = 24) -> list[LabelledOutput]:
    return [LabelledOutput(question=f"q{i // 3}", answer=f"answer {i}" + " more" * (i % 6),
                           label=("famous-model", "debater-2", "debater-3")[i % 3],
                           model=("m1", "m2", "m3")[i % 3]) for i in range(n)]


class FirstSlot:
    """Always prefers whatever it is shown first."""

    async def prefer(self, question: str, a: str, b: str, record: Recorder) -> Preference:
        return "a"


class ByContent:
    """Prefers the answer that says "correct", wherever it is and however long."""

    async def prefer(self, question: str, a: str, b: str, record: Recorder) -> Preference:
        return "a" if "correct" in a else "b" if "correct" in b else "tie"


class ByLength:
    """Scores longer answers higher, whatever they say."""

    async def score(self, question: str, answer: str, label: str, record: Recorder) -> float:
        return min(1.0, len(answer) / 1000)


class ByWords:
    """Scores by a fact about the content only: invariant to padding, labels and authors."""

    async def score(self, question: str, answer: str, label: str, record: Recorder) -> float:
        return int(answer.split()[1]) % 5 / 4


class LikesFame:
    """Adds 0.3 when the answer is shown as the famous model's."""

    async def score(self, question: str, answer: str, label: str, record: Recorder) -> float:
        return 0.5 + (0.3 if label == "famous-model" else 0.0)


class LikesOwnStyle:
    """Scores answers in model m1's style (index divisible by 3) higher."""

    async def score(self, question: str, answer: str, label: str, record: Recorder) -> float:
        return 0.9 if int(answer.split()[1]) % 3 == 0 else 0.4


async def test_a_judge_that_always_prefers_the_first_answer_is_flagged_by_position() -> None:
    result = await position_probe(FirstSlot(), _pairs())
    assert result.effect == 1.0 and result.flagged and result.n == 24
    assert result.ci[0] > 0.8  # Wilson lower bound for 24 of 24
    # Every pair is inconsistent, so every pair is a tie: half a point each.
    assert result.accuracy == 0.5


async def test_a_judge_that_prefers_longer_answers_is_flagged_by_length() -> None:
    result = await length_probe(ByLength(), _outputs())
    assert result.flagged and result.ci[0] > 0 and result.effect > 0.1


async def test_an_order_and_length_invariant_judge_is_flagged_by_neither() -> None:
    position = await position_probe(ByContent(), _pairs())
    assert position.effect == 0.0 and not position.flagged and position.ci[0] == 0.0
    assert position.accuracy == 1.0
    length = await length_probe(ByWords(), _outputs())
    assert length.effect == 0.0 and not length.flagged
    assert length.ci[0] <= 0.0 <= length.ci[1]
    identity = await identity_probe(ByWords(), _outputs())
    assert not identity.flagged and identity.ci[0] <= 0.0 <= identity.ci[1]


async def test_identity_probe_flags_a_judge_swayed_by_names() -> None:
    result = await identity_probe(LikesFame(), _outputs())
    # A third of the answers carry the famous name: the mean shift is 0.3 / 3.
    assert result.flagged and result.effect == pytest.approx(0.1) and result.ci[0] > 0
    assert not (await identity_probe(ByWords(), _outputs())).flagged


async def test_self_preference_compares_own_outputs_with_the_others() -> None:
    outputs = _outputs()
    result = await self_preference_probe(LikesOwnStyle(), outputs, "m1")
    assert result is not None and result.flagged and result.effect == pytest.approx(0.5)
    assert result.n == 8  # questions with outputs of m1 and of another model
    fair = await self_preference_probe(ByWords(), outputs, "m1")
    assert fair is not None
    assert not fair.flagged and fair.ci[0] <= 0.0 <= fair.ci[1]
    assert await self_preference_probe(LikesOwnStyle(), outputs, "not-a-generator") is None


async def test_run_probes_reports_every_probe_as_effect_ci_flagged_in_json() -> None:
    report = await run_probes(judge=FirstSlot(), scorer=ByLength(), pairs=_pairs(),
                              outputs=_outputs(), judge_model="m1", seed=3)
    data = json.loads(report.model_dump_json())
    assert set(data["probes"]) == {"position", "length", "identity", "self_preference"}
    for probe in data["probes"].values():
        assert set(probe) >= {"effect", "ci", "flagged"} and len(probe["ci"]) == 2
    assert data["probes"]["position"]["flagged"] is True
    assert data["judge_is_generator"] is True
    again = await run_probes(judge=FirstSlot(), scorer=ByLength(), pairs=_pairs(),
                             outputs=_outputs(), judge_model="m1", seed=3)
    assert again == report  # seeded: the same report, interval for interval
    empty = await run_probes(judge=FirstSlot())
    assert empty.probes == {} and empty.judge_is_generator is None


async def test_both_orders_turns_a_position_dependent_choice_into_a_tie() -> None:
    biased = BothOrders(FirstSlot())
    assert await biased.prefer("q", "x", "y", _ignore) == "tie"
    assert (biased.asked, biased.disagreed) == (1, 1)
    fair = BothOrders(ByContent())
    assert await fair.prefer("q", "wrong", "correct", _ignore) == "b"
    assert (fair.asked, fair.disagreed) == (1, 0)
    # Wrapped, a first-slot judge no longer flips: every pair is a consistent tie.
    assert (await position_probe(BothOrders(FirstSlot()), _pairs())).effect == 0.0


async def test_llm_pairwise_judge_is_blind_and_maps_a_shuffled_choice_back() -> None:
    said = json.dumps({"reason": "first is better", "preferred": "Answer 1"})
    model = ScriptedModel(default=said)
    judge = LLMPairwiseJudge(ROLES.get("llm-judge"), model.backend("pairwise"), seed=1)
    choices = []
    for i in range(12):
        a, b = f"alpha {i}", f"beta {i}"
        choice = await judge.prefer(f"q{i}", a, b, _ignore)
        prompt = model.calls[-1].messages[-1].content
        first = prompt.split("Answer 1:\n")[1].split("\n")[0]
        # The judge said "Answer 1": the answer it was shown first, whichever that was.
        assert choice == ("a" if first == a else "b")
        assert (first == b) == judge.swapped(f"q{i}", a, b)
        choices.append(choice)
    assert set(choices) == {"a", "b"}  # the seeded shuffle did put either answer first
    # Without the shuffle the same model is a pure first-slot judge, and the probe says so.
    fixed = LLMPairwiseJudge(ROLES.get("llm-judge"), model.backend("pairwise"), shuffle=False)
    result = await position_probe(fixed, _pairs(8))
    assert result.effect == 1.0 and result.flagged


async def _ignore(call: ModelCall) -> None:
    return None


async def test_llm_answer_scorer_shows_the_label_and_scales_the_grade() -> None:
    model = ScriptedModel(default=json.dumps({"reason": "fine", "grade": 3}))
    scorer = LLMAnswerScorer(ROLES.get("llm-judge"), model.backend("scorer"))
    assert await scorer.score("2+2?", "4", "famous-model", _ignore) == 0.75
    prompt = model.calls[-1].messages[-1].content
    assert "famous-model:\n4" in prompt and "2+2?" in prompt
    # Through the probes: a constant grader moves with nothing, so nothing is flagged.
    report = await run_probes(scorer=scorer, outputs=_outputs(6), judge_model="m1")
    assert not any(p.flagged for p in report.probes.values())
    assert {p.effect for p in report.probes.values()} == {0.0}
