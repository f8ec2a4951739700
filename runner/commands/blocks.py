"""``runner blocks [NAME]``: list the installed blocks, or document one."""

from __future__ import annotations

import argparse
import sys

from runner import blockdoc
from runner.registry import BlockLoadError, Registry


def run(args: argparse.Namespace) -> int:
    registry = Registry.discover()
    for problem in registry.problems:
        print(f"runner: warning: {problem}", file=sys.stderr)
    if args.name:
        return _one(registry, args.name)
    width = max((len(n) for n in registry.names()), default=0)
    for name, entry in registry.entries.items():
        try:
            text = blockdoc.summary(registry.load(name))
        except BlockLoadError as exc:
            text = f"(broken: {exc})"
        origin = "" if entry.dist == "bot-runner" else f"  [{entry.dist} {entry.version}]"
        print(f"{name:<{width}}  {text}{origin}")
    return 0


def _one(registry: Registry, name: str) -> int:
    entry = registry.get(name)
    if entry is None:
        close = registry.suggest(name)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        print(f"runner blocks: unknown block '{name}'{hint}", file=sys.stderr)
        return 1
    try:
        block = registry.load(name)
    except BlockLoadError as exc:
        print(f"runner blocks: {exc}", file=sys.stderr)
        return 1
    print(blockdoc.render(entry, block))
    return 0
