"""Block discovery through the ``runner.blocks`` entry-point group, with a real third-party package.

tests/plugin_pkg is a tiny distribution ("runner-test-plugin") that registers indicator.threshold,
executor.testvenue and indicator.broken (whose module fails to import). It is built and installed
once per session into a temporary ``--target`` directory, and the CLI is run in a subprocess with
that directory on PYTHONPATH, so the dev venv keeps listing only the built-in blocks (which
``runner schema --check`` relies on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from runner.registry import BlockEntry, BlockLoadError, Registry

PLUGIN = "runner-test-plugin 0.1.0"
BROKEN = (
    "block 'indicator.broken' from runner-test-plugin 0.1.0 failed to import (runner_test_plugin.broken:Broken): "
    "ImportError: runner_test_plugin.broken needs a dependency that is not installed"
)
# A widely published example key (web3 documentation), never a real one.
LITERAL_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def run_cli(*args: str, cwd: Path, plugin: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``runner ARGS`` in a subprocess, with the plugin on PYTHONPATH when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TEST_KEY")}
    if plugin is not None:
        env["PYTHONPATH"] = str(plugin)
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def validate(tmp_path: Path, plugin: Path, text: str, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "bot.yaml").write_text(text, encoding="utf-8")
    return run_cli("validate", *options, "bot.yaml", cwd=tmp_path, plugin=plugin)


def listing(stdout: str) -> dict[str, str]:
    """``runner blocks`` output as name -> whole line, and a check that the columns line up."""
    lines = stdout.splitlines()
    width = max(len(line.split()[0]) for line in lines)
    assert all(line[width : width + 2] == "  " and line[width + 2] != " " for line in lines), stdout
    return {line.split()[0]: line for line in lines}


def row(name: str, width: int, text: str) -> str:
    return f"{name:<{width}}  {text}"


# --- the CLI with the plugin installed -------------------------------------------------------------


def test_blocks_lists_plugin_blocks_with_their_distribution(plugin_dir: Path, tmp_path: Path) -> None:
    done = run_cli("blocks", cwd=tmp_path, plugin=plugin_dir)
    assert (done.returncode, done.stderr) == (0, "")
    rows = listing(done.stdout)
    width = max(map(len, rows))
    assert rows["indicator.threshold"] == row(
        "indicator.threshold",
        width,
        f"Passes a series through and reports 1 when it is above `level`, else 0.  [{PLUGIN}]",
    )
    assert rows["executor.testvenue"] == row(
        "executor.testvenue",
        width,
        f"Sends orders to a pretend venue; exists only to test live executors and secrets.  [{PLUGIN}]",
    )
    assert rows["indicator.broken"] == row("indicator.broken", width, f"(broken: {BROKEN})  [{PLUGIN}]")
    # Built-ins are still listed, without a package tag.
    assert rows["indicator.ema"].startswith(row("indicator.ema", width, "Exponential moving average"))
    assert "[" not in rows["indicator.ema"]


def test_blocks_documents_a_plugin_block(plugin_dir: Path, tmp_path: Path) -> None:
    done = run_cli("blocks", "indicator.threshold", cwd=tmp_path, plugin=plugin_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert (
        done.stdout
        == """\
indicator.threshold: Passes a series through and reports 1 when it is above `level`, else 0.

kind: indicator    package: runner-test-plugin 0.1.0    outputs: value (number), above (number)

fields:
  of     reference (number)  required
         Series to compare, e.g. candles.close
  level  number              required
         The level the series is compared with

example:
  - id: threshold
    uses: indicator.threshold
    with: {of: candles.close, level: 50000.0}
"""
    )


def test_blocks_documents_a_live_plugin_executor(plugin_dir: Path, tmp_path: Path) -> None:
    done = run_cli("blocks", "executor.testvenue", cwd=tmp_path, plugin=plugin_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert (
        done.stdout
        == """\
executor.testvenue: Sends orders to a pretend venue; exists only to test live executors and secrets.

kind: executor    package: runner-test-plugin 0.1.0    outputs: none
sends real orders when the bot runs with mode: live and --live

fields:
  private_key  string             required
               Signing key, as ${env:NAME} or ${keystore:NAME}
  network      mainnet | testnet  default "testnet"
               Which network to trade on

example:
  - id: testvenue
    uses: executor.testvenue
    with: {private_key: '${env:TESTVENUE_KEY}', network: testnet}
