"""The experiment file: a dataset, seeds, and the conditions compared with a baseline.

    name = "grounded-repair"
    dataset = "humaneval"       # or "arithmetic", or a .jsonl / .csv path
    limit = 40
    seeds = [0, 1]
    baseline = "single"

    [conditions.single]
    rounds = 1

    [conditions.grounded]
    rounds = 4
    roles = ["doctests"]
    max_total_tokens = 4000     # optional budget per session (or debate): stop="budget"
    max_seconds = 60

A condition is a session (``mode = "session"``: roles, judge rules, feedback,
selection, sampling), ``vote`` (N independent answers, majority) or
``debate``. Options of the generator and of the judge's rules that this
module does not name pass through their own tables (``[conditions.x.generator]``,
``[conditions.x.rules]``) and are checked by the part that takes them, so a new
revision strategy or stop rule needs no change here. Unknown keys are errors
naming the file and the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from critic.errors import ConfigError
from critic.judges.rules import ThresholdJudge

Mode = Literal["session", "vote", "debate"]
AblatedKind = Literal["critic", "voter", "debater"]
Feedback = Literal["critics", "none"]
Select = Literal["judge", "last", "best"]


class Ablation(NamedTuple):
    """A leave-one-out condition: ``condition`` without one ``member`` of a ``kind``."""

    condition: str
    kind: AblatedKind
    member: str


class Condition(BaseModel):
    """One way of answering every item; everything a session (or a vote, a debate) takes."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    mode: Mode = "session"
    rounds: int = Field(default=1, ge=1)
    """Session: drafts at most; debate: rounds; vote: always 1."""
    roles: tuple[str, ...] = ()
    judge: str = "threshold"
    accept_at: float = Field(default=1.0, ge=0.0, le=1.0)
    """The judge accepts at this aggregate (1.0: every grounded test passes)."""
    discard_below: float = Field(default=0.0, ge=0.0, le=1.0)
    patience: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)
    """Budget of one session (or debate), all agents' tokens: it stops with ``budget``."""
    max_seconds: float | None = Field(default=None, gt=0.0)
    """Budget of one session (or debate) in seconds, checked as each round ends."""
    rules: dict[str, JsonValue] = Field(default_factory=dict)
    """Further judge rules, passed to :class:`ThresholdJudge` (which checks them)."""
    feedback: Feedback = "critics"
    """``none``: the generator is asked again without the critics' text (a fixed request)."""
    select: Select = "judge"
    """The final answer: the judge's (accepted, else best-scored), the last, or the best-scored."""
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=320, ge=1)
    model: str | None = None
    """The generator's (and debaters') model; None: the experiment's."""
    generator: dict[str, JsonValue] = Field(default_factory=dict)
    """Further generator options (e.g. a revision strategy), passed to the generator."""
    debaters: int = Field(default=3, ge=1, le=32)
    leave_out: tuple[str, ...] = ()
    """Vote and debate: members (``debater-2``...) left out; the others keep their names and
    seeds, so a condition without one member differs from the full one by that member alone."""
    extract: str = "number"

    @field_validator("roles")
    @classmethod
    def _roles_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"a role is named twice: {', '.join(value)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Condition:
        for field, rule in (("max_total_tokens", "max_tokens"), ("max_seconds", "max_seconds")):
            if rule in self.rules:
                raise ValueError(f"rules.{rule}: set the condition's {field} instead")
        if self.mode == "session":
            self.judge_rules()
        elif self.mode == "vote" and self.rounds != 1:
            raise ValueError("rounds: a vote has one round (N independent answers)")
        if self.leave_out:
            if self.mode == "session":
                raise ValueError("leave_out: only a vote or a debate has members to leave out")
            names = {f"debater-{i + 1}" for i in range(self.debaters)}
            for name in self.leave_out:
                if name not in names:
                    raise ValueError(f"leave_out: {name!r} is not a member "
                                     f"(debater-1 ... debater-{self.debaters})")
            if len(set(self.leave_out)) >= self.debaters:
                raise ValueError("leave_out: no member would be left")
        return self

    def members(self) -> list[tuple[int, str]]:
        """Vote and debate: ``(index, name)`` of each member taking part; the index fixes
        the member's seed whoever else is left out."""
        if self.mode == "session":
            return []
        return [(i, f"debater-{i + 1}") for i in range(self.debaters)
                if f"debater-{i + 1}" not in self.leave_out]

    def judge_rules(self) -> ThresholdJudge:
        """The stop rules of a session under this condition.

        A condition with no critic is a resampling control: it revises without
        critiques by design, so its rules revise unscored rounds (a critic-less
        session would otherwise stop at once with ``no_scores``); ``rules`` can say
        otherwise.
        """
        try:
            return ThresholdJudge.model_validate({
                "accept_at": self.accept_at, "discard_below": self.discard_below,
                "patience": self.patience, "max_rounds": self.rounds,
                "max_tokens": self.max_total_tokens, "max_seconds": self.max_seconds,
                "revise_unscored": not self.roles, **self.rules})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            raise ValueError(f"rules.{where}: {message}" if where else message) from None

    def within(self, max_total_tokens: int | None, max_seconds: float | None) -> Condition:
        """This condition with its budgets capped at these (None: no cap), e.g. from the CLI."""
        def cap(own: float | None, limit: float | None) -> float | None:
            return own if limit is None else limit if own is None else min(own, limit)
        # Validated again (a bad cap is an error) keeping which fields the file set.
        return Condition.model_validate({
            **self.model_dump(exclude_unset=True),
            "max_total_tokens": cap(self.max_total_tokens, max_total_tokens),
            "max_seconds": cap(self.max_seconds, max_seconds)})

    def without(self, role: str) -> Condition:
        """This condition with one critic role left out (an ablation)."""
        return self.model_copy(update={"roles": tuple(r for r in self.roles if r != role)})

    def without_member(self, name: str) -> Condition:
        """This vote or debate with one member (``debater-k``) left out (an ablation)."""
        return self.model_copy(update={"leave_out": (*self.leave_out, name)})


