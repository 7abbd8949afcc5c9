"""Offline scoring: a JSONL of existing outputs in, critiques and verdicts out, resumable.

    config = ScoreConfig(input=Path("outputs.jsonl"), output=Path("scores.jsonl"),
                         roles=("correctness",))
    report = anyio.run(score_file, config)
    print(summarize(read_results(config.output)))
"""

from critic.scoring.job import ScoreConfig, ScoreReport, score_file
from critic.scoring.records import InvalidLine, RecordSet, ScoreRecord, read_records
from critic.scoring.results import ResultFile, ResultVerdict, RoleScore, ScoreResult, read_results
from critic.scoring.scorer import Scorer, default_judge, score_all
from critic.scoring.summary import Summary, cohen_kappa, spearman, summarize

__all__ = [
    "InvalidLine",
    "RecordSet",
    "ResultFile",
    "ResultVerdict",
    "RoleScore",
    "ScoreConfig",
    "ScoreRecord",
    "ScoreReport",
    "ScoreResult",
    "Scorer",
    "Summary",
    "cohen_kappa",
    "default_judge",
    "read_records",
    "read_results",
    "score_all",
    "score_file",
    "spearman",
    "summarize",
]
