"""Answer extractors: what a debater's free text answers, in a form votes can compare.

Debaters write reasoning; a vote needs one comparable token. An extractor reads
the final answer out of a text (None when it finds none). Built in:

* ``number``: the number after the last ``answer`` marker, else the last number
  (``1,560.0`` and ``1560`` agree);
* ``option``: a multiple-choice letter A-J (``(B)``, ``answer: b``, ``B)``);
* ``text``: the line after the last ``answer`` marker, else the last line,
  lower-cased without punctuation, articles or extra spaces.

Plug in your own with any object that has a ``name`` and an async ``extract``:
register it on :data:`extractors`, or publish it in the entry-point group
``critic.extractors`` (see :mod:`critic.roles.extensions`) for ``--extract NAME``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from critic.protocols import AnswerExtractor
from critic.roles.extensions import Extensions

# The tail after the last "answer" marker ("Answer: 156", "the answer is 156").
_MARKER = re.compile(r"answer\s*(?:is|:|=|-)?\s*(?:\*\*)?", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
# Marked options ("(B)", "B)") first: a bare capital is often just a word ("I think").
_MARKED_OPTION = re.compile(r"(?<![A-Za-z])\(?([A-J])\)")
_OPTION = re.compile(r"(?<![A-Za-z])([A-J])(?![A-Za-z])")


def _after_marker(text: str) -> str | None:
    found = list(_MARKER.finditer(text))
    return text[found[-1].end():] if found else None


def normalize_number(token: str) -> str | None:
    """``1,560.0`` → ``1560``; None when ``token`` is not a number."""
    try:
        value = Decimal(token.replace(",", ""))
    except InvalidOperation:
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class NumberAnswer:
    """The number answered (see the module doc for the rule)."""

    name: str = "number"

    async def extract(self, text: str) -> str | None:
        tail = _after_marker(text)
        if tail is not None:
            # "Answer: 12 * 13 = 156": the result is after the last "=" of the line.
            line = tail.strip().split("\n", 1)[0].rsplit("=", 1)[-1]
            first = _NUMBER.search(line)
            if first:
                return normalize_number(first.group())
        numbers = _NUMBER.findall(text)
        return normalize_number(numbers[-1]) if numbers else None


@dataclass(frozen=True)
class OptionAnswer:
    """The multiple-choice letter answered (upper-case)."""

    name: str = "option"

    async def extract(self, text: str) -> str | None:
        tail = _after_marker(text)
        if tail is not None:
            # Upper-case only after the marker would miss "answer: b", so
            # accept either case there, but only as the first token.
            first = re.match(r"\s*\(?([A-Ja-j])\)?(?![A-Za-z])", tail)
            if first:
                return first.group(1).upper()
        letters = _MARKED_OPTION.findall(text) or _OPTION.findall(text)
        return letters[-1] if letters else None


_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD-style)."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


@dataclass(frozen=True)
class TextAnswer:
    """A short normalized answer: the marked line, else the last non-empty line."""

    name: str = "text"
    max_chars: int = 100

    async def extract(self, text: str) -> str | None:
        tail = _after_marker(text)
        source = tail if tail is not None and tail.strip() else text
        lines = [line for line in source.strip().splitlines() if line.strip()]
        if not lines:
            return None
        line = lines[0] if tail is not None and tail.strip() else lines[-1]
        answer = normalize_text(line)[: self.max_chars].strip()
        return answer or None


EXTRACTORS: Mapping[str, AnswerExtractor] = {
    "number": NumberAnswer(), "option": OptionAnswer(), "text": TextAnswer(),
}


def accept_extractor(obj: object) -> AnswerExtractor:
    """An entry point's extractor: an object with ``name`` and async ``extract``, or its class."""
    if isinstance(obj, type):
        obj = obj()
    if not isinstance(obj, AnswerExtractor):
        raise TypeError(f"{type(obj).__qualname__} is not an answer extractor "
                        "(needs name and async extract(text))")
    return obj


#: Every ``--extract`` name: the built-ins, then ``critic.extractors`` plugins (loaded when asked).
extractors: Extensions[AnswerExtractor] = Extensions(
    "answer extractor", "critic.extractors", accept_extractor, EXTRACTORS)


def extractor(name: str, registry: Extensions[AnswerExtractor] | None = None) -> AnswerExtractor:
    """The extractor called ``name``; an unknown name is a one-line :class:`ConfigError`."""
    return (registry or extractors).get(name, flag="--extract")
