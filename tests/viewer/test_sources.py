"""Telling the kinds apart, and one-line errors naming the file and line for anything else."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from critic.errors import TranscriptError
from critic.viewer import render_html
from critic.viewer.sources import load
from tests.viewer.fixtures import CALIBRATION, EXPERIMENT


@pytest.mark.parametrize("kind", ["session", "debate", "scores", "experiment", "calibration"])
def test_kind_is_read_from_the_content_not_the_name(tmp_path: Path, files: dict[str, Path],
                                                     kind: str) -> None:
    renamed = tmp_path / "whatever.txt"
    renamed.write_bytes(files[kind].read_bytes())
    assert load(renamed).kind == kind


def test_a_one_line_report_is_a_report(tmp_path: Path) -> None:
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(CALIBRATION))
    assert load(path).kind == "calibration"


def test_a_run_mode_transcript_with_debate_rounds_is_a_debate(tmp_path: Path, files: dict[str, Path]) -> None:
    lines = files["debate"].read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["mode"] = "run"
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
    assert load(path).kind == "debate"


def _error(path: Path) -> str:
    with pytest.raises(TranscriptError) as info:
        render_html(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def write(tmp_path: Path, text: str | bytes, name: str = "in.json") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    assert "cannot read" in _error(tmp_path / "missing.jsonl")
    assert _error(write(tmp_path, "\n  \n")).endswith("empty file, nothing to view")
    assert ":2: not UTF-8 text" in _error(write(tmp_path, b'{"a": 1}\n\xff\xfe\n'))


def test_records_or_other_jsonl_name_the_line(tmp_path: Path) -> None:
    records = '{"id": "1", "input": "x", "output": "y"}\n{"id": "2", "input": "x", "output": "z"}\n'
    path = write(tmp_path, "\n" + records)
    assert _error(path).endswith(
        ":2: not a transcript header, a score result, an experiment summary or a calibration report")


def test_invalid_json_names_its_line(tmp_path: Path) -> None:
    assert ":3: invalid JSON" in _error(write(tmp_path, '{\n  "kind": "experiment",\n  "conditions": ,\n}'))


def test_a_report_without_kind_says_which_kinds_exist(tmp_path: Path) -> None:
    data = {k: v for k, v in EXPERIMENT.items() if k != "kind"}
    message = _error(write(tmp_path, json.dumps(data, indent=2)))
    assert 'no "kind"' in message and '"experiment" or "calibration"' in message
    assert '"kind" "eval"' in _error(write(tmp_path, json.dumps({**data, "kind": "eval"})))
    assert "expected a JSON object, got list" in _error(write(tmp_path, "[1, 2]"))


def _broken(base: dict[str, Any], change: str, value: object = None, *, delete: bool = False) -> str:
    data = copy.deepcopy(base)
    *parents, last = change.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if delete:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return json.dumps(data)


@pytest.mark.parametrize(("change", "value", "delete", "expected"), [
    ("conditions.single.ci", None, True, "conditions.single.ci: Field required"),
    ("conditions.single.pass_rate", 1.5, False, "conditions.single.pass_rate: Input should be less than"),
    ("conditions.single.ci", [0.5, 0.2], False, "conditions.single.ci: Value error, interval low 0.5"),
    ("comparisons.0.p_value", None, True, "comparisons.0.p_value: Field required"),
    ("transitions.critics.good_to_bad.per_round.1.n", -1, False,
     "transitions.critics.good_to_bad.per_round.1.n: Input should be greater than or equal to 0"),
    ("decay.critics.fit", None, True, "decay.critics.fit: Field required"),
    ("conditions", {}, False, "conditions: Dictionary should have at least 1 item"),
])
def test_experiment_keys_are_checked_by_name(tmp_path: Path, change: str, value: object, delete: bool,
                                             expected: str) -> None:
    message = _error(write(tmp_path, _broken(EXPERIMENT, change, value, delete=delete)))
    assert f"{tmp_path / 'in.json'}: {expected}" in message


@pytest.mark.parametrize(("change", "value", "delete", "expected"), [
    ("roles.doctests.roc", None, True, "roles.doctests.roc: Field required"),
    ("roles.doctests.confusion.tp", None, True, "roles.doctests.confusion.tp: Field required"),
    ("roles.doctests.auroc_ci", [0.9, 0.95, 1.0], False,
     "roles.doctests.auroc_ci: Tuple should have at most"),
    ("probes.length.flagged", None, True, "probes.length.flagged: Field required"),
])
def test_calibration_keys_are_checked_by_name(tmp_path: Path, change: str, value: object, delete: bool,
                                              expected: str) -> None:
    message = _error(write(tmp_path, _broken(CALIBRATION, change, value, delete=delete)))
    assert expected in message


def test_non_finite_numbers_are_refused(tmp_path: Path) -> None:
    text = json.dumps(EXPERIMENT).replace('"pass_rate": 0.3,', '"pass_rate": NaN,')
    assert "NaN" in text
    assert "conditions.single.pass_rate: Input should be a finite number" in _error(write(tmp_path, text))


def test_undefined_statistics_may_be_null(tmp_path: Path) -> None:
    data = copy.deepcopy(CALIBRATION)
    data["roles"]["correctness"]["kappa"] = None
    data["roles"]["correctness"]["kappa_ci"] = None
    html = render_html(write(tmp_path, json.dumps(data)))
    assert "undefined" in html  # the kappa plot row says so instead of drawing nothing


def test_a_bad_transcript_line_is_named(tmp_path: Path, files: dict[str, Path]) -> None:
    lines = files["session"].read_text().splitlines(keepends=True)
    lines[3] = '{"kind": "nonsense"}\n'
    message = _error(write(tmp_path, "".join(lines), "t.jsonl"))
    assert ":4: invalid envelope" in message
    scores = files["scores"].read_text().splitlines(keepends=True)
    scores[2] = '{"format": 1, "id": "x", "critiques": {}, "verdict": 3}\n'
    assert ":3: not a score result (verdict:" in _error(write(tmp_path, "".join(scores), "s.jsonl"))
