"""Every built-in block honours the block contract."""

from __future__ import annotations

import pytest
from conftest import issues_of

from runner.block import KIND_CLASSES, Block
from runner.registry import Registry

REGISTRY = Registry.discover()
BUILTINS = [name for name, entry in REGISTRY.entries.items() if entry.dist == "bot-runner"]


@pytest.fixture(params=BUILTINS)
def block(request: pytest.FixtureRequest) -> tuple[str, type[Block]]:
    return request.param, REGISTRY.load(request.param)


def test_kind_matches_registered_name(block: tuple[str, type[Block]]) -> None:
    name, cls = block
    assert issubclass(cls, KIND_CLASSES[name.split(".")[0]])
    assert cls.kind == name.split(".")[0]


def test_every_field_is_described(block: tuple[str, type[Block]]) -> None:
    name, cls = block
    undocumented = [f for f, info in cls.Config.model_fields.items() if not info.description]
    assert undocumented == [], f"{name}: fields without a description"
    assert cls.__doc__ and cls.__doc__.strip()


def test_config_is_frozen_and_rejects_unknown_keys(block: tuple[str, type[Block]]) -> None:
    _, cls = block
    assert cls.Config.model_config.get("frozen") is True
    assert cls.Config.model_config.get("extra") == "forbid"


def test_example_is_a_valid_config(block: tuple[str, type[Block]]) -> None:
    _, cls = block
    cls.Config.model_validate(dict(cls.example))


def test_builtins_are_the_documented_set() -> None:
    assert set(BUILTINS) >= {
        "source.candles",
        "indicator.ema",
        "indicator.rsi",
        "indicator.zscore",
        "planner.noop",
        "planner.dca",
        "planner.ema_cross",
        "validator.limits",
        "executor.paper",
    }


def test_dca_interval_must_not_be_shorter_than_the_cycle() -> None:
    issues = issues_of(
        "bot: d\n"
        "version: 1.0.0\n"
        "symbols: [SOL/USDT]\n"
        "pipeline:\n"
        "  - {id: candles, uses: source.candles, with: {timeframe: 1h}}\n"
        "  - {id: plan, uses: planner.dca, with: {amount: 50, interval: 30m, symbol: ETH/USDT}}\n"
        "  - {id: exec, uses: executor.paper}\n"
    )
    assert [str(i) for i in issues] == [
        "bot.yaml:6:64: pipeline[1].with.interval: 30m is shorter than the cycle (1h); a planner acts at most once"
        " per cycle",
        "bot.yaml:6:77: pipeline[1].with.symbol: 'ETH/USDT' is not one of the bot's symbols; use one of SOL/USDT",
    ]
