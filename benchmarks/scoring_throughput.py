"""Offline scoring throughput: ``critic score`` vs a plain loop, records/s on 10,000 records.

The role is model-free (kind ``contains-target``, registered for this run: score
1 when the record's ``target`` occurs in its ``output``, else 0), so the figure is
the framework's own cost per record: reading and validating the JSONL, a task,
a draft and a review request per record, the critic handler, the threshold
judge, a pydantic result line appended and flushed per record, at the default
concurrency (4). Subject: :func:`critic.scoring.score_file`, the library call
behind ``critic score`` (same config, no progress bar). Baseline: a plain loop
that reads each line with ``json.loads``, scores it the same way, and writes
and flushes an equivalent JSON line. The two are interleaved rep by rep and
must agree on every verdict. ``ratio`` = framework records/s / plain records/s;
``cpu_ratio`` = plain CPU / framework CPU per record (goal >= 0.2), the CPU of
``score_file`` alone: the benchmark's own read-back of the results (to check
them) is not charged to the framework.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from _common import arguments, emit, log, median, rounded

from critic.messages import Critique, ReviewRequest
from critic.protocols import Recorder
from critic.roles.kinds import default_kinds
from critic.roles.registry import RoleRegistry
from critic.roles.spec import RoleCritic
from critic.scoring.job import ScoreConfig, score_file
from critic.scoring.results import read_results

ROLE_TOML = """\
name = "contains"
description = "Does the output contain the target answer?"
kind = "contains-target"
scale = [0, 1]
"""


@dataclass
class ContainsTargetCritic(RoleCritic):
    """Model-free: 1.0 when the task's reference occurs in the draft."""

    async def review(self, request: ReviewRequest, record: Recorder) -> Critique:
        target = request.task.reference or ""
        hit = target in request.draft.text
        return Critique(role=self.name, round=request.draft.round, score=1.0 if hit else 0.0,
                        raw_score=1.0 if hit else 0.0,
                        problems=() if hit else (f"the output does not contain {target!r}",),
                        weight=self.weight)


def make_records(path: Path, n: int) -> None:
    rng = random.Random(0)
    with path.open("w") as fh:
        for i in range(n):
            answer = str(rng.randint(0, 999))
            output = f"The answer is {answer if rng.random() < 0.7 else rng.randint(0, 999)}."
            fh.write(json.dumps({"id": f"r{i}", "input": f"Question {i}: what is the number?",
                                 "output": output, "target": answer,
                                 "metadata": {"source": "bench", "n": i}}) + "\n")


def plain_loop(src: Path, dst: Path) -> tuple[float, int]:
    """Read, score, write and flush each record with no framework."""
    accepted = 0
    start = time.perf_counter()
    with src.open() as fin, dst.open("w") as fout:
        for line in fin:
            rec = json.loads(line)
            target = str(rec["target"])
            hit = target in rec["output"]
            score = 1.0 if hit else 0.0
            decision = "accept" if score >= 0.8 else "discard"
            accepted += decision == "accept"
            fout.write(json.dumps({
                "id": rec["id"],
                "critiques": {"contains": {
                    "status": "ok", "score": score,
                    "problems": [] if hit else [f"the output does not contain {target!r}"]}},
                "verdict": {"decision": decision, "aggregate": score},
                "target": rec["target"], "metadata": rec["metadata"],
            }) + "\n")
            fout.flush()
    return time.perf_counter() - start, accepted


async def framework(src: Path, dst: Path, roles_dir: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of ``score_file`` (the read-back that checks it excluded)."""
    kinds = default_kinds()
    kinds.register("contains-target", lambda role, ctx: ContainsTargetCritic(role))
    config = ScoreConfig(input=src, output=dst, roles=("contains",), overwrite=True)
    start, cpu = time.perf_counter(), time.process_time()
    report = await score_file(config, kinds=kinds, registry=RoleRegistry(extra_dirs=(roles_dir,)))
    elapsed, spent = time.perf_counter() - start, time.process_time() - cpu
    results = read_results(dst)
    assert report.written == len(results) == len({r.id for r in results})
    return elapsed, spent, sum(r.verdict.decision == "accept" for r in results)


def measure(n: int, reps: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"plain": [], "framework": []}
    # CPU seconds of this process per record too: on shared cores the wall clock
    # also counts time other processes held the CPU.
    cpu: dict[str, list[float]] = {"plain": [], "framework": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "records.jsonl"
        make_records(src, n)
        roles_dir = root / "roles"
        roles_dir.mkdir()
        (roles_dir / "contains.toml").write_text(ROLE_TOML)
        # Warm-up on a slice (imports, pydantic schemas).
        small = root / "small.jsonl"
        small.write_text("".join(src.read_text().splitlines(keepends=True)[:200]))
        plain_loop(small, root / "p.jsonl")
        anyio.run(framework, small, root / "f.jsonl", roles_dir)
        accepts: dict[str, int] = {}
        for rep in range(reps):
            order = ["plain", "framework"] if rep % 2 == 0 else ["framework", "plain"]
            for name in order:
                if name == "plain":
                    cpu_start = time.process_time()
                    elapsed, accepts[name] = plain_loop(src, root / "plain.jsonl")
                    spent = time.process_time() - cpu_start
                else:
                    elapsed, spent, accepts[name] = anyio.run(framework, src,
                                                              root / "out.jsonl", roles_dir)
                rates[name].append(n / elapsed)
                cpu[name].append(spent / n)
            log(f"rep {rep + 1}/{reps}: plain {rates['plain'][-1]:,.0f}/s, "
                f"framework {rates['framework'][-1]:,.0f}/s")
        assert accepts["plain"] == accepts["framework"], accepts
    ratios = [f / p for f, p in zip(rates["framework"], rates["plain"], strict=True)]
    cpu_ratios = [p / f for f, p in zip(cpu["framework"], cpu["plain"], strict=True)]
    return {
        "records": n, "reps": reps, "concurrency": 4,
        "records_per_s": {k: round(median(v)) for k, v in rates.items()},
        "ratio": rounded(median(ratios), 4),
        "cpu_ratio": rounded(median(cpu_ratios), 4),
        "cpu_us_per_record": {k: round(median(v) * 1e6, 1) for k, v in cpu.items()},
        "framework_us_per_record": round(1e6 / median(rates["framework"]), 1),
        "plain_us_per_record": round(1e6 / median(rates["plain"]), 1),
        "accepted": accepts["framework"], "verdicts_agree": True,
    }


def main() -> None:
    started = time.perf_counter()
    args = arguments(__doc__.splitlines()[0])
    figures = measure(1000, 3) if args.quick else measure(10_000, 5)
    headline = [
        {"metric": f"critic score records/s, model-free role ({figures['records']:,} records)",
         "value": figures["records_per_s"]["framework"], "goal": None, "met": None},
        {"metric": "critic score / plain read-score-write loop (records/s)",
         "value": figures["ratio"], "goal": None, "met": None},
        {"metric": "same, by CPU time per record (robust to other load; read-back excluded)",
         "value": figures["cpu_ratio"], "goal": "≥ 0.2", "met": figures["cpu_ratio"] >= 0.2},
    ]
    emit("scoring_throughput", args, {"headline": headline, **figures}, started=started)


if __name__ == "__main__":
    main()
