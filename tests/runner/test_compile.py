"""Compiling bot files: every mistake is reported at its exact line and column, all at once."""

from __future__ import annotations

import pytest
from conftest import compile_yaml, issues_of

from runner.errors import ConfigIssue

# A valid bot; each case below edits it once (old text -> new text), or replaces it whole (old None).
BASE = """\
bot: t
version: 1.0.0
symbols: [BTC/USDT]
pipeline:
  - id: candles
    uses: source.candles
    with: {timeframe: 1m}
  - id: ema_fast
    uses: indicator.ema
    with: {of: candles.close, period: 20}
  - id: ema_slow
    uses: indicator.ema
    with: {of: candles.close, period: 50}
  - id: plan
    uses: planner.ema_cross
    with: {fast: ema_fast, slow: ema_slow}
  - id: limits
    uses: validator.limits
    with: {max_leverage: 2}
  - id: exec
    uses: executor.paper
"""


def located(issues: list[ConfigIssue]) -> list[str]:
    return [f"{i.line}:{i.col}: {i.path}: {i.message}" for i in issues]


def edited(old: str | None, new: str) -> str:
    if old is None:
        return new
    assert old in BASE, f"the case edits text that is not in BASE: {old!r}"
    return BASE.replace(old, new, 1)


def test_base_compiles() -> None:
    bot = compile_yaml(BASE)
    assert [s.id for s in bot.steps] == ["candles", "ema_fast", "ema_slow", "plan", "limits", "exec"]
    assert bot.every == 60


