"""Prompt templates: Jinja2 in a sandbox with StrictUndefined, and filters for readable numbers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "TemplateProblem",
    "candles",
    "environment",
    "num",
    "pct",
    "render",
    "series",
    "template",
    "usd",
    "variables",
]


def num(value: Any, places: int | None = None) -> str:
    """A number for people: thousands separated, decimals by size (or ``places``); n/a for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    x = float(value)
    if places is not None:
        return f"{x:,.{places}f}"
    if x == 0:
        return "0"
    size = abs(x)
    if size >= 1000:
        return f"{x:,.2f}".rstrip("0").rstrip(".")
    if size >= 1:
        return f"{x:,.4f}".rstrip("0").rstrip(".")
    return f"{x:.6g}"


def pct(value: Any, places: int = 2) -> str:
    """A fraction as a percentage: 0.1234 -> 12.34%."""
    return "n/a" if value is None else f"{float(value) * 100:.{places}f}%"


def usd(value: Any, places: int = 2) -> str:
    """An amount of money: -1234.5 -> -$1,234.50."""
    if value is None:
        return "n/a"
    x = float(value)
    return f"{'-' if x < 0 else ''}${abs(x):,.{places}f}"


def series(values: Iterable[Any], last: int = 10) -> str:
    """The last values of a series as a bracketed list of readable numbers, oldest first."""
    kept = list(values)[-last:] if last else list(values)
    return "[" + ", ".join(num(v) for v in kept) + "]"


CANDLE_COLUMNS = ("time", "open", "high", "low", "close", "volume")


def candles(rows: Sequence[Mapping[str, Any]], last: int = 10, columns: Sequence[str] = CANDLE_COLUMNS) -> str:
    """Rows of values (candles, or any recorded history) as a compact table, oldest first."""
    kept = list(rows)[-last:] if last else list(rows)
    lines = [" ".join(columns)]
    for row in kept:
        lines.append(" ".join(str(row.get(c, "")) if c == "time" else num(row.get(c)) for c in columns))
    return "\n".join(lines)


FILTERS = {"num": num, "pct": pct, "usd": usd, "series": series, "candles": candles}


@cache
def environment() -> SandboxedEnvironment:
    """The one sandboxed environment: undefined names fail, no autoescape (prompts are not HTML)."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """What is wrong with a template, at which of its lines (1-based; 0 when unknown)."""

    line: int
    message: str


def variables(source: str) -> set[str]:
    """The top-level names a template reads; raises jinja2.TemplateSyntaxError."""
    return set(meta.find_undeclared_variables(environment().parse(source)))


def problems(source: str, known: Iterable[str]) -> list[TemplateProblem]:
    """Syntax errors and names the template reads that the context does not have."""
    try:
        used = variables(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(exc.lineno or 0, exc.message or "syntax error")]
    names = set(known)
    found = []
    for name in sorted(used - names):
        found.append(
            TemplateProblem(_first_line(source, name), f"'{name}' is not defined; known: {', '.join(sorted(names))}")
        )
    return found


def _first_line(source: str, name: str) -> int:
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    for number, line in enumerate(source.splitlines(), start=1):
        if word.search(line):
            return number
    return 0


@cache
def template(source: str) -> Template:
    """The compiled template of ``source`` (compiled once per process)."""
    return environment().from_string(source)


def render(source: str, context: Mapping[str, Any]) -> str:
    """The template rendered with ``context``; an undefined name raises jinja2.UndefinedError."""
    return template(source).render(context)
