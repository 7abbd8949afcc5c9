"""From labelled data to a calibration report (what ``critic calibrate`` does).

Scoring is ``critic score``'s own machinery (:func:`critic.scoring.job.score_file`):
the labelled items are written as score records to ``REPORT.records.jsonl``,
scored into ``REPORT.scores.jsonl`` (resumable with ``resume``, exactly once
per id, locked against a second run), and the report is computed from the
scores and the labels. A killed run is finished with ``resume``; only the
items not yet scored are scored again. Nothing already written is replaced
unless ``overwrite``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from critic.calibration.builtin import BUILTIN_SETS, builtin_set
from critic.calibration.labels import LabelledSet, read_labelled
from critic.calibration.metrics import (
    ScorerCalibration,
    calibrate_preferences,
    calibrate_scores,
)
from critic.calibration.probes import LabelledOutput, PairItem, run_probes
from critic.config import Settings, needs_roles
from critic.errors import ConfigError, TranscriptError
from critic.judges.pairwise import LLMPairwiseJudge
from critic.judges.pointwise import LLMAnswerScorer
from critic.judges.select import THRESHOLD, judge_names, judge_role
from critic.launch import launch
from critic.roles.kinds import CriticKinds
from critic.roles.registry import RoleRegistry
from critic.scoring.job import OnStart, ScoreConfig, ScoreReport, same_file, score_file
from critic.scoring.records import ScoreRecord
from critic.scoring.results import ScoreResult, read_results
from critic.scoring.scorer import OnResult

#: Called once the labelled set is ready: (items, where it came from).
OnData = Callable[[LabelledSet], None]


class CalibrateConfig(Settings):
    """Everything that defines a calibration run."""

    data: str
    """A labelled .jsonl/.csv file, or the name of a built-in set."""
    output: Path
    roles: tuple[str, ...]
    judge: str = "threshold"
    accept_at: float = Field(default=0.8, ge=0.0, le=1.0)
    concurrency: int = Field(default=4, ge=1)
    resume: bool = False
    overwrite: bool = False
    limit: int | None = Field(default=None, ge=1)
    """Built-in set: its first ``limit`` problems; a file: its first ``limit`` items."""
    per_problem: int = Field(default=3, ge=1)
    label_threshold: float = 0.5
    """A graded label at or above this counts as pass."""
    resamples: int = Field(default=2000, ge=1)
    folds: int = Field(default=5, ge=2)
    probes: bool = False
    """Also run the bias probes on the judge role (``judge``): position on the pairs,
    length and identity on the graded outputs (four model calls per output)."""

    _some_roles = field_validator("roles")(needs_roles)

    @model_validator(mode="after")
    def _probes_need_a_judge_role(self) -> CalibrateConfig:
        if self.probes and self.judge == THRESHOLD:
            raise ValueError("probes: needs a judge role (--judge NAME); the threshold rules "
                             "read only the critics' scores")
        return self

    @property
    def records_path(self) -> Path:
        return self.output.with_name(self.output.name + ".records.jsonl")

    @property
    def scores_path(self) -> Path:
        return self.output.with_name(self.output.name + ".scores.jsonl")


class CalibrationReport(BaseModel):
    """``report.json``: figures per role and for the judge (keys the viewer reads included)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["calibration"] = "calibration"
    data: str
    items: int
    shape: Literal["graded", "pairwise"]
    seed: int
    level: float = 0.95
    resamples: int
    roles: dict[str, ScorerCalibration]
    judges: dict[str, ScorerCalibration]
    probes: dict[str, dict[str, object]] = {}
    notes: dict[str, int | str] = {}
    scores: str
    """The scores file the figures come from."""


def _is_builtin(data: str) -> bool:
    return data in BUILTIN_SETS and not Path(data).exists()


