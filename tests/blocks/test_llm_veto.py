"""validator.llm_veto through litellm's real HTTP path, against a local OpenAI-compatible server: approvals,
vetoes, and every way of not answering (malformed, cut off, slow, failing), which must never let an entry through
unless the operator asked for that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import compile_yaml, issues_of
from llm_server import LlmServer, Scripted, error, llm_server, reply

from runner.block import Account
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.types import Intent, Order

KEY = "sk-test-veto-never-stored"
T = 1_761_634_800_000

BOT = """
bot: veto_test
version: 1.0.0
account: {{cash: 10000, quote: USDT}}
symbols: [BTC/USDT:USDT, ETH/USDT:USDT]
pipeline:
  - {{id: candles, uses: source.candles, with: {{venue: binanceusdm, timeframe: 1m}}}}
{planner}
  - {{id: limits, uses: validator.limits, with: {{max_leverage: 3, max_position_usd: {max_position}}}}}
  - id: veto
    uses: validator.llm_veto
    with:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: ${{env:TEST_LLM_KEY}}
      retries: 1
      backoff_s: 0.01
      timeout_s: 1{options}
  - {{id: exec, uses: executor.paper}}
"""

DCA = "  - {id: dca, uses: planner.dca, with: {amount: 500, interval: 1h}}"
QUOTES = "  - {id: quote, uses: planner.market_maker, with: {mid: candles.close, order_size: 0.01}}"


def bot_text(base: str, planner: str = DCA, options: str = "", max_position: float = 10_000) -> str:
    extra = "".join(f"\n      {line}" for line in options.splitlines())
    return BOT.format(base=base, planner=planner, options=extra, max_position=max_position)


def answer(veto: bool, reason: str) -> Scripted:
    return reply(json.dumps({"veto": veto, "reason": reason}), tokens_in=400, tokens_out=20)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", KEY)


@pytest.fixture
def server() -> Iterator[LlmServer]:
    with llm_server() as srv:
        yield srv


class Desk:
    """The bot's pipeline with prices set by hand: one cycle's decision, validators included."""

    def __init__(self, text: str, prices: dict[str, float]) -> None:
        bot = compile_yaml(text)
        self.pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
        ctx = self.pipeline.ctx
        self.planner = self.pipeline.planners[0][1]
        self.planner.start(ctx)
        for _, validator in self.pipeline.validators:
            validator.start(ctx)
        close = ctx.slots[("candles", "close")]
        for symbol, price in prices.items():
            self.pipeline.lanes[symbol][close] = price

    def cycle(self, intents: list[Intent] | None = None, t: int = T) -> tuple[Cycle, list[Order]]:
        cycle = Cycle(t, self.pipeline.lanes, account=lambda: Account(10_000.0, 10_000.0))
        if intents is None:
            intents = self.pipeline.plan(self.planner, cycle)
        return cycle, self.pipeline.act(self.planner, intents, cycle)


def desk(server: LlmServer, *script: Scripted, **kwargs: Any) -> Desk:
    server.script.extend(script)
    return Desk(bot_text(server.base, **kwargs), {"BTC/USDT:USDT": 100_000.0, "ETH/USDT:USDT": 4_000.0})


def reasons(cycle: Cycle) -> list[tuple[str, str, str]]:
    return [(i.symbol, v.action, v.reason) for i, verdicts in cycle.verdicts for v in verdicts if v.step_id == "veto"]


def test_an_approved_entry_reaches_the_executor_with_the_model_reason(server: LlmServer) -> None:
    cycle, orders = desk(server, answer(False, "calm market"), answer(False, "nothing unusual")).cycle()
    assert [o.symbol for o in orders] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert reasons(cycle) == [
        ("BTC/USDT:USDT", "approve", "openai/gpt-4o-mini: calm market"),
        ("ETH/USDT:USDT", "approve", "openai/gpt-4o-mini: nothing unusual"),
    ]
    first = server.requests[0]
    assert first["auth"] == f"Bearer {KEY}"
    assert (first["temperature"], first["max_tokens"]) == (0, 200)
    assert first["response_format"]["json_schema"]["schema"]["title"] == "veto_decision"
    system, user = first["messages"]
    assert "Default to NOT vetoing" in system["content"]
    assert user["content"].startswith(
        "2025-10-28 07:00 UTC. Step 'dca' proposes: limit buy 0.00497512 BTC at about 100,500"
    )
    assert "(notional about $500.00, leverage 1x)" in user["content"]
    assert [(c.subject, c.attempt, c.plan) for c in cycle.llm_calls] == [
        ("BTC/USDT:USDT", 1, '{"veto":false,"reason":"calm market"}'),
        ("ETH/USDT:USDT", 2, '{"veto":false,"reason":"nothing unusual"}'),
    ]
    assert all(c.tokens_in == 400 and c.cost_usd and c.cost_usd > 0 for c in cycle.llm_calls)


def test_a_veto_rejects_the_entry_with_the_model_reason(server: LlmServer) -> None:
    cycle, orders = desk(server, answer(True, "price gapped 8% in one bar"), answer(False, "fine")).cycle()
    assert [o.symbol for o in orders] == ["ETH/USDT:USDT"]
    assert reasons(cycle)[0] == ("BTC/USDT:USDT", "reject", "vetoed by openai/gpt-4o-mini: price gapped 8% in one bar")
    assert not cycle.error


@pytest.mark.parametrize(
    ("scripted", "why"),
    [
        (reply("I would not veto this."), "invalid answer: the reply is not valid JSON: Expecting value"),
        (reply('{"veto": false, "rea'), "invalid answer: the reply is not valid JSON: Unterminated string"),
        (reply('{"veto": "maybe", "reason": "x"}'), "invalid answer: veto: Input should be a valid boolean"),
        (reply('{"veto": false}'), "invalid answer: reason: Field required"),
        (reply('{"veto": false, "reason": "ok", "size": 1000}'), "invalid answer: size: Extra inputs"),
        (Scripted(raw=b'{"id": "x", "choices": [{"message": {"content": "{\\"veto'), "no reply: "),
        (error(503, "overloaded"), "no reply: ServiceUnavailableError (503)"),
        (Scripted(text='{"veto": false, "reason": "late"}', delay_s=2.5), "no reply: Timeout"),
    ],
    ids=["prose", "truncated", "wrong-type", "no-reason", "extra-field", "cut-off-body", "503", "slow"],
)
def test_no_usable_answer_rejects_the_entry_fail_closed(server: LlmServer, scripted: Scripted, why: str) -> None:
    retried = scripted.status != 200 or scripted.delay_s
    script = [scripted, scripted] if retried else [scripted]
    d = desk(server, *script, planner="  - {id: dca, uses: planner.dca, with: {amount: 500, symbol: BTC/USDT:USDT}}")
    cycle, orders = d.cycle()
    assert orders == []
    ((symbol, action, reason),) = reasons(cycle)
    assert (symbol, action) == ("BTC/USDT:USDT", "reject")
    assert reason.startswith(f"no answer, so no order (fail closed): {why}")
    (call,) = cycle.llm_calls
    assert call.error.startswith(why) and call.plan is None
    assert not cycle.error  # a missing answer is a rejection, not a failed cycle


def test_on_failure_approve_lets_the_entry_through_and_says_why(server: LlmServer) -> None:
    d = desk(server, reply("no idea"), reply("no idea"), options="on_failure: approve")
    cycle, orders = d.cycle()
    assert len(orders) == 2
    assert reasons(cycle)[0][2].startswith("no answer (invalid answer: the reply is not valid JSON")
    assert reasons(cycle)[0][2].endswith("approved as on_failure says")


def test_a_bad_key_fails_the_cycle_and_sends_nothing(server: LlmServer) -> None:
    cycle, orders = desk(server, error(401, "invalid api key")).cycle()
    assert orders == []
    assert cycle.error.startswith("step 'veto': LlmError: AuthenticationError (401)")
    assert len(server.requests) == 1  # not retried, and the second symbol is not asked either


def test_a_bid_and_an_ask_on_one_symbol_cost_one_question(server: LlmServer) -> None:
    cycle, orders = desk(server, answer(False, "ok"), answer(True, "ETH is gapping"), planner=QUOTES).cycle()
    assert len(server.requests) == 2
    quotes = sorted((o.symbol, o.intent.side) for o in orders if o.intent.kind == "order")
    assert quotes == [("BTC/USDT:USDT", "buy"), ("BTC/USDT:USDT", "sell")]
    assert [(s, a) for s, a, _ in reasons(cycle)] == [
        ("BTC/USDT:USDT", "approve"),  # the cancel of earlier quotes, never asked about
        ("BTC/USDT:USDT", "approve"),
        ("BTC/USDT:USDT", "approve"),
        ("ETH/USDT:USDT", "approve"),
        ("ETH/USDT:USDT", "reject"),
        ("ETH/USDT:USDT", "reject"),
    ]
    assert "proposes: limit buy 0.01 BTC at about 99,750" in server.requests[0]["messages"][1]["content"]


def test_closes_cancels_and_reduce_only_orders_are_never_asked_about(server: LlmServer) -> None:
    d = desk(server)
    intents = [
        Intent("BTC/USDT:USDT", "close", reason="stop"),
        Intent("ETH/USDT:USDT", "cancel"),
        Intent("ETH/USDT:USDT", "order", side="sell", reduce_only=True, reason="trim"),
    ]
    cycle, orders = d.cycle(intents)
    assert len(orders) == 3 and server.requests == [] and cycle.llm_calls == []


def test_an_entry_the_limits_refuse_costs_no_question(server: LlmServer) -> None:
    cycle, orders = desk(server, answer(False, "ok")).cycle(
        [Intent("BTC/USDT:USDT", "target", side="buy", size=_quantity(0.05), leverage=10, reason="too much")]
    )
    assert orders == [] and server.requests == []
    assert [v.step_id for _, verdicts in cycle.verdicts for v in verdicts] == ["limits"]


def test_the_template_may_use_the_intent_and_earlier_steps_but_nothing_unknown() -> None:
    good = bot_text("http://127.0.0.1:9/v1", options="user: '{{ intent.coin }} {{ candles[intent.symbol].close }}'")
    assert compile_yaml(good).steps[3].uses == "validator.llm_veto"
    (issue,) = issues_of(bot_text("http://127.0.0.1:9/v1", options="user: '{{ intent.coin }} {{ funding }}'"))
    assert issue.path == "pipeline[3].with.user"
    assert issue.message.startswith("'funding' is not defined; known: account, candles, decisions, intent")


def _quantity(q: float) -> Any:
    from runner.types import Size

    return Size(quantity=q)


def test_a_missing_key_is_not_retried_as_a_server_error(server: LlmServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    text = bot_text(server.base).replace("      api_key: ${env:TEST_LLM_KEY}\n", "")
    d = Desk(text, {"BTC/USDT:USDT": 100_000.0, "ETH/USDT:USDT": 4_000.0})
    cycle, orders = d.cycle()
    assert orders == [] and server.requests == []
    assert "Missing credentials" in cycle.error
    (call,) = cycle.llm_calls
    assert call.tries == 1  # litellm calls it an InternalServerError; it will not mend itself
