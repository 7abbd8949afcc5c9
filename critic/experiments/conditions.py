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
from typing import Literal

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
Feedback = Literal["critics", "none"]
Select = Literal["judge", "last", "best"]


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
        return self

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

    def ablations(self) -> dict[str, tuple[str, str]]:
        """For each condition with critics, one leave-one-critic-out condition per critic:
        ``{name: (condition, critic)}``."""
        found = {}
        for name, condition in self.conditions.items():
            if condition.mode != "session":
                continue
            for role in condition.roles:
                found[f"{name}-without-{role}"] = (name, role)
        return found

    def with_ablations(self) -> Experiment:
        """This experiment plus its ablation conditions."""
        extra = {n: self.conditions[c].without(r) for n, (c, r) in self.ablations().items()}
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