def check_outputs(config: CalibrateConfig) -> None:
    """Refuse to write over the data or over a report not meant to be replaced."""
    for path in (config.output, config.records_path, config.scores_path):
        if not _is_builtin(config.data) and same_file(path, Path(config.data)):
            raise ConfigError(f"{path}: is the data file {config.data}; choose another --output")
    if not (config.resume or config.overwrite):
        for path in (config.output, config.scores_path):
            if path.exists() and path.stat().st_size > 0:
                raise TranscriptError(f"{path} already exists; use --resume to finish it "
                                      "or --overwrite to replace it")


async def load_data(config: CalibrateConfig) -> LabelledSet:
    """The built-in set (built now) or the labelled file ``config.data`` names."""
    if _is_builtin(config.data):
        return await builtin_set(config.data, seed=config.seed, limit=config.limit,
                                 per_problem=config.per_problem)
    return read_data_file(config)


def read_data_file(config: CalibrateConfig) -> LabelledSet:
    path = Path(config.data)
    if not path.exists():
        raise ConfigError(f"{config.data}: no such file, and not a built-in set "
                          f"({', '.join(BUILTIN_SETS)})")
    found = read_labelled(path, label_threshold=config.label_threshold)
    if config.limit is not None:
        found = found.model_copy(update={"graded": found.graded[: config.limit],
                                         "pairs": found.pairs[: config.limit]})
    return found


def score_records(data: LabelledSet) -> list[ScoreRecord]:
    """The records to score: one per graded item, two per pair (``ID/a``, ``ID/b``)."""
    records = [ScoreRecord(id=i.id, input=i.input, output=i.output,
                           target="pass" if i.passed else "fail") for i in data.graded]
    for pair in data.pairs:
        records += [ScoreRecord(id=f"{pair.id}/{side}", input=pair.input, output=text,
                                metadata={"pair": pair.id, "side": side})
                    for side, text in (("a", pair.output_a), ("b", pair.output_b))]
    return records


