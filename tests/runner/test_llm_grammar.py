"""JSON schemas as llama.cpp grammars: every reply a grammar allows is valid, checked without llama.cpp by reading
the grammar as a regular expression (our grammars never recurse) and drawing replies from it with Hypothesis."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.llm.grammar import GrammarError, to_grammar
from runner.llm.veto import VetoReply, veto_schema
from runner.plan import keyed_plan_schema, parse_plan, parse_reply, plan_schema

_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]|\{\d+(?:,\d*)?\}|[()|?*+]|[a-zA-Z0-9-]+)')


def as_regex(grammar: str) -> re.Pattern[str]:
    """The grammar's root rule as a regular expression."""
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if line)

    @cache
    def rule(name: str) -> str:
        return "(?:" + expression(rules[name]) + ")"

    def expression(body: str) -> str:
        out, at = [], 0
        while at < len(body.rstrip()):
            match = _TOKEN.match(body, at)
            assert match, f"cannot read {body[at:]!r}"
            token, at = match.group(1), match.end()
            if token.startswith('"'):
                out.append(re.escape(re.sub(r"\\(.)", r"\1", token[1:-1])))
            elif token == "(":
                out.append("(?:")
            elif token[0] in "[{)|?*+":
                out.append(token)
            else:
                out.append(rule(token))
        return "".join(out)

    return re.compile(rule("root"), re.S)


def accepts(grammar: str, text: str) -> bool:
    return as_regex(grammar).fullmatch(text) is not None


# --- numbers: never outside the bounds, and every plainly written number inside them ---------------------------

BOUNDS = [
    ({"minimum": 0}, lambda x: x >= 0),
    ({"exclusiveMinimum": 0}, lambda x: x > 0),
    ({"minimum": 1, "maximum": 200}, lambda x: 1 <= x <= 200),
    ({"minimum": 0, "maximum": 1}, lambda x: 0 <= x <= 1),
    ({"exclusiveMinimum": 0, "maximum": 150}, lambda x: 0 < x <= 150),
    ({"minimum": 7, "exclusiveMaximum": 1000}, lambda x: 7 <= x < 1000),
]
INTEGER_BOUNDS = [
    ({"minimum": 3, "maximum": 1234}, lambda x: 3 <= x <= 1234),
    ({"exclusiveMinimum": 0}, lambda x: x > 0),
    ({"minimum": 10, "maximum": 10}, lambda x: x == 10),
]

numbers = st.builds(
    lambda whole, fraction: f"{whole}.{fraction}" if fraction else str(whole),
    st.integers(0, 10**6) | st.sampled_from([0, 1, 7, 10, 99, 100, 150, 199, 200, 201, 999, 1000, 1234, 1235]),
    st.text("0123456789", max_size=8) | st.sampled_from(["", "0", "00", "5", "0001", "00000001"]),
)


@pytest.mark.parametrize(("bounds", "inside"), BOUNDS, ids=lambda b: json.dumps(b) if isinstance(b, dict) else "")
@given(text=numbers)
def test_a_number_is_accepted_exactly_when_it_is_inside_its_bounds(
    bounds: dict[str, int], inside: Any, text: str
) -> None:
    grammar = to_grammar({"type": "number", **bounds})
    value = Decimal(text)
    plain = "." not in text or not text.endswith("0")  # 0.50 is written 0.5 (a grammar may refuse the long form)
    if accepts(grammar, text):
        assert inside(value)
    elif plain:
        assert not inside(value)


@pytest.mark.parametrize(
    ("bounds", "inside"), INTEGER_BOUNDS, ids=lambda b: json.dumps(b) if isinstance(b, dict) else ""
)
@given(value=st.integers(0, 10**5))
def test_an_integer_is_accepted_exactly_when_it_is_inside_its_bounds(
    bounds: dict[str, int], inside: Any, value: int
) -> None:
    grammar = to_grammar({"type": "integer", **bounds})
    assert accepts(grammar, str(value)) == inside(value)
    assert not accepts(grammar, f"{value}.5")


def test_numbers_are_plain_json_without_exponents_or_leading_zeros() -> None:
    grammar = to_grammar({"type": "number"})
    assert [accepts(grammar, t) for t in ["0", "-12.5", "123456789012.12345678", "1e5", "01", "1.", ".5"]] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


# --- whole replies: whatever the grammar lets a model write is a valid plan or answer ----------------------------

