"""Structured output: raw control characters inside JSON strings are repaired, not retried."""

from __future__ import annotations

import pytest

from critic.critics.critic import critique_schema
from critic.errors import MalformedOutput
from critic.structured import parse_output


def test_raw_newline_inside_a_string_is_accepted() -> None:
    # What llama.cpp's schema grammar lets SmolLM2 produce: a literal newline in a string.
    text = '{"problems": ["line one\nline two"], "suggestion": "tab\there", "score": 7}'
    output = parse_output(text, critique_schema(1, 10))
    assert output.problems == ["line one\nline two"] and output.suggestion == "tab\there"
    assert output.score == 7


def test_lenient_parse_still_validates_the_schema() -> None:
    with pytest.raises(MalformedOutput):
        parse_output('{"problems": ["a\nb"], "suggestion": "s", "score": 11}', critique_schema(1, 10))
