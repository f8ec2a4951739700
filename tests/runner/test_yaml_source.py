"""The position-tracking YAML loader."""

from __future__ import annotations

import pytest

from runner.errors import ConfigError
from runner.yaml_source import load_yaml


def test_every_value_and_key_has_its_position() -> None:
    doc = load_yaml("a: 1\nb:\n  - x\n  - {c: true}\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": True}]}
    assert doc.values[("a",)] == (1, 4)
    assert doc.values[("b", 1, "c")] == (4, 9)
    assert doc.keys[("b", 1, "c")] == (4, 6)


def test_position_of_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc = load_yaml("a:\n  b: 1\n", "f.yaml")
    assert doc.position(("a", "missing", 3)) == (2, 3)
    assert doc.position(("nothing",)) == (1, 1)


def test_empty_document_loads_as_none() -> None:
    assert load_yaml("# only a comment\n", "f.yaml").data is None


def test_all_duplicate_keys_are_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml("a: 1\na: 2\nb: {c: 1, c: 2}\n", "f.yaml")
    assert [(i.line, i.col, i.path) for i in caught.value.issues] == [(2, 1, "a"), (3, 11, "b.c")]


def test_python_tags_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml("a: !!python/object:os.system ls\n", "f.yaml")
    [issue] = caught.value.issues
    assert (issue.line, issue.col) == (1, 4)
    assert issue.message == "unknown tag tag:yaml.org,2002:python/object:os.system"