MISTAKES = [
    pytest.param(
        "period: 20",
        "period: -5",
        ["10:39: pipeline[1].with.period: must be greater than 0 (got -5)"],
        id="period_negative",
    ),
    pytest.param(
        "period: 20",
        "period: fast",
        ["10:39: pipeline[1].with.period: must be a whole number (got 'fast')"],
        id="period_string",
    ),
    pytest.param(
        "period: 20",
        "period: 2.5",
        ["10:39: pipeline[1].with.period: must be a whole number (got 2.5)"],
        id="period_float",
    ),
    pytest.param(
        "symbols:", "symbol: [ETH/USDT]\nsymbols:", ["3:1: symbol: unknown key 'symbol'"], id="unknown_top_key"
    ),
    pytest.param("version: 1.0.0\n", "", ["1:1: version: is required"], id="missing_version"),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0",
        ["2:10: version: must be a semantic version such as 1.2.0 (got 1.0)"],
        id="bad_semver",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: v1.0.0",
        ["2:10: version: 'v1.0.0' is not a semantic version; write MAJOR.MINOR.PATCH, e.g. 1.0.0"],
        id="semver_v_prefix",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\nmode: papr",
        ["3:7: mode: must be one of 'paper', 'live' or 'dry-run' (got 'papr')"],
        id="mode_typo",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\nevery: 15 minutes",
        ["3:8: every: '15 minutes' is not a duration; write a whole number and a unit: 30s, 15m, 4h, 1d or 1w"],
        id="bad_every",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\nevery: 30s",
        ["3:8: every: 30s is finer than the finest source timeframe 1m; cycles would see no new data"],
        id="every_finer_than_source",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\nevery: 90s",
        ["3:8: every: 90s is not a multiple of the source timeframe 1m"],
        id="every_not_multiple",
    ),
    pytest.param(
        "uses: indicator.ema\n    with: {of: candles.close, period: 50}",
        "uses: indicator.emma\n    with: {of: candles.close, period: 50}",
        ["12:11: pipeline[2].uses: unknown block 'indicator.emma'"],
        id="unknown_block",
    ),
    pytest.param(
        "uses: executor.paper",
        "uses: paper",
        ["21:11: pipeline[5].uses: has the wrong format (got 'paper')"],
        id="uses_bad_format",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {max_leverage: 2, max_levrage: 3}",
        ["19:29: pipeline[4].with.max_levrage: unknown key 'max_levrage'"],
        id="unknown_with_key",
    ),
    pytest.param(
        "with: {of: candles.close, period: 20}",
        "with: {of: ema_slow, period: 20}",
        ["10:16: pipeline[1].with.of: 'ema_slow' is defined later (line 11); a step can only read earlier steps"],
        id="forward_reference",
    ),
    pytest.param(
        "with: {of: candles.close, period: 20}",
        "with: {of: candle.close, period: 20}",
        ["10:16: pipeline[1].with.of: unknown step 'candle'"],
        id="unknown_step_ref",
    ),
    pytest.param(
        "with: {of: candles.close, period: 20}",
        "with: {of: candles.closing, period: 20}",
        ["10:16: pipeline[1].with.of: step 'candles' (source.candles) has no output 'closing'"],
        id="unknown_output",
    ),
    pytest.param(
        "with: {of: candles.close, period: 20}",
        "with: {of: candles.candles, period: 20}",
        ["10:16: pipeline[1].with.of: 'candles.candles' is candles, but this field needs number"],
        id="wrong_output_kind",
    ),
    pytest.param(
        "with: {of: candles.close, period: 20}",
        "with: {of: Candles-Close, period: 20}",
        [
            "10:16: pipeline[1].with.of: must be a reference to an earlier step, like candles.close"
            " (got 'Candles-Close')"
        ],
        id="ref_bad_syntax",
    ),
    pytest.param(
        "with: {of: candles.close, period: 50}",
        "with: {of: ema_slow, period: 50}",
        ["13:16: pipeline[2].with.of: step 'ema_slow' cannot read its own output"],
        id="self_reference",
    ),
    pytest.param(
        "with: {of: candles.close, period: 50}",
        "with: {of: plan, period: 50}",
        ["13:16: pipeline[2].with.of: 'plan' is defined later (line 14); a step can only read earlier steps"],
        id="ref_to_planner",
    ),
    pytest.param(
        "- id: ema_slow",
        "- id: ema_fast",
        [
            "11:9: pipeline[2].id: duplicate step id 'ema_fast' (first at line 8)",
            "16:34: pipeline[3].with.slow: unknown step 'ema_slow'",
        ],
        id="duplicate_id",
    ),
    pytest.param(
        "- id: plan", "- id: Plan", ["14:9: pipeline[3].id: has the wrong format (got 'Plan')"], id="id_not_snake"
    ),
    pytest.param("    uses: validator.limits\n", "", ["17:5: pipeline[4].uses: is required"], id="missing_uses"),
    pytest.param(
        "  - id: plan\n    uses: planner.ema_cross\n    with: {fast: ema_fast, slow: ema_slow}\n",
        "",
        ["5:3: pipeline: the pipeline has no planner step"],
        id="no_planner",
    ),
    pytest.param(
        "  - id: limits\n    uses: validator.limits\n    with: {max_leverage: 2}\n"
        "  - id: exec\n    uses: executor.paper\n",
        "  - id: exec\n    uses: executor.paper\n"
        "  - id: limits\n    uses: validator.limits\n    with: {max_leverage: 2}\n",
        ["20:11: pipeline[5].uses: validator 'limits' comes after executor 'exec'"],
        id="validator_after_executor",
    ),
    pytest.param(
        "period: 20",
        "period: 80",
        ["16:18: pipeline[3].with.fast: the fast EMA (80) is not shorter than the slow one (50)"],
        id="fast_not_faster",
    ),
    pytest.param(
        "symbols: [BTC/USDT]",
        "symbols: [BTCUSDT]",
        ["3:11: symbols[0]: has the wrong format (got 'BTCUSDT')"],
        id="symbol_format",
    ),
    pytest.param("symbols: [BTC/USDT]", "symbols: []", ["3:10: symbols: must not be empty"], id="symbols_empty"),
    pytest.param(
        "symbols: [BTC/USDT]",
        "symbols: [BTC/USDT, BTC/USDT]",
        ["3:21: symbols[1]: 'BTC/USDT' is listed twice"],
        id="symbol_twice",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\naccount: {cash: -100}",
        ["3:17: account.cash: must be greater than 0 (got -100)"],
        id="cash_negative",
    ),
    pytest.param(
        "version: 1.0.0",
        'version: 1.0.0\ndescription: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"',
        ["3:14: description: literal secret in the bot file: this looks like a 32-byte private key (value hidden)"],
        id="literal_secret_hex",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {max_leverage: 2, api_key: abc123}",
        [
            "19:29: pipeline[4].with.api_key: unknown key 'api_key'",
            "19:38: pipeline[4].with.api_key: literal secret in the bot file: this looks like a secret (value hidden)",
        ],
        id="literal_secret_named",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\nmode: live",
        ["3:7: mode: live, but no executor here can send real orders (executor.paper only simulates)"],
        id="live_without_live_executor",
    ),
    pytest.param(
        "  - id: exec",
        "\t- id: exec",
        ["20:1: : YAML syntax: tab character; YAML indents with spaces only"],
        id="tab_indent",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\nversion: 1.0.1",
        ["3:1: version: duplicate key 'version' (first at line 2)"],
        id="duplicate_key",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {max_leverage: 2",
        ["20:7: : YAML syntax: did not find expected ',' or '}'"],
        id="unclosed_flow",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\ndescription: buy: when cheap",
        ["3:17: : YAML syntax: unexpected ':'"],
        id="colon_in_value",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\n---\nbot: other",
        ["3:1: : YAML syntax: more than one YAML document"],
        id="two_documents",
    ),
    pytest.param(
        "timeframe: 1m",
        "timeframe: 7m",
        [
            "7:23: pipeline[0].with.timeframe: must be one of '1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h',"
            " '6h', '8h', '12h', '1d', '3d' or '1w' (got '7m')"
        ],
        id="timeframe_unknown",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {max_leverage: 2}\n    every: 1h",
        ["20:12: pipeline[4].every: a validator runs in every cycle; remove every:"],
        id="step_every_on_validator",
    ),
    pytest.param(
        "with: {fast: ema_fast, slow: ema_slow}",
        "with: {fast: ema_fast, slow: ema_slow}\n    every: 90s",
        ["17:12: pipeline[3].every: 90s is not a multiple of the bot's cadence 1m"],
        id="step_every_not_multiple",
    ),
    pytest.param(
        "with: {of: candles.close, period: 20}",
        "with: {of: candles.close, period: 20}\n    retries: 2",
        [
            "11:5: pipeline[1].retries: applies to planner and validator steps only; an error in an indicator stops "
            "the run"
        ],
        id="retries_on_indicator",
    ),
    pytest.param(
        "uses: executor.paper",
        "uses: executor.paper\n    timeout: 30s",
        [
            "22:5: pipeline[5].timeout: applies to planner and validator steps only; an error in an executor stops "
            "the run"
        ],
        id="timeout_on_executor",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {max_leverage: 2}\n    backoff: 5s",
        ["20:14: pipeline[4].backoff: waits before a retry, but retries is 0"],
        id="backoff_without_retries",
    ),
    pytest.param(
        "with: {fast: ema_fast, slow: ema_slow}",
        "with: {fast: ema_fast, slow: ema_slow}\n    retries: 11\n    timeout: 30",
        [
            "17:14: pipeline[3].retries: must be less than or equal to 10 (got 11)",
            "18:14: pipeline[3].timeout: must be text (got 30)",
        ],
        id="retries_and_timeout_out_of_range",
    ),
    pytest.param(
        "with: {fast: ema_fast, slow: ema_slow}",
        "with: {fast: ema_fast, slow: ema_slow, size: {fraction: 0.5, notional: 100}}",
        ["16:50: pipeline[3].with.size: give exactly one of fraction, notional or quantity (got fraction, notional)"],
        id="size_two_kinds",
    ),
    pytest.param(
        "with: {fast: ema_fast, slow: ema_slow}",
        "with: {fast: ema_fast, slow: ema_slow, size: {fraction: 2}}",
        ["16:61: pipeline[3].with.size.fraction: must be less than or equal to 1 (got 2)"],
        id="size_fraction_too_big",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: [max_leverage, 2]",
        ["19:11: pipeline[4].with: must be a mapping (got a list)"],
        id="with_not_mapping",
    ),
    pytest.param(
        None,
        "bot: t\nversion: 1.0.0\nsymbols: [BTC/USDT]\npipeline: {id: x}\n",
        ["4:11: pipeline: must be a list (got a mapping)"],
        id="pipeline_not_list",
    ),
    pytest.param(
        None,
        "- just\n- a list\n",
        ["1:1: : a bot file is a mapping with bot, version, symbols and pipeline"],
        id="not_a_mapping",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {allow_symbols: [BTC/USDT], deny_symbols: [BTC/USDT]}",
        ["19:54: pipeline[4].with.deny_symbols[0]: 'BTC/USDT' is both allowed and denied"],
        id="allow_and_deny",
    ),
    pytest.param(
        "with: {max_leverage: 2}",
        "with: {allow_symbols: [ETH/USDT]}",
        ["19:28: pipeline[4].with.allow_symbols[0]: 'ETH/USDT' is not one of the bot's symbols"],
        id="allow_unknown_symbol",
    ),
    pytest.param(
        "version: 1.0.0",
        "version: 1.0.0\ndescription: yes",
        ["3:14: description: must be text (got true)"],
        id="yes_is_bool",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), MISTAKES)
