"""planner.llm: what one decision costs outside the model, and the prompt's size.

Usage: python bench/llm_cycle.py [--cycles N]
Measures, on a three-perp bot with an AI-Perp-Trader-like prompt (prices, RSI, a 10-row history table per
coin, the account and positions):
  - context + render: building the template context and rendering both prompts;
  - decision overhead: render, prompt hash, parse and validate a real Alpha Arena reply, intents and the
    call record, with the model answering instantly in-process;
  - litellm + HTTP: the same through litellm to a local OpenAI-compatible server that answers at once;
  - the rendered prompt's size in tokens (litellm's counter for gpt-4o-mini);
  - the shipped prompt of bots/llm_perp_trader.yaml (five perps, 1m and 4h indicators, account, trades and
    performance): its render time with a full 10-row history, and its size.
Budget (DESIGN.md section 12): live cycle overhead outside network and LLM < 5 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import llm_server, reply  # noqa: E402

from runner.block import Account  # noqa: E402
from runner.compile import compile_text  # noqa: E402
from runner.cycle import BuildContext, Cycle, Pipeline  # noqa: E402
from runner.llm.client import Reply  # noqa: E402
from runner.types import Position  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "llm" / "alpha-arena-2025-10-28" / "conversations.json"

BOT = """
bot: llm_bench
version: 1.0.0
account: {cash: 10000, quote: USDT}
symbols: [BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT]
pipeline:
  - {id: candles, uses: source.candles, with: {venue: binanceusdm, timeframe: 1h}}
  - {id: rsi, uses: indicator.rsi, with: {of: candles.close, period: 14}}
  - {id: ema, uses: indicator.ema, with: {of: candles.close, period: 20}}
  - id: plan
    uses: planner.llm
    with:
      model: openai/gpt-4o-mini
      api_base: BASE
      api_key: ${env:LLM_BENCH_KEY}
      retries: 0
      user: |
        Time {{ now }}, invocation {{ invocation }}. ALL SERIES ARE ORDERED OLDEST -> NEWEST.
        {% for s in symbols %}{% set m = market[s] %}
        ### {{ m.coin }}
        price {{ m.price | num }}, EMA20 {{ ema[s] | num }}, RSI14 {{ rsi[s] | num }}
        {{ m.history | candles(10, ["time", "open", "high", "low", "close", "volume", "rsi", "ema"]) }}
        {% endfor %}
        ### Account
        equity {{ account.equity | usd }}, cash {{ account.cash | usd }}, return {{ performance.return_pct | pct }}
        {% for p in positions %}{{ p.coin }} {{ p.side }} {{ p.quantity | num }} @ {{ p.avg_price | num }},
        unrealised {{ p.unrealized_pnl | usd }}, {{ p.leverage }}x, stop {{ p.stop_loss | num }},
        target {{ p.take_profit | num }}, invalidation: {{ p.invalidation }}
        {% endfor %}Max leverage {{ limits.max_leverage }}. {% if last_error %}Last error: {{ last_error }}{% endif %}
  - {id: exec, uses: executor.paper}
