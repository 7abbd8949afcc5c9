"""Scoring in-process: volume, concurrency, failures, resume and cancellation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import anyio
import pytest

from critic.backends.base import Completion, GenerationParams, JsonSchema
from critic.critics.critic import LLMCritic
from critic.errors import TranscriptError
from critic.judges.llm import LLMJudge
from critic.judges.rules import ThresholdJudge
from critic.messages import (
    ChatMessage,
    Critique,
    Draft,
    Envelope,
    JudgeRequest,
    Outcome,
    ReviewRequest,
    Task,
    Usage,
    Verdict,
)
from critic.protocols import Critic, Recorder
from critic.roles.registry import RoleRegistry
from critic.scoring.job import ScoreConfig, score_file
from critic.scoring.records import ScoreRecord
from critic.scoring.results import ResultFile, ResultVerdict, ScoreResult, read_results
from critic.scoring.scorer import Scorer, default_judge, score_all
from critic.testing import ScriptedModel
from critic.transcript import TranscriptHeader, TranscriptWriter
from tests.scoring.critics import LengthCritic, Turnstile, length_kinds, length_registry

pytestmark = pytest.mark.anyio


def write_records(path: Path, n: int, *, start: int = 0) -> Path:
    with path.open("w") as fh:
        for i in range(start, start + n):
            fh.write(json.dumps({"id": f"r{i}", "input": "say something", "output": "x" * (i % 15),
                                 "metadata": {"i": i}}) + "\n")
    return path


def config(tmp_path: Path, **values: object) -> ScoreConfig:
    base: dict[str, object] = {
        "input": tmp_path / "in.jsonl", "output": tmp_path / "out.jsonl", "roles": ("length",),
        # A model that cannot exist: any attempt to load one fails the test.
        "model": str(tmp_path / "no-such-model.gguf"),
    }
    return ScoreConfig.parse(**{**base, **values})


async def test_a_thousand_records_with_a_model_free_role(tmp_path: Path) -> None:
    write_records(tmp_path / "in.jsonl", 1000)
    report = await score_file(config(tmp_path, concurrency=16), kinds=length_kinds(),
                              registry=length_registry("length"))
    assert (report.total, report.written, report.skipped) == (1000, 1000, 0)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 1000
    results = read_results(tmp_path / "out.jsonl")
    assert len({r.id for r in results}) == 1000
    by_id = {r.id: r for r in results}
    r12 = by_id["r12"]  # output of 12 characters: score 1.0, accepted
    assert r12.critiques["length"].score == 1.0 and r12.verdict.decision == "accept"
    assert r12.metadata == {"i": 12}
    r3 = by_id["r3"]
    assert r3.critiques["length"].score == pytest.approx(0.3)
    assert r3.verdict.decision == "discard" and r3.critiques["length"].problems == ("too short",)


async def test_failed_critic_is_recorded_and_the_judge_cannot_accept(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"id": "x", "input": "t", "output": "BOOM"}) + "\n"
        + json.dumps({"id": "y", "input": "t", "output": "long enough answer"}) + "\n"
    )
    await score_file(config(tmp_path, roles=("a", "b")), kinds=length_kinds(),
                     registry=length_registry("a", "b"))
    by_id = {r.id: r for r in read_results(tmp_path / "out.jsonl")}
    failed = by_id["x"]
    assert failed.failed and failed.critiques["a"].status == "error"
    assert "RuntimeError: cannot review this" in (failed.critiques["a"].error or "")
    assert failed.verdict.decision == "discard" and failed.verdict.aggregate is None
    assert not by_id["y"].failed and by_id["y"].verdict.decision == "accept"


async def test_slow_critic_times_out_as_unscored(tmp_path: Path) -> None:
    scorer = Scorer([LengthCritic("slow", timeout=0.05, hang=True), LengthCritic("quick")],
                    ThresholdJudge(max_rounds=1))
    result = await scorer.score(ScoreRecord(id="1", input="t", output="abcdefghijk"))
    assert result.critiques["slow"].status == "timeout"
    assert result.critiques["quick"].score == 1.0
    assert result.verdict.decision == "accept" and result.verdict.aggregate == 1.0


class LimitedBackend:
    """A model server serving at most ``capacity`` requests at once; each is answered only
    once :attr:`gate` is set, and :attr:`offered` is set when ``expect`` requests are waiting."""

    name = "limited"

    def __init__(self, capacity: int, expect: int) -> None:
        self.limiter = anyio.Semaphore(capacity)
        self.expect = expect
        self.gate = anyio.Event()
        self.offered = anyio.Event()
        self.in_flight = self.max_in_flight = 0
        self.outstanding = self.max_outstanding = 0

    async def complete(self, messages: Sequence[ChatMessage], params: GenerationParams,
                       schema: JsonSchema | None = None) -> Completion:
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        if self.outstanding == self.expect:
            self.offered.set()
        try:
            async with self.limiter:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await self.gate.wait()
                finally:
                    self.in_flight -= 1
        finally:
            self.outstanding -= 1
        text = '{"score": 7, "problems": [], "suggestion": "none"}'
        return Completion(text=text, usage=Usage(prompt_tokens=10, completion_tokens=5),
                          latency=0.01)


@pytest.mark.parametrize(("concurrency", "expected"), [(1, 1), (2, 2), (4, 4), (8, 4)])
async def test_requests_in_flight_grow_with_concurrency_up_to_capacity(
    tmp_path: Path, concurrency: int, expected: int
) -> None:
    backend = LimitedBackend(capacity=4, expect=concurrency)
    critic = LLMCritic(RoleRegistry(include_plugins=False, env_path="").get("correctness"), backend)
    records = [ScoreRecord(id=str(i), input="t", output="o") for i in range(16)]
    written = 0
    with ResultFile(tmp_path / "out.jsonl") as out:

        async def run() -> None:
            nonlocal written
            written = await score_all(Scorer([critic], ThresholdJudge(max_rounds=1)), records,
                                      out, concurrency=concurrency)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await backend.offered.wait()
            # Nothing can move until the gate opens: what is offered now is all there will be.
            await anyio.wait_all_tasks_blocked()
            assert (backend.outstanding, backend.in_flight) == (concurrency, expected)
            backend.gate.set()
    assert written == 16
    assert backend.max_in_flight == expected
    assert backend.max_outstanding == concurrency  # the scorer offers exactly C requests at once
    results = read_results(tmp_path / "out.jsonl")
    assert all(r.critiques["correctness"].score == pytest.approx(6 / 9) for r in results)
    assert all(r.usage == Usage(prompt_tokens=10, completion_tokens=5) for r in results)


async def test_resume_drops_a_torn_line_and_scores_only_the_rest(tmp_path: Path) -> None:
    write_records(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    await score_file(config(tmp_path, limit=5), kinds=length_kinds(),
                     registry=length_registry("length"))
    before = out.read_bytes()
    torn = b'{"format":1,"id":"r5","critiques":{"len'
    out.write_bytes(before + torn)
    report = await score_file(config(tmp_path, resume=True), kinds=length_kinds(),
                              registry=length_registry("length"))
    assert (report.skipped, report.written, report.torn_bytes) == (5, 15, len(torn))
    data = out.read_bytes()
    assert data.startswith(before)  # nothing already written was lost or changed
    ids = [json.loads(line)["id"] for line in data.decode().splitlines()]
    assert sorted(ids) == sorted(f"r{i}" for i in range(20))


async def test_existing_output_needs_resume_or_overwrite(tmp_path: Path) -> None:
    write_records(tmp_path / "in.jsonl", 2)
    (tmp_path / "out.jsonl").write_text("keep me\n")
    with pytest.raises(TranscriptError, match="already exists; use --resume"):
        await score_file(config(tmp_path), kinds=length_kinds(), registry=length_registry("length"))
    with pytest.raises(TranscriptError, match=r"out.jsonl:1: not a score result"):
        await score_file(config(tmp_path, resume=True), kinds=length_kinds(),
                         registry=length_registry("length"))
    assert (tmp_path / "out.jsonl").read_text() == "keep me\n"


async def test_cancelling_leaves_only_whole_lines(tmp_path: Path) -> None:
    records = [ScoreRecord(id=str(i), input="t", output="o" * i) for i in range(200)]
    out_path = tmp_path / "out.jsonl"
    turnstile = Turnstile("len", free=20, expect_held=8)
    with ResultFile(out_path) as out:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(score_all, Scorer([turnstile], ThresholdJudge(max_rounds=1)),
                                  records, out, concurrency=8))
            await turnstile.held.wait()  # 20 written, 8 in flight: every slot is held
            tg.cancel_scope.cancel()
    assert turnstile.holding == 0  # the records in flight were cancelled...
    assert out_path.read_bytes().endswith(b"\n")
    results = read_results(out_path)
    assert len(results) == 20  # ...and not written; those done before stay whole
    with ResultFile(out_path, resume=True) as out:
        assert len(out.done) == 20
        await score_all(Scorer([LengthCritic("len")], ThresholdJudge(max_rounds=1)), records, out)
    assert sorted(int(r.id) for r in read_results(out_path)) == list(range(200))


async def test_one_result_file_per_run_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path) as first:
        first.write(ScoreResult(id="a", critiques={}, verdict=ResultVerdict(
            judge="j", decision="accept", reason="r")))
        before = path.read_bytes()
        for options in ({"resume": True}, {"overwrite": True}):
            with pytest.raises(TranscriptError, match="another run is writing it"):
                ResultFile(path, **options)
            assert path.read_bytes() == before
    with ResultFile(path, resume=True) as again:  # closing released the lock
        assert again.done == {"a"}
    with pytest.raises(TranscriptError, match="cannot resume /dev/null: not a regular file"):
        ResultFile(Path("/dev/null"), resume=True)


def test_a_short_write_is_finished_and_a_write_taking_nothing_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = ScoreResult(id="a", critiques={}, verdict=ResultVerdict(
        judge="j", decision="accept", reason="r"))
    path = tmp_path / "out.jsonl"
    real_write = os.write
    sizes: list[int] = []

    def at_most(limit: int) -> Callable[[int, bytes | memoryview], int]:
        def write(fd: int, data: bytes | memoryview) -> int:
            sizes.append(len(data))
            return real_write(fd, bytes(data[:limit]))
        return write

    with ResultFile(path) as out:
        with monkeypatch.context() as patch:
            patch.setattr(os, "write", at_most(40))
            out.write(result)
        line = result.model_dump_json().encode() + b"\n"
        assert path.read_bytes() == line and sizes == list(range(len(line), 0, -40))
        with monkeypatch.context() as patch:
            patch.setattr(os, "write", at_most(0))
            with pytest.raises(TranscriptError, match="the file accepted no bytes"):
                out.write(result)
        assert out.done == {"a"}


async def test_an_unscored_ok_critique_is_an_error_and_tool_critiques_carry_latency() -> None:
    class NoScore:
        name, weight, timeout = "vague", 1.0, 10.0

        async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
            await anyio.lowlevel.checkpoint()
            return Critique(role=self.name, round=1, problems=("hmm",))

    result = await Scorer([NoScore(), LengthCritic("len")], ThresholdJudge(max_rounds=1)).score(
        ScoreRecord(id="1", input="t", output="long enough answer"))
    vague = result.critiques["vague"]
    assert (vague.status, vague.score, vague.error) == ("error", None, "the critic gave no score")
    assert result.failed and result.verdict.aggregate == 1.0  # left out, not counted as 0
    assert "1 of 2" in result.verdict.reason
    assert result.critiques["len"].latency > 0  # no model: the review's own time


async def test_skip_invalid_writes_the_errors_file(tmp_path: Path) -> None:
    write_records(tmp_path / "in.jsonl", 3)
    with (tmp_path / "in.jsonl").open("a") as fh:
        fh.write('{"id": "r0", "input": "t", "output": "dup"}\nnot json\n')
    report = await score_file(config(tmp_path, skip_invalid=True), kinds=length_kinds(),
                              registry=length_registry("length"))
    assert (report.written, report.invalid) == (3, 2)
    errors = [json.loads(x) for x in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [4, 5]
    assert "duplicate id 'r0'" in errors[0]["error"] and "invalid JSON" in errors[1]["error"]


async def test_a_transcript_final_draft_is_scored(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    draft = Draft(round=2, text="a final answer")
    with TranscriptWriter(path, TranscriptHeader(session="s1")) as writer:
        for payload in (
            Task(prompt="write something", reference="ref"),
            Outcome(session="s1", decision="accept", reason="good", stop="accepted", draft=draft,
                    score=0.9, rounds=2, verdicts=()),
        ):
            writer.write(Envelope(session="s1", topic="critic.s1.x", sender="session",
                                  payload=payload))
    await score_file(config(tmp_path, input=path), kinds=length_kinds(),
                     registry=length_registry("length"))
    (result,) = read_results(tmp_path / "out.jsonl")
    assert result.id == "s1" and result.target == "ref"
    assert result.critiques["length"].raw_score == len("a final answer")
    assert result.metadata["decision"] == "accept"


class ThroughJudge(ThresholdJudge):
    """A ThresholdJudge asked through :meth:`judge` like any other judge."""


@pytest.mark.parametrize("rules", [
    {}, {"accept_at": 0.5, "discard_below": 0.4}, {"revise_unscored": True},
    {"revise_unscored": True, "max_rounds": 2}, {"max_rounds": 2, "max_tokens": 5},
])
async def test_the_default_judge_asked_directly_writes_the_lines_its_verdicts_give(
    rules: dict[str, object],
) -> None:
    class Vetoes:
        name, weight, timeout = "veto", 1.0, 10.0

        async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
            text = request.draft.text
            return Critique(role=self.name, round=1, score=1.0, rejected=text.startswith("no"),
                            problems=("said no",) if text.startswith("no") else ())

    records = [ScoreRecord(id=str(i), input="t", output=text) for i, text in enumerate(
        ["BOOM", "", "abc", "abcdef", "long enough answer", "no thanks, long enough"])]
    teams: list[list[Critic]] = [
        [LengthCritic("len")], [LengthCritic("len"), Vetoes()],
        [LengthCritic("a", fail_on="abc"), LengthCritic("b", weight=0.0)],
    ]
    for critics in teams:
        direct, through = (Scorer(critics, judge(**rules))
                           for judge in (ThresholdJudge, ThroughJudge))
        for record in records:
            a, b = await direct.score(record), await through.score(record)
            assert a.model_copy(update={"latency": 0.0, "critiques": {}}) == b.model_copy(
                update={"latency": 0.0, "critiques": {}})
            assert a.verdict.reason and a.critiques.keys() == b.critiques.keys()


async def test_a_judge_sees_the_latency_of_model_free_critiques(tmp_path: Path) -> None:
    seen: list[float] = []

    class Watching(ThresholdJudge):
        async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict:
            seen.extend(c.latency for c in request.critiques)
            return await super().judge(request, record)

    records = [ScoreRecord(id=str(i), input="t", output="o" * i) for i in range(5)]
    scorer = Scorer([LengthCritic("len")], Watching(max_rounds=1))
    await scorer.score(records[0])
    with ResultFile(tmp_path / "out.jsonl") as out:
        await score_all(scorer, records[1:], out)
    results = read_results(tmp_path / "out.jsonl")
    assert len(seen) == 5 and all(latency > 0 for latency in seen)
    assert sorted(r.critiques["len"].latency for r in results) == sorted(seen[1:])


async def test_a_judge_role_decides_within_the_one_round_rules() -> None:
    role = RoleRegistry(include_plugins=False, env_path="").get("llm-judge")
    model = ScriptedModel(default='{"reason": "the answer is off topic", "decision": "discard"}')
    judge = LLMJudge(role, model.backend("llm-judge"), rules=default_judge())
    result = await Scorer([LengthCritic("len")], judge).score(
        ScoreRecord(id="1", input="t", output="long enough answer"))
    assert result.critiques["len"].score == 1.0  # the rules alone would accept
    assert result.verdict.judge == "llm-judge" and result.verdict.decision == "discard"
    assert "off topic" in result.verdict.reason
    (call,) = model.calls_of("llm-judge")
    assert "long enough answer" in call.messages[-1].content
    assert result.usage.completion_tokens > 0  # the judge's call is counted in the record's usage


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
async def test_an_unwritable_output_stops_with_one_clear_error() -> None:
    records = [ScoreRecord(id=str(i), input="t", output="o") for i in range(20)]
    with ResultFile(Path("/dev/full")) as out, pytest.raises(
        TranscriptError, match="cannot write /dev/full: No space left on device"
    ):
        await score_all(Scorer([LengthCritic("len")], ThresholdJudge(max_rounds=1)), records, out)
