"""House rules: a risk file's validator steps compile on their own, with errors at the risk file's lines, and
run in every bot after its own validators, as part of its snapshot."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import BOTS, ROOT, real_candles

from runner.compile import compile_file, compile_text
from runner.errors import ConfigError
from runner.registry import Registry
from runner.risk import HouseRules, compile_risk, load_risk, risk_file
from runner.runs import RunOptions, backtest
from runner.store import Store

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


# --- through the commands, on real candles --------------------------------------------------------------------

RUNNER = str(Path(sys.executable).with_name("runner"))


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUNNER, *args], cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})}
    )


def query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    path = tmp_path / "desk.yaml"
    path.write_text(textwrap.dedent(HOUSE))
    return path


def test_a_backtest_under_house_rules_is_capped_and_refused_by_them(tmp_path: Path, desk: Path) -> None:
    data, db = real_candles(tmp_path, 5_000), tmp_path / "r.db"
    result = cli("backtest", str(EMA), "--data", str(data), "--risk", str(desk), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == f"  house rules of {desk}: house_limits, house_loss"
    intents = [(approved, json.loads(v)) for approved, v in query(db, "SELECT approved, verdicts FROM intents")]
    entries = [verdicts for _, verdicts in intents]
    # every intent met the bot's limits first, then the house rules in the risk file's order
    assert {tuple(v["step"] for v in verdicts) for verdicts in entries} == {("limits", "house_limits", "house_loss")}
    resized = [v[1] for v in entries if v[1]["action"] == "resize"]
    assert resized and all(v["reason"].endswith("cut to 2000.00 by the limits") for v in resized)
    refused = [verdicts[-1] for approved, verdicts in intents if not approved]
    assert refused and all(v["reason"].startswith("house_loss tripped: realised -") for v in refused)
    trips = query(db, "SELECT message FROM events WHERE kind = 'breaker' AND message LIKE 'house_loss tripped%'")
    assert trips
    payloads = [json.loads(p) for (p,) in query(db, "SELECT payload FROM intents WHERE approved AND side = 'buy'")]
    assert payloads and all(p["size"] == {"notional": 2000.0} for p in payloads)
    assert all(p["requested"] == {"fraction": 1.0} for p in payloads)  # what the planner asked, kept
    explained = cli("explain", "--last", "--db", str(db)).stdout.splitlines()
    assert any(
        line.startswith("  verdict house_limits (house rule): resize (position ") and line.endswith("by the limits)")
        for line in explained
    ), explained
    assert "  verdict house_loss (house rule): approve" in explained
    assert explained[-1] == "  house rules: house_limits, house_loss"


@pytest.mark.parametrize(
    ("own", "cut_by", "kept_by"), [(1_000_000, "house_limits", "limits"), (500, "limits", "house_limits")]
)
def test_a_bot_may_tighten_the_house_rules_but_never_loosen_them(
    tmp_path: Path, own: int, cut_by: str, kept_by: str
) -> None:
    text = EMA.read_text().replace("with: {max_leverage: 1}", f"with: {{max_leverage: 1, max_position_usd: {own}}}")
    bot = compile_text(text, "ema.yaml", REGISTRY, house())
    store = Store(tmp_path / "r.db")
    try:
        summary = backtest(store, bot, RunOptions({"BTC/USDT": str(real_candles(tmp_path, 3_000))}))
        rows = store.rows("SELECT payload, verdicts FROM intents WHERE run_id = ? AND approved", (summary["run_id"],))
    finally:
        store.close()
    entries = [(json.loads(r["payload"]), {v["step"]: v for v in json.loads(r["verdicts"])}) for r in rows]
    entries = [(p, v) for p, v in entries if p["side"] == "buy"]
    assert len(entries) > 5
    largest = min(own, 2_000)
    for payload, verdicts in entries:
        assert payload["size"]["notional"] == largest  # what the executor was sent
        assert verdicts[cut_by]["action"] == "resize" and verdicts[kept_by]["action"] == "approve"
        assert verdicts[cut_by]["reason"].endswith(f"cut to {largest:.2f} by the limits")


def test_every_bot_of_a_run_gets_the_house_rules_of_runner_risk(tmp_path: Path, desk: Path) -> None:
    btc, db = real_candles(tmp_path, 5_000), tmp_path / "r.db"
    sol = real_candles(tmp_path, 5_000, "SOLUSDT-1m.csv.gz")
    bots = [str(EMA), str(BOTS / "dca_buy.yaml")]
    replay = ["--replay", f"BTC/USDT={btc}", "--replay", f"SOL/USDT={sol}"]
    result = cli("run", *bots, *replay, "--db", str(db), env={"RUNNER_RISK": str(desk)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"house rules of {desk}: house_limits, house_loss"
    out = result.stdout.splitlines()
    for name in ("ema_cross@1.0.0", "dca_buy@1.0.0"):
        assert any(f"  {name}  verdict  house_limits (house rule): " in line for line in out), name
    trip = next(line for line in out if "  breaker  house_loss tripped: realised -" in line)
    assert trip.split("  ")[1] == "ema_cross@1.0.0"
    assert any("  verdict  house_loss (house rule): reject (house_loss tripped: realised -" in line for line in out)
    snapshots = [json.loads(s) for (s,) in query(db, "SELECT snapshot FROM deployments ORDER BY id")]
    assert [[step["id"] for step in s["risk"]] for s in snapshots] == [["house_limits", "house_loss"]] * 2


def test_a_broken_or_missing_risk_file_stops_every_command_before_anything_is_recorded(tmp_path: Path) -> None:
    data, db = real_candles(tmp_path, 500), tmp_path / "r.db"
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk:\n  - id: house_plan\n    uses: planner.noop\n")
    expected = f"{bad}:3:11: risk[0].uses: a risk file takes only validators; 'planner.noop' is a planner"
    for command in (["run", str(EMA), "--replay", str(data)], ["backtest", str(EMA), "--data", str(data)]):
        refused = cli(*command, "--risk", str(bad), "--db", str(db))
        assert refused.returncode == 1
        assert refused.stderr.startswith(expected) and len(refused.stderr.splitlines()) == 1
    missing = cli("run", str(EMA), "--replay", str(data), "--db", str(db), env={"RUNNER_RISK": "no/desk.yaml"})
    assert (missing.returncode, missing.stderr) == (
        2,
        "runner run: risk file no/desk.yaml: No such file or directory\n",
    )
    assert not db.exists()


def test_running_a_deployed_version_under_other_house_rules_is_refused(tmp_path: Path, desk: Path) -> None:
    data, db = real_candles(tmp_path, 500), tmp_path / "r.db"
    assert cli("backtest", str(EMA), "--data", str(data), "--db", str(db)).returncode == 0
    refused = cli("backtest", str(EMA), "--data", str(data), "--risk", str(desk), "--db", str(db))
    assert refused.returncode == 1
    lines = refused.stderr.splitlines()
    assert lines[0] == "runner backtest: ema_cross 1.0.0 is already deployed with a different config:"
    assert '  + risk: [{"id":"house_limits","uses":"validator.limits","with":{' in refused.stderr
    assert lines[-1] == (
        "the house rules (--risk FILE or $RUNNER_RISK) are part of a deployment's config: run it under the rules it "
        "was deployed with, or bump the version (e.g. to 1.0.1) to deploy these changes"
    )


def test_validate_checks_the_risk_file_and_every_bot_under_it(tmp_path: Path, desk: Path) -> None:
    ok = cli("validate", "bots/", "--risk", "examples/house_rules.yaml")
    assert (ok.returncode, ok.stdout) == (0, "")
    bots = len(list(BOTS.glob("*.yaml")))
    assert ok.stderr == f"ok: risk file examples/house_rules.yaml and {bots} bot files with its house rules\n"
    assert cli("validate", env={"RUNNER_RISK": str(desk)}).stderr == f"ok: risk file {desk}\n"
    clash = tmp_path / "clash.yaml"
    clash.write_text("risk:\n  - id: limits\n    uses: validator.limits\n")
    refused = cli("validate", "bots/ema_cross.yaml", "bots/noop.yaml", env={"RUNNER_RISK": str(clash)})
    assert refused.returncode == 1
    assert refused.stdout.splitlines() == [
        f"{clash}:2:9: risk[0].id: house rule 'limits' has the id of a step of bots/ema_cross.yaml (line 23); "
        "rename one of them; house rules are often prefixed, e.g. house_limits"
    ]
    assert refused.stderr == "1 problem in 1 of 3 files\n"
    missing = cli("validate", "bots/noop.yaml", "--risk", "no/desk.yaml")
    assert (missing.returncode, missing.stderr) == (2, "runner validate: no such file or directory: no/desk.yaml\n")


def test_snapshot_shows_the_house_rules_a_run_would_deploy(desk: Path) -> None:
    plain = json.loads(cli("snapshot", str(EMA)).stdout)
    ruled = json.loads(cli("snapshot", str(EMA), "--risk", str(desk)).stdout)
    assert [step["id"] for step in ruled["snapshot"]["risk"]] == ["house_limits", "house_loss"]
    assert ruled["config_id"] != plain["config_id"] and "risk" not in plain["snapshot"]
