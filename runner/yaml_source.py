"""YAML loading that remembers the file, line and column of every node."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.errors import ConfigError, ConfigIssue, Path, format_path, sort_issues

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_YAML_HINTS = {
    "found character '\\t' that cannot start any token": (
        "tab character; YAML indents with spaces only",
        "replace the tab with spaces",
    ),
    "mapping values are not allowed here": (
        "unexpected ':'",
        "a value that contains ': ' must be quoted, or the indentation is off",
    ),
    "mapping values are not allowed in this context": (
        "unexpected ':'",
        "a value that contains ': ' must be quoted, or the indentation is off",
    ),
    "but found another document": (
        "more than one YAML document",
        "a bot file holds exactly one bot; remove the '---' separator",
    ),
}


@dataclass
class Document:
    """A loaded YAML file: plain Python data plus the position of every value and key."""

    file: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path, at_key: bool = False) -> tuple[int, int]:
        """Line and column of the node at ``path``, else of its nearest ancestor."""
        probe = tuple(path)
        while True:
            found = (self.keys.get(probe) or self.values.get(probe)) if at_key else self.values.get(probe)
            if found:
                return found
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def issue(self, path: Path, message: str, hint: str = "", at_key: bool = False) -> ConfigIssue:
        """A ConfigIssue located at ``path`` in this document."""
        line, col = self.position(path, at_key)
        return ConfigIssue(self.file, line, col, format_path(path), message, hint)


MAX_VALUES = 100_000
"""More values than this (after aliases are expanded) is refused: a bot file is small, a YAML bomb is not."""


def load_yaml(text: str, file: str) -> Document:
    """Parse one YAML document; syntax errors and duplicate keys raise ConfigError with positions."""
    bad = _BAD_CHARACTER.search(text)
    if bad is not None:
        line, col = _line_col(text, bad.start())
        raise ConfigError(
            [
                ConfigIssue(
                    file,
                    line,
                    col,
                    "",
                    f"character U+{ord(bad.group()):04X} is not allowed in YAML",
                    "remove it; only tabs, newlines and printable characters may appear",
                )
            ]
        )
    loader = _Loader(text)
    doc = Document(file=file, data=None)
    issues: list[ConfigIssue] = []
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.data = _Builder(loader, doc, issues).build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(exc, file, text)]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error without a mark
        raise ConfigError([ConfigIssue(file, 1, 1, "", f"YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if issues:
        unique = {(i.line, i.col, i.message): i for i in issues}  # an alias repeats its node's issues
        raise ConfigError(sort_issues(unique.values()))
    return doc


# C0 controls other than tab/newline/CR, DEL, C1 controls, lone surrogates, and U+FFFE/U+FFFF.
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _syntax_issue(exc: yaml.MarkedYAMLError, file: str, text: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    lines = text.splitlines()
    if 0 < line <= len(lines) and lines[line - 1][col - 1 : col] == "\t":
        problem = "found character '\\t' that cannot start any token"
    message, hint = _YAML_HINTS.get(problem, (problem, ""))
    context = exc.context_mark
    if context is not None and problem not in _YAML_HINTS and (context.line, context.column) != (line - 1, col - 1):
        hint = f"{exc.context} that starts at line {context.line + 1}, column {context.column + 1}"
    return ConfigIssue(file, line, col, "", f"YAML syntax: {message}", hint)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns the composed node tree into plain data, recording positions and problems."""

    def __init__(self, loader: Any, doc: Document, issues: list[ConfigIssue]) -> None:
        self.loader, self.doc, self.issues = loader, doc, issues
        self.active: set[int] = set()
        self.values = 0

    def problem(self, node: yaml.Node, path: Path, message: str, hint: str = "") -> None:
        line, col = _pos(node)
        self.issues.append(ConfigIssue(self.doc.file, line, col, format_path(path), message, hint))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            if self.values == MAX_VALUES + 1:
                self.problem(
                    node,
                    path,
                    f"more than {MAX_VALUES:,} values once aliases are expanded",
                    "a bot file is small; check the anchors (&) and aliases (*)",
                )
            return None
        self.doc.values[path] = _pos(node)
        if id(node) in self.active:
            self.problem(node, path, "an alias refers to a value that contains it", "remove the recursive alias")
            return None
        if isinstance(node, yaml.MappingNode):
            self.active.add(id(node))
            try:
                return self._mapping(node, path)
            finally:
                self.active.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            self.active.add(id(node))
            try:
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            self.problem(node, path, f"unknown tag {node.tag}", "bot files are plain YAML: remove the tag")
            return None
        except Exception:  # e.g. `!!int x`, `2024-13-45`: a value its tag cannot read
            self.problem(
                node, path, f"this value cannot be read as {node.tag.rsplit(':', 1)[-1]}", "quote it to make it text"
            )
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        explicit = {id(k) for k, _ in node.value}
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.problem(node, path, f"YAML merge: {exc.problem}")
        out: dict[str, Any] = {}
        # Keys brought in by `<<: *anchor` come first; keys written here override them (YAML merge).
        for key_node, value_node in node.value:
            if id(key_node) not in explicit and isinstance(key_node, yaml.ScalarNode):
                out[key_node.value] = self.build(value_node, (*path, key_node.value))
        seen: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if id(key_node) not in explicit:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "a key must be a plain name")
                continue
            # The key's own text: YAML 1.1 would turn `on:` or `no:` into booleans.
            key = key_node.value
            if key in seen:
                self.problem(
                    key_node,
                    (*path, key),
                    f"duplicate key '{key}' (first at line {seen[key][0]})",
                    "remove one of them; YAML would silently keep only the last",
                )
                continue
            seen[key] = _pos(key_node)
            self.doc.keys[(*path, key)] = _pos(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out
