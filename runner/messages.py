"""Turn pydantic validation errors into short, fixable messages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from runner.block import REF_PATTERN

_MAX_ECHO = 60
_PLAIN = {
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be text",
}


def echo(value: Any) -> str:
    """A short rendering of a user's value for '(got ...)'."""
    text = repr(value) if isinstance(value, str) else _plain(value)
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 3] + "..."


def _plain(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def describe(error: ErrorDetails, model: type[BaseModel] | None, show_input: bool = True) -> tuple[str, str]:
    """Message and hint for one pydantic error; ``model`` is the model the error's loc starts in."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    loc = error["loc"]
    got = f" (got {echo(value)})" if show_input else ""

    if kind == "missing":
        return "is required", _field_hint(model, loc)
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else (f"allowed: {', '.join(allowed)}" if allowed else "")
        return f"unknown key '{loc[-1]}'", hint
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == REF_PATTERN:
            return f"must be a reference to an earlier step, like candles.close{got}", ""
        return f"has the wrong format{got}", _pattern_hint(loc)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
        return f"must be one of {ctx.get('expected', '')}{got}", f"did you mean '{close[0]}'?" if close else ""
    if kind == "string_type" and loc and loc[-1] == "version":
        return (
            f"must be a semantic version such as 1.2.0{got}",
            "write MAJOR.MINOR.PATCH, in quotes if YAML reads a number",
        )
    if kind == "string_type" and isinstance(value, int | float | bool):
        return f"must be text{got}", "put it in quotes"
    if kind in {"too_short", "too_long"} and "min_length" in ctx and ctx.get("min_length") == 1:
        return "must not be empty", ""
    if kind in {"too_short", "too_long"} and isinstance(value, list | dict | str):
        return error["msg"].replace("List should", "must").replace("String should", "must"), ""
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        return message, ""
    if kind in _PLAIN:
        return _PLAIN[kind] + got, ""
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty", ""
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return error["msg"].replace("Input should be", "must be") + got, ""
    message = error["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    return message + got, ""


def _pattern_hint(loc: tuple[int | str, ...]) -> str:
    name = str(loc[-1]) if loc else ""
    return {
        "id": "step ids are lower snake_case, e.g. ema_fast",
        "uses": "block types are <kind>.<name>, e.g. indicator.rsi",
        "bot": "bot names use lower case letters, digits, '-' and '_'",
    }.get(name, "symbols are ccxt unified symbols, e.g. BTC/USDC:USDC" if "symbols" in loc else "")


def _field_hint(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> str:
    target = _model_at(model, loc[:-1])
    if target is None:
        return ""
    info = target.model_fields.get(str(loc[-1]))
    return info.description or "" if info else ""


def allowed_keys(model: type[BaseModel] | None, loc: Iterable[int | str]) -> list[str]:
    """The keys a mapping at ``loc`` inside ``model`` accepts (aliases as written in YAML)."""
    target = _model_at(model, tuple(loc))
    if target is None:
        return []
    return [info.alias or name for name, info in target.model_fields.items()]


def _model_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            return None
        current = _inner_model(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