def test_mistake_is_reported_at_its_position(old: str | None, new: str, expected: list[str]) -> None:
    assert located(issues_of(edited(old, new))) == expected


def test_every_problem_is_reported_at_once() -> None:
    text = (
        BASE.replace("period: 20", "period: -5")
        .replace("max_leverage: 2", "max_levrage: 2")
        .replace("uses: executor.paper", "uses: executor.papr")
    )
    assert located(issues_of(text)) == [
        "10:39: pipeline[1].with.period: must be greater than 0 (got -5)",
        "19:12: pipeline[4].with.max_levrage: unknown key 'max_levrage'",
        "21:11: pipeline[5].uses: unknown block 'executor.papr'",
    ]


def test_issue_line_names_file_position_path_and_hint() -> None:
    [issue] = issues_of(BASE.replace("uses: indicator.ema", "uses: indicator.emma", 1), file="bots/x.yaml")
    assert (
        str(issue)
        == "bots/x.yaml:9:11: pipeline[1].uses: unknown block 'indicator.emma'; did you mean 'indicator.ema'?"
    )


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("max_leverage: 2", "max_levrage: 2", "did you mean 'max_leverage'?"),
        ("of: candles.close, period: 20", "of: ema_slow, period: 20", "move step 'ema_slow' above 'ema_fast'"),
        ("of: candles.close, period: 20", "of: candles.closing, period: 20", "did you mean 'candles.close'?"),
        ("of: candles.close, period: 20", "of: candles.candles, period: 20", "e.g. candles.close"),
        ("version: 1.0.0", "version: 1.0.0\nmode: papr", "did you mean 'paper'?"),
        ("uses: planner.ema_cross", "uses: indicator.ema_cross", "did you mean 'planner.ema_cross'?"),
    ],
)
def test_hint_says_how_to_fix(old: str, new: str, hint: str) -> None:
    assert [i.hint for i in issues_of(edited(old, new))][:1] == [hint]


