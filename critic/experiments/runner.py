"""Running an experiment: every condition x item x seed once, the oracle after the fact.

Each unit is a real session (or vote, or debate) built from the same parts as
``critic run``: the run's :class:`~critic.backends.pool.ModelPool` (so
``--cache`` covers every call), the role registry and critic kinds. The
session sees only :meth:`Item.task <critic.experiments.datasets.Item.task>`;
when it has ended, the hidden oracle judges every draft it produced, and the
condition's ``select`` rule picks the answer. One line per unit goes to
``results.jsonl`` as soon as it is done (see :mod:`critic.experiments.records`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from pydantic import ValidationError

from critic.backends.base import GenerationParams
from critic.backends.pool import ModelPool
from critic.bus.coordinator import RemoteCritic
from critic.critics.generator import LLMGenerator, RevisionPolicy
from critic.debate.answers import extractor
from critic.debate.debate import Debate
from critic.debate.debaters import LLMDebater
from critic.errors import ConfigError
from critic.experiments.conditions import Condition, Experiment
from critic.experiments.datasets import Item, load_items
from critic.experiments.oracles import judge_draft
from critic.experiments.records import EvalRecord, ExperimentResults, RoundRecord, read_records
from critic.experiments.summary import summarize
from critic.experiments.workers import ExperimentBus, check_bus, experiment_bus
from critic.judges.majority import MajorityJudge
from critic.judges.select import build_judge
from critic.messages import Draft, Envelope, JudgeRequest, Verdict
from critic.protocols import Critic, CriticContext, Judge, Recorder
from critic.roles.kinds import CriticKinds, default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import Role
from critic.session.session import Session
from critic.transcript import JudgeSpec, TranscriptHeader, TranscriptWriter

#: What the generator is told when a condition withholds the critics' text: the same
#: words whatever went wrong, so only the fact that it is asked again can inform it.
WITHHELD = "No details are available. Check your answer and give it again."


@dataclass
class WithheldFeedback:
    """A judge whose verdicts keep their decision but not their feedback (``feedback = "none"``)."""

    inner: Judge

    @property
    def name(self) -> str:
        return self.inner.name

    async def judge(self, request: JudgeRequest, record: Recorder) -> Verdict:
        verdict = await self.inner.judge(request, record)
        return verdict.model_copy(update={"feedback": WITHHELD})


@dataclass(frozen=True)
class Unit:
    """One condition x item x seed."""

    name: str
    condition: Condition
    item: Item
    seed: int

    @property
    def id(self) -> str:
        return EvalRecord.key(self.name, self.item.id, self.seed)


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


@dataclass
class ExperimentRun:
    """What the units of one experiment share: models, roles, critic kinds, output directory."""

    experiment: Experiment
    pool: ModelPool
    out: Path
    registry: RoleRegistry = field(default_factory=RoleRegistry)
    kinds: CriticKinds = field(default_factory=default_kinds)
    transcripts: bool = True
    bus: ExperimentBus | None = None
    """With a bus, critics are asked over it (served by workers) instead of built per unit."""

    def check(self, items: Sequence[Item]) -> None:
        """Every role and judge named exists; vote and debate need items with a target."""
        for name, condition in self.experiment.conditions.items():
            for role in condition.roles:
                try:
                    self.registry.get(role)
                except ConfigError as exc:
                    raise ConfigError(f"conditions.{name}.roles: {exc}") from exc
            if condition.mode != "session" and any(i.target is None for i in items):
                raise ConfigError(f"conditions.{name}.mode: {condition.mode} needs items with "
                                  "a `target` answer (not hidden tests)")

    def units(self, items: Sequence[Item]) -> list[Unit]:
        return [Unit(name, condition, item, seed)
                for name, condition in self.experiment.conditions.items()
                for item in items for seed in self.experiment.seeds]

    def _transcript(self, unit: Unit, header: TranscriptHeader) -> tuple[TranscriptWriter | None,
                                                                         str | None]:
        if not self.transcripts:
            return None, None
        relative = (Path("transcripts") / _file_name(unit.name)
                    / f"{_file_name(unit.item.id)}-{unit.seed}.jsonl")
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unit not in results.jsonl is run again from the start, transcript included.
        return TranscriptWriter(path, header, overwrite=True), str(relative)

    async def run_unit(self, unit: Unit) -> EvalRecord:
        if unit.condition.mode == "session":
            return await self._session(unit)
        return await self._debate(unit)

    def _critics(self, roles: Sequence[Role], seed: int) -> tuple[list[Critic],
                                                                 list[RemoteCritic]]:
        """A unit's critics: built for it (with its seed), or asked over the bus."""
        if self.bus is not None:
            return [], [RemoteCritic(r.name, r.spec.weight, r.spec.timeout) for r in roles]
        return [self.kinds.build(r, CriticContext(self.pool, seed)) for r in roles], []

    async def _session(self, unit: Unit) -> EvalRecord:
        condition, seed = unit.condition, unit.seed
        model = self.pool.get(condition.model)
        options: dict[str, object] = dict(condition.generator)
        try:
            if "revision" in options:  # a TOML table: ``revision = {strategy = "continue"}``
                options["revision"] = RevisionPolicy.model_validate(options["revision"])
            generator = LLMGenerator(
                model.backend("generator"),
                params=GenerationParams(max_tokens=condition.max_tokens,
                                        temperature=condition.temperature, seed=seed),
                **options,  # type: ignore[arg-type]
            )
        except (TypeError, ValidationError) as exc:
            raise ConfigError(f"conditions.{unit.name}.generator: {exc}") from exc
        roles = [self.registry.get(r) for r in condition.roles]
        critics, remote = self._critics(roles, seed)
        rules = condition.judge_rules()
        judge: Judge = build_judge(condition.judge, self.registry, self.pool, rules, seed=seed)
        if condition.feedback == "none":
            judge = WithheldFeedback(judge)
        drafts: list[Draft] = []

        def observe(envelope: Envelope) -> None:
            if isinstance(envelope.payload, Draft) and envelope.payload.error is None:
                drafts.append(envelope.payload)

        session = Session(unit.item.task(), generator, judge, critics, remote=remote,
                          bus=self.bus, observer=observe)
        writer, relative = self._transcript(unit, TranscriptHeader(
            session=session.id, mode="run", models={"generator": model.describe()},
            seeds={"generator": seed, **{r.name: seed for r in roles}},
            judge=JudgeSpec(name=judge.name, rules=rules), roles={r.name: r.spec for r in roles},
        ))
        start = anyio.current_time()
        if writer is None:
            outcome = await session.run()
        else:
            with writer:
                session.transcript = writer
                outcome = await session.run()
        verdicts = {v.round: v for v in outcome.verdicts}
        rounds = []
        for draft in drafts:
            verdict = verdicts.get(draft.round)
            result = await judge_draft(unit.item, draft.text)
            rounds.append(RoundRecord(
                round=draft.round, draft=draft.text,
                decision=verdict.decision if verdict else None,
                aggregate=verdict.aggregate if verdict else None,
                scores=verdict.scores if verdict else {}, passed=result.passed,
                oracle=result.detail))
        final = _select(condition, rounds, outcome.draft.round if outcome.draft else None)
        chosen = next((r for r in rounds if r.round == final), None)
        return EvalRecord(
            id=unit.id, condition=unit.name, item=unit.item.id, seed=seed, rounds=tuple(rounds),
            final_round=final, passed=chosen.passed if chosen else False, stop=outcome.stop,
            tokens=outcome.usage.prompt_tokens + outcome.usage.completion_tokens,
            seconds=max(0.0, anyio.current_time() - start), transcript=relative)

    async def _debate(self, unit: Unit) -> EvalRecord:
        condition, seed = unit.condition, unit.seed
        temperature = (condition.temperature if "temperature" in condition.model_fields_set
                       else 0.7)  # copies at temperature 0 cannot disagree
        model = self.pool.get(condition.model)
        # A member keeps its name and seed when another is left out (an ablation).
        debaters = [LLMDebater(name, model.backend(name),
                               GenerationParams(max_tokens=condition.max_tokens,
                                                temperature=temperature, seed=seed * 1000 + i))
                    for i, name in condition.members()]
        roles = [self.registry.get(r) for r in condition.roles]
        critics, remote = self._critics(roles, seed)
        answers = extractor(condition.extract)
        debate = Debate(unit.item.prompt, debaters, MajorityJudge(), critics, answers,
                        rounds=1 if condition.mode == "vote" else condition.rounds,
                        max_total_tokens=condition.max_total_tokens,
                        max_seconds=condition.max_seconds, remote=remote, bus=self.bus)
        writer, relative = self._transcript(unit, TranscriptHeader(
            session=debate.id, mode="debate", models={d.name: model.describe() for d in debaters},
            seeds={d.name: d.params.seed for d in debaters}, judge=JudgeSpec(name="majority"),
            roles={r.name: r.spec for r in roles},
            debaters={d.name: d.params for d in debaters}))
        start = anyio.current_time()
        if writer is None:
            outcome = await debate.run()
        else:
            with writer:
                debate.transcript = writer
                outcome = await debate.run()
        rounds = []
        for played in outcome.rounds:
            answer = played.majority or ""
            result = await judge_draft(unit.item.model_copy(update={"extract": condition.extract}),
                                       answer)
            rounds.append(RoundRecord(round=played.round, draft=answer, passed=result.passed,
                                      oracle=result.detail, decision="majority"))
        final = rounds[-1].round if rounds else None
        passed = False
        if outcome.answer is not None:
            item = unit.item.model_copy(update={"extract": condition.extract})
            passed = (await judge_draft(item, outcome.answer)).passed
        return EvalRecord(
            id=unit.id, condition=unit.name, item=unit.item.id, seed=seed, rounds=tuple(rounds),
            final_round=final, passed=passed, stop=outcome.stop,
            tokens=outcome.usage.prompt_tokens + outcome.usage.completion_tokens,
            seconds=max(0.0, anyio.current_time() - start), transcript=relative)