class Experiment(BaseModel):
    """A whole experiment file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=1)
    """Items to generate (``arithmetic`` only; default 100)."""
    dataset_seed: int = 0
    limit: int | None = Field(default=None, ge=1)
    seeds: tuple[int, ...] = Field(default=(0,), min_length=1)
    baseline: str
    model: str | None = None
    """The default model of every condition (GGUF path or URL; None: the embedded SmolLM2)."""
    conditions: dict[str, Condition] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _seeds_once(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a seed is listed twice")
        return value

    @model_validator(mode="after")
    def _baseline_known(self) -> Experiment:
        if self.baseline not in self.conditions:
            raise ValueError(f"baseline: {self.baseline!r} is not a condition "
                             f"(conditions: {', '.join(self.conditions)})")
        for name in self.conditions:
            if "|" in name or "/" in name:
                raise ValueError(f"conditions.{name}: a name may not hold '|' or '/'")
        return self

    def within(self, max_total_tokens: int | None = None,
               max_seconds: float | None = None) -> Experiment:
        """Every condition's sessions capped at these budgets (see :meth:`Condition.within`)."""
        if max_total_tokens is None and max_seconds is None:
            return self
        return self.model_copy(update={"conditions": {
            name: c.within(max_total_tokens, max_seconds) for name, c in self.conditions.items()}})

    def ablations(self) -> dict[str, Ablation]:
        """The leave-one-out conditions, by name: for each condition, one per critic role
        and, in a vote or a debate of two or more, one per member (voter, debater)."""
        found = {}
        for name, condition in self.conditions.items():
            for role in condition.roles:
                found[f"{name}-without-{role}"] = Ablation(name, "critic", role)
            members = condition.members()
            if len(members) > 1:
                kind: AblatedKind = "voter" if condition.mode == "vote" else "debater"
                for _, member in members:
                    found[f"{name}-without-{member}"] = Ablation(name, kind, member)
        return found

    def with_ablations(self) -> Experiment:
        """This experiment plus its ablation conditions."""
        extra = {}
        for name, ablation in self.ablations().items():
            full = self.conditions[ablation.condition]
            extra[name] = (full.without(ablation.member) if ablation.kind == "critic"
                           else full.without_member(ablation.member))
        return self.model_copy(update={"conditions": {**self.conditions, **extra}})


def load_experiment(path: Path) -> Experiment:
    """Read and check an experiment file; a problem is one line naming the file and field."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from exc
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(f"{path}: {field}: {message}" if field else f"{path}: {message}") from exc
