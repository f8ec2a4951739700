"""Snapshots: the canonical resolved config of a deployment, its sha256 ``config_id``, and diffs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from runner.errors import format_path


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same config always gives the same bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def config_id(snapshot: dict[str, Any]) -> str:
    """The sha256 of the snapshot's canonical JSON, as 64 hex digits."""
    return hashlib.sha256(canonical_json(snapshot).encode()).hexdigest()


def diff(old: Any, new: Any, path: tuple[str | int, ...] = ()) -> list[str]:
    """Human-readable differences between two snapshots, one line per changed value."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in sorted(set(old) | set(new)):
            where = (*path, key)
            if key not in old:
                lines.append(f"+ {format_path(where)}: {canonical_json(new[key])}")
            elif key not in new:
                lines.append(f"- {format_path(where)}: {canonical_json(old[key])}")
            else:
                lines.extend(diff(old[key], new[key], where))
        return lines
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True)) for line in diff(a, b, (*path, i))]
    if old != new:
        return [f"~ {format_path(path) or '(root)'}: {canonical_json(old)} -> {canonical_json(new)}"]
    return []
