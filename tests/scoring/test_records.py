"""Reading records to score: every kind of bad line names its line number."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from critic.errors import TranscriptError
from critic.scoring.records import MAX_LINE_BYTES, read_records


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


GOOD = json.dumps({"id": "a", "input": "task", "output": "answer"}).encode()

BAD_LINES = [
    (b'{"id": "b", "input": "t", "output": ', "invalid JSON"),
    (json.dumps({"input": "t", "output": "o"}).encode(), "missing field 'id'"),
    (json.dumps({"id": "b", "output": "o"}).encode(), "missing field 'input'"),
    (json.dumps({"id": "a", "input": "t", "output": "o"}).encode(),
     "duplicate id 'a' (first on line 1)"),
    (json.dumps({"id": "b", "input": "t", "output": 3}).encode(), "output: Input should be a valid string"),
    (json.dumps({"id": ["x"], "input": "t", "output": "o"}).encode(), "id: Input should be a valid string"),
    (json.dumps({"id": "b", "input": "t", "output": "o", "extra": 1}).encode(), "extra: unknown field"),
    (json.dumps({"id": "b", "input": "t", "output": "o", "metadata": [1]}).encode(), "metadata"),
    (b'{"id": "b", "input": "t", "output": "o", "metadata": {"x": NaN}}',
     "NaN is not a JSON number"),
    (b'{"id": "b", "input": "t", "output": "o", "target": -Infinity}',
     "-Infinity is not a JSON number"),
    (b'{"id": "b", "input": "t", "output": "o", "target": 2e308}', "2e308 is too large"),
    (b"[1, 2]", "expected a JSON object, got list"),
    (b"\x00\xff\xfe\x89PNG\x01", "not UTF-8 text"),
    (b'{"id": "b", "input": "t", "output": "' + b"x" * (10 * 1024 * 1024) + b'"}',
     f"line longer than {MAX_LINE_BYTES} bytes"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_LINES, ids=[m[:20] for _, m in BAD_LINES])
def test_bad_line_is_an_error_naming_it(tmp_path: Path, bad: bytes, message: str) -> None:
    path = write(tmp_path / "in.jsonl", [GOOD, b" \t\r", bad, GOOD.replace(b'"a"', b'"c"')])
    with pytest.raises(TranscriptError) as info:
        read_records(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert message in str(info.value)
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)


def test_skip_invalid_keeps_good_records_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = [GOOD] + [bad for bad, _ in BAD_LINES] + [GOOD.replace(b'"a"', b'"z"')]
    found = read_records(write(tmp_path / "in.jsonl", lines), skip_invalid=True)
    assert [r.id for r in found.records] == ["a", "z"]
    assert [bad.line for bad in found.invalid] == list(range(2, 2 + len(BAD_LINES)))
    for bad, (_, message) in zip(found.invalid, BAD_LINES, strict=True):
        assert message in bad.error
        assert len(bad.text) <= 200


def test_fields_are_kept_and_integer_ids_become_strings(tmp_path: Path) -> None:
    record = {"id": 7, "input": "t", "output": "", "target": True, "metadata": {"k": [1, None]}}
    found = read_records(write(tmp_path / "in.jsonl", [json.dumps(record).encode()]))
    (only,) = found.records
    assert only.id == "7" and only.output == "" and only.target is True
    assert only.metadata == {"k": [1, None]}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="cannot read"):
        read_records(tmp_path / "nope.jsonl")


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it for reading would wait forever
    for path in (fifo, tmp_path, Path("/dev/zero")):
        with pytest.raises(TranscriptError, match=f"cannot read {path}: not a regular file"):
            read_records(path)


@pytest.mark.parametrize(("line", "where"), [
    (rb'{"id": "a", "input": "q", "output": "x", "metadata": {"note": "\udc00"}}',
     "metadata.note"),
    (rb'{"id": "a", "input": "q", "output": "ok \uD800 then"}', "output"),
    (rb'{"id": "a", "input": "q", "output": "x", "metadata": {"k": ["y", "\ud83d"]}}',
     "metadata.k.1"),
    (rb'{"id": "a", "input": "q", "output": "x", "metadata": {"\udfff": 1}}', "metadata.\udfff"),
])
def test_a_lone_surrogate_is_an_error_naming_the_field(tmp_path: Path, line: bytes,
                                                       where: str) -> None:
    """It would read, then fail when its result line is written: refused at reading."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(line + b"\n")
    with pytest.raises(TranscriptError) as caught:
        read_records(path)
    assert str(caught.value).startswith(f"{path}:1: {where}: a lone surrogate")


def test_a_surrogate_pair_is_one_character(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(rb'{"id": "a", "input": "q", "output": "\ud83d\ude00 \u00e9"}' + b"\n")
    assert read_records(path).records[0].output == "\N{GRINNING FACE} \N{LATIN SMALL LETTER E WITH ACUTE}"