COINS = ["BTC", "ETH", "SOL"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_reply_the_keyed_plan_grammar_allows_is_a_valid_plan(data: st.DataObject) -> None:
    grammar = to_grammar(keyed_plan_schema(COINS), max_string=40)
    reply = data.draw(st.from_regex(as_regex(grammar), fullmatch=True))
    symbols = [p.symbol for p in parse_plan(reply).positions]
    assert symbols == sorted(set(symbols), key=COINS.index)  # each coin at most once


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_reply_the_veto_grammar_allows_is_a_valid_answer(data: st.DataObject) -> None:
    grammar = to_grammar(veto_schema(), max_string=40)
    reply = data.draw(st.from_regex(as_regex(grammar), fullmatch=True))
    assert isinstance(parse_reply(reply, VetoReply).veto, bool)


SMOLLM2_REPLY = (  # a real reply of local/smollm2 to the planner's default prompt
    '{ "positions": { "BTC": { "signal": "buy", "quantity": 0.01, "leverage": 2, "justification": "buy", '
    '"confidence": 0.5, "risk_usd": 1.0 }, "SOL": { "signal": "buy", "quantity": 0.01, "leverage": 2, '
    '"justification": "buy", "confidence": 0.5, "risk_usd": 1.0 } }, "notes": "BTC: 110,036.64 RSI 38.1988" } '
)


@pytest.mark.parametrize(
    ("reply", "allowed"),
    [
        (SMOLLM2_REPLY, True),
        ('{"positions": {}}', True),
        ('{"positions": {"ETH": {"signal": "close"}}, "notes": ""}', True),
        ('{"positions": {"BTC": {"signal": "buy"}}}', False),  # no quantity
        ('{"positions": {"BTC": {"signal": "buy", "quantity": 0}}}', False),
        ('{"positions": {"BTC": {"signal": "sell", "quantity": 1, "leverage": 0.5}}}', False),
        ('{"positions": {"BTC": {"signal": "sell", "quantity": 1, "leverage": 201}}}', False),
        ('{"positions": {"BTC": {"signal": "buy", "quantity": 1, "exit_plan": {"stop_loss": 0}}}}', False),
        ('{"positions": {"BTC": {"signal": "hold", "confidence": 1.5}}}', False),
        ('{"positions": {"DOGE": {"signal": "hold"}}}', False),
        ('{"positions": {"BTC": {"signal": "hold"}, "BTC": {"signal": "close"}}}', False),
        ('{"positions": {"ETH": {"signal": "hold"}, "BTC": {"signal": "hold"}}}', False),  # in the schema's order
        ('{"positions": [{"symbol": "BTC", "signal": "hold"}]}', False),
        ('{"positions": {}, "notes": "' + "x" * 201 + '"}', False),
        ('{"positions": {}, "mood": "bullish"}', False),
    ],
)
def test_the_keyed_plan_grammar_refuses_what_would_not_be_a_plan(reply: str, allowed: bool) -> None:
    grammar = to_grammar(keyed_plan_schema(COINS), max_string=200)
    assert accepts(grammar, reply) == allowed
    if allowed:
        parse_plan(reply)


def test_the_canonical_plan_keeps_its_2000_character_strings_as_rules_of_their_own() -> None:
    grammar = to_grammar(plan_schema())
    assert 'string-0-2000 ::= "\\"" char{0,2000} "\\"" ws' in grammar.splitlines()
    assert accepts(grammar, '{"positions": [{"symbol": "BTC", "signal": "hold"}], "notes": "' + "n" * 2000 + '"}')
    assert not accepts(grammar, '{"positions": [{"symbol": "", "signal": "hold"}]}')  # minLength 1


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "pattern": "^a$"}, "root: unsupported keyword 'pattern'"),
        ({"type": "number", "minimum": -1}, "root: minimum -1 is not a non-negative integer"),
        ({"type": "number", "maximum": 0.5}, "root: maximum 0.5 is not a non-negative integer"),
        ({"type": "array"}, "root: an array needs items"),
        ({"type": ["string", "null"]}, "root: unsupported type ['string', 'null']"),
        ({"$ref": "https://example.com/plan.json"}, "root: only local references are supported"),
        ({"$ref": "#/$defs/Nowhere"}, "root: #/$defs/Nowhere does not resolve"),
        ({"type": "object", "properties": {}, "required": ["a"]}, "root: required property 'a' is not defined"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "root: additionalProperties must be false"),
        ({"type": "object", "properties": {"a": {"type": "string", "format": "date"}}}, "root.a: unsupported keyword"),
    ],
)
def test_a_schema_it_cannot_express_is_an_error_not_a_looser_grammar(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(GrammarError) as error:
        to_grammar(schema)
    assert str(error.value).startswith(message)