def test_literal_secret_is_never_echoed() -> None:
    key = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    text = BASE.replace("with: {max_leverage: 2}", f"with: {{max_leverage: 2, private_key: '{key}'}}")
    issues = issues_of(text)
    assert any("literal secret" in i.message for i in issues)
    assert not any(key in str(i) or key[2:12] in str(i) for i in issues)


def test_secret_reference_is_kept_in_snapshot_but_no_value() -> None:
    text = BASE.replace("version: 1.0.0", "version: 1.0.0\ndescription: key is ${env:HL_PRIVATE_KEY}")
    bot = compile_yaml(text)
    assert "description" not in bot.snapshot  # prose is not part of the deployment's identity


def test_every_defaults_to_finest_source_timeframe() -> None:
    assert compile_yaml(BASE.replace("timeframe: 1m", "timeframe: 15m")).every == 900


def test_every_is_canonical() -> None:
    a = compile_yaml(BASE.replace("version: 1.0.0", "version: 1.0.0\nevery: 60m"))
    b = compile_yaml(BASE.replace("version: 1.0.0", "version: 1.0.0\nevery: 1h"))
    assert a.config_id == b.config_id
    assert a.snapshot["every"] == "1h"


def test_yaml_anchors_and_merge_keys_are_resolved() -> None:
    text = BASE.replace(
        "    with: {of: candles.close, period: 20}", "    with: &ema {of: candles.close, period: 20}"
    ).replace("    with: {of: candles.close, period: 50}", "    with: {<<: *ema, period: 50}")
    bot = compile_yaml(text)
    assert bot.snapshot["pipeline"][2]["with"] == {"of": "candles.close", "period": 50}


def test_yaml_1_1_booleans_are_not_keys() -> None:
    # `on:` is True in YAML 1.1; as a key it must stay the text the user wrote.
    [issue] = issues_of(BASE.replace("version: 1.0.0", "version: 1.0.0\non: 1"))
    assert (issue.path, issue.message) == ("on", "unknown key 'on'")
