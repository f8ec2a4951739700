"""House rules: a risk file's validator steps compile on their own, with errors at the risk file's lines, and
run in every bot after its own validators, as part of its snapshot."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import BOTS, ROOT

from runner.compile import compile_file, compile_text
from runner.errors import ConfigError
from runner.registry import Registry
from runner.risk import HouseRules, compile_risk, load_risk, risk_file

REGISTRY = Registry.discover()
EMA = BOTS / "ema_cross.yaml"

HOUSE = """
description: the desk's rules
risk:
  - id: house_limits
    uses: validator.limits
    with: {max_position_usd: 2000}
  - id: house_loss
    uses: validator.daily_loss
    with: {max_loss_pct: 0.1}
"""


def house(text: str = HOUSE, file: str = "house.yaml") -> HouseRules:
    return compile_risk(textwrap.dedent(text), file, REGISTRY)


def risk_issues(text: str) -> list[str]:
    try:
        house(text)
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    pytest.fail("expected the risk file to be rejected, but it compiled")


def bot_issues(bot: Path, rules: HouseRules) -> list[str]:
    try:
        compile_file(bot, REGISTRY, rules)
    except ConfigError as exc:
        return [str(issue) for issue in exc.issues]
    pytest.fail("expected the bot to be rejected under these house rules, but it compiled")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- house_limits\n", ["house.yaml:1:1: a risk file is a mapping with a risk: list of validator steps"]),
        ("risk: []\n", ["house.yaml:1:7: risk: must not be empty"]),
        ("risk: {id: a}\n", ["house.yaml:1:7: risk: must be a list (got a mapping)"]),
        (
            "rules: []\nrisk:\n  - {id: a, uses: validator.limits}\n",
            ["house.yaml:1:1: rules: unknown key 'rules'; allowed: description, risk"],
        ),
        (
            "risk:\n  - {id: plan, uses: planner.noop}\n",
            ["house.yaml:2:22: risk[0].uses: a risk file takes only validators; 'planner.noop' is a planner"],
        ),
        (
            "risk:\n  - {id: a, uses: validator.drawdon}\n",
            ["house.yaml:2:19: risk[0].uses: unknown block 'validator.drawdon'; did you mean 'validator.drawdown'?"],
        ),
        (
            "risk:\n  - {id: a, uses: validator.limits, with: {max_levrage: 2}}\n",
            ["house.yaml:2:44: risk[0].with.max_levrage: unknown key 'max_levrage'; did you mean 'max_leverage'?"],
        ),
        (
            "risk:\n  - {id: a, uses: validator.limits}\n  - {id: a, uses: validator.drawdown, "
            "with: {max_drawdown_pct: 5}}\n",
            ["house.yaml:3:10: risk[1].id: duplicate step id 'a' (first at line 2); give every step its own id"],
        ),
        (
            "risk:\n  - {id: a, uses: validator.drawdown, every: 1h, with: {max_drawdown_pct: 5}}\n",
            ["house.yaml:2:46: risk[0].every: a validator runs in every cycle; remove every:"],
        ),
        (
            "risk:\n  - {id: a, uses: validator.limits, with: {allow_symbols: [ETH/USDT], deny_symbols: [ETH/USDT]}}\n",
            ["house.yaml:2:86: risk[0].with.deny_symbols[0]: 'ETH/USDT' is both allowed and denied"],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_broken_risk_file_is_reported_at_its_own_lines(text: str, expected: list[str]) -> None:
    found = risk_issues(text)
    assert len(found) == len(expected)
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(start), line


def test_house_rules_run_after_the_bots_validators_and_before_its_executor() -> None:
    rules = house()
    bot = compile_file(EMA, REGISTRY, rules)
    assert [(s.index, s.id) for s in bot.steps][-4:] == [
        (4, "limits"),
        (5, "house_limits"),
        (6, "house_loss"),
        (7, "exec"),
    ]
    assert [s.path for s in bot.steps][-3:] == [("risk", 0), ("risk", 1), ("pipeline", 5)]
    assert bot.risk_file == "house.yaml"
    # the rules are the snapshot's own section, with their defaults filled in, so the config_id changes
    assert [step["id"] for step in bot.snapshot["pipeline"]] == [
        "candles",
        "ema_fast",
        "ema_slow",
        "plan",
        "limits",
        "exec",
    ]
    assert bot.snapshot["risk"][0]["with"]["max_position_usd"] == 2000.0
    assert bot.snapshot["risk"][1] == {
        "id": "house_loss",
        "uses": "validator.daily_loss",
        "with": {"max_loss_pct": 0.1, "on_trip": "reject_new"},
    }
    assert "validator.daily_loss" in bot.snapshot["blocks"]
    alone = compile_file(EMA, REGISTRY)
    assert "risk" not in alone.snapshot and alone.config_id != bot.config_id
    assert compile_file(EMA, REGISTRY, house(HOUSE.replace("0.1", "0.2"))).config_id != bot.config_id


def test_a_house_rule_with_the_id_of_a_bot_step_is_an_error_in_the_risk_file() -> None:
    rules = house("risk:\n  - id: limits\n    uses: validator.limits\n    with: {max_leverage: 2}\n")
    assert bot_issues(EMA, rules) == [
        f"house.yaml:2:9: risk[0].id: house rule 'limits' has the id of a step of {EMA} (line 23); "
        "rename one of them; house rules are often prefixed, e.g. house_limits"
    ]


def test_a_house_rule_reads_the_bots_steps_and_a_missing_one_is_reported_in_the_risk_file() -> None:
    rules = house(
        """
        risk:
          - id: house_regime
            uses: validator.regime_sizing
            with: {regime: regime.label, multipliers: {trending_down: 0}}
        """
    )
    assert bot_issues(EMA, rules) == [
        "house.yaml:5:20: risk[0].with.regime: unknown step 'regime'; "
        "earlier steps: candles, ema_fast, ema_slow, plan, "
        "limits"
    ]


def test_house_symbol_lists_may_name_symbols_a_bot_does_not_trade() -> None:
    rules = house(
        "risk:\n  - {id: house_limits, uses: validator.limits, with: {allow_symbols: [BTC/USDT, ETH/USDT]}}\n"
    )
    assert compile_file(EMA, REGISTRY, rules).snapshot["risk"][0]["with"]["allow_symbols"] == ["BTC/USDT", "ETH/USDT"]


def test_a_bots_own_problems_and_the_risk_files_are_reported_together() -> None:
    rules = house("risk:\n  - id: plan\n    uses: validator.limits\n")
    text = EMA.read_text().replace("period: 20", "period: -20")
    try:
        compile_text(text, "bot.yaml", REGISTRY, rules)
    except ConfigError as exc:
        assert [f"{i.file}:{i.line}" for i in exc.issues] == ["bot.yaml:16", "house.yaml:2"]
    else:
        pytest.fail("expected two problems")


def test_risk_file_comes_from_the_flag_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNNER_RISK", raising=False)
    assert risk_file(None) is None
    monkeypatch.setenv("RUNNER_RISK", "")
    assert risk_file(None) is None
    monkeypatch.setenv("RUNNER_RISK", "/etc/desk.yaml")
    assert risk_file(None) == "/etc/desk.yaml"
    assert risk_file("mine.yaml") == "mine.yaml"


def test_the_shipped_house_rules_compile_with_every_shipped_bot() -> None:
    rules = load_risk(ROOT / "examples" / "house_rules.yaml", REGISTRY)
    assert all(s.kind == "validator" for s in rules.steps)
    for path in sorted(BOTS.glob("*.yaml")):
        bot = compile_file(path, REGISTRY, rules)
        assert [s.id for s in bot.steps if s.house] == [s.id for s in rules.steps]
        assert bot.steps[-1].kind == "executor"
