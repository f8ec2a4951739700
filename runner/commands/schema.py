"""``runner schema [--out DIR] [--check]``: JSON Schemas for editors, generated from the models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runner import schema
from runner.registry import Registry


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    registry = Registry.discover()
    if args.check:
        stale = schema.stale(out, registry)
        for rel in stale:
            print(f"{out / rel}: stale", file=sys.stderr)
        if stale:
            print("run `runner schema` and commit the result", file=sys.stderr)
            return 1
        print(f"ok: {out} is current", file=sys.stderr)
        return 0
    written = schema.write(out, registry)
    print(f"wrote {len(written)} schema files to {out}", file=sys.stderr)
    return 0
