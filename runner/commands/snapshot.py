"""``runner snapshot FILE``: the resolved config of a bot file and its config_id."""

from __future__ import annotations

import argparse
import json
import sys

from runner.cliutil import UsageError, load_bot
from runner.risk import risk_file


def run(args: argparse.Namespace) -> int:
    try:
        bot = load_bot(args.path, risk_file(args.risk))
    except UsageError as exc:
        print(f"runner snapshot: {exc}", file=sys.stderr)
        return 2
    if bot is None:
        return 1
    print(json.dumps({"config_id": bot.config_id, "snapshot": bot.snapshot}, indent=2, sort_keys=True))
    return 0
