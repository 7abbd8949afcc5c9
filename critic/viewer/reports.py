"""What the viewer reads from an experiment summary and a calibration report.

Both are one JSON object whose top-level ``"kind"`` says which it is
(``"experiment"`` for ``critic eval``'s ``summary.json``, ``"calibration"``
for ``critic calibrate``'s ``report.json``). Keys the viewer does not use are
ignored, so producers may add to them freely; the keys below are required
(a value may be ``null`` where it is marked ``| None``: a statistic that is
undefined on the data, such as kappa when one side never varies). Intervals
are ``[low, high]`` with ``low <= high``; rates and AUROC lie in [0, 1].
Non-finite numbers (NaN, Infinity) are refused: write ``null`` instead.

Experiment::

    {"kind": "experiment",
     "conditions": {"<name>": {"n": 164, "pass_rate": 0.41, "ci": [0.34, 0.49],
                               "tokens": 120000, "seconds": 812.5}},
     "comparisons": [{"condition": "critics", "baseline": "single", "diff": 0.05,
                      "ci": [0.01, 0.09], "p_value": 0.02, "fixed": 11, "broken": 3}],
     "transitions": {"<name>": {"good_to_bad": {"rate": 0.1, "ci": [0.07, 0.14],
                                                "per_round": [{"round": 2, "rate": 0.1,
                                                               "ci": [0.05, 0.2], "n": 80}]},
                                "bad_to_good": {...same...}}},
     "decay": {"<name>": {"e": 0.1, "ci": [0.07, 0.14], "recovery": 0.2,
                          "recovery_ci": [0.15, 0.26], "fit": {"p_value": 0.6}}}}

``comparisons``, ``transitions`` and ``decay`` may be absent (an experiment
with one condition and one round has none of them).

Calibration::

    {"kind": "calibration",
     "roles": {"<role>": {"accuracy": 0.8, "accuracy_ci": [0.7, 0.88], "kappa": 0.55,
                          "kappa_ci": [0.4, 0.7], "auroc": 0.86, "auroc_ci": [0.8, 0.92],
                          "spearman": 0.6, "spearman_ci": [0.5, 0.7],
                          "confusion": {"tp": 40, "fp": 8, "tn": 42, "fn": 10},
                          "roc": [[0.0, 0.0], [0.1, 0.5], [1.0, 1.0]], "threshold": 0.5}},
     "probes": {"<probe>": {"effect": 0.12, "ci": [0.05, 0.19], "flagged": true}}}

``probes`` may be absent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"interval low {value[0]} is above its high {value[1]}")
    return value


Interval = Annotated[tuple[float, float], AfterValidator(_ordered)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class ConditionResult(_Part):
    n: Count
    pass_rate: Rate | None
    ci: Interval | None
    tokens: float | None
    seconds: float | None


class Comparison(_Part):
    condition: str
    baseline: str
    diff: float | None
    ci: Interval | None
    p_value: Rate | None
    fixed: Count
    broken: Count


class RoundRate(_Part):
    round: int = Field(ge=1)
    rate: Rate | None
    ci: Interval | None
    n: Count


class Transition(_Part):
    rate: Rate | None
    ci: Interval | None
    per_round: list[RoundRate]


class Transitions(_Part):
    good_to_bad: Transition
    bad_to_good: Transition


class Decay(_Part):
    e: Rate | None
    ci: Interval | None
    recovery: Rate | None
    recovery_ci: Interval | None
    fit: dict[str, float | None]
    """Goodness of fit of one constant drift rate across rounds (a p-value, a statistic...)."""


class ExperimentSummary(_Part):
    kind: Literal["experiment"]
    conditions: dict[str, ConditionResult] = Field(min_length=1)
    comparisons: list[Comparison] = Field(default_factory=list)
    transitions: dict[str, Transitions] = Field(default_factory=dict)
    decay: dict[str, Decay] = Field(default_factory=dict)


class Confusion(_Part):
    tp: Count
    fp: Count
    tn: Count
    fn: Count


class RoleCalibration(_Part):
    accuracy: Rate | None
    accuracy_ci: Interval | None
    kappa: float | None
    kappa_ci: Interval | None
    auroc: Rate | None
    auroc_ci: Interval | None
    spearman: float | None
    spearman_ci: Interval | None
    confusion: Confusion
    roc: list[tuple[Rate, Rate]]
    threshold: float | None


class Probe(_Part):
    effect: float | None
    ci: Interval | None
    flagged: bool


class CalibrationReport(_Part):
    kind: Literal["calibration"]
    roles: dict[str, RoleCalibration] = Field(min_length=1)
    probes: dict[str, Probe] = Field(default_factory=dict)
