"""Plugins at every extension point: one registry type, one entry-point group each.

The distribution of :mod:`tests.plugin_dist` is installed on a temporary path
(as ``pip install`` would leave it) and used from the CLI: a judge, a debate
judge, an answer extractor, a critic kind named by a TOML role with a list
option, and a model backend (so no real model is needed).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from critic import ConfigError, Critic, Draft, ReviewRequest, RoleRegistry, Task
from critic.backends.base import GenerationParams
from critic.backends.pool import ModelPool, backends, open_model
from critic.bus.agents import review
from critic.debate.answers import EXTRACTORS, accept_extractor, extractor, extractors
from critic.judges.rules import ThresholdJudge
from critic.judges.select import build_judge, judge_names, judges
from critic.messages import Critique, ModelCall
from critic.protocols import AnswerExtractor, CriticContext, Judge, JudgeContext
from critic.roles.extensions import Extensions, installed
from critic.roles.kinds import default_kinds
from critic.transcript import read_transcript
from tests.plugin_dist import DIST, PACKAGE, make_plugin_dist

PARTS = f"{PACKAGE}.parts"

NO_TODO = """\
name = "no-todo"
description = "Drafts must not leave TODO or FIXME behind."
kind = "banned-words"
weight = 2.0

[options]
banned = ["TODO", "FIXME"]
limits = { per_line = 1, words = ["XXX"] }
"""


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees problems as new (they are reported once per process)."""
    monkeypatch.setattr("critic.roles.extensions._reported", set())


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test distribution on sys.path, as if pip-installed; gone afterwards."""
    folder = make_plugin_dist(tmp_path)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in (PACKAGE, PARTS):
        sys.modules.pop(name, None)


def group(name: str) -> list[EntryPoint]:
    """The test distribution's entry points of one group, read from its metadata."""
    return [e for e in installed(name) if e.dist is not None and e.dist.name == DIST]


def critic_cli(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "critic.cli.main", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=cwd)


# --- the registry type ------------------------------------------------------------


class Shout:
    name = "shout"

    async def extract(self, text: str) -> str | None:
        return text.upper()


def test_nothing_is_imported_until_a_name_is_asked_for() -> None:
    asked: list[str] = []

    def eps() -> list[EntryPoint]:
        asked.append("eps")
        return [EntryPoint("shout", f"{__name__}:Shout", "critic.extractors")]

    registry = Extensions("answer extractor", "critic.extractors", accept_extractor, EXTRACTORS,
                          entry_points=eps)
    assert asked == []
    assert registry.get("number") is EXTRACTORS["number"]
    assert asked == ["eps"]
    assert isinstance(registry.get("shout"), Shout)
    assert registry.names() == ["number", "option", "text", "shout"]
    assert asked == ["eps"]  # loaded once


