"""Summary statistics against values computed by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from critic.cli.score import ScoreProgress
from critic.experiments import statistics as shared
from critic.scoring.results import ResultVerdict, RoleScore, ScoreResult
from critic.scoring.summary import average_ranks, cohen_kappa, label_of, spearman, summarize


def result(i: int, a: float, b: float | None, decision: str, target: object) -> ScoreResult:
    critiques = {"a": RoleScore(status="ok", score=a),
                 "b": RoleScore(status="ok", score=b) if b is not None
                 else RoleScore(status="error", error="boom")}
    return ScoreResult.model_validate({
        "id": str(i), "critiques": critiques, "target": target,
        "verdict": ResultVerdict(judge="threshold", decision=decision, reason="r"),
    })


# Worked by hand in the comments of test_summary_matches_hand_computed_values.
RESULTS = [
    result(1, 0.2, 0.1, "accept", "pass"),
    result(2, 0.4, 0.1, "discard", "fail"),
    result(3, 0.6, 0.9, "accept", True),
    result(4, 0.8, 0.5, "discard", 1),
    result(5, 1.0, None, "discard", "a reference answer, not a label"),
]


def test_summary_matches_hand_computed_values() -> None:
    s = summarize(RESULTS, threshold=0.7)
    assert (s.records, s.failed_records) == (5, 1)
    a, b = s.roles["a"], s.roles["b"]
    # a: 0.2..1.0, mean 0.6, median 0.6, squared deviations sum 0.4 / 4 -> sqrt(0.1)
    assert (a.scored, a.failures) == (5, 0)
    assert a.mean == pytest.approx(0.6) and a.median == pytest.approx(0.6)
    assert a.stdev == pytest.approx(math.sqrt(0.1))
    # b: 0.1, 0.1, 0.9, 0.5: mean 0.4, median 0.3, squared deviations 0.44 / 3
    assert (b.scored, b.failures) == (4, 1)
    assert b.mean == pytest.approx(0.4) and b.median == pytest.approx(0.3)
    assert b.stdev == pytest.approx(math.sqrt(0.44 / 3))
    assert s.verdicts == {"accept": 2, "discard": 3}
    (pair,) = s.agreement
    # ranks a 1,2,3,4; b 1.5,1.5,4,3 (tie averaged): rho = 3.5 / sqrt(5 * 4.5)
    assert pair.roles == ("a", "b") and pair.n == 4
    assert pair.spearman == pytest.approx(3.5 / math.sqrt(22.5))
    # pass at 0.7: a F,F,F,T; b F,F,T,F: po 0.5, pe 0.625 -> kappa -1/3
    assert pair.kappa == pytest.approx(-1 / 3)
    # labels T,F,T,T (the 5th is not a label); judge says T,F,T,F: 3/4 right;
    # pe = 0.5 * 0.75 + 0.5 * 0.25 = 0.5 -> kappa (0.75 - 0.5) / 0.5
    target = s.judge_vs_target
    assert target is not None and target.n == 4
    assert target.accuracy == pytest.approx(0.75) and target.kappa == pytest.approx(0.5)


def test_intervals_come_from_the_shared_statistics() -> None:
    s = summarize(RESULTS, threshold=0.7, seed=4, resamples=500)
    target = s.judge_vs_target
    assert target is not None and target.accuracy is not None
    labels, calls = [True, False, True, True], [True, False, True, False]
    expected = shared.accuracy_ci(labels, calls, seed=4, n_resamples=500)
    assert target.accuracy_ci == (expected.low, expected.high)
    assert target.accuracy_ci[0] <= target.accuracy <= target.accuracy_ci[1]
    (pair,) = s.agreement
    assert pair.spearman_ci is not None and pair.kappa_ci is not None
    assert pair.kappa is not None and pair.kappa_ci[0] <= pair.kappa <= pair.kappa_ci[1]
    assert summarize(RESULTS, threshold=0.7, seed=4, resamples=500) == s  # seeded


def test_rank_statistics_edge_cases() -> None:
    assert average_ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) is None  # one role gave every record the same score
    assert spearman([1], [2]) is None
    assert cohen_kappa([True, True], [True, True]) is None  # chance agreement is total
    assert cohen_kappa([True, False], [True, False]) == pytest.approx(1.0)
    assert cohen_kappa([], []) is None


@pytest.mark.parametrize(("target", "label"), [
    (True, True), (False, False), (1, True), (0, False), (0.5, None), ("ACCEPT", True),
    ("Incorrect", False), ("42", None), (None, None),
])
def test_label_mapping(target: object, label: bool | None) -> None:
    assert label_of(target) is label  # type: ignore[arg-type]


def test_summarize_command_json_and_table(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in RESULTS))
    run = [sys.executable, "-m", "critic.cli.main", "summarize", str(path)]
    as_json = subprocess.run([*run, "--json", "--threshold", "0.7"], capture_output=True,
                             text=True, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["agreement"][0]["kappa"] == pytest.approx(-1 / 3)
    assert data["judge_vs_target"]["accuracy"] == pytest.approx(0.75)
    low, high = data["judge_vs_target"]["accuracy_ci"]
    assert low <= 0.75 <= high
    table = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0
    assert "scores by role" in table.stdout and "accuracy 0.750 [" in table.stdout
    bad = subprocess.run([*run, "--threshold", "2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--threshold" in bad.stderr


@pytest.mark.parametrize(("critique", "problem"), [
    ({"status": "ok", "score": 5.0}, "critiques.a.score: Input should be less than or equal to 1"),
    ({"status": "ok", "score": -0.5}, "critiques.a.score: Input should be greater than or equal"),
    ({"status": "ok", "score": None}, "critiques.a: status 'ok' needs a score"),
    ({"status": "ok"}, "critiques.a: status 'ok' needs a score"),
])
def test_summarize_rejects_impossible_scores_naming_the_line(
    tmp_path: Path, critique: dict[str, object], problem: str
) -> None:
    path = tmp_path / "out.jsonl"
    bad = json.loads(RESULTS[1].model_dump_json())
    bad["critiques"]["a"] = critique
    path.write_text(RESULTS[0].model_dump_json() + "\n" + json.dumps(bad) + "\n")
    result = subprocess.run([sys.executable, "-m", "critic.cli.main", "summarize", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}:2: not a score result ({problem}")


def test_plain_progress_lines_when_not_a_terminal() -> None:
    out = StringIO()
    progress = ScoreProgress(Console(file=out, force_terminal=False), every=0.0)
    progress.start(10, 4)
    for done in (1, 2):
        progress(RESULTS[0], done, done - 1)
    progress.stop()
    lines = out.getvalue().splitlines()
    assert lines[0] == "resuming: 4 of 10 records already scored"
    assert lines[1].startswith("scored 1/6 (") and lines[2].endswith("failures 1")
    assert "ETA" in lines[2]


def test_progress_bar_on_a_terminal() -> None:
    out = StringIO()
    progress = ScoreProgress(Console(file=out, force_terminal=True, width=120), every=0.0)
    progress.start(6, 0)
    for done in (1, 2):
        progress(RESULTS[0], done, 1)
    progress.stop()
    text = out.getvalue()
    assert "2/6" in text and "failures 1" in text and "ETA" in text
    assert "scored 2/6" not in text  # the bar, not the plain lines


def test_progress_bar_updates_at_most_ten_times_a_second() -> None:
    now = [0.0]
    progress = ScoreProgress(Console(file=StringIO(), force_terminal=True, width=120),
                             clock=lambda: now[0])
    progress.start(1000, 0)
    assert progress._bar is not None
    assert progress._bar.live.refresh_per_second <= 10
    updates: list[int] = []
    real_update = progress._bar.update

    def counted(task: Any, **fields: Any) -> None:
        updates.append(fields["completed"])
        real_update(task, **fields)

    progress._bar.update = counted  # type: ignore[method-assign,assignment]
    for done in range(1, 1001):  # 1,000 results over one simulated second
        now[0] = done / 1000
        progress(RESULTS[0], done, 0)
    progress.stop()
    assert len(updates) <= 12  # ~10 in the second, the last result, and stop's final count
    assert updates[-1] == 1000
