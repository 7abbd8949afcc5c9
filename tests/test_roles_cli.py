"""``critic roles`` and roles in ``critic run``, end to end in real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.messages import Critique, ModelCall, Outcome, Verdict
from critic.transcript import read_transcript
from tests.plugin_dist import DIST, make_plugin_dist

TASK = "Write a Python function that reverses a string."


def critic(*args: str, pythonpath: Path | None = None, timeout: float = 300
           ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "CRITIC_ROLES_PATH": ""}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "critic.cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def my_roles(tmp_path: Path) -> Path:
    """A user's folder with one new role and its own template."""
    folder = tmp_path / "my-roles"
    write(folder / "myrole.toml", 'name = "myrole"\ndescription = "A researcher\'s own critic."\n'
          'prompt = "myrole.j2"\nscale = [0, 4]\nmax_tokens = 160\nseed = 7\n')
    write(folder / "myrole.j2", "MYROLE-MARKER: grade this answer.\nTask: {{ task }}\n"
          "Answer: {{ draft }}\nList problems, one suggestion, then a score from 0 to 4.\n")
    return folder


def test_roles_table_lists_every_builtin_with_kind_source_description() -> None:
    result = critic("roles", timeout=60)
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[1]
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["name", "kind", "source", "description"]
    for name in ("correctness", "clarity", "concision", "factuality", "safety",
                 "instruction-following", "llm-judge"):
        assert any(line.startswith(f"│ {name} ") and "builtin" in line
                   for line in result.stdout.splitlines()), name


def test_roles_json_includes_folder_and_entry_point_roles(my_roles: Path, tmp_path: Path) -> None:
    site = make_plugin_dist(tmp_path / "dist")
    result = critic("roles", "--json", "--roles-dir", str(my_roles), pythonpath=site, timeout=60)
    assert result.returncode == 0, result.stderr
    roles = {r["name"]: r for r in json.loads(result.stdout)}
    assert roles["safety"]["source"] == "builtin" and roles["llm-judge"]["kind"] == "judge"
    assert roles["myrole"] == {
        "name": "myrole", "kind": "llm", "source": f"dir:{my_roles}",
        "description": "A researcher's own critic.", "path": str(my_roles / "myrole.toml"),
    }
    assert roles["shout"]["source"] == f"entrypoint:{DIST}:shout"
    assert roles["shout"]["kind"] == "plugin" and roles["shout"]["path"] is None
    assert roles["terse"]["source"] == f"entrypoint:{DIST}:pack"
    assert roles["clarity"]["source"] == f"entrypoint:{DIST}:pack"  # entry points override


