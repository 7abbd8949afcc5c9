"""How the generator revises: strategies, the sampling schedule, and what a transcript shows."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from critic import LLMGenerator, RunConfig, Session, Task, ThresholdJudge, read_transcript, run_critique
from critic.backends.base import GenerationParams
from critic.backends.llama_cpp import LlamaCppModel
from critic.bus.memory import MemoryBus
from critic.critics.generator import REVISION_TEMPERATURE, RevisionPolicy
from critic.messages import Critique, Draft, Envelope, ModelCall, ReviewRequest, Revision
from critic.protocols import Recorder
from critic.testing import ScriptedModel

pytestmark = pytest.mark.anyio

TASK = Task(prompt="Write a Python function add(a, b) that returns the sum of a and b.")


class AlwaysLow:
    """A critic that always finds the same problem (the generator is what is under test)."""

    name = "low"
    weight = 1.0
    timeout = 30.0

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        return Critique(role=self.name, round=request.draft.round, score=0.0,
                        problems=("add(2, 3) returned None, expected 5",),
                        suggestion="return the sum instead of printing it")


def run_session(generator: LLMGenerator, rounds: int) -> Session:
    return Session(TASK, generator, ThresholdJudge(accept_at=0.9, max_rounds=rounds),
                   [AlwaysLow()], bus=MemoryBus(serialize=True))


async def drafts_of(session: Session) -> list[Draft]:
    drafts: list[Draft] = []

    def observe(envelope: Envelope) -> None:
        if isinstance(envelope.payload, Draft):
            drafts.append(envelope.payload)

    session.observer = observe
    await session.run()
    return drafts


async def test_fresh_revision_is_a_new_context_with_the_draft_quoted() -> None:
    model = ScriptedModel(scripts={"generator": ["DRAFT-ONE", "DRAFT-TWO", "DRAFT-THREE"]})
    generator = LLMGenerator(model.backend("generator"),
                             params=GenerationParams(max_tokens=64, seed=10))
    drafts = await drafts_of(run_session(generator, 3))
    calls = model.calls_of("generator")
    assert len(calls) == 3
    for n, call in enumerate(calls[1:], start=2):
        assert [m.role for m in call.messages] == ["system", "user"]
        prompt = call.messages[-1].content
        assert TASK.prompt in prompt and "returned None, expected 5" in prompt
        # Only the draft being revised is quoted, never the older ones.
        previous = drafts[n - 2].text
        assert previous in prompt
        assert all(d.text not in prompt for d in drafts if d.text != previous)
        assert call.params.fresh_context
        assert call.params.temperature == REVISION_TEMPERATURE
        assert call.params.seed == 10 + n - 1
    first = calls[0].params
    assert first.fresh_context and first.temperature == 0.0 and first.seed == 10
    assert drafts[0].revision is None
    assert drafts[1].revision == Revision(strategy="fresh", temperature=0.7, seed=11)
    assert drafts[2].revision == Revision(strategy="fresh", temperature=0.7, seed=12)


async def test_continue_revision_grows_one_conversation_and_keeps_its_cache() -> None:
    model = ScriptedModel(scripts={"generator": ["DRAFT-ONE", "DRAFT-TWO"]})
    generator = LLMGenerator(model.backend("generator"),
                             params=GenerationParams(max_tokens=64, seed=0, temperature=0.9),
                             revision=RevisionPolicy(strategy="continue"))
    drafts = await drafts_of(run_session(generator, 2))
    second = model.calls_of("generator")[1]
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user"]
    assert second.messages[2].content == "DRAFT-ONE"
    assert "returned None" in second.messages[-1].content
    assert not second.params.fresh_context
    # The floor applies only from below: a hotter generator keeps its temperature.
    assert second.params.temperature == 0.9 and second.params.seed == 1
    assert drafts[1].revision == Revision(strategy="continue", temperature=0.9, seed=1)


def test_a_pinned_temperature_is_used_as_given() -> None:
    params = GenerationParams(temperature=0.0, seed=None)
    pinned = RevisionPolicy(temperature=0.0).sampling(params, 3)
    assert pinned.temperature == 0.0 and pinned.seed is None and pinned.fresh_context
    floor = RevisionPolicy().sampling(params, 2)
    assert floor.temperature == REVISION_TEMPERATURE


def test_the_revision_is_recorded_in_the_transcript_form() -> None:
    draft = Draft(round=2, text="x", revision=Revision(strategy="fresh", temperature=0.7, seed=1))
    data = json.loads(draft.model_dump_json())
    assert data["revision"] == {"strategy": "fresh", "temperature": 0.7, "seed": 1}
    # Transcripts written before revisions were recorded still read.
    assert Draft.model_validate({"kind": "draft", "round": 1, "text": "x"}).revision is None


async def test_every_revision_differs_on_the_real_model(model_path: Path) -> None:
    """Issue 13 (4): under the default strategy a revision is never its predecessor again."""
    model = LlamaCppModel(model_path, n_ctx=2048)
    generator = LLMGenerator(model.backend("generator"),
                             params=GenerationParams(max_tokens=48, seed=0))
    session = run_session(generator, 3)
    drafts = await drafts_of(session)
    assert [d.round for d in drafts] == [1, 2, 3]
    assert all(d.error is None and d.text for d in drafts)
    for before, after in itertools.pairwise(drafts):
        assert after.text != before.text, f"round {after.round} repeated round {before.round}"
        assert after.revision is not None and after.revision.strategy == "fresh"


async def test_no_blind_revision_on_the_real_model(tmp_path: Path, model_path: Path) -> None:
    """Issue 13 (3): a task with no tests stops after one draft instead of revising blindly."""
    transcript = tmp_path / "t.jsonl"
    config = RunConfig(task="Write a haiku about the sea.", roles=("doctests",), max_rounds=3,
                       max_tokens=32, model=str(model_path))
    outcome = await run_critique(config, transcript=transcript)
    assert (outcome.decision, outcome.stop, outcome.rounds) == ("discard", "no_scores", 1)
    assert "not revising without feedback" in outcome.reason
    t = read_transcript(transcript)
    critiques = [p for p in t.payloads("critique") if isinstance(p, Critique)]
    assert len(critiques) == 1 and critiques[0].status == "error"
    assert "no tests" in (critiques[0].error or "")
    calls = [p for p in t.payloads("model_call") if isinstance(p, ModelCall)]
    assert [c.agent for c in calls] == ["generator"]  # one draft, no revision
    assert isinstance(t.header.config, RunConfig) and t.header.config.revision == "fresh"
    assert t.header.judge is not None and t.header.judge.rules is not None
    assert t.header.judge.rules.revise_unscored is False
