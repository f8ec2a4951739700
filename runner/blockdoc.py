"""Documentation of a block, generated from its Config model: fields, types, defaults, an example."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

import yaml

from runner.block import Block
from runner.registry import BlockEntry


@dataclass(frozen=True)
class FieldDoc:
    name: str
    type: str
    required: bool
    default: str
    description: str


def summary(block: type[Block]) -> str:
    """The first line of the block's docstring."""
    return (block.__doc__ or "").strip().splitlines()[0] if block.__doc__ else ""


def fields(block: type[Block]) -> list[FieldDoc]:
    """One FieldDoc per config field, in declaration order."""
    schema = block.Config.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    docs = []
    for name, prop in schema.get("properties", {}).items():
        default = json.dumps(prop["default"]) if "default" in prop else ""
        docs.append(FieldDoc(name, type_of(prop, defs), name in required, default, prop.get("description", "")))
    return docs


def type_of(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short readable type for a JSON Schema property."""
    if "x-runner-ref" in prop:
        return f"reference ({prop['x-runner-ref']})"
    if "enum" in prop:
        return " | ".join(str(v) for v in prop["enum"])
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        inner = defs.get(name, {}).get("properties", {})
        return "{" + ", ".join(inner) + "}" if inner else name
    if "anyOf" in prop:
        parts = [type_of(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        optional = any(p.get("type") == "null" for p in prop["anyOf"])
        return " | ".join(parts) + (" (optional)" if optional else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {type_of(prop.get('items', {}), defs)}"
    bounds = [
        f"{sym} {prop[key]}"
        for key, sym in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<="))
        if key in prop
    ]
    return f"{kind} {', '.join(bounds)}".strip() if bounds else str(kind)


def render(entry: BlockEntry, block: type[Block]) -> str:
    """The text ``runner blocks NAME`` prints."""
    lines = [f"{entry.name}: {inspect.cleandoc(block.__doc__ or '')}", ""]
    outputs = ", ".join(f"{k} ({v})" for k, v in block.outputs.items()) or "none"
    lines.append(f"kind: {block.kind}    package: {entry.dist} {entry.version}    outputs: {outputs}")
    if block.live:
        lines.append("sends real orders when the bot runs with mode: live and --live")
    docs = fields(block)
    lines += ["", "fields:" if docs else "fields: none"]
    width_name = max((len(d.name) for d in docs), default=0)
    width_type = max((len(d.type) for d in docs), default=0)
    for d in docs:
        state = "required" if d.required else f"default {d.default}"
        lines.append(f"  {d.name:<{width_name}}  {d.type:<{width_type}}  {state}")
        if d.description:
            lines.append(f"  {'':<{width_name}}  {d.description}")
    step: dict[str, Any] = {"id": entry.name.split(".", 1)[1], "uses": entry.name}
    if block.example:
        step["with"] = dict(block.example)
    example = yaml.safe_dump([step], sort_keys=False, default_flow_style=None).rstrip()
    lines += ["", "example:", *("  " + line for line in example.splitlines())]
    return "\n".join(lines)
