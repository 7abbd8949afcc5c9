"""``critic replay --calls``: every model call shown in full (messages sent, completion)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from critic.messages import ModelCall
from critic.transcript import read_transcript
from tests.viewer.fixtures import make_all


def test_replay_calls_shows_every_message_and_completion(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    files = make_all(folder)
    for kind in ("session", "debate"):
        calls = [p for p in read_transcript(files[kind]).payloads("model_call")
                 if isinstance(p, ModelCall)]
        assert calls, kind
        shown = subprocess.run(
            [sys.executable, "-m", "critic.cli", "replay", str(files[kind]), "--calls"],
            capture_output=True, text=True, timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        # Panels wrap long lines; compare with whitespace and borders taken out.
        flat = "".join(ch for ch in shown.stdout if not ch.isspace() and ch not in "│╭╮╰╯─")
        assert flat.count("modelcall·") == len(calls), kind
        for call in calls:
            for text in [m.content for m in call.messages] + [call.completion or "(none)"]:
                assert "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─") in flat
        plain = subprocess.run(
            [sys.executable, "-m", "critic.cli", "replay", str(files[kind])],
            capture_output=True, text=True, timeout=120,
        )
        assert "model call" not in plain.stdout