"""
    )


def test_blocks_reports_a_broken_plugin_block(plugin_dir: Path, tmp_path: Path) -> None:
    done = run_cli("blocks", "indicator.broken", cwd=tmp_path, plugin=plugin_dir)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"runner blocks: {BROKEN}\n")


THRESHOLD_BOT = """\
bot: thr
version: 1.0.0
symbols: [BTC/USDT]
pipeline:
  - id: candles
    uses: source.candles
    with: {timeframe: 1m}
  - id: thr
    uses: indicator.threshold
    with: {of: candles.close, level: 50000}
  - id: again
    uses: indicator.threshold
    with: {of: thr.above, level: 0.5}
  - id: plan
    uses: planner.noop
  - id: exec
    uses: executor.paper
"""


def test_validate_accepts_a_plugin_indicator(plugin_dir: Path, tmp_path: Path) -> None:
    done = validate(tmp_path, plugin_dir, THRESHOLD_BOT)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "ok: 1 bot file\n")


def test_validate_checks_references_to_plugin_outputs(plugin_dir: Path, tmp_path: Path) -> None:
    done = validate(tmp_path, plugin_dir, THRESHOLD_BOT.replace("thr.above", "thr.bogus"))
    assert (done.returncode, done.stderr) == (1, "1 problem in 1 of 1 file\n")
    assert done.stdout == (
        "bot.yaml:13:16: pipeline[2].with.of: step 'thr' (indicator.threshold) has no output 'bogus'; "
        "it has value, above\n"
    )


def test_validate_suggests_plugin_blocks(plugin_dir: Path, tmp_path: Path) -> None:
    done = validate(
        tmp_path,
        plugin_dir,
        THRESHOLD_BOT.replace(
            "uses: indicator.threshold\n    with: {of: c", "uses: indicator.treshold\n    with: {of: c"
        ),
    )
    assert (done.returncode, done.stderr) == (1, "1 problem in 1 of 1 file\n")
    assert done.stdout == (
        "bot.yaml:9:11: pipeline[1].uses: unknown block 'indicator.treshold'; did you mean 'indicator.threshold'?\n"
    )


def test_validate_reports_a_broken_plugin_without_a_traceback(plugin_dir: Path, tmp_path: Path) -> None:
    done = validate(
        tmp_path,
        plugin_dir,
        THRESHOLD_BOT.replace(
            "uses: indicator.threshold\n    with: {of: c", "uses: indicator.broken\n    with: {of: c"
        ),
    )
    assert (done.returncode, done.stderr) == (1, "1 problem in 1 of 1 file\n")
    assert done.stdout == f"bot.yaml:9:11: pipeline[1].uses: {BROKEN}; reinstall the package that provides it\n"
    assert "Traceback" not in done.stdout + done.stderr


LIVE_BOT = """\
bot: venue
version: 1.0.0
mode: live
symbols: [BTC/USDT]
pipeline:
  - id: candles
    uses: source.candles
  - id: plan
    uses: planner.noop
  - id: exec
    uses: executor.testvenue
    with:
      private_key: KEY
      network: mainnet
