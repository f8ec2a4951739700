"""A reply's JSON schema as a llama.cpp grammar (GBNF), so a local model can only write what the schema allows.

Covers what our reply schemas use: objects (properties in order, no others), ``$ref``, ``anyOf``, ``enum`` and
``const``, strings with lengths, arrays with item counts, booleans, null, and numbers with non-negative integer
bounds (``minimum``, ``exclusiveMinimum``, ``maximum``, ``exclusiveMaximum``). Any other keyword is an error
rather than silently unchecked. Strings may be capped below their maxLength (``max_string``) and numbers are
written without an exponent, in at most 12 integer and 8 decimal digits, so a reply's length is bounded.

llama-cpp-python's own converter drops numeric bounds, and spells a string's maxLength as nested rules that
llama.cpp refuses past about 500 characters: the plan's 2000-character notes crash the process when sampling
starts. Here a string is a rule of its own, ``char{0,2000}``, which llama.cpp accepts.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["GrammarError", "to_grammar"]

_ANNOTATIONS = {"title", "description", "default", "examples", "$defs", "definitions"}
_INT_DIGITS = 12
_FRACTION_DIGITS = 8
_BASE = r"""ws ::= " "?
char ::= [^"\\\x7F\x00-\x1F\uD800-\uDFFF] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CefEF] hex{3} | [dD] [0-7] hex{2}))
hex ::= [0-9a-fA-F]
digit ::= [0-9]
fraction ::= "." digit{1,8}
null ::= "null" ws
boolean ::= ("true" | "false") ws
number ::= "-"? ("0" | [1-9] digit{0,11}) fraction? ws
"""


class GrammarError(ValueError):
    """A schema this converter cannot turn into a grammar (the message names the place and the keyword)."""


def to_grammar(schema: dict[str, Any], max_string: int = 2000) -> str:
    """The GBNF grammar of the JSON values ``schema`` allows, with strings of at most ``max_string`` characters.

    Raises GrammarError for a schema it cannot express."""
    return _Converter(schema, max_string).build()


class _Converter:
    def __init__(self, schema: dict[str, Any], max_string: int) -> None:
        self.schema = schema
        self.max_string = max_string
        self.rules: dict[str, str] = {}

    def build(self) -> str:
        self.rules["root"] = self.visit(self.schema, "root")
        lines = [f"{name} ::= {body}" for name, body in self.rules.items()]
        return "\n".join(lines) + "\n" + _BASE

    def visit(self, node: Any, where: str) -> str:
        """A GBNF expression for ``node``, registering the named rules it needs."""
        if not isinstance(node, dict):
            raise GrammarError(f"{where}: expected a schema object, got {node!r}")
        if "$ref" in node:
            return self.ref(node, where)
        if "anyOf" in node:
            self.only(node, {"anyOf"}, where)
            return "(" + " | ".join(self.visit(n, f"{where}.anyOf[{i}]") for i, n in enumerate(node["anyOf"])) + ")"
        if "const" in node:
            self.only(node, {"const", "type"}, where)
            return _literal(json.dumps(node["const"])) + " ws"
        if "enum" in node:
            self.only(node, {"enum", "type"}, where)
            return "(" + " | ".join(_literal(json.dumps(v)) for v in node["enum"]) + ") ws"
        kind = node.get("type")
        if kind == "object":
            return self.object(node, where)
        if kind == "array":
            return self.array(node, where)
        if kind == "string":
            return self.string(node, where)
        if kind in ("number", "integer"):
            return self.number(node, where, integer=kind == "integer")
        if kind in ("boolean", "null"):
            self.only(node, {"type"}, where)
            return str(kind)
        raise GrammarError(f"{where}: unsupported type {kind!r}")

    def only(self, node: dict[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(node) - allowed - _ANNOTATIONS)
        if extra:
            raise GrammarError(f"{where}: unsupported keyword {extra[0]!r}")

    def ref(self, node: dict[str, Any], where: str) -> str:
        self.only(node, {"$ref"}, where)
        path = node["$ref"]
        if not isinstance(path, str) or not path.startswith("#/"):
            raise GrammarError(f"{where}: only local references are supported, got {path!r}")
        name = "ref-" + re.sub(r"[^a-zA-Z0-9]+", "-", path[2:]).strip("-")
        if name not in self.rules:
            self.rules[name] = ""  # reserved first: a schema may refer to itself
            target: Any = self.schema
            for part in path[2:].split("/"):
                if not isinstance(target, dict) or part not in target:
                    raise GrammarError(f"{where}: {path} does not resolve")
                target = target[part]
            self.rules[name] = self.visit(target, path)
        return name

    def object(self, node: dict[str, Any], where: str) -> str:
        self.only(node, {"type", "properties", "required", "additionalProperties"}, where)
        if node.get("additionalProperties") not in (None, False):
            raise GrammarError(f"{where}: additionalProperties must be false or absent")
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        unknown = required - set(properties)
        if unknown:
            raise GrammarError(f"{where}: required property {sorted(unknown)[0]!r} is not defined")
        pairs = [
            (f'{_literal(json.dumps(key))} ws ":" ws {self.visit(value, f"{where}.{key}")}', key in required)
            for key, value in properties.items()
        ]
        members = _members(pairs)
        return f'"{{" ws {members} "}}" ws' if members else '"{" ws "}" ws'

    def array(self, node: dict[str, Any], where: str) -> str:
        self.only(node, {"type", "items", "minItems", "maxItems"}, where)
        if "items" not in node:
            raise GrammarError(f"{where}: an array needs items")
        low, high = int(node.get("minItems", 0)), node.get("maxItems")
        if high is not None and int(high) == 0:
            return '"[" ws "]" ws'
        item = self.visit(node["items"], f"{where}[]")
        body = f'{item} ("," ws {item}){_count(max(low - 1, 0), None if high is None else int(high) - 1)}'
        return f'"[" ws {body if low else f"({body})?"} "]" ws'

    def string(self, node: dict[str, Any], where: str) -> str:
        self.only(node, {"type", "minLength", "maxLength"}, where)
        low = int(node.get("minLength", 0))
        high = min(int(node.get("maxLength", self.max_string)), self.max_string)
        if low > high:
            raise GrammarError(f"{where}: minLength {low} is above the {high}-character cap")
        name = f"string-{low}-{high}"  # a rule of its own: llama.cpp refuses long repetitions inside bigger rules
        self.rules[name] = f'"\\"" char{_count(low, high)} "\\"" ws'
        return name

    def number(self, node: dict[str, Any], where: str, integer: bool) -> str:
        self.only(node, {"type", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}, where)
        bounds = {k: node[k] for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum") if k in node}
        if not bounds:
            return '"-"? ("0" | [1-9] digit{0,11}) ws' if integer else "number"
        for key, value in bounds.items():
            if not float(value).is_integer() or value < 0:
                raise GrammarError(f"{where}: {key} {value} is not a non-negative integer")
        low = int(bounds.get("minimum", bounds.get("exclusiveMinimum", 0)))
        above = "exclusiveMinimum" in bounds  # the value must be above low, not equal to it
        top = bounds.get("maximum", bounds.get("exclusiveMaximum"))
        below = "exclusiveMaximum" in bounds
        high = None if top is None else int(top)
        return _bounded(low, above, high, below, integer) + " ws"


def _members(pairs: list[tuple[str, bool]]) -> str:
    """Object members in order: required ones always, optional ones maybe, with commas between."""

    def tail(i: int) -> str:  # after a member: each later one is preceded by a comma
        parts = [f'"," ws {kv}' if needed else f'("," ws {kv})?' for kv, needed in pairs[i:]]
        return " ".join(parts)

    def head(i: int) -> str:  # before any member
        if i == len(pairs):
            return ""
        kv, needed = pairs[i]
        first = f"{kv} {tail(i + 1)}".strip()
        if needed:
            return first
        later = head(i + 1)  # may be empty: every member of an object may be optional
        return f"({first} | {later})" if later else f"({first})?"

    return head(0)


def _count(low: int, high: int | None) -> str:
    return f"{{{low},}}" if high is None else f"{{{low},{high}}}"


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bounded(low: int, above: bool, high: int | None, below: bool, integer: bool) -> str:
    """Non-negative numbers from ``low`` (excluded when ``above``) to ``high`` (excluded when ``below``)."""
    fraction = "" if integer else " fraction?"
    parts = []
    first = low + 1 if above and (integer or high == low) else low
    if above and not integer and high != low:  # low itself, with a fraction above zero
        parts.append(f'{_literal(str(low))} "." digit{{0,{_FRACTION_DIGITS - 1}}} [1-9]')
        first = low + 1
    last = None if high is None else high - 1  # below high: any fraction
    if last is None or first <= last:
        parts.append(f"({_int_range(first, last)}){fraction}")
    if high is not None and not below and first <= high:  # high itself, with no fraction above zero
        parts.append(_literal(str(high)) + ("" if integer else ' ("." "0"{1,8})?'))
    if not parts:
        raise GrammarError(f"no number lies between {low} and {high}")
    return "(" + " | ".join(parts) + ")"


def _int_range(low: int, high: int | None) -> str:
    """Decimal integers (no leading zeros) from ``low`` to ``high`` inclusive; ``None``: no upper bound."""
    width = len(str(low))
    if high is None:  # the rest of low's width, then every longer number
        longer = f"[1-9] digit{{{width},{_INT_DIGITS - 1}}}"
        return f"{_same_length(str(low), '9' * width)} | {longer}"
    parts = []
    for digits in range(width, len(str(high)) + 1):
        start = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        end = min(high, 10**digits - 1)
        parts.append(_same_length(str(start), str(end)))
    return " | ".join(parts)


def _same_length(low: str, high: str) -> str:
    """Integers of one length from ``low`` to ``high`` (as digit strings)."""
    if len(low) == 1:
        return f"[{low}-{high}]" if low != high else _literal(low)
    rest = len(low) - 1
    if low[1:] == "0" * rest and high[1:] == "9" * rest:
        first = _literal(low[0]) if low[0] == high[0] else f"[{low[0]}-{high[0]}]"
        return f"{first} digit{{{rest}}}"
    if low[0] == high[0]:
        return f"{_literal(low[0])} ({_same_length(low[1:], high[1:])})"
    parts = [f"{_literal(low[0])} ({_same_length(low[1:], '9' * rest)})"]
    if int(high[0]) - int(low[0]) == 2:
        parts.append(f"{_literal(str(int(low[0]) + 1))} digit{{{rest}}}")
    elif int(high[0]) - int(low[0]) > 2:
        parts.append(f"[{int(low[0]) + 1}-{int(high[0]) - 1}] digit{{{rest}}}")
    parts.append(f"{_literal(high[0])} ({_same_length('0' * rest, high[1:])})")
    return " | ".join(parts)
