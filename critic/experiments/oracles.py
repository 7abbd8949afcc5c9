"""The hidden oracle: whether a draft is right, decided after the session, never inside it.

The runner applies it to every draft of every round once the session has
ended, so nothing it knows (hidden tests, targets) can reach a model:
``tests`` run in the sandbox against the draft's code; ``target`` is compared
with the answer the item's extractor finds in the draft.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from critic.debate.answers import extractor
from critic.experiments.datasets import Item
from critic.grounding.execution import extract_code
from critic.grounding.testing import entry_point_of, prelude_of, run_suite, unit_test_suite


class OracleResult(BaseModel):
    """The oracle's verdict on one draft, with what it saw."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    passed: bool
    detail: str | None = None
    """Why it failed (the first failing test, or the answer found)."""


async def judge_draft(item: Item, text: str) -> OracleResult:
    """Run ``item``'s hidden oracle on one draft's text."""
    if item.tests is not None:
        seen = item.visible or item.prompt
        entry = item.entry_point or entry_point_of(seen)
        code = prelude_of(seen, entry) + extract_code(text)
        report = await run_suite(code, unit_test_suite(item.tests, entry_point=entry))
        if report.load_error is not None:
            return OracleResult(passed=False, detail=f"does not run: {report.load_error}"[:300])
        failing = [c for c in report.cases if not c.passed]
        return OracleResult(passed=not failing,
                            detail=failing[0].describe()[:300] if failing else None)
    assert item.target is not None  # an Item has exactly one oracle
    answers = extractor(item.extract)
    found, wanted = await answers.extract(text), await answers.extract(item.target)
    return OracleResult(passed=found is not None and found == wanted,
                        detail=None if found == wanted else f"answered {found!r}")
