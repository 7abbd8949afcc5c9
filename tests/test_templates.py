"""Prompt templates are bounded: a hostile role template fails fast, naming its file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.errors import ConfigError, TemplateBoundError
from critic.prompts import PromptLibrary

HOSTILE = {
    "recursive-macro": "{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}",
    "huge-range": "{% for i in range(10**9) %}x{% endfor %}",
    "huge-repeat": "{{ 'x' * 10**10 }}",
    "huge-repeat-literal": "{% set n = 10000000000 %}{{ 'x' * n }}",
    "nested-loops": "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
    "nested-string-loops": "{% for a in 'x' * 99999 %}{% for b in 'y' * 99999 %}{% endfor %}{% endfor %}",
    "wide-method": "{{ 'x'.ljust(10000000000) }}",
    "wide-filter": "{{ 'x'|center(10000000000) }}",
    "doubling-concat": "{% set ns = namespace(s='xx') %}{% for i in range(100) %}"
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "doubling-plus": "{% set ns = namespace(s='xx') %}{% for i in range(100) %}"
                     "{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "wide-format": "{{ '{:>999999999}'.format(1) }}",
    "wide-format-filter": "{{ '%999999999d'|format(1) }}",
    "wide-percent": "{{ '%999999999d' % 1 }}",
    "huge-power": "{% set n = 7 ** 100000 %}",
    "squaring": "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                "{% endfor %}",
    "lipsum": "{{ lipsum(n=10000000) }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_is_a_bound_error_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / f"{name}.j2").write_text(HOSTILE[name])
    with pytest.raises(TemplateBoundError) as caught:
        PromptLibrary([tmp_path]).load(f"{name}.j2")
    message = str(caught.value)
    assert f"{name}.j2" in message and "render bound" in message
    assert "\n" not in message


def test_ordinary_templates_render_as_before(tmp_path: Path) -> None:
    (tmp_path / "ok.j2").write_text(
        "Task: {{ task }}\n{% for line in draft.splitlines() %}{{ loop.index }}: {{ line }}\n"
        "{% endfor %}{{ 'round ' ~ round }} {{ [3, 1, 2]|sort|join(',') }} {{ 1000000|abs }} "
        "{{ '%s-%d'|format('a', 3) }} {{ '{}!'.format(task) }}{% if tests %} tests{% endif %}"
    )
    template = PromptLibrary([tmp_path]).load("ok.j2")
    text = template.render(task="T", draft="a\nb", round=2, tests=None)
    assert text == "Task: T\n1: a\n2: b\nround 2 1,2,3 1000000 a-3 T!"


def test_a_large_draft_is_not_a_bound_error(tmp_path: Path) -> None:
    (tmp_path / "echo.j2").write_text("{{ draft }}{{ draft }}")
    template = PromptLibrary([tmp_path]).load("echo.j2", check={"draft": "x"})
    draft = "y" * 3_000_000
    assert len(template.render(draft=draft)) == 6_000_000


def test_template_code_raising_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "div.j2").write_text("{{ 1 // 0 }}")
    with pytest.raises(ConfigError, match=r"div\.j2: ZeroDivisionError"):
        PromptLibrary([tmp_path]).load("div.j2")


def test_mutating_a_list_is_refused(tmp_path: Path) -> None:
    (tmp_path / "append.j2").write_text("{% set l = [] %}{{ l.append(1) }}")
    with pytest.raises(ConfigError, match="unsafe"):
        PromptLibrary([tmp_path]).load("append.j2")


@pytest.mark.parametrize("command", [["roles", "check"], ["roles"], ["run", "x", "--role", "evil"]])
def test_hostile_role_template_fails_each_command_with_exit_2(tmp_path: Path, command: list[str]) -> None:
    roles = tmp_path / "roles"
    roles.mkdir()
    (roles / "evil.toml").write_text('name = "evil"\ndescription = "d"\nprompt = "evil.j2"\n')
    (roles / "evil.j2").write_text(HOSTILE["nested-loops"])
    args = [*command, str(roles)] if command == ["roles", "check"] else [*command, "--roles-dir", str(roles)]
    result = subprocess.run([sys.executable, "-m", "critic.cli.main", *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    output = (result.stdout + result.stderr).strip()
    assert "evil.toml" in output and "prompt" in output and "render bound" in output
    assert "Traceback" not in output


# --- compiled templates shared between libraries ------------------------------------------


def test_libraries_over_the_same_folders_share_compiled_templates(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("Hello {{ task }}")
    first = PromptLibrary([tmp_path]).load("t.j2")
    second = PromptLibrary([tmp_path]).load("t.j2")
    assert second._template is first._template
    assert second.render(task="you") == "Hello you"


def test_an_edit_within_the_same_modification_time_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "t.j2"
    path.write_text("Hello {{ task }}")
    assert PromptLibrary([tmp_path]).load("t.j2").render(task="A") == "Hello A"
    stamp = path.stat().st_mtime_ns
    path.write_text("Howdy {{ task }}")  # same length, and below the same time stamp
    os.utime(path, ns=(stamp, stamp))
    assert PromptLibrary([tmp_path]).load("t.j2").render(task="A") == "Howdy A"


def test_an_override_added_to_an_earlier_folder_is_seen(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "t.j2").write_text("default {{ task }}")
    assert PromptLibrary([first, second]).load("t.j2").render(task="x") == "default x"
    (first / "t.j2").write_text("override {{ task }}")
    assert PromptLibrary([first, second]).load("t.j2").render(task="x") == "override x"


def test_a_removed_template_is_not_found_any_more(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("Hello {{ task }}")
    PromptLibrary([tmp_path]).load("t.j2")
    (tmp_path / "t.j2").unlink()
    with pytest.raises(ConfigError, match=r"'t\.j2' not found"):
        PromptLibrary([tmp_path]).load("t.j2")


def test_a_relative_folder_follows_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "prompts").mkdir(parents=True)
        (tmp_path / name / "prompts" / "t.j2").write_text(f"{name} {{{{ task }}}}")
    monkeypatch.chdir(tmp_path / "a")
    assert PromptLibrary([Path("prompts")]).load("t.j2").render(task="x") == "a x"
    monkeypatch.chdir(tmp_path / "b")
    assert PromptLibrary([Path("prompts")]).load("t.j2").render(task="x") == "b x"