def test_register_and_the_decorator_add_parts_to_one_registry_only() -> None:
    registry = extractors.copy()
    registry.register("shout", Shout())
    assert registry.names() == ["number", "option", "text", "shout"]
    assert registry.origin("shout") == "registered" and registry.origin("text") == "builtin"
    assert "shout" not in extractors

    parts = judges.copy()

    @parts.part("lenient")
    def lenient(ctx: JudgeContext) -> Judge:
        return ctx.rules

    rules = ThresholdJudge()
    registry_of_roles = RoleRegistry(include_plugins=False)
    assert build_judge("lenient", registry_of_roles, ModelPool(None), rules, parts=parts) is rules
    assert "lenient" not in judges


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("no_such_module_xyz:Thing", "skipped: ModuleNotFoundError"),
        (f"{__name__}:MISSING", "skipped: AttributeError"),
        (f"{__name__}:PARTS", "skipped: TypeError: str is not an answer extractor"),
    ],
)
def test_a_broken_plugin_is_reported_once_and_disables_only_itself(
    caplog: pytest.LogCaptureFixture, value: str, problem: str,
) -> None:
    eps = [EntryPoint("broken", value, "critic.extractors"),
           EntryPoint("shout", f"{__name__}:Shout", "critic.extractors"),
           EntryPoint("number", f"{__name__}:Shout", "critic.extractors")]
    caplog.set_level(logging.WARNING, "critic.plugins")
    for _ in range(2):  # a second registry meets the same problems: not reported again
        registry = Extensions("answer extractor", "critic.extractors", accept_extractor,
                              EXTRACTORS, entry_points=lambda: eps)
        assert registry.names() == ["number", "option", "text", "shout"]
        assert registry.get("number") is EXTRACTORS["number"]  # a plugin cannot take a built-in
    lines = [r.getMessage() for r in caplog.records if r.name == "critic.plugins"]
    broken = [line for line in lines if "'broken'" in line]
    assert len(broken) == 1, lines
    assert f"critic.extractors entry point 'broken' = '{value}' (unknown): {problem}" in broken[0]
    taken = [line for line in lines if "'number' = " in line]
    assert len(taken) == 1 and "is a built-in answer extractor" in taken[0], lines
    with pytest.raises(ConfigError, match=r"^--extract: unknown answer extractor 'broken' "
                                          r"\(known: number, option, text, shout\)$"):
        extractor("broken", registry)


# --- each extension point, in the library ----------------------------------------


def test_the_distribution_is_found_in_every_group(site: Path) -> None:
    found = {g: [e.name for e in group(g)] for g in (
        "critic.roles", "critic.kinds", "critic.judges", "critic.debate_judges",
        "critic.extractors", "critic.backends")}
    assert found == {
        "critic.roles": ["pack", "shout"], "critic.kinds": ["banned-words"],
        "critic.judges": ["strict"], "critic.debate_judges": ["unanimous"],
        "critic.extractors": ["roman"], "critic.backends": ["canned"],
    }


@pytest.mark.anyio
async def test_plugin_extractor_and_backend(site: Path) -> None:
    roman = extractor("roman", extractors.copy())
    assert isinstance(roman, AnswerExtractor)
    assert await roman.extract("so the answer is XLII.") == "42"
    assert await roman.extract("no numerals here") is None
    model = open_model("canned:the answer is IX", registry=backends.copy())
    reply = await model.backend("a").complete([], GenerationParams(max_tokens=5))
    assert reply.text == "the answer is IX"
    with pytest.raises(ConfigError, match=r"^--model: unknown model backend 'nope' \(known: "
                                          r"http, https, canned\)$"):
        open_model("nope:x", registry=backends.copy())


@pytest.mark.anyio
async def test_plugin_kind_reads_a_list_option_and_its_weight_counts(
    site: Path, tmp_path: Path,
) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "no-todo.toml").write_text(NO_TODO)
    role = RoleRegistry(extra_dirs=[roles], include_plugins=False).get("no-todo")
    assert role.spec.options == {"banned": ["TODO", "FIXME"],
                                 "limits": {"per_line": 1, "words": ["XXX"]}}
    critic = default_kinds().build(role, CriticContext(ModelPool(None)))
    assert isinstance(critic, Critic) and critic.weight == 2.0
    async def record(call: ModelCall) -> None:
        raise AssertionError("this kind calls no model")

    request = ReviewRequest(task=Task(prompt="t"), role="no-todo",
                            draft=Draft(round=1, text="x = 1  # FIXME later"))
    critique = await review(critic, request, record)
    assert critique.score == 0.0 and critique.problems == ("contains FIXME",)
    assert critique.weight == 2.0  # the Critique itself left weight out
    explicit = Critique(role="r", round=1, score=1.0, weight=0.5)
    assert "weight" in explicit.model_fields_set


