"""Built-in labelled sets, named instead of a data file.

``humaneval-mutants``: every HumanEval canonical solution (*pass*) and up to
``per_problem`` single-edit mutants of it that fail its hidden tests (*fail*),
each label checked in the sandbox when the set is built, deterministic from
the seed (see :func:`critic.experiments.mutants.humaneval_mutants`). Building
all 164 problems takes about 95 s of sandbox runs on two cores.
"""

from __future__ import annotations

from critic.calibration.labels import GradedItem, LabelledSet
from critic.experiments.mutants import humaneval_mutants

BUILTIN_SETS = ("humaneval-mutants",)


async def builtin_set(name: str, *, seed: int, limit: int | None = None,
                      per_problem: int = 3) -> LabelledSet:
    """The built-in set ``name`` (one of :data:`BUILTIN_SETS`), built now."""
    assert name == "humaneval-mutants", name
    built = await humaneval_mutants(seed, per_problem, limit)
    items = tuple(GradedItem(id=r.id, input=r.input, output=r.output, passed=r.label == "pass")
                  for r in built.records)
    return LabelledSet(source=name, graded=items, notes={
        "seed": seed, "per_problem": per_problem, "problems": built.problems,
        "problems_with_mutants": built.problems_with_mutants, "mutants_tried": built.tried,
        "mutants_survived": built.survived,
    })