"""


def test_validate_accepts_a_live_plugin_executor_with_a_key_reference(plugin_dir: Path, tmp_path: Path) -> None:
    done = validate(tmp_path, plugin_dir, LIVE_BOT.replace("KEY", '"${env:TEST_KEY}"'))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "ok: 1 bot file\n")


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        (
            f'"{LITERAL_KEY}"',
            [
                "bot.yaml:13:20: pipeline[2].with.private_key: literal secret in the bot file: this looks like a "
                "32-byte private key (value hidden); reference it instead, e.g. ${env:HL_PRIVATE_KEY} or "
                "${keystore:hl-main}",
            ],
        ),
        (
            f"'0x{LITERAL_KEY}'",
            [
                "bot.yaml:13:20: pipeline[2].with.private_key: literal secret in the bot file: this looks like a "
                "32-byte private key (value hidden); reference it instead, e.g. ${env:HL_PRIVATE_KEY} or "
                "${keystore:hl-main}",
            ],
        ),
        # Unquoted, YAML 1.1 reads a 0x number: the key must not leak in decimal either.
        (
            f"0x{LITERAL_KEY}",
            [
                "bot.yaml:13:20: pipeline[2].with.private_key: literal secret in the bot file: this looks like a "
                "private key (YAML read it as a number) (value hidden); reference it instead, e.g. "
                "${env:HL_PRIVATE_KEY} or ${keystore:hl-main}",
            ],
        ),
    ],
    ids=["quoted", "quoted-0x", "yaml-int"],
)
def test_validate_rejects_a_literal_key_without_showing_it(
    plugin_dir: Path, tmp_path: Path, spelling: str, expected: list[str]
) -> None:
    text = LIVE_BOT.replace("KEY", spelling)
    done = validate(tmp_path, plugin_dir, text)
    assert done.returncode == 1
    assert done.stdout.splitlines() == expected
    as_json = validate(tmp_path, plugin_dir, text, "--format", "json")
    assert as_json.returncode == 1
    assert [issue["message"] for issue in json.loads(as_json.stdout)] == [
        line.split(": ", 2)[2].split("; ")[0] for line in expected
    ]
    for out in (done.stdout, done.stderr, as_json.stdout, as_json.stderr):
        assert LITERAL_KEY not in out.lower()
        assert str(int(LITERAL_KEY, 16)) not in out


# --- the dev venv stays clean ----------------------------------------------------------------------


def test_plugin_is_not_installed_in_the_dev_venv(tmp_path: Path) -> None:
    with pytest.raises(PackageNotFoundError):
        distribution("runner-test-plugin")
    done = run_cli("blocks", cwd=tmp_path)
    assert done.returncode == 0
    assert "runner-test-plugin" not in done.stdout + done.stderr
    assert not {"indicator.threshold", "executor.testvenue", "indicator.broken"} & set(listing(done.stdout))


# --- discovery in-process, through importlib.metadata -----------------------------------------------


@pytest.fixture
def plugin_on_path(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed plugin importable in this process, for one test."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    yield plugin_dir
    for name in [m for m in sys.modules if m == "runner_test_plugin" or m.startswith("runner_test_plugin.")]:
        del sys.modules[name]


def test_discover_reads_the_plugin_entry_points(plugin_on_path: Path) -> None:
    registry = Registry.discover()
    assert registry.problems == []
    assert registry.get("indicator.threshold") == BlockEntry(
        "indicator.threshold", "runner_test_plugin.threshold:Threshold", "runner-test-plugin", "0.1.0"
    )
    assert registry.get("executor.testvenue") == BlockEntry(
        "executor.testvenue", "runner_test_plugin.testvenue:PretendVenue", "runner-test-plugin", "0.1.0"
    )
    assert registry.get("indicator.ema") == BlockEntry(
        "indicator.ema", "blocks.indicators.ema:Ema", "bot-runner", registry.entries["indicator.ema"].version
    )
    threshold = registry.load("indicator.threshold")
    assert (threshold.kind, dict(threshold.outputs), threshold.live) == (
        "indicator",
        {"value": "number", "above": "number"},
        False,
    )
    venue = registry.load("executor.testvenue")
    assert (venue.kind, venue.live, list(venue.Config.model_fields)) == ("executor", True, ["private_key", "network"])
    with pytest.raises(BlockLoadError) as caught:
        registry.load("indicator.broken")
    assert str(caught.value) == BROKEN


def fake_dist(root: Path, name: str, entry_points: str, version: str = "1.0") -> Path:
    """A minimal installed distribution (just METADATA and entry_points.txt) in its own sys.path directory."""
    info = root / name / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return root / name


def test_discover_reports_bad_names_and_collisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    group = "runner.blocks.test"
    alpha = fake_dist(
        tmp_path,
        "Alpha_Blocks",
        f"""\
[{group}]
indicator.same = alpha.same:Same
Indicator.Upper = alpha:X
filter.median = alpha:X
ema = alpha:X
indicator.kebab-case = alpha:X
indicator.twice = shared:Twice
""",
    )
    beta = fake_dist(
        tmp_path,
        "beta-blocks",
        f"""\
