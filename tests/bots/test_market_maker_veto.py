"""market_maker_basic with its LLM veto enabled (the commented step uncommented), over real BTC candles: a model
that vetoes some requotes keeps those quotes off the book, with its reason recorded and explained."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import BOTS, data_path
from llm_server import Scripted, llm_server, reply

from runner.compile import compile_file
from runner.runs import RunOptions, backtest
from runner.store import Store


def enabled(tmp_path: Path, base: str) -> Path:
    text = (BOTS / "market_maker_basic.yaml").read_text()
    step = re.search(r"(  # - id: veto\n(?:  #   .*\n)+)", text)
    assert step is not None, "the commented veto step is gone from market_maker_basic.yaml"
    lines = (
        step.group(1)
        .replace("  # ", "  ")
        .replace("model: local/smollm2", f"model: openai/gpt-4o-mini, api_base: {base}, api_key: '${{env:MM_KEY}}'")
    )
    (tmp_path / "bot.yaml").write_text(text.replace(step.group(1), lines).replace("version: 1.0.0", "version: 1.1.0"))
    return tmp_path / "bot.yaml"


def test_the_enabled_veto_keeps_vetoed_quotes_off_the_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MM_KEY", "sk-mm-veto-test")
    candles = str(data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz"))
    asked: list[str] = []

    def model(request: dict[str, Any]) -> Scripted:
        asked.append(request["messages"][1]["content"])
        if len(asked) % 2 == 0:
            return reply(json.dumps({"veto": True, "reason": "price moving too fast to quote"}))
        return reply(json.dumps({"veto": False, "reason": "calm"}))

    store = Store(tmp_path / "r.db")
    with llm_server(fallback=model) as server:
        bot = compile_file(str(enabled(tmp_path, server.base)))
        assert [s.id for s in bot.steps][-2:] == ["veto", "exec"]
        summary = backtest(store, bot, RunOptions({"BTC/USDC:USDC": candles}, start=_ms("2025-05-10T00:00"),
                                                  end=_ms("2025-05-10T02:00"), llm="live"))  # fmt: skip
    run = summary["run_id"]
    calls = store.rows("SELECT subject, attempt, plan, error FROM llm_calls WHERE run_id = ?", (run,))
    assert not [c["error"] for c in calls if c["error"]]
    assert len(calls) == len(asked) == 25  # one question per requote (every 5 bars), however many quotes
    assert all(c["subject"] == "BTC/USDC:USDC" for c in calls)
    assert "proposes: limit buy 0.01 BTC" in asked[0]
    intents = store.rows("SELECT payload, verdicts FROM intents WHERE run_id = ?", (run,))
    entries = [json.loads(i["verdicts"]) for i in intents if json.loads(i["payload"])["kind"] == "order"]
    vetoed = [v for vs in entries for v in vs if v["step"] == "veto" and v["action"] == "reject"]
    assert len(vetoed) == 2 * 12  # a bid and an ask for each vetoed requote
    assert {v["reason"] for v in vetoed} == {"vetoed by openai/gpt-4o-mini: price moving too fast to quote"}
    placed = store.rows("SELECT client_id FROM orders WHERE run_id = ? AND kind = 'order'", (run,))
    assert len(placed) == 2 * 13
    store.close()
    with sqlite3.connect(tmp_path / "r.db") as conn:
        (cid,) = conn.execute("SELECT client_id FROM orders WHERE kind = 'order' LIMIT 1").fetchone()
    import contextlib
    import io

    from runner.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", cid, "--db", str(tmp_path / "r.db")]) == 0
    assert "verdict veto: approve (openai/gpt-4o-mini: calm)" in out.getvalue()
    assert "llm call 1 on BTC/USDC:USDC by 'veto' (live): openai/gpt-4o-mini" in out.getvalue()


def _ms(text: str) -> int:
    from runner.cliutil import parse_time

    value = parse_time(text)
    assert value is not None
    return value
