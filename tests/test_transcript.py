from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.errors import TranscriptError
from critic.messages import Draft, Envelope
from critic.transcript import TranscriptHeader, TranscriptWriter, iter_lines, read_transcript


def write(path: Path, n: int) -> list[Envelope]:
    envs = [Envelope(session="s", topic="t", sender="x", payload=Draft(round=1, text=str(i)))
            for i in range(n)]
    with TranscriptWriter(path, TranscriptHeader(session="s")) as w:
        for e in envs:
            w.write(e)
            # Flushed per line: readable before the writer closes.
            assert path.read_text().count("\n") == envs.index(e) + 2
    return envs


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    envs = write(path, 3)
    t = read_transcript(path)
    assert t.envelopes == tuple(envs) and t.header.session == "s"
    assert t.header.format == 2 and t.header.critic_version


def test_torn_tail_is_named_or_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    envs = write(path, 2)
    with path.open("a") as fh:
        fh.write('{"id": "half')
    with pytest.raises(TranscriptError, match=r"t.jsonl:4: invalid envelope"):
        read_transcript(path)
    assert read_transcript(path, tolerate_torn_tail=True).envelopes == tuple(envs)


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"not": "a header"}\n')
    with pytest.raises(TranscriptError, match=r"t.jsonl:1: not a transcript header"):
        read_transcript(path)
    with pytest.raises(TranscriptError, match="cannot read"):
        read_transcript(tmp_path / "missing.jsonl")


def test_existing_transcript_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, 1)
    before = path.read_text()
    with pytest.raises(TranscriptError, match="already exists"):
        TranscriptWriter(path, TranscriptHeader(session="other"))
    assert path.read_text() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write read-only folders")
def test_unwritable_path(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(TranscriptError, match="cannot write transcript"):
        TranscriptWriter(folder / "t.jsonl", TranscriptHeader(session="s"))


def test_path_in_missing_folder_is_unwritable(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match="cannot write transcript"):
        TranscriptWriter(tmp_path / "no" / "such" / "t.jsonl", TranscriptHeader(session="s"))


def test_the_header_comes_first_and_reads_back_into_its_config(tmp_path: Path) -> None:
    from critic.config import DebateConfig, RunConfig
    from critic.judges.rules import ThresholdJudge
    from critic.transcript import JudgeSpec

    for config in (RunConfig(task="t", roles=("runs",), max_rounds=2, accept_at=0.5),
                   DebateConfig(question="q?", debaters=2, temperature=0.3)):
        path = tmp_path / f"{type(config).__name__}.jsonl"
        header = TranscriptHeader(session="s", mode="run" if isinstance(config, RunConfig)
                                  else "debate", config=config,
                                  judge=JudgeSpec(name="threshold", rules=ThresholdJudge()))
        TranscriptWriter(path, header).close()
        assert path.read_text().startswith('{"format":2,')
        assert read_transcript(path).header.config == config


def test_a_format_1_header_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    old = {"kind": "header", "format": 1, "session": "s", "mode": "run",
           "config": {"task": "t", "roles": ["runs"], "judge": {"name": "threshold",
                      "accept_at": 0.5, "max_rounds": 2},
                      "roles_spec": {"runs": {"name": "runs", "description": "d", "kind": "python-exec"}}}}
    path.write_text(json.dumps(old) + "\n")
    header = read_transcript(path).header
    assert header.format == 2 and header.config is not None and header.judge is not None
    assert header.judge.rules is not None and header.judge.rules.accept_at == 0.5
    assert header.roles["runs"].kind == "python-exec"


def replay(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "critic.cli.main", "replay", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_replay_refuses_a_format_it_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write(path, 1)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert replay(path).returncode == 0
    path.write_text("\n".join([json.dumps({**header, "format": 99}), *lines[1:]]) + "\n")
    result = replay(path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        f"error: {path}:1: not a transcript header (format: transcript format 99 is not "
        "supported (this critic reads format 2))")


def test_replay_reads_regular_files_only(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it for reading would wait forever
    for path in (Path("/dev/zero"), fifo, tmp_path):  # /dev/zero has no end and no newline
        result = replay(path)
        assert result.returncode == 2
        assert result.stderr.strip() == f"error: cannot read {path}: not a regular file"


def test_a_line_over_the_bound_is_named_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"short\n" + b"x" * 100 + b"\n")
    with pytest.raises(TranscriptError, match=r"t.jsonl:2: line longer than 50 bytes"):
        list(iter_lines(path, max_bytes=50))
    assert [n for n, _ in iter_lines(path, max_bytes=101)] == [1, 2]


def test_a_header_built_in_python_keeps_its_judge_and_roles(tmp_path: Path) -> None:
    from critic.config import RunConfig
    from critic.judges.rules import ThresholdJudge
    from critic.roles.spec import RoleSpec
    from critic.transcript import JudgeSpec

    spec = RoleSpec(name="r", description="d", kind="python-exec")
    header = TranscriptHeader(session="s", config=RunConfig(task="t", roles=("r",)),
                              judge=JudgeSpec(name="threshold", rules=ThresholdJudge(max_rounds=2)),
                              roles={"r": spec})
    path = tmp_path / "t.jsonl"
    TranscriptWriter(path, header).close()
    again = read_transcript(path).header
    assert again.roles == {"r": spec} and again.judge == header.judge
