"""Critic discrimination: can each critic role tell a correct program from a broken one?

Labelled drafts come from the built-in ``humaneval-mutants`` set: the first N
HumanEval problems' canonical solutions (*pass*) and up to 3 single-edit
mutants of each that fail the hidden tests (*fail*), every label checked in
the sandbox. Each role scores every draft through ``critic calibrate``'s
library (:func:`critic.calibration.calibrate`); the figure is its AUROC with a
seeded, class-stratified bootstrap 95 % interval, plus held-out accuracy.
Roles: ``doctests`` and ``runs`` (grounded, no model) and ``correctness``
(the LLM critic on the embedded SmolLM2). The baseline is chance: AUROC 0.5.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _common import arguments, emit, log, model_info, rounded

from critic.backends.llama_cpp import default_model_path
from critic.calibration import CalibrateConfig, calibrate

ROLES = ("doctests", "runs", "correctness")
FULL_PROBLEMS = 40
QUICK_PROBLEMS = 3
SEED = 0


def main() -> None:
    args = arguments(__doc__.splitlines()[0], lambda p: p.add_argument(
        "--problems", type=int, default=None, help=f"HumanEval problems (default {FULL_PROBLEMS})"))
    started = time.perf_counter()
    problems = args.problems or (QUICK_PROBLEMS if args.quick else FULL_PROBLEMS)
    # --quick checks the plumbing without the model (the model-bound role takes minutes).
    roles = ROLES[:2] if args.quick else ROLES
    with tempfile.TemporaryDirectory() as tmp:
        config = CalibrateConfig.parse(
            data="humaneval-mutants", output=Path(tmp) / "report.json", roles=roles,
            limit=problems, seed=SEED, concurrency=2)
        log(f"calibrating {', '.join(roles)} on {problems} HumanEval problems ...")
        report, _ = anyio.run(calibrate, config)
    assert report is not None
    figures: dict[str, Any] = {}
    for name, s in report.roles.items():
        figures[name] = {
            "n": s.n, "unscored": s.unscored, "auroc": rounded(s.auroc),
            "auroc_ci": None if s.auroc_ci is None else [rounded(v) for v in s.auroc_ci],
            "accuracy": rounded(s.accuracy),
            "accuracy_ci": None if s.accuracy_ci is None else [rounded(v) for v in s.accuracy_ci],
            "threshold": rounded(s.threshold),
        }
    headline = []
    for name, f in figures.items():
        low = f["auroc_ci"][0] if f["auroc_ci"] else None
        headline.append({
            "metric": f"{name}: AUROC, correct vs broken ({f['n']} drafts), 95 % CI",
            "value": f"{f['auroc']} [{low}, {f['auroc_ci'][1] if f['auroc_ci'] else None}]",
            "goal": "CI above 0.5 (chance)",
            "met": low is not None and low > 0.5,
        })
    extra = {"model": model_info(default_model_path())} if "correctness" in roles else {}
    emit("critic_discrimination", args, {
        "headline": headline,
        "items": report.items, "problems": problems, "seed": SEED, "set": report.notes,
        "roles": figures, **extra,
    }, packages=("llama-cpp-python",), started=started)


if __name__ == "__main__":
    main()
