"""``runner validate PATH...``: compile bot files and report every problem, all at once; with ``--risk FILE``
(or ``$RUNNER_RISK``) also the risk file, and every bot with its house rules."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from runner.compile import compile_file
from runner.errors import ConfigError, ConfigIssue
from runner.paths import expand
from runner.registry import Registry
from runner.risk import load_risk, risk_file

if TYPE_CHECKING:
    from runner.risk import HouseRules


def run(args: argparse.Namespace) -> int:
    risk = risk_file(args.risk)
    if not args.paths and risk is None:
        print("runner validate: give bot files, directories or patterns, or --risk FILE", file=sys.stderr)
        return 2
    files, missing = expand(args.paths)
    if risk is not None and not Path(risk).is_file():
        missing.append(risk)
    for path in missing:
        print(f"runner validate: no such file or directory: {path}", file=sys.stderr)
    if missing:
        return 2
    if risk is not None:  # a risk file kept beside the bots is checked as what it is
        files = [f for f in files if not _same_file(f, risk)]
    if args.paths and not files:
        print(f"runner validate: no bot files (*.yaml, *.yml) in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    registry = Registry.discover()
    for problem in registry.problems:
        print(f"runner: warning: {problem}", file=sys.stderr)
    issues: list[ConfigIssue] = []
    failed = 0
    rules = None
    if risk is not None:
        rules, found = risk_one(risk, registry)
        failed += bool(found)
        issues += found
    for path in files:
        found = [i for i in validate_one(path, registry, rules) if i not in issues]
        failed += bool(found)
        issues += found
    if args.format == "json":
        print(json.dumps([i.to_dict() for i in issues], indent=2))
    else:
        for issue in issues:
            print(issue)
    checked = len(files) + (risk is not None)
    print(_summary(issues, failed, checked, files, risk), file=sys.stderr)
    return 1 if issues else 0


def _summary(issues: list[ConfigIssue], failed: int, checked: int, files: list[str], risk: str | None) -> str:
    if issues:
        return f"{len(issues)} problem{'s' * (len(issues) != 1)} in {failed} of {checked} file{'s' * (checked != 1)}"
    bots = f"{len(files)} bot file{'s' * (len(files) != 1)}"
    if risk is None:
        return f"ok: {bots}"
    return f"ok: risk file {risk}" + (f" and {bots} with its house rules" if files else "")


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def risk_one(path: str, registry: Registry) -> tuple[HouseRules | None, list[ConfigIssue]]:
    """The risk file's house rules, or None and every issue in it."""
    try:
        return load_risk(path, registry), []
    except ConfigError as exc:
        return None, exc.issues
    except OSError as exc:
        return None, [ConfigIssue(path, 1, 1, "", f"cannot read: {exc.strerror}")]


def validate_one(path: str, registry: Registry, risk: HouseRules | None = None) -> list[ConfigIssue]:
    """Every issue in one bot file, with the house rules of ``risk`` (empty when it compiles)."""
    try:
        compile_file(path, registry, risk)
    except ConfigError as exc:
        return exc.issues
    except OSError as exc:
        return [ConfigIssue(path, 1, 1, "", f"cannot read: {exc.strerror}")]
    return []
