"""Reading Python literals out of example lines written for people.

Helpers of :mod:`critic.grounding.examples`: where a string or a bracket ends
in a line of prose, whether a text is a literal (``true``/``false`` read as
booleans; ``("Venus")`` refused as ambiguous), an expected value with a
trailing comment or ``= 8`` arithmetic, and arguments bound to parameter names.
Every failure is an :class:`Unreadable` whose message says why, for the list
of skipped examples.
"""

from __future__ import annotations

import ast
import re

_BINDING = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*=(?!=)\s*")
_SINGLE_EQUALS = re.compile(r"(?<![=<>!])=(?!=)")
_JSON_BOOLEANS = {"true": "True", "false": "False"}


class Unreadable(Exception):
    """An example that cannot be read unambiguously; the message says why."""


class NotLiterals(Unreadable):
    """A call whose arguments are names or expressions: a formula, or prose."""


def why(exc: BaseException) -> str:
    return exc.msg if isinstance(exc, SyntaxError) and exc.msg else type(exc).__name__


def mask_strings(text: str) -> str:
    """``text`` with the inside of every string literal blanked (same length, quotes kept)."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        if text[i] not in "'\"":
            i += 1
            continue
        quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else text[i]
        j = i + len(quote)
        while j < n and not text.startswith(quote, j):
            if len(quote) == 1 and text[j] == "\n":
                break  # an apostrophe in prose, not a string
            j += 2 if text[j] == "\\" else 1
        for k in range(i + len(quote), min(j, n)):
            if out[k] != "\n":
                out[k] = " "
        i = j + len(quote)
    return "".join(out)


def top_level(masked: str) -> str:
    """A string-masked text with everything inside brackets blanked too."""
    out, depth = [], 0
    for char in masked:
        if char in ")]}":
            depth = max(depth - 1, 0)
        out.append(char if depth == 0 or char == "\n" else " ")
        if char in "([{":
            depth += 1
    return "".join(out)


def closing_bracket(masked: str, opening: int) -> int | None:
    depth = 0
    for k in range(opening, len(masked)):
        if masked[k] in "([{":
            depth += 1
        elif masked[k] in ")]}":
            depth -= 1
            if depth == 0:
                return k
    return None


def literal(text: str) -> tuple[object, str]:
    """A Python literal's value and its text; ``true``/``false`` read as booleans."""
    text = text.strip()
    text = _JSON_BOOLEANS.get(text, text)
    try:
        node = ast.parse(text, mode="eval").body
        value = ast.literal_eval(node)
    except (SyntaxError, ValueError, TypeError, OverflowError, MemoryError, RecursionError) as exc:
        raise Unreadable(f"{clip(text)!r} is not a Python literal") from exc
    if text.startswith("(") and text.endswith(")") and not isinstance(node, ast.Tuple):
        raise Unreadable(f"{clip(text)} is ambiguous: a tuple of one, or just {value!r}?")
    return value, text


def expected_value(text: str) -> str:
    """The expected value written after an example's call, as a literal's text.

    A trailing ``#`` comment and a final full stop are dropped; ``a = b = 8``
    chains of arithmetic must agree with their last value.
    """
    text = text.strip()
    masked = mask_strings(text)
    cuts = [len(text), *(k for k in range(len(text) - 1, -1, -1) if masked[k] == "#")]
    failure: Unreadable | None = None
    for cut in cuts:
        head = text[:cut].strip()
        candidates = [head[:-1], head] if head.endswith(".") else [head]
        for candidate in candidates:
            if not candidate.strip():
                continue
            try:
                return repr(_chain(candidate))
            except Unreadable as exc:
                failure = failure or exc
    raise failure or Unreadable("no expected value after the call")


def _chain(text: str) -> object:
    try:
        return literal(text)[0]
    except Unreadable:
        masked = mask_strings(text)
        cuts = [m.start() for m in _SINGLE_EQUALS.finditer(masked)]
        if not cuts:
            raise
    parts = [text[a + 1 if a else 0:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    value = literal(parts[-1])[0]
    for part in parts[:-1]:
        if _arithmetic(part) != value:
            raise Unreadable(f"{clip(text)!r}: the arithmetic does not give {value!r}")
    return value


def _arithmetic(text: str) -> float:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise Unreadable(f"{clip(text)!r} is not a Python literal") from exc
    return _evaluate(node, text)


def _evaluate(node: ast.expr, text: str) -> float:
    if (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, text)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, text), _evaluate(node.right, text)
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
        except (ZeroDivisionError, OverflowError) as exc:
            raise Unreadable(f"{clip(text)!r} cannot be worked out") from exc
    raise Unreadable(f"{clip(text)!r} is not a Python literal")


def literal_call(text: str) -> str:
    """The call as a one-line source, if every argument is a Python literal."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise Unreadable(f"the call is not valid Python ({why(exc)})") from exc
    if not isinstance(call, ast.Call):
        raise Unreadable("not a call")
    values = [*call.args, *(k.value for k in call.keywords)]
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise NotLiterals("the arguments are not Python literals")
    for value in values:
        try:
            ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            raise NotLiterals("the arguments are not Python literals") from exc
    return text.strip() if "\n" not in text else ast.unparse(call)


def bind_arguments(text: str, params: tuple[str, ...]) -> list[str]:
    """Argument texts in parameter order, from ``a = 1, b = [2]`` (or one bare value)."""
    text = text.strip()
    flat = top_level(mask_strings(text))
    bindings = list(_BINDING.finditer(flat))
    if not bindings:
        if len(params) != 1:
            raise Unreadable(f"cannot tell which value is which of the {len(params)} arguments")
        return [literal(text.rstrip(",. "))[1]]
    if text[:bindings[0].start()].strip():
        raise Unreadable("text before the arguments")
    names = [b.group(1) for b in bindings]
    if sorted(names) != sorted(params):
        raise Unreadable(f"names {', '.join(names)}, but the function takes ({', '.join(params)})")
    values: dict[str, str] = {}
    for k, binding in enumerate(bindings):
        last = k == len(bindings) - 1
        segment = text[binding.end():len(text) if last else bindings[k + 1].start()].strip()
        segment = segment.rstrip(",").strip() if not last else segment.rstrip(",.").strip()
        try:
            values[binding.group(1)] = literal(segment)[1]
        except Unreadable:
            comma = top_level(mask_strings(segment)).find(",")
            if not last or comma < 0:
                raise
            values[binding.group(1)] = literal(segment[:comma])[1]  # prose follows the comma
    return [values[p] for p in params]


def clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