def _select(condition: Condition, rounds: Sequence[RoundRecord], judged: int | None) -> int | None:
    """The round whose draft is the condition's answer."""
    if not rounds:
        return None
    if condition.select == "last":
        return rounds[-1].round
    if condition.select == "best":
        scored = [r for r in rounds if r.aggregate is not None]
        if not scored:
            return rounds[-1].round
        best = max(r.aggregate for r in scored if r.aggregate is not None)
        return next(r.round for r in scored if r.aggregate == best)
    return judged if judged is not None else rounds[-1].round


Progress = Callable[[EvalRecord, int, int], None]
"""Called after each unit with the record, units done in this run, and units to do."""


async def run_units(run: ExperimentRun, items: Sequence[Item], results: ExperimentResults, *,
                    concurrency: int = 1, progress: Progress | None = None) -> int:
    """Run every unit not yet in ``results``, ``concurrency`` at a time; returns how many ran."""
    run.check(items)
    todo = [u for u in run.units(items) if u.id not in results.done]
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    done = 0

    def unreachable() -> bool:
        # Units in flight are let finish (their requests fail fast), not cancelled: a
        # cancelled NATS subscription can surface as an error of its own.
        return run.bus is not None and run.bus.failure is not None

    async def one(unit: Unit) -> None:
        nonlocal done
        async with limiter:
            if unreachable():
                return
            record = await run.run_unit(unit)
        if unreachable():  # a critic nobody could reach: no result; no more units
            return
        # No await between finishing and writing: a cancelled run loses no finished unit
        # half-written, and never records one twice.
        results.add(record)
        done += 1
        if progress is not None:
            progress(record, done, len(todo))

    async with anyio.create_task_group() as group:
        for unit in todo:
            group.start_soon(one, unit)
    if run.bus is not None:
        run.bus.check()
    return done


