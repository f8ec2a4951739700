"""``runner snapshot FILE``: the resolved config of a bot file and its config_id."""

from __future__ import annotations

import argparse
import json
import sys

from runner.compile import compile_file
from runner.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    try:
        bot = compile_file(args.path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"runner snapshot: {args.path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(json.dumps({"config_id": bot.config_id, "snapshot": bot.snapshot}, indent=2, sort_keys=True))
    return 0