[{group}]
indicator.same = beta.same:Same
indicator.twice = shared:Twice
planner.only_beta = beta:Planner
""",
    )
    monkeypatch.setattr(sys, "path", [*sys.path, str(alpha), str(beta)])
    registry = Registry.discover(group)
    kinds = "source, indicator, planner, validator, executor"
    assert registry.problems == [
        f"alpha-blocks: block name 'Indicator.Upper' is not '<kind>.<snake_name>' with kind one of {kinds}",
        f"alpha-blocks: block name 'filter.median' is not '<kind>.<snake_name>' with kind one of {kinds}",
        f"alpha-blocks: block name 'ema' is not '<kind>.<snake_name>' with kind one of {kinds}",
        f"alpha-blocks: block name 'indicator.kebab-case' is not '<kind>.<snake_name>' with kind one of {kinds}",
        "block 'indicator.same' is registered by both alpha-blocks and beta-blocks; using alpha-blocks's",
        "block 'indicator.twice' is registered by both alpha-blocks and beta-blocks; using alpha-blocks's",
    ]
    assert registry.entries == {
        "indicator.same": BlockEntry("indicator.same", "alpha.same:Same", "alpha-blocks", "1.0"),
        "indicator.twice": BlockEntry("indicator.twice", "shared:Twice", "alpha-blocks", "1.0"),
        "planner.only_beta": BlockEntry("planner.only_beta", "beta:Planner", "beta-blocks", "1.0"),
    }


def test_discover_keeps_the_builtin_when_a_later_package_claims_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clash = fake_dist(tmp_path, "runner-test-clash", "[runner.blocks]\nindicator.ema = clash:Ema\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(clash)])
    registry = Registry.discover()
    assert registry.problems == [
        "block 'indicator.ema' is registered by both bot-runner and runner-test-clash; using bot-runner's"
    ]
    entry = registry.get("indicator.ema")
    assert entry is not None and (entry.dist, entry.target) == ("bot-runner", "blocks.indicators.ema:Ema")


def test_builtin_wins_even_when_a_clashing_package_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clash = fake_dist(tmp_path, "runner-test-clash", "[runner.blocks]\nexecutor.paper = clash:Paper\n")
    monkeypatch.setattr(sys, "path", [str(clash), *sys.path])
    registry = Registry.discover()
    entry = registry.get("executor.paper")
    assert entry is not None and entry.dist == "bot-runner"
    assert registry.problems == [
        "block 'executor.paper' is registered by both bot-runner and runner-test-clash; using bot-runner's"
    ]


def test_entry_of_the_wrong_kind_is_a_load_error() -> None:
    entry = BlockEntry("source.paper", "blocks.executors.paper:Paper", "bot-runner", "0.1.0")
    with pytest.raises(BlockLoadError) as caught:
        entry.load()
    assert str(caught.value) == (
        "block 'source.paper' from bot-runner is not a subclass of Source (blocks.executors.paper:Paper)"
    )
    missing = BlockEntry("indicator.gone", "no_such_module_xyz:Gone", "gone-blocks", "2.0")
    with pytest.raises(BlockLoadError) as caught:
        missing.load()
    assert str(caught.value) == (
        "block 'indicator.gone' from gone-blocks 2.0 failed to import (no_such_module_xyz:Gone): "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )


# --- did-you-mean ----------------------------------------------------------------------------------


def registry_of(*names: str) -> Registry:
    return Registry({n: BlockEntry(n, f"pkg:{n}", "some-dist", "1.0") for n in sorted(names)})


SUGGEST_NAMES = (
    "source.candles",
    "indicator.ema",
    "indicator.rsi",
    "indicator.zscore",
    "planner.noop",
    "planner.dca",
    "planner.ema_cross",
    "validator.limits",
    "executor.paper",
    "indicator.threshold",
    "executor.testvenue",
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("indicator.threshhold", ["indicator.threshold"]),  # a typo in the name
        ("executor.testvenu", ["executor.testvenue"]),
        ("indicator.emaa", ["indicator.ema"]),
        ("planner.ema", ["indicator.ema"]),  # the right name under the wrong kind
        ("indicator.dca", ["planner.dca"]),
        ("indicatr.ema", ["indicator.ema"]),  # a typo in the kind
        ("exec.paper", ["executor.paper"]),
        ("validator.drawdown", []),  # nothing close
        ("foo.bar", []),
        ("indicator.macd", []),  # the shared 'indicator.' prefix alone is not a reason to suggest
        ("planner.grid", []),
    ],
)
def test_suggest(typed: str, expected: list[str]) -> None:
    assert registry_of(*SUGGEST_NAMES).suggest(typed) == expected


def test_suggest_gives_at_most_two_best_first() -> None:
    registry = registry_of("indicator.sma", "indicator.emas", "indicator.ema", "indicator.em")
    assert registry.suggest("indicator.emax") == ["indicator.ema", "indicator.emas"]


def test_package_with_unreadable_entry_points_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = fake_dist(tmp_path, "runner-test-garbled", "[runner.blocks]\nnot an entry point\n")
    monkeypatch.setattr(sys, "path", [*sys.path, str(broken)])
    registry = Registry.discover()
    assert "indicator.ema" in registry.entries
    [problem] = registry.problems
    assert "unreadable entry points, skipped" in problem


def test_package_without_a_name_does_not_crash_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "noname" / "noname-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[runner.blocks]\nindicator.nameless = a:B\n", encoding="utf-8")
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "noname")])
    entry = Registry.discover().get("indicator.nameless")
    assert entry is not None and entry.dist == "?"
