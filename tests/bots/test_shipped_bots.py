"""Every bot in bots/ is valid, documented, and wired to the editor schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import BOTS

from runner.compile import compile_file

SHIPPED = sorted(BOTS.glob("*.yaml"))


def test_the_reference_bots_ship() -> None:
    assert {p.stem for p in SHIPPED} >= {"noop", "dca_buy", "ema_cross"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_bot_compiles(path: Path) -> None:
    bot = compile_file(path)
    assert bot.spec.bot == path.stem
    assert bot.spec.description, "say what the bot does"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_bot_names_the_schema(path: Path) -> None:
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../schemas/bot.schema.json"
