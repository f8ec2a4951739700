"""JSON Schemas generated from the models: the bot file (with every block's config), the risk file and each
block."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from runner.block import Block
from runner.registry import Registry
from runner.spec import BotSpec, RiskSpec

SCHEMA_URL = "https://json-schema.org/draft/2020-12/schema"


def block_schema(name: str, block: type[Block]) -> dict[str, Any]:
    """The schema of one block's ``with:`` mapping."""
    schema = block.Config.model_json_schema(by_alias=True)
    schema["title"] = name
    schema["description"] = inspect.cleandoc(block.__doc__ or "")
    return {"$schema": SCHEMA_URL, **schema}


def bot_schema(registry: Registry) -> dict[str, Any]:
    """The bot file schema; each step's ``with:`` is checked against its block's schema by ``uses``."""
    schema = _with_steps(BotSpec.model_json_schema(by_alias=True), registry, registry.names())
    schema["title"] = "bot-runner bot file"
    return {"$schema": SCHEMA_URL, **schema}


def risk_schema(registry: Registry) -> dict[str, Any]:
    """The risk file schema: house rules, steps of validator blocks only."""
    validators = [name for name in registry.names() if registry.load(name).kind == "validator"]
    schema = _with_steps(RiskSpec.model_json_schema(by_alias=True), registry, validators)
    schema["title"] = "bot-runner risk file"
    return {"$schema": SCHEMA_URL, **schema}


def _with_steps(schema: dict[str, Any], registry: Registry, names: list[str]) -> dict[str, Any]:
    """``schema`` with its StepSpec limited to the blocks ``names``, each step's ``with:`` checked by ``uses``."""
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    branches = []
    for name in names:
        block = registry.load(name)
        sub = block.Config.model_json_schema(by_alias=True, ref_template="#/$defs/" + _def_name(name, "{model}"))
        for inner, body in sub.pop("$defs", {}).items():
            defs[_def_name(name, inner)] = body
        sub["description"] = inspect.cleandoc(block.__doc__ or "")
        defs[_def_name(name)] = sub
        branches.append(
            {
                "if": {"properties": {"uses": {"const": name}}, "required": ["uses"]},
                "then": {"properties": {"with": {"$ref": f"#/$defs/{_def_name(name)}"}}},
            }
        )
    step = defs["StepSpec"]
    step["properties"]["uses"]["enum"] = names
    step["allOf"] = branches
    return schema


def plan_file_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema an LLM planner's reply must follow, as a file for editors and providers."""
    return {"$schema": SCHEMA_URL, **schema}


def _def_name(block: str, inner: str | None = None) -> str:
    base = "block:" + block
    return f"{base}:{inner}" if inner else base


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def expected_files(registry: Registry) -> dict[str, str]:
    """Relative path -> content of every schema file."""
    from runner.plan import plan_schema

    files = {
        "bot.schema.json": render(bot_schema(registry)),
        "plan.schema.json": render(plan_file_schema(plan_schema())),
        "risk.schema.json": render(risk_schema(registry)),
    }
    for name in registry.names():
        files[f"blocks/{name}.schema.json"] = render(block_schema(name, registry.load(name)))
    return files


def write(directory: Path, registry: Registry) -> list[Path]:
    """Write every schema file under ``directory``; returns the paths written."""
    written = []
    for rel, content in expected_files(registry).items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != content:
            target.write_text(content)
        written.append(target)
    return written


def stale(directory: Path, registry: Registry) -> list[str]:
    """Schema files that are missing, outdated, or no longer generated."""
    expected = expected_files(registry)
    problems = [
        rel
        for rel, content in expected.items()
        if not (directory / rel).exists() or (directory / rel).read_text() != content
    ]
    present = {str(p.relative_to(directory)) for p in directory.rglob("*.schema.json")} if directory.exists() else set()
    problems += sorted(present - set(expected))
    return problems
