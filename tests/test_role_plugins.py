"""Role discovery: precedence of sources and ``critic.roles`` entry points (no model)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from critic import ConfigError, Critic, Draft, LLMCritic, ReviewRequest, RoleRegistry, Task
from critic.backends.pool import ModelPool
from critic.messages import ModelCall
from critic.protocols import CriticContext
from critic.roles.kinds import default_kinds
from critic.roles.plugins import installed_entry_points
from critic.testing import ScriptedModel
from tests.plugin_dist import DIST, PACKAGE, make_plugin_dist


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test distribution on sys.path, as if pip-installed; gone afterwards."""
    site = make_plugin_dist(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop(PACKAGE, None)


def ours() -> list[EntryPoint]:
    """The test distribution's entry points, found the way installed ones are.

    Whatever else the environment has installed (a user's own critic plugins) is
    left out, so these tests pass wherever they run.
    """
    return [e for e in installed_entry_points() if e.dist is not None and e.dist.name == DIST]


def write_role(folder: Path, name: str, description: str, *, file: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{file or name}.toml").write_text(
        f'name = "{name}"\ndescription = "{description}"\nprompt = "p.j2"\n'
    )
    (folder / "p.j2").write_text("{{ task }} / {{ draft }}")


def test_nothing_is_read_until_load(tmp_path: Path) -> None:
    called: list[str] = []

    def eps() -> list[EntryPoint]:
        called.append("eps")
        return []

    registry = RoleRegistry(extra_dirs=[tmp_path / "not-there"], entry_points=eps)
    assert called == []
    with pytest.raises(ConfigError, match="roles folder not found"):
        registry.load()


def test_later_source_overrides_earlier_by_name(tmp_path: Path) -> None:
    env, extra = tmp_path / "env", tmp_path / "extra"
    write_role(env, "correctness", "from env")
    write_role(env, "mine", "env mine")
    write_role(extra, "mine", "extra mine")
    roles = RoleRegistry(extra_dirs=[extra], env_path=str(env), include_plugins=False).load()
    assert roles["clarity"].source == "builtin"
    assert (roles["correctness"].source, roles["correctness"].spec.description) == (
        f"env:{env}", "from env")
    assert (roles["mine"].source, roles["mine"].spec.description) == (f"dir:{extra}", "extra mine")


def test_duplicate_name_in_one_folder_names_both_files(tmp_path: Path) -> None:
    write_role(tmp_path, "twin", "one", file="a")
    write_role(tmp_path, "twin", "two", file="b")
    with pytest.raises(ConfigError) as info:
        RoleRegistry(extra_dirs=[tmp_path], include_plugins=False).load()
    assert str(tmp_path / "a.toml") in str(info.value) and str(tmp_path / "b.toml") in str(info.value)


def test_installed_distribution_provides_class_and_folder_roles(plugin_site: Path) -> None:
    assert [(e.name, e.dist.name if e.dist else None) for e in ours()] == [
        ("pack", DIST), ("shout", DIST)]
    roles = RoleRegistry(entry_points=ours).load()
    shout = roles["shout"]
    assert shout.source == f"entrypoint:{DIST}:shout"
    assert shout.spec.kind == "plugin" and shout.plugin is not None
    assert shout.spec.description == "Penalises drafts written in CAPITAL LETTERS."
    terse = roles["terse"]
    assert terse.source == f"entrypoint:{DIST}:pack"
    assert terse.path == plugin_site / PACKAGE / "roles" / "terse.toml"
    # Entry points come last, so the plugin's clarity overrides the built-in one.
    assert roles["clarity"].source == f"entrypoint:{DIST}:pack"
    assert roles["correctness"].source == "builtin"


@pytest.mark.anyio
async def test_plugin_class_is_built_through_the_kinds(plugin_site: Path) -> None:
    role = RoleRegistry(entry_points=ours).get("shout")
    critic = default_kinds().build(role, CriticContext(ModelPool("unused.gguf"), seed=0))
    assert isinstance(critic, Critic) and critic.name == "shout"
    calls: list[ModelCall] = []

    async def record(call: ModelCall) -> None:
        calls.append(call)

    request = ReviewRequest(task=Task(prompt="t"), draft=Draft(round=1, text="HELLO THERE"),
                            role="shout")
    critique = await critic.review(request, record)
    assert critique.status == "ok" and critique.score == 0.0
    assert critique.problems == ("the draft shouts",)


def test_plugin_folder_role_renders_its_own_template(plugin_site: Path) -> None:
    role = RoleRegistry(entry_points=ours).get("terse")
    critic = LLMCritic(role, ScriptedModel().backend("terse"))
    messages = critic.messages(
        ReviewRequest(task=Task(prompt="the task"), draft=Draft(round=1, text="the draft"),
                      role="terse"))
    assert messages[-1].content.startswith("PLUGIN-TERSE-PROMPT\nTask: the task\nAnswer: the draft")


@pytest.fixture
def fresh_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Problems are reported once per process: each test sees them as new."""
    monkeypatch.setattr("critic.roles.extensions._reported", set())


def plugin_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "critic.plugins"]


@pytest.mark.usefixtures("fresh_reports")
def test_a_second_definition_of_a_role_name_is_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    site = make_plugin_dist(tmp_path, "[critic.roles]\n"
                            f"clarity = {PACKAGE}:ShoutCritic\n"
                            f"pack = {PACKAGE}:ROLES\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        roles = RoleRegistry(entry_points=ours).load()
    finally:
        sys.modules.pop(PACKAGE, None)
    # Sorted by name, the class entry point "clarity" comes first and keeps the name.
    assert roles["clarity"].spec.kind == "plugin" and "terse" in roles
    (message,) = plugin_warnings(caplog)
    assert "role 'clarity' is defined twice" in message
    assert f"{PACKAGE}:ShoutCritic" in message
    assert str(site / PACKAGE / "roles" / "clarity.toml") in message


@pytest.mark.usefixtures("fresh_reports")
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{PACKAGE}:NotACritic", "has no review() method"),
        (f"{PACKAGE}:missing", "cannot load: AttributeError"),
        ("no_such_module_xyz:Thing", "cannot load: ModuleNotFoundError"),
        (f"{PACKAGE}:SHOUT_LEVEL", "must be a Critic class or a folder of roles, not int"),
    ],
)
def test_a_broken_entry_point_is_one_warning_and_the_other_roles_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    value: str, message: str,
) -> None:
    site = make_plugin_dist(tmp_path, f"[critic.roles]\nbroken = {value}\n"
                            f"shout = {PACKAGE}:ShoutCritic\n")
    (site / PACKAGE / "__init__.py").write_text(
        (site / PACKAGE / "__init__.py").read_text() + "\nSHOUT_LEVEL = 3\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        for _ in range(2):  # a second registry: the same problem is not reported again
            roles = RoleRegistry(entry_points=ours).load()
            assert "broken" not in roles and "shout" in roles and "correctness" in roles
    finally:
        sys.modules.pop(PACKAGE, None)
    (warning,) = plugin_warnings(caplog)
    assert f"critic.roles entry point 'broken' = '{value}' ({DIST})" in warning
    assert message in warning and warning.endswith("skipped")


def test_injected_entry_points_replace_the_installed_ones(plugin_site: Path) -> None:
    ep = EntryPoint("solo", f"{PACKAGE}:ShoutCritic", "critic.roles")
    roles = RoleRegistry(entry_points=lambda: [ep]).load()
    assert roles["solo"].source == "entrypoint:unknown:solo"
    assert "shout" not in roles and "terse" not in roles