def test_unknown_judge_lists_plugin_judges(site: Path) -> None:
    parts = judges.copy()
    registry = RoleRegistry(include_plugins=False)
    assert judge_names(registry, parts)[:2] == ["threshold", "strict"]
    with pytest.raises(ConfigError, match=r"^--judge: unknown judge 'nope' \(judges: "
                                          r"threshold, strict, debate-judge, llm-judge\)$"):
        build_judge("nope", registry, ModelPool(None), ThresholdJudge(), parts=parts)
    rules = ThresholdJudge()
    assert build_judge("threshold", registry, ModelPool(None), rules, parts=parts) is rules
    strict = build_judge("strict", registry, ModelPool(None), rules, parts=parts)
    assert strict.name == "strict" and type(strict).__module__ == PARTS


# --- from the CLI -----------------------------------------------------------------


def test_cli_run_with_a_plugin_judge_kind_and_backend(site: Path, tmp_path: Path) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "no-todo.toml").write_text(NO_TODO)
    transcript = tmp_path / "run.jsonl"
    result = critic_cli(site, "run", "write x", "--role", "no-todo", "--roles-dir", str(roles),
                        "--judge", "strict", "--model", "canned:x = 1  # TODO", "--max-rounds",
                        "1", "--accept-at", "0.0", "--json", "--transcript", str(transcript),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["decision"] == "discard"
    assert outcome["reason"] == "strict: contains TODO"
    t = read_transcript(transcript)
    assert t.header.judge is not None and t.header.judge.name == "strict"
    critiques = [c for c in t.payloads("critique") if isinstance(c, Critique)]
    assert [(c.role, c.score, c.weight) for c in critiques] == [("no-todo", 0.0, 2.0)]

    clean = critic_cli(site, "run", "write x", "--role", "no-todo", "--roles-dir", str(roles),
                       "--judge", "strict", "--model", "canned:x = 1", "--json", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    accepted = json.loads(clean.stdout)
    assert accepted["decision"] == "accept" and accepted["reason"].startswith("strict: ")


def test_cli_debate_with_a_plugin_extractor_and_debate_judge(site: Path, tmp_path: Path) -> None:
    result = critic_cli(site, "debate", "What is six times seven?", "--extract", "roman",
                        "--judge", "unanimous", "--model", "canned:The answer is XLII.",
                        "--debaters", "2", "--rounds", "1", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert (outcome["decision"], outcome["answer"]) == ("accept", "42")
    assert outcome["verdict"]["judge"] == "unanimous"
    assert outcome["verdict"]["reason"] == "unanimous (roman): 42"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["debate", "x", "--extract", "greek"],
         "--extract: unknown answer extractor 'greek' (known: number, option, text, roman)"),
        (["run", "x", "--judge", "nope", "--model", "canned:x"],
         "--judge: unknown judge 'nope' (judges: threshold, strict, "),
        (["run", "x", "--model", "nope:x"],
         "--model: unknown model backend 'nope' (known: http, https, canned)"),
    ],
)
def test_cli_errors_name_the_plugin_names(
    site: Path, tmp_path: Path, args: list[str], message: str,
) -> None:
    result = critic_cli(site, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_cli_a_broken_plugin_is_one_warning_and_the_rest_works(
    tmp_path: Path,
) -> None:
    site = make_plugin_dist(tmp_path, "[critic.extractors]\n"
                            "broken = no_such_module_xyz:Thing\n"
                            f"roman = {PARTS}:RomanAnswer\n"
                            "[critic.backends]\n"
                            f"canned = {PARTS}:canned\n")
    result = critic_cli(site, "debate", "q", "--extract", "roman", "--model",
                        "canned:The answer is VII", "--debaters", "1", "--rounds", "1", "--json",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "7"
    warnings = [line for line in result.stderr.splitlines() if "'broken'" in line]
    assert warnings == [
        f"critic: critic.extractors entry point 'broken' = 'no_such_module_xyz:Thing' ({DIST}): "
        "skipped: ModuleNotFoundError: No module named 'no_such_module_xyz'"], result.stderr
