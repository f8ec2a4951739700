"""Shared test helpers: compile bot text and read back its issues."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import settings

from runner.attempts import Timing
from runner.compile import CompiledBot, compile_text
from runner.errors import ConfigError, ConfigIssue
from runner.registry import Registry
from runner.risk import HouseRules

ROOT = Path(__file__).resolve().parent.parent
BOTS = ROOT / "bots"
DATA = Path(os.environ.get("RUNNER_DATA_DIR", ROOT.parent / "shared" / "data"))

_REGISTRY = Registry.discover()
PLUGIN_SRC = ROOT / "tests" / "plugin_pkg"

# Wall-clock deadlines only measure how busy the machine is (CI shares two cores); properties are what count.
settings.register_profile("runner", deadline=None)
settings.load_profile("runner")


@pytest.fixture(autouse=True, scope="session")
def _own_candle_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests (and the commands they start) never read or fill the user's candle cache, and run under no house
    rules but their own."""
    os.environ["RUNNER_CACHE_DIR"] = str(tmp_path_factory.mktemp("candle-cache"))
    os.environ.pop("RUNNER_RISK", None)


def compile_yaml(text: str, file: str = "bot.yaml", risk: HouseRules | None = None) -> CompiledBot:
    """Compile dedented YAML text with the installed blocks (and the house rules of ``risk``)."""
    return compile_text(textwrap.dedent(text), file, _REGISTRY, risk)


def issues_of(text: str, file: str = "bot.yaml") -> list[ConfigIssue]:
    """Every issue compiling the text reports (fails the test if it compiles)."""
    try:
        compile_yaml(text, file)
    except ConfigError as exc:
        return exc.issues
    pytest.fail("expected the bot file to be rejected, but it compiled")


def data_path(*parts: str) -> Path:
    """A file under shared/data, or skip the test with the reason."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set RUNNER_DATA_DIR)")
    return path


ARENA_WEEK = 1_761_004_800_000
"""2025-10-21 00:00 UTC: the week before the Alpha Arena replies in shared/data/llm were recorded."""
ARENA_PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


def arena_candles(tmp: Path, rows: int) -> dict[str, str]:
    """``rows`` real hourly candles of each of ARENA_PERPS from ARENA_WEEK on, as plain CSV files."""
    import gzip

    files = {}
    for symbol in ARENA_PERPS:
        name = f"{symbol.split('/')[0]}USDT-1h.csv.gz"
        target = tmp / name.removesuffix(".gz")
        with gzip.open(data_path("candles", "binance-usdm", name), "rt") as f, target.open("w") as out:
            out.write(next(f))
            kept = (line for line in f if int(line.split(",", 1)[0]) >= ARENA_WEEK)
            out.writelines(line for _, line in zip(range(rows), kept, strict=False))
        files[symbol] = str(target)
    return files


def real_candles(tmp: Path, rows: int, name: str = "BTCUSDT-1m.csv.gz", venue: str = "binance-usdm") -> Path:
    """The first ``rows`` candles of a real shared/data file, as a plain CSV in ``tmp``."""
    import gzip

    source = data_path("candles", venue, name)
    target = tmp / f"{name.split('.')[0]}-{rows}.csv"
    with gzip.open(source, "rt") as f, target.open("w") as out:
        for _, line in zip(range(rows + 1), f, strict=False):
            out.write(line)
    return target


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/plugin_pkg installed into a temporary directory (not into the venv)."""
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip(f"uv not found next to {sys.executable}; install the dev extra to run the plugin tests")
    target = tmp_path_factory.mktemp("plugin")
    cmd = [
        str(uv),
        "pip",
        "install",
        "--python",
        sys.executable,
        "--no-deps",
        "--quiet",
        "--refresh-package",
        "runner-test-plugin",
        "--target",
        str(target),
        str(PLUGIN_SRC),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"installing the test plugin failed:\n{done.stdout}{done.stderr}"
    assert (target / "runner_test_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


SUBNET_GAPS = [("2026-07-30 19:25:05", "2026-08-06 17:39:04"), ("2026-08-08 18:40:51", "2026-08-16 01:22:02")]
"""The two week-long holes in the subnet snapshots (from the last snapshot before to the first after)."""


def ms(text: str) -> int:
    """Milliseconds since the epoch of a UTC time written as text."""
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def subnets() -> Path:
    """shared/data's subnet snapshots directory (skips when absent)."""
    return data_path("bittensor", "subnets")


class FakeTime:
    """Time for paper runs in tests, in fake seconds that pass at once: the clock's ``now`` and ``sleep``,
    and ``timing`` for steps with a timeout or retries. A block ``takes`` fake time; a hanging block sets
    ``hanging`` before it blocks, and its try then outlasts any timeout (the wait returns at once)."""

    def __init__(self, start_s: float) -> None:
        self.now_s = start_s
        self.sleeps: list[float] = []
        self.hanging = threading.Event()

    def now(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds

    def takes(self, seconds: float) -> None:
        """A block's work that lasts ``seconds`` (not a sleep the loop asked for)."""
        self.now_s += seconds

    def wait(self, done: threading.Event, timeout: float) -> bool:
        while not done.wait(0.002):
            if self.hanging.is_set():
                self.now_s += timeout
                return False
        return True

    @property
    def timing(self) -> Timing:
        return Timing(self.sleep, self.wait)
