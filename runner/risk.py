"""House rules: a risk file of validator steps that every bot of a process runs after its own validators.

The file is compiled on its own first (each step against its block, ids unique, validators only), so its
mistakes are reported once and at its own lines; each bot then compiles with copies of its steps inserted
before the bot's executor, where the pipeline-wide checks (references, id clashes) see them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path as FsPath

from runner.compile import CompileContext, StepInfo, compile_step, hide_secrets, read_text, validate_model
from runner.errors import ConfigError, ConfigIssue, Path, sort_issues
from runner.registry import Registry
from runner.secrets import literal_secrets
from runner.spec import RiskHeader
from runner.yaml_source import Document, load_yaml

ENV = "RUNNER_RISK"
"""The environment variable naming the risk file when no --risk is given, so that every invocation of a
daemon runs under the same rules."""


@dataclass(frozen=True)
class HouseRules:
    """A risk file that compiled: its steps, with their configs, in the order they run."""

    file: str
    text: str
    doc: Document
    steps: tuple[StepInfo, ...]


def risk_file(given: str | None) -> str | None:
    """The risk file in force: ``--risk FILE`` if given, else ``$RUNNER_RISK`` if set and not empty."""
    return given or os.environ.get(ENV) or None


def load_risk(path: str | FsPath, registry: Registry | None = None) -> HouseRules:
    """Compile the risk file at ``path``; raises ConfigError listing every problem, OSError if unreadable."""
    return compile_risk(read_text(path), str(path), registry)


def compile_risk(text: str, file: str = "<risk>", registry: Registry | None = None) -> HouseRules:
    """Compile risk file text; raises ConfigError listing every problem, in file order."""
    registry = registry or Registry.discover()
    try:
        return _compile_risk(text, file, registry)
    except ConfigError as exc:
        raise ConfigError(hide_secrets(exc.issues, text)) from None


def _compile_risk(text: str, file: str, registry: Registry) -> HouseRules:
    from runner.checks import check_cadence, check_unique_ids

    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [doc.issue((), "a risk file is a mapping with a risk: list of validator steps", "see README.md, Risk")]
        )
    issues: list[ConfigIssue] = []
    hidden: set[Path] = set()
    for path, kind in literal_secrets(doc.data):
        hidden.add(path)
        issues.append(
            doc.issue(path, f"literal secret in the risk file: this looks like {kind} (value hidden)", "remove it")
        )
    validate_model(RiskHeader, doc.data, (), doc, hidden, issues)
    raw = doc.data.get("risk")
    steps = [
        compile_step(i, step, doc, registry, hidden, issues, section="risk")
        for i, step in enumerate(raw if isinstance(raw, list) else [])
    ]
    issues.extend(_validators_only(steps, doc))
    # Only the checks that need no bot: each bot checks references and id clashes when it compiles with these.
    ctx = CompileContext(doc, None, steps, registry, hidden, risk=doc)
    for step in steps:
        if step.block is not None and step.config is not None:
            issues.extend(step.block.include(step, ctx))
    issues.extend(check_unique_ids(ctx))
    issues.extend(check_cadence(ctx))
    for step in steps:
        if step.block is not None and step.config is not None:
            issues.extend(step.block.check(step, ctx))
    if issues:
        raise ConfigError(sort_issues(issues))
    return HouseRules(file, text, doc, tuple(steps))


def _validators_only(steps: Iterable[StepInfo], doc: Document) -> Iterable[ConfigIssue]:
    for step in steps:
        if step.block is not None and step.block.kind != "validator":
            yield doc.issue(
                (*step.path, "uses"),
                f"a risk file takes only validators; '{step.uses}' is a {step.block.kind}",
                "house rules are validator.* steps (limits and breakers); the rest belongs in a bot's pipeline",
            )
