"""Cold `runner validate` latency, as a whole process, against the floor of its imports.

Usage: python bench/validate_latency.py [--runs N]
Budget (DESIGN.md section 12): one bot file < 0.3 s. Run it on a quiet machine; the minimum is the
figure to quote, the median shows the noise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(cmd: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import pydantic + yaml (floor)": [sys.executable, "-c", "from pydantic import BaseModel; import yaml"],
        "runner validate bots/noop.yaml": [str(BIN / "runner"), "validate", "bots/noop.yaml"],
        "runner validate bots/ema_cross.yaml": [str(BIN / "runner"), "validate", "bots/ema_cross.yaml"],
        "runner validate bots/llm_perp_trader.yaml": [str(BIN / "runner"), "validate", "bots/llm_perp_trader.yaml"],
        "runner validate bots/ (all)": [str(BIN / "runner"), "validate", "bots/"],
    }
    print(f"{'case':<40} {'min':>8} {'median':>8} {'p90':>8}   ({args.runs} runs each)")
    for name, cmd in cases.items():
        samples = sorted(timed(cmd, args.runs))
        p90 = samples[int(0.9 * (len(samples) - 1))]
        print(
            f"{name:<40} {min(samples) * 1000:>6.0f}ms {statistics.median(samples) * 1000:>6.0f}ms {p90 * 1000:>6.0f}ms"
        )


if __name__ == "__main__":
    main()
