"""The final panels of ``run`` and ``debate`` show what is returned and where it came from."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from critic.cli.debate_views import DebateView
from critic.messages import DebateOutcome, Envelope, Outcome
from critic.transcript import read_transcript
from tests.viewer.fixtures import make_all


def _flat(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")


def test_run_and_debate_outcomes_show_the_returned_text(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    files = make_all(folder)
    [outcome] = read_transcript(files["session"]).payloads("outcome")
    assert isinstance(outcome, Outcome) and outcome.draft is not None
    shown = subprocess.run([sys.executable, "-m", "critic.cli", "replay", str(files["session"])],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    panel = shown.stdout[shown.stdout.rindex("outcome"):]
    assert _flat(f"returned draft ({'accepted' if outcome.decision == 'accept' else 'best'}, "
                 f"from round {outcome.draft.round}):") in _flat(panel)
    assert _flat(outcome.draft.text) in _flat(panel)

    [debated] = read_transcript(files["debate"]).payloads("debate_outcome")
    assert isinstance(debated, DebateOutcome) and debated.text
    shown = subprocess.run([sys.executable, "-m", "critic.cli", "replay", str(files["debate"])],
                           capture_output=True, text=True, timeout=120)
    panel = shown.stdout[shown.stdout.rindex("debate outcome"):]
    assert _flat(f"returned text (judged after round {debated.rounds_used}):") in _flat(panel)
    assert _flat(debated.text) in _flat(panel)


def test_a_debate_without_an_answer_says_so_not_none(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    transcript = read_transcript(make_all(folder)["debate"])
    envelope = next(e for e in transcript.envelopes if isinstance(e.payload, DebateOutcome))
    assert isinstance(envelope.payload, DebateOutcome)
    none = envelope.payload.model_copy(update={"answer": None, "text": None, "decision": "discard"})
    out = io.StringIO()
    DebateView(Console(file=out, width=200, highlight=False))(
        Envelope.model_validate({**envelope.model_dump(), "payload": none.model_dump()}))
    assert "no answer after" in out.getvalue() and "None" not in out.getvalue()