async def run_experiment(
    experiment: Experiment, out: Path, *, base: Path, pool: ModelPool,
    registry: RoleRegistry | None = None, kinds: CriticKinds | None = None,
    resume: bool = False, overwrite: bool = False, ablate: bool = False,
    concurrency: int = 1, limit: int | None = None, progress: Progress | None = None,
    transcripts: bool = True, bus: str | None = None,
) -> dict[str, object]:
    """Run (or finish, with ``resume``) an experiment into ``out``; returns the summary.

    ``out/results.jsonl`` gets one line per unit, ``out/transcripts/`` one
    transcript per unit, ``out/summary.json`` the summary (rewritten from all
    of ``results.jsonl`` at the end, so a resumed run summarizes every unit).
    ``bus`` (``memory`` or ``nats://HOST:PORT``): critics are asked over it
    (see :mod:`critic.experiments.workers`).
    """
    if bus is not None:
        check_bus(bus)
    if ablate:
        experiment = experiment.with_ablations()
    items = load_items(experiment.dataset, base=base, size=experiment.size,
                       seed=experiment.dataset_seed)
    cut = limit if limit is not None else experiment.limit
    items = items[:cut] if cut is not None else items
    run = ExperimentRun(experiment, pool, out, registry or RoleRegistry(),
                        kinds or default_kinds(), transcripts=transcripts)
    run.check(items)
    results = _open_results(out, resume=resume, overwrite=overwrite)
    try:
        if bus is None:
            await run_units(run, items, results, concurrency=concurrency, progress=progress)
        else:
            roles = [run.registry.get(r) for r in
                     dict.fromkeys(r for c in experiment.conditions.values() for r in c.roles)]
            async with experiment_bus(bus, roles, pool, kinds=run.kinds,
                                      seed=experiment.seeds[0]) as run.bus:
                await run_units(run, items, results, concurrency=concurrency,
                                progress=progress)
    finally:
        results.close()
    wanted = {u.id for u in run.units(items)}
    records = [r for r in read_records(out / "results.jsonl") if r.id in wanted]
    summary = summarize(records, experiment)
    _write_summary(out / "summary.json", summary)
    return summary


def _open_results(out: Path, *, resume: bool, overwrite: bool) -> ExperimentResults:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"-o {out}: cannot create: {exc.strerror}") from exc
    return ExperimentResults(out / "results.jsonl", resume=resume, overwrite=overwrite)


def _write_summary(path: Path, summary: dict[str, object]) -> None:
    # Write then rename: a reader never sees half a summary.
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    partial.replace(path)