def _write_records(path: Path, records: list[ScoreRecord]) -> None:
    """Written whole to a temporary file then renamed, so a kill never leaves half of it."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as fh:
            fh.writelines(r.model_dump_json() + "\n" for r in records)
        os.replace(partial, path)
    except OSError as exc:
        raise TranscriptError(f"cannot write {path}: {exc.strerror}") from exc


def _score_of(result: ScoreResult, role: str | None) -> float | None:
    """A role's score, or (``role`` None) the judge's: its aggregate, else accept = 1."""
    if role is None:
        if result.verdict.aggregate is not None:
            return result.verdict.aggregate
        return 1.0 if result.verdict.decision == "accept" else 0.0
    critique = result.critiques.get(role)
    return critique.score if critique is not None and critique.status == "ok" else None


def report_of(config: CalibrateConfig, data: LabelledSet,
              results: dict[str, ScoreResult]) -> CalibrationReport:
    """The report from the scores of every item (items without a result count as unscored)."""
    scorers: list[tuple[str, str | None]] = [(r, r) for r in config.roles]
    judge_name = next((r.verdict.judge for r in results.values()), config.judge)
    scorers.append((judge_name, None))
    figures: dict[str, ScorerCalibration] = {}
    for name, role in scorers:
        if data.pairs:
            better: list[float] = []
            worse: list[float] = []
            for pair in data.pairs:
                ra, rb = results.get(f"{pair.id}/a"), results.get(f"{pair.id}/b")
                a = None if ra is None else _score_of(ra, role)
                b = None if rb is None else _score_of(rb, role)
                if a is not None and b is not None:
                    better.append(a if pair.preferred == "a" else b)
                    worse.append(b if pair.preferred == "a" else a)
            figures[name] = calibrate_preferences(
                better, worse, unscored=len(data.pairs) - len(better), seed=config.seed,
                n_resamples=config.resamples)
            continue
        scores, passed, grades = [], [], []
        for item in data.graded:
            result = results.get(item.id)
            score = None if result is None else _score_of(result, role)
            if score is not None:
                scores.append(score)
                passed.append(item.passed)
                grades.append(item.grade)
        figures[name] = calibrate_scores(
            scores, passed, grades=grades, unscored=len(data.graded) - len(scores),
            seed=config.seed, folds=config.folds, n_resamples=config.resamples)
    return CalibrationReport(
        data=data.source, items=data.size, shape="pairwise" if data.pairs else "graded",
        seed=config.seed, resamples=config.resamples,
        roles={r: figures[r] for r in config.roles}, judges={judge_name: figures[judge_name]},
        notes=data.notes, scores=str(config.scores_path),
    )


def write_report(path: Path, report: CalibrationReport) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n",
                           encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise TranscriptError(f"cannot write {path}: {exc.strerror}") from exc


async def calibrate(
    config: CalibrateConfig, *, kinds: CriticKinds | None = None,
    registry: RoleRegistry | None = None, on_data: OnData | None = None,
    on_start: OnStart | None = None, on_result: OnResult | None = None,
    stop_on_signals: bool = False,
) -> tuple[CalibrationReport | None, ScoreReport]:
    """Score the labelled data with every role and the judge, then write the report.

    Returns the report (None when a signal stopped the run before every item was
    scored: run again with ``resume``) and how the scoring went.
    """
    check_outputs(config)
    registry = registry or RoleRegistry(extra_dirs=config.roles_dirs)
    for role in config.roles:  # before a built-in set takes its minute and a half
        registry.get(role)
    data = await load_data(config)
    if on_data is not None:
        on_data(data)
    records = score_records(data)
    _write_records(config.records_path, records)
    scoring = ScoreConfig.parse(
        input=config.records_path, output=config.scores_path, roles=config.roles,
        judge=config.judge, accept_at=config.accept_at, concurrency=config.concurrency,
        resume=config.resume, overwrite=config.overwrite, model=config.model,
        models=config.models, seed=config.seed, roles_dirs=config.roles_dirs, bus=config.bus)
    scored = await score_file(scoring, kinds=kinds, registry=registry, on_start=on_start,
                              on_result=on_result,
                              stop_on_signals=stop_on_signals)
    if scored.interrupted:
        return None, scored
    wanted = {r.id for r in records}
    results = {r.id: r for r in read_results(config.scores_path) if r.id in wanted}
    report = report_of(config, data, results)
    if config.probes:
        report = report.model_copy(update={"probes": await probe_judge(config, data, registry)})
    write_report(config.output, report)
    return report, scored


#: The label an answer is shown under in the identity probe (against "Answer 1"): the
#: data has no authors, so the probe asks whether an authority label moves the score.
IDENTITY_LABEL = "an expert"


async def probe_judge(config: CalibrateConfig, data: LabelledSet,
                      registry: RoleRegistry) -> dict[str, dict[str, object]]:
    """The bias probes of the judge role ``config.judge`` on this data (see
    :mod:`critic.calibration.probes`); the threshold rules have no bias to probe."""
    role = judge_role(config.judge, registry, judge_names(registry))
    async with launch(config, registry=registry) as run:
        model = run.pool.get(role.spec.model)
        pairs = [PairItem(question=p.input, a=p.output_a, b=p.output_b, better=p.preferred)
                 for p in data.pairs]
        outputs = [LabelledOutput(question=i.input, answer=i.output, label=IDENTITY_LABEL)
                   for i in data.graded]
        found = await run_probes(
            judge=LLMPairwiseJudge(role, model.backend(f"{role.name}-pairs"), shuffle=False,
                                   seed=config.seed) if pairs else None,
            scorer=LLMAnswerScorer(role, model.backend(f"{role.name}-scores"),
                                   seed=config.seed) if outputs else None,
            pairs=pairs, outputs=outputs, seed=config.seed,
        )
    return {name: probe.model_dump(mode="json") for name, probe in found.probes.items()}
