"""``runner diff BOT V1 V2``: what changed in the resolved config between two deployed versions."""

from __future__ import annotations

import argparse
import json
import sys

from runner.snapshot import diff
from runner.store import Store


def run(args: argparse.Namespace) -> int:
    store = Store(args.db)
    found = {
        r["version"]: r
        for r in store.rows(
            "SELECT version, config_id, snapshot FROM deployments WHERE bot = ? AND version IN (?, ?)",
            (args.bot, args.old, args.new),
        )
    }
    known = [r["version"] for r in store.rows("SELECT version FROM deployments WHERE bot = ?", (args.bot,))]
    store.close()
    missing = [v for v in (args.old, args.new) if v not in found]
    if missing:
        print(
            f"runner diff: {args.bot} {' and '.join(missing)} not deployed (deployed: {', '.join(known) or 'none'})",
            file=sys.stderr,
        )
        return 1
    old, new = found[args.old], found[args.new]
    print(f"{args.bot} {args.old} ({old['config_id'][:12]}) -> {args.new} ({new['config_id'][:12]})")
    changes = diff(json.loads(old["snapshot"]), json.loads(new["snapshot"]))
    print("\n".join(f"  {c}" for c in changes) if changes else "  (same config)")
    return 0
