"""Compile-time help for blocks whose config lists symbols."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.compile import CompileContext
    from runner.errors import ConfigIssue


def foreign_symbols(
    ctx: CompileContext, path: tuple[str | int, ...], symbols: Iterable[str], hint: str = ""
) -> Iterator[ConfigIssue]:
    """An issue at ``path + (index,)`` for every listed symbol the bot does not trade. A house rule's list
    covers every bot of a process, so a bot need not trade all of it."""
    if ctx.header is None or path[:1] == ("risk",):
        return
    for i, symbol in enumerate(symbols):
        if symbol not in ctx.header.symbols:
            yield ctx.issue((*path, i), f"'{symbol}' is not one of the bot's symbols", hint)
