"""Answer extractors: what a debater answered, in a form votes can compare."""

from __future__ import annotations

import pytest

from critic import NumberAnswer, OptionAnswer, TextAnswer
from critic.debate.answers import extractor
from critic.errors import ConfigError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12 * 13 = 156", "156"),
        ("Answer: 12 * 13 = 156", "156"),
        ("The answer is 156. Because 12 times 13 is 156.", "156"),
        ("First 10, then 20.\nAnswer: **1,560.0**", "1560"),
        ("answer: -3.50", "-3.5"),
        ("I think it is 7, no wait, 8", "8"),
        ("no digits here", None),
    ],
)
async def test_number(text: str, expected: str | None) -> None:
    assert await NumberAnswer().extract(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: (B)", "B"),
        ("the answer is c because...", "C"),
        ("Between A) and D) I pick D)", "D"),
        ("I pick option (A).", "A"),
        ("I think (C) is right, not D.", "C"),
        ("It is B", "B"),
        ("nothing to pick", None),
    ],
)
async def test_option(text: str, expected: str | None) -> None:
    assert await OptionAnswer().extract(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reasoning...\nAnswer: The Eiffel Tower!", "eiffel tower"),
        ("Some thoughts.\n\nParis, France.", "paris france"),
        ("", None),
    ],
)
async def test_text(text: str, expected: str | None) -> None:
    assert await TextAnswer().extract(text) == expected


def test_unknown_extractor_is_a_config_error() -> None:
    assert extractor("option").name == "option"
    with pytest.raises(ConfigError, match="known: number, option, text"):
        extractor("roman")
