"""``runner validate PATH...``: compile bot files and report every problem, all at once."""

from __future__ import annotations

import argparse
import json
import sys

from runner.compile import compile_file
from runner.errors import ConfigError, ConfigIssue
from runner.paths import expand
from runner.registry import Registry


def run(args: argparse.Namespace) -> int:
    files, missing = expand(args.paths)
    for path in missing:
        print(f"runner validate: no such file or directory: {path}", file=sys.stderr)
    if missing:
        return 2
    if not files:
        print(f"runner validate: no bot files (*.yaml, *.yml) in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    registry = Registry.discover()
    for problem in registry.problems:
        print(f"runner: warning: {problem}", file=sys.stderr)
    issues: list[ConfigIssue] = []
    failed = 0
    for path in files:
        found = validate_one(path, registry)
        failed += bool(found)
        issues += found
    if args.format == "json":
        print(json.dumps([i.to_dict() for i in issues], indent=2))
    else:
        for issue in issues:
            print(issue)
    summary = (
        (f"{len(issues)} problem{'s' * (len(issues) != 1)} in {failed} of {len(files)} file{'s' * (len(files) != 1)}")
        if issues
        else f"ok: {len(files)} bot file{'s' * (len(files) != 1)}"
    )
    print(summary, file=sys.stderr)
    return 1 if issues else 0


def validate_one(path: str, registry: Registry) -> list[ConfigIssue]:
    """Every issue in one bot file (empty when it compiles)."""
    try:
        compile_file(path, registry)
    except ConfigError as exc:
        return exc.issues
    except OSError as exc:
        return [ConfigIssue(path, 1, 1, "", f"cannot read: {exc.strerror}")]
    return []
