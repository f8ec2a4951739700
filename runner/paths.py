"""Expanding the paths users give on the command line into bot files."""

from __future__ import annotations

import glob
from pathlib import Path

BOT_SUFFIXES = (".yaml", ".yml")


def expand(paths: list[str]) -> tuple[list[str], list[str]]:
    """Bot files named by files, directories (recursively) and glob patterns; and the paths that match nothing."""
    files: list[str] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if p.suffix in BOT_SUFFIXES and p.is_file())
        elif path.exists():
            files.append(raw)
        elif glob.has_magic(raw) and (matches := sorted(glob.glob(raw, recursive=True))):
            files += [m for m in matches if Path(m).is_file()]
        else:
            missing.append(raw)
    return list(dict.fromkeys(files)), missing
