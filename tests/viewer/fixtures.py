"""Files for the viewer to show, made with the real library on scripted models.

Transcripts come from real :class:`Session` and :class:`Debate` runs (a
:class:`ScriptedModel` stands in for the model), the score file from the real
:class:`Scorer`; the experiment summary and calibration report follow the keys
documented in :mod:`critic.viewer.reports`. Model output includes markup that
would run if it were not escaped: ``SCRIPT`` and ``BREAKOUT`` each mark the
page's root element with ``data-pwned`` if they ever execute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from critic import (
    Debate,
    LLMCritic,
    LLMDebater,
    LLMGenerator,
    MemoryBus,
    RoleRegistry,
    Session,
    Task,
    ThresholdJudge,
    TranscriptHeader,
    TranscriptWriter,
)
from critic.config import RunConfig
from critic.errors import ModelError
from critic.prompts import PromptLibrary
from critic.scoring.records import ScoreRecord
from critic.scoring.results import ResultFile
from critic.scoring.scorer import Scorer
from critic.testing import ScriptedModel
from critic.transcript import JudgeSpec

SCRIPT = "<script>document.documentElement.setAttribute('data-pwned', 'script')</script>"
BREAKOUT = ("</pre></details></td></article><img src=x "
            "onerror=\"document.documentElement.setAttribute('data-pwned', 'img')\">")
DRAFT_ONE = f"def reverse(s):\n    return s  # {SCRIPT}"
DRAFT_TWO = "def reverse(s):\n    return s[::-1]"
TASK = "Write a function that reverses a string."
QUESTION = "What is 12 * 13?"

ROLES = RoleRegistry(include_plugins=False, env_path="")


def critique(score: int, problem: str, *more: str) -> str:
    return json.dumps({"problems": [problem, *more], "suggestion": f"fix: {problem}", "score": score})


async def _session(path: Path) -> ScriptedModel:
    model = ScriptedModel(scripts={
        "generator": [DRAFT_ONE, DRAFT_TWO],
        "correctness": [critique(3, f"returns the input unchanged {BREAKOUT}"), critique(9, "none left")],
        "clarity": [ModelError("server exploded"), critique(10, "clear")],
    })
    writer = TranscriptWriter(path, TranscriptHeader(
        session="viewer-session", models={"generator": {"kind": "scripted"}},
        config=RunConfig(task=TASK), judge=JudgeSpec(name="threshold", rules=ThresholdJudge()),
    ))
    with writer:
        session = Session(
            Task(prompt=TASK, tests="assert reverse('ab') == 'ba'"),
            LLMGenerator(model.backend("generator")),
            ThresholdJudge(accept_at=0.8, max_rounds=3),
            [LLMCritic(ROLES.get(name), model.backend(name), seed=0) for name in ("correctness", "clarity")],
            bus=MemoryBus(serialize=True), transcript=writer, id="viewer-session",
        )
        await session.run()
    return model


async def _debate(path: Path) -> ScriptedModel:
    model = ScriptedModel(scripts={
        "debater-1": ["12 * 13 = 156. Answer: 156", "Still 156. Answer: 156"],
        "debater-2": [f"I think 144. {BREAKOUT} Answer: 144", "You are right. Answer: 156"],
        "debater-3": [f"{SCRIPT} Answer: 12", "Answer: 13"],
        "correctness": [critique(8, "fine"), critique(2, "144 is 12 * 12"), critique(1, "12 is the input")],
    })
    prompts = PromptLibrary()
    writer = TranscriptWriter(path, TranscriptHeader(session="viewer-debate", mode="debate"))
    with writer:
        debate = Debate(
            QUESTION,
            [LLMDebater(f"debater-{i}", model.backend(f"debater-{i}"), prompts=prompts) for i in (1, 2, 3)],
            critics=[LLMCritic(ROLES.get("correctness"), model.backend("correctness"), seed=0)],
            rounds=2, bus=MemoryBus(serialize=True), transcript=writer, id="viewer-debate",
        )
        await debate.run()
    return model


#: (id, output, target, correctness score, clarity score or an error); scored in this order.
SCORED: list[tuple[str, str, str, int, int | Exception]] = [
    ("add", "def add(a, b): return a + b", "pass", 9, 8),
    ("sub", "def sub(a, b): return b - a", "fail", 2, 7),
    ("mul", "def mul(a, b): return a * b", "pass", 10, 9),
    ("div", "def div(a, b): return a // b", "fail", 6, 5),
    ("neg", "def neg(a): return -a", "pass", 8, ModelError("timeout talking to the server")),
    ("abs", f"def f(a): return a  # {SCRIPT}", "fail", 1, 3),
]


async def _scores(path: Path) -> None:
    model = ScriptedModel(scripts={
        # A critic quoting the record's markup back: it must reach the page as text.
        "correctness": [critique(c, f"correctness of {i}", *((SCRIPT, BREAKOUT) if i == "abs" else ()))
                        for i, _, _, c, _ in SCORED],
        "clarity": [b if isinstance(b, Exception) else critique(b, f"clarity of {i}")
                    for i, _, _, _, b in SCORED],
    })
    scorer = Scorer(
        [LLMCritic(ROLES.get(name), model.backend(name), seed=0) for name in ("correctness", "clarity")],
        ThresholdJudge(accept_at=0.7, max_rounds=1),
    )
    with ResultFile(path) as out:
        for id_, output, target, _, _ in SCORED:
            out.write(await scorer.score(ScoreRecord(id=id_, input="Write the function.", output=output,
                                                     target=target)))


EXPERIMENT: dict[str, Any] = {
    "kind": "experiment",
    "dataset": "humaneval", "oracle": "hidden tests",  # extra keys are the producer's business
    "conditions": {
        "single": {"n": 164, "pass_rate": 0.30, "ci": [0.24, 0.37], "tokens": 120000, "seconds": 610.0},
        "critics": {"n": 164, "pass_rate": 0.37, "ci": [0.30, 0.45], "tokens": 410000, "seconds": 1840.5},
        "doctests": {"n": 164, "pass_rate": 0.41, "ci": [0.34, 0.49], "tokens": 300000, "seconds": 1210.0},
    },
    "comparisons": [
        {"condition": "critics", "baseline": "single", "diff": 0.07, "ci": [0.02, 0.12],
         "p_value": 0.011, "fixed": 17, "broken": 5},
        {"condition": "doctests", "baseline": "single", "diff": 0.11, "ci": [0.06, 0.16],
         "p_value": 0.0004, "fixed": 21, "broken": 3},
    ],
    "transitions": {
        "critics": {
            "good_to_bad": {"rate": 0.09, "ci": [0.05, 0.15], "per_round": [
                {"round": 2, "rate": 0.08, "ci": [0.03, 0.18], "n": 50},
                {"round": 3, "rate": 0.11, "ci": [0.04, 0.24], "n": 45}]},
            "bad_to_good": {"rate": 0.12, "ci": [0.08, 0.17], "per_round": [
                {"round": 2, "rate": 0.15, "ci": [0.10, 0.22], "n": 114},
                {"round": 3, "rate": 0.08, "ci": [0.04, 0.15], "n": 99}]},
        },
    },
    "decay": {"critics": {"e": 0.09, "ci": [0.05, 0.15], "recovery": 0.12, "recovery_ci": [0.08, 0.17],
                          "fit": {"p_value": 0.62, "statistic": 0.24}}},
}

CALIBRATION: dict[str, Any] = {
    "kind": "calibration",
    "roles": {
        "correctness": {
            "accuracy": 0.55, "accuracy_ci": [0.41, 0.68], "kappa": 0.1, "kappa_ci": [-0.15, 0.35],
            "auroc": 0.41, "auroc_ci": [0.25, 0.58], "spearman": -0.12, "spearman_ci": [-0.4, 0.18],
            "confusion": {"tp": 14, "fp": 12, "tn": 13, "fn": 11},
            "roc": [[0, 0], [0.2, 0.1], [0.5, 0.4], [0.8, 0.75], [1, 1]], "threshold": 0.5,
        },
        "doctests": {
            "accuracy": 0.94, "accuracy_ci": [0.84, 0.98], "kappa": 0.88, "kappa_ci": [0.74, 0.97],
            "auroc": 0.97, "auroc_ci": [0.92, 1.0], "spearman": 0.85, "spearman_ci": [0.75, 0.92],
            "confusion": {"tp": 24, "fp": 1, "tn": 23, "fn": 2},
            "roc": [[0, 0], [0.0, 0.8], [0.04, 0.92], [0.2, 1], [1, 1]], "threshold": 0.5,
        },
    },
    "probes": {
        "position": {"effect": 0.02, "ci": [-0.04, 0.08], "flagged": False},
        "length": {"effect": 0.19, "ci": [0.11, 0.27], "flagged": True},
        f"identity {SCRIPT}": {"effect": -0.01, "ci": [-0.06, 0.04], "flagged": False},
    },
}


def make_all(folder: Path) -> dict[str, Path]:
    """Every kind of file the viewer reads, written into ``folder``; returns them by kind."""
    paths = {
        "session": folder / "session.jsonl", "debate": folder / "debate.jsonl",
        "scores": folder / "scores.jsonl", "experiment": folder / "summary.json",
        "calibration": folder / "report.json",
    }

    async def build() -> None:
        await _session(paths["session"])
        await _debate(paths["debate"])
        await _scores(paths["scores"])

    anyio.run(build)
    paths["experiment"].write_text(json.dumps(EXPERIMENT, indent=2))
    paths["calibration"].write_text(json.dumps(CALIBRATION, indent=2))
    return paths
