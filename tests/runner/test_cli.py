"""The ``runner`` command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BOTS, ROOT

RUNNER = str(Path(sys.executable).with_name("runner"))
BAD = "bot: x\nversion: 1.0.0\nsymbols: [BTC/USDT]\npipeline:\n  - {id: c, uses: source.candles, with: {history: -1}}\n"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNER, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_validate_shipped_bots_directory() -> None:
    result = run("validate", "bots/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("ok: ")


def test_validate_reports_one_line_per_problem_and_exits_1(bad_file: Path) -> None:
    result = run("validate", str(bad_file))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad_file}:5:3: pipeline: the pipeline has no executor step; add one, e.g. executor.paper",
        f"{bad_file}:5:3: pipeline: the pipeline has no planner step; add one, e.g. planner.ema_cross",
        f"{bad_file}:5:51: pipeline[0].with.history: must be greater than or equal to 0 (got -1)",
    ]
    assert result.stderr == "3 problems in 1 of 1 file\n"


def test_validate_json_format(bad_file: Path) -> None:
    result = run("validate", "--format", "json", str(bad_file))
    assert result.returncode == 1
    last = json.loads(result.stdout)[-1]
    assert last == {
        "file": str(bad_file),
        "line": 5,
        "col": 51,
        "path": "pipeline[0].with.history",
        "message": "must be greater than or equal to 0 (got -1)",
        "hint": "",
    }


def test_validate_glob_and_several_files(tmp_path: Path, bad_file: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text((BOTS / "noop.yaml").read_text())
    result = run("validate", str(tmp_path / "*.yaml"))
    assert result.returncode == 1
    assert all(line.startswith(str(bad_file)) for line in result.stdout.splitlines())
    assert "in 1 of 2 files" in result.stderr


def test_validate_missing_path_is_a_usage_error() -> None:
    result = run("validate", "no/such/bot.yaml")
    assert result.returncode == 2
    assert "no such file or directory: no/such/bot.yaml" in result.stderr


def test_usage_error_exits_2() -> None:
    assert run("validate").returncode == 2
    assert run("frobnicate").returncode == 2


def test_blocks_lists_every_builtin() -> None:
    result = run("blocks")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == sorted(names)
    assert {"source.candles", "indicator.ema", "planner.ema_cross", "validator.limits", "executor.paper"} <= set(names)


def test_blocks_name_documents_fields_defaults_and_example() -> None:
    result = run("blocks", "indicator.rsi")
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("indicator.rsi: Relative strength index")
    assert "period  integer > 0, <= 10000  default 14" in out
    assert "of      reference (number)" in out
    assert "example:\n  - id: rsi\n    uses: indicator.rsi\n    with: {of: candles.close, period: 14}" in out


def test_blocks_unknown_name_suggests() -> None:
    result = run("blocks", "indicator.rsii")
    assert result.returncode == 1
    assert result.stderr.strip() == "runner blocks: unknown block 'indicator.rsii'; did you mean 'indicator.rsi'?"


def test_schema_check_detects_stale_and_write_fixes_it(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    assert run("schema", "--check", "--out", str(out)).returncode == 1
    assert run("schema", "--out", str(out)).returncode == 0
    assert run("schema", "--check", "--out", str(out)).returncode == 0
    (out / "blocks" / "indicator.gone.schema.json").write_text("{}")
    stale = run("schema", "--check", "--out", str(out))
    assert stale.returncode == 1
    assert "indicator.gone.schema.json: stale" in stale.stderr


def test_committed_schemas_are_current() -> None:
    assert run("schema", "--check").returncode == 0


def test_snapshot_prints_config_id_and_resolved_config() -> None:
    result = run("snapshot", "bots/ema_cross.yaml")
    assert result.returncode == 0
    printed = json.loads(result.stdout)
    assert len(printed["config_id"]) == 64
    assert printed["snapshot"]["pipeline"][4]["with"]["min_notional_usd"] == 0.0  # defaults filled in


def test_snapshot_of_invalid_file_exits_1(bad_file: Path) -> None:
    result = run("snapshot", str(bad_file))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "pipeline[0].with.history" in result.stderr


@pytest.mark.parametrize(
    ("target", "allowed"),
    [("bots/", {"jinja2"}), ("bots/ema_cross.yaml", set())],
    ids=["every-bot", "no-llm-step"],
)
def test_validate_does_not_import_heavy_sdks(target: str, allowed: set[str]) -> None:
    """Only a bot with prompt templates needs jinja2 (to check them); none needs an SDK or a model client."""
    code = (
        f"import sys; from runner.cli import main; main(['validate', '{target}']); "
        "heavy = [m for m in ('litellm', 'web3', 'ccxt', 'hyperliquid', 'solders', 'substrateinterface', 'jinja2', "
        "'sqlite_utils', 'rich', 'llama_cpp', 'openai') if m in sys.modules]; print(' '.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert set(result.stdout.split()) <= allowed, result.stdout
