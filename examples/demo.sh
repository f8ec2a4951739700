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
show() { printf '\n\033[1m$ runner %s\033[0m\n' "$*"; "$runner" "$@"; }

show validate bots/
show backtest bots/ema_cross.yaml --data "$btc"
show run bots/ema_cross.yaml bots/dca_buy.yaml --replay "BTC/USDT=$btc" --replay "SOL/USDT=$sol" \
  --from 2025-06-02T00:00 --until 2025-06-02T08:00 --speed 1800
show runs
show leaderboard
show versions ema_cross
show explain --last
exit 0