def test_roles_show_prints_spec_and_rendered_prompt(my_roles: Path, tmp_path: Path) -> None:
    result = critic("roles", "show", "myrole", "--roles-dir", str(my_roles), timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"myrole (llm) from dir:{my_roles}" in result.stdout
    assert '"scale": [\n    0.0,\n    4.0\n  ]' in result.stdout and '"seed": 7' in result.stdout
    assert "MYROLE-MARKER: grade this answer.\nTask: TASK\nAnswer: DRAFT" in result.stdout
    safety = critic("roles", "show", "safety", timeout=60)
    assert "constitution" in safety.stdout and "Answer to review:\nDRAFT" in safety.stdout
    plugin = critic("roles", "show", "shout", pythonpath=make_plugin_dist(tmp_path / "d"), timeout=60)
    assert plugin.returncode == 0, plugin.stderr
    assert "class: critic_shouty.ShoutCritic" in plugin.stdout and '"kind": "plugin"' in plugin.stdout


def test_roles_show_unknown_is_one_line_exit_2() -> None:
    result = critic("roles", "show", "nope", timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown role 'nope'" in result.stderr


def test_roles_check_reports_every_problem_with_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    write(bad / "ok.j2", "{{ task }} {{ draft }}")
    write(bad / "undefined.j2", "{{ task }} {{ answerz }}")
    write(bad / "a.toml", 'name = "broken\n')
    write(bad / "b.toml", 'name = "b"\ndescription = "d"\nprompt = "ok.j2"\ncolour = "red"\n')
    write(bad / "c.toml", 'name = "c"\ndescription = "d"\nprompt = "missing.j2"\n')
    write(bad / "d.toml", 'name = "d"\ndescription = "d"\nprompt = "undefined.j2"\n')
    write(bad / "e.toml", 'name = "e"\ndescription = "d"\nprompt = "ok.j2"\nscale = [10, 1]\n')
    write(bad / "f.toml", 'name = "twin"\ndescription = "d"\nprompt = "ok.j2"\n')
    write(bad / "g.toml", 'name = "twin"\ndescription = "d"\nprompt = "ok.j2"\n')
    write(bad / "h.toml", 'name = "h"\ndescription = "d"\nkind = "no-such-kind"\n')
    result = critic("roles", "check", str(bad), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: 7 problem(s) in {bad}"
    lines = result.stdout.splitlines()
    assert len(lines) == 7, result.stdout
    expected = [
        ("a.toml", "(file): invalid TOML"),
        ("b.toml", "colour: unknown key"),
        ("c.toml", "prompt: prompt template 'missing.j2' not found"),
        ("d.toml", "prompt: "),
        ("e.toml", "scale: scale minimum 10 must be below maximum 1"),
        ("g.toml", f"name: role 'twin' is also defined in {bad / 'f.toml'}"),
        ("h.toml", "kind: unknown kind 'no-such-kind'"),
    ]
    for file, message in expected:
        assert any(line.startswith(f"{bad / file}: {message}") for line in lines), (file, lines)
    assert f"{bad / 'd.toml'}: prompt: {bad / 'undefined.j2'}: 'answerz' is undefined" in lines
    assert f"{bad / 'h.toml'}: prompt: kind 'llm' needs a prompt template" not in lines
    good = critic("roles", "check", str(Path(__file__).parent.parent / "roles"), timeout=60)
    assert good.returncode == 0 and "no problems" in good.stdout


def test_one_file_with_several_problems_reports_each(tmp_path: Path) -> None:
    from critic.roles.spec import check_role_dir

    write(tmp_path / "r.toml", 'name = "r"\ndescription = "d"\nprompt = "gone.j2"\n'
          'system = "also-gone.j2"\ncolour = 1\nscale = [3, 1]\n')
    problems = check_role_dir(tmp_path)
    assert [p.split(": ")[1] for p in problems] == ["scale", "colour"]
    write(tmp_path / "r.toml", 'name = "r"\ndescription = "d"\nprompt = "gone.j2"\n'
          'system = "also-gone.j2"\n')
    problems = check_role_dir(tmp_path)
    assert [p.split(": ")[1] for p in problems] == ["prompt", "system"]
    assert check_role_dir(tmp_path / "nope") == [f"{tmp_path / 'nope'}: roles folder not found"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--judge", "nope"], "--judge: unknown judge 'nope' (judges: threshold, "),
        (["--judge", "clarity"], "--judge: role 'clarity' is a critic"),
        (["--role", "llm-judge"], "is a judge: use --judge llm-judge"),
    ],
)
def test_judge_mistakes_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = critic("run", "x", *args, timeout=60)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


@pytest.mark.model
def test_run_uses_a_folder_role_and_the_llm_judge(
    my_roles: Path, tmp_path: Path, model_path: Path
) -> None:
    transcript = tmp_path / "t.jsonl"
    result = critic("run", TASK, "--roles-dir", str(my_roles), "--role", "myrole",
                    "--judge", "llm-judge", "--max-rounds", "1", "--max-tokens", "48",
                    "--transcript", str(transcript), "--json")
    assert result.returncode == 0, result.stderr
    outcome = Outcome.model_validate_json(result.stdout)
    t = read_transcript(transcript)
    calls = [p for p in t.payloads("model_call") if isinstance(p, ModelCall)]
    mine = [c for c in calls if c.agent == "myrole"]
    assert mine, [c.agent for c in calls]
    # The critic's context is exactly the user's template, rendered for this task and draft.
    assert [m.role for m in mine[0].messages] == ["user"]
    prompt = mine[0].messages[0].content
    assert prompt.startswith(f"MYROLE-MARKER: grade this answer.\nTask: {TASK}\nAnswer: ")
    assert mine[0].params["max_tokens"] == 160 and mine[0].params["seed"] == 7
    assert '"enum": [0, 1, 2, 3, 4]' in (mine[0].json_schema or "")
    critiques = [p for p in t.payloads("critique") if isinstance(p, Critique)]
    assert [c.role for c in critiques] == ["myrole"]
    assert t.header.roles["myrole"].scale == (0.0, 4.0)
    assert t.header.judge is not None and t.header.judge.name == "llm-judge"
    assert "llm-judge" in t.header.models
    [verdict] = [p for p in t.payloads("verdict") if isinstance(p, Verdict)]
    if critiques[0].scored:
        judged = [c for c in calls if c.agent == "llm-judge"]
        assert judged and "MYROLE-MARKER" not in judged[0].messages[-1].content
        assert verdict.reason.startswith("llm-judge") or "llm-judge failed" in verdict.reason
    assert verdict.decision != "revise"  # max_rounds 1: the judge cannot revise past it
    assert outcome.rounds == 1


@pytest.mark.model
def test_run_uses_an_entry_point_class_role(tmp_path: Path, model_path: Path) -> None:
    site = make_plugin_dist(tmp_path)
    transcript = tmp_path / "t.jsonl"
    result = critic("run", "Write the word hello in capital letters.", "--role", "shout",
                    "--max-rounds", "1", "--max-tokens", "32", "--transcript", str(transcript),
                    "--json", pythonpath=site)
    assert result.returncode == 0, result.stderr
    t = read_transcript(transcript)
    [critique] = [p for p in t.payloads("critique") if isinstance(p, Critique)]
    [draft_text] = [p.text for p in t.payloads("draft") if hasattr(p, "text")]
    letters = [c for c in draft_text if c.isalpha()]
    upper = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
    assert critique.role == "shout" and critique.status == "ok"
    assert critique.score == pytest.approx(1.0 - upper)  # computed by the plugin's own code
    assert not [p for p in t.payloads("model_call") if isinstance(p, ModelCall) and p.agent == "shout"]
    assert t.header.roles["shout"].kind == "plugin"


def test_roles_check_refuses_a_model_that_is_not_a_gguf_or_url(tmp_path: Path) -> None:
    folder = tmp_path / "roles"
    write(folder / "a.toml", 'name = "a"\ndescription = "d"\nprompt = "correctness.j2"\n'
          'model = "/etc/passwd"\n')
    write(folder / "b.toml", 'name = "b"\ndescription = "d"\nprompt = "correctness.j2"\n'
          f'model = "{tmp_path / "missing.gguf"}"\n')
    write(folder / "c.toml", 'name = "c"\ndescription = "d"\nprompt = "correctness.j2"\n'
          f'model = "{tmp_path / "fake.gguf"}"\n')
    write(tmp_path / "fake.gguf", "not a model")
    result = critic("roles", "check", str(folder), timeout=60)
    assert result.returncode == 2
    out = result.stdout
    assert f"{folder / 'a.toml'}: model: '/etc/passwd' is neither an http(s) URL" in out
    assert f"{folder / 'b.toml'}: model: cannot read model file" in out
    assert f"{folder / 'c.toml'}: model: {tmp_path / 'fake.gguf'} is not a GGUF model file" in out
