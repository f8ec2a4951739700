#!/usr/bin/env bash
# The demo (`make demo`): offline, on the shipped bots. Shows each command with its real output.
set -uo pipefail
cd "$(dirname "$0")/.."
runner=.venv/bin/runner
show() { printf '\n\033[1m$ runner %s\033[0m\n' "$*"; "$runner" "$@"; }

show blocks
show validate bots/
show validate examples/broken_bot.yaml
show blocks planner.ema_cross
printf '\n\033[1m$ runner snapshot bots/ema_cross.yaml | head -12\033[0m\n'
"$runner" snapshot bots/ema_cross.yaml | head -12
exit 0