"""


def setup(base: str) -> tuple[Pipeline, Any, Account]:
    bot = compile_text(BOT.replace("BASE", base), "bench.yaml")
    pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
    ctx = pipeline.ctx
    planner = pipeline.planners[0][1]
    planner.start(ctx)
    account = Account(
        9_000.0,
        10_250.0,
        {"BTC/USDT:USDT": Position("BTC/USDT:USDT", 0.05, 110_000.0, 0.0, 5.0, 0.0, 108_000.0, 115_000.0, "4h < EMA")},
    )
    return pipeline, planner, account


def feed(pipeline: Pipeline, i: int) -> None:
    ctx = pipeline.ctx
    for k, lane in enumerate(pipeline.lanes.values()):
        price = (110_000.0, 3_900.0, 190.0)[k] * (1 + 0.001 * (i % 7))
        for name, factor in (("open", 0.999), ("high", 1.002), ("low", 0.997), ("close", 1.0)):
            lane[ctx.slots[("candles", name)]] = price * factor
        lane[ctx.slots[("candles", "volume")]] = 1234.5 + i
        lane[ctx.slots[("rsi", "value")]] = 40 + i % 30
        lane[ctx.slots[("ema", "value")]] = price * 0.995


def per_cycle_ms(cycles: int, step: Any) -> tuple[float, float]:
    samples = []
    for i in range(cycles):
        start = time.perf_counter()
        step(i)
        samples.append((time.perf_counter() - start) * 1000)
    return min(samples), statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    args = parser.parse_args()
    import os

    os.environ["LLM_BENCH_KEY"] = "sk-bench"  # the local server takes any key
    answer = max((json.dumps(c["llm_response"]) for c in json.loads(DATA.read_text())["conversations"]), key=len)
    with llm_server(fallback=lambda _: reply(answer)) as server:
        pipeline, planner, account = setup(server.base)
        asker, context = planner._asker, planner._context
        t0 = 1_761_634_800_000

        def cycle(i: int) -> Cycle:
            feed(pipeline, i)
            return Cycle(t0 + i * 3_600_000, pipeline.lanes, account=lambda: account)

        from runner.llm.prompt import render

        rendered: dict[str, str] = {}

        def render_only(i: int) -> None:
            values = context.build(cycle(i), "")
            rendered["user"] = render(planner._user, values)
            rendered["system"] = render(planner._system, values)

        lo, med = per_cycle_ms(args.cycles, render_only)
        print(f"context + render            min {lo:6.3f} ms   median {med:6.3f} ms")

        asker.call = lambda request: Reply(answer, 2500, 600, 0.00073, 0.0)
        lo, med = per_cycle_ms(args.cycles, lambda i: planner.plan(cycle(i)))
        print(f"decision overhead (no HTTP) min {lo:6.3f} ms   median {med:6.3f} ms   reply {len(answer):,} chars")

        from runner.llm.client import complete

        asker.call = complete
        planner.plan(cycle(0))  # imports litellm and opens the connection
        lo, med = per_cycle_ms(min(args.cycles, 100), lambda i: planner.plan(cycle(i)))
        print(f"with litellm + local HTTP   min {lo:6.3f} ms   median {med:6.3f} ms")

        import litellm

        messages = [{"role": "system", "content": rendered["system"]}, {"role": "user", "content": rendered["user"]}]
        tokens = litellm.token_counter(model="gpt-4o-mini", messages=messages)
        size = len(rendered["system"]) + len(rendered["user"])
        print(f"prompt                      {size:,} chars, {tokens:,} tokens (gpt-4o-mini)")
    shipped_prompt(args.cycles)


def shipped_prompt(cycles: int) -> None:
    """Render time and size of bots/llm_perp_trader.yaml's prompts, every lane value set, 10 rows of history."""
    from runner.compile import compile_file
    from runner.llm.prompt import render

    bot = compile_file(str(ROOT / "bots" / "llm_perp_trader.yaml"))
    pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
    planner = next(b for s, b in pipeline.planners if s.id == "plan")
    planner.start(pipeline.ctx)
    account = Account(
        9_000.0,
        10_250.0,
        {"BTC/USDC:USDC": Position("BTC/USDC:USDC", 0.05, 110_000.0, 0.0, 5.0, 0.0, 108_000.0, 115_000.0, "4h < EMA")},
    )
    bases = (110_000.0, 3_900.0, 190.0, 0.2, 2.6)
    rendered: dict[str, str] = {}

    def one(i: int) -> None:
        for base, lane in zip(bases, pipeline.lanes.values(), strict=True):
            for slot in range(len(lane)):
                lane[slot] = base * (1 + 0.001 * ((i + slot) % 7))
        values = planner._context.build(Cycle(1_761_634_800_000 + i * 900_000, pipeline.lanes, account=lambda: account))
        rendered["system"] = render(planner._system, values)
        rendered["user"] = render(planner._user, values)

    for i in range(10):
        one(i)  # fill the history
    lo, med = per_cycle_ms(cycles, one)
    import litellm

    messages = [{"role": "system", "content": rendered["system"]}, {"role": "user", "content": rendered["user"]}]
    tokens = litellm.token_counter(model="gpt-4o-mini", messages=messages)
    size = len(rendered["system"]) + len(rendered["user"])
    print(f"llm_perp_trader prompt      min {lo:6.3f} ms   median {med:6.3f} ms   {size:,} chars, {tokens:,} tokens")


if __name__ == "__main__":
    main()
