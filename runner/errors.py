"""Error types shared by the engine and the blocks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render a YAML path the way users write it: ``pipeline[2].with.period``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a bot file, located at file:line:col and a YAML path."""

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}{hint}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ConfigError(Exception):
    """A bot file that does not compile; carries every issue found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


def sort_issues(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    """Order issues as they appear in their files."""
    return sorted(issues, key=lambda i: (i.file, i.line, i.col, i.path, i.message))


class BlockError(Exception):
    """A block failed during a cycle; the cycle is recorded as failed and sends no order."""

    def __init__(self, step_id: str, message: str) -> None:
        self.step_id = step_id
        super().__init__(f"step '{step_id}': {message}")


class DataError(Exception):
    """A market data file that cannot be used: names the file, the line, and what is wrong."""

    def __init__(self, file: str, message: str, line: int | None = None, hint: str = "") -> None:
        self.file, self.line, self.message, self.hint = file, line, message, hint
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}" + (f"; {hint}" if hint else ""))


class TemporaryError(Exception):
    """Raise from a block for an error that may pass if the call is made again (a rate limit, a dropped
    connection, a server that is briefly down). A step with ``retries`` retries it; the block must leave its
    own state as it was, so that the retry starts clean."""


TEMPORARY: tuple[type[BaseException], ...] = (TemporaryError, TimeoutError, ConnectionError)
"""Exception types that are temporary wherever they come from: ConnectionError covers resets, refusals and
broken pipes; TimeoutError a block's own client giving up. Everything else is permanent."""


def is_temporary(exc: BaseException) -> bool:
    """Whether a step's error may pass on a retry: one of ``TEMPORARY``, or an error that says so itself with
    ``temporary = True`` (as the LLM client's errors do). The one place that decides it."""
    return isinstance(exc, TEMPORARY) or getattr(exc, "temporary", False) is True
