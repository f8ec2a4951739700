"""YAML loading that remembers the file, line and column of every node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.errors import ConfigError, ConfigIssue, Path, format_path

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


def load_yaml(text: str, file: str) -> Document:
    """Parse one YAML document; syntax errors and duplicate keys raise ConfigError with positions."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = Document(file=file, data=None)
        issues: list[ConfigIssue] = []
        if node is not None:
            doc.data = _build(node, (), loader, doc, issues)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_issue(exc, file, text)]) from None
    finally:
        loader.dispose()
    if issues:
        raise ConfigError(issues)
    return doc


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


def _build(node: yaml.Node, path: Path, loader: Any, doc: Document, issues: list[ConfigIssue]) -> Any:
    doc.values[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        explicit = {id(k) for k, _ in node.value}
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        # Keys brought in by `<<: *anchor` come first; keys written here override them (YAML merge).
        for key_node, value_node in node.value:
            if id(key_node) not in explicit and isinstance(key_node, yaml.ScalarNode):
                out[key_node.value] = _build(value_node, (*path, key_node.value), loader, doc, issues)
        seen: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if id(key_node) not in explicit:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _pos(key_node)
                issues.append(ConfigIssue(doc.file, line, col, format_path(path), "a key must be a plain name"))
                continue
            # The key's own text: YAML 1.1 would turn `on:` or `no:` into booleans.
            key = key_node.value
            if key in seen:
                line, col = _pos(key_node)
                first = seen[key]
                issues.append(
                    ConfigIssue(
                        doc.file,
                        line,
                        col,
                        format_path((*path, key)),
                        f"duplicate key '{key}' (first at line {first[0]})",
                        "remove one of them; YAML would silently keep only the last",
                    )
                )
                continue
            seen[key] = _pos(key_node)
            doc.keys[(*path, key)] = _pos(key_node)
            out[key] = _build(value_node, (*path, key), loader, doc, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), loader, doc, issues) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
