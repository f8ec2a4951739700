"""The generated JSON Schemas check bot files the way editors will."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from conftest import BOTS, ROOT

SCHEMA = json.loads((ROOT / "schemas" / "bot.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("path", sorted(BOTS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_bots_satisfy_the_schema(path) -> None:  # type: ignore[no-untyped-def]
    assert list(VALIDATOR.iter_errors(yaml.safe_load(path.read_text()))) == []


def test_schema_checks_each_step_against_its_block() -> None:
    bot = yaml.safe_load((BOTS / "ema_cross.yaml").read_text())
    bot["pipeline"][1]["with"]["period"] = -5
    bot["pipeline"][4]["with"]["max_levrage"] = 2
    errors = sorted(VALIDATOR.iter_errors(bot), key=lambda e: list(e.absolute_path))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [
        (["pipeline", 1, "with", "period"], "exclusiveMinimum"),
        (["pipeline", 4, "with"], "additionalProperties"),
    ]


def test_schema_knows_block_names_and_secret_reference_form() -> None:
    step = SCHEMA["$defs"]["StepSpec"]
    assert "indicator.rsi" in step["properties"]["uses"]["enum"]
    assert (
        json.loads((ROOT / "schemas" / "blocks" / "indicator.rsi.schema.json").read_text())["title"] == "indicator.rsi"
    )


def test_the_risk_file_schema_takes_validators_only_and_checks_their_config() -> None:
    schema = json.loads((ROOT / "schemas" / "risk.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    house = yaml.safe_load((ROOT / "examples" / "house_rules.yaml").read_text())
    assert list(validator.iter_errors(house)) == []
    house["risk"][0]["with"]["max_levrage"] = 2
    house["risk"].append({"id": "plan", "uses": "planner.noop"})
    errors = sorted(validator.iter_errors(house), key=lambda e: list(e.absolute_path))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [
        (["risk", 0, "with"], "additionalProperties"),
        (["risk", 3, "uses"], "enum"),
    ]
