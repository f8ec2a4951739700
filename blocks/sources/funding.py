"""source.funding: the funding rates of perpetual swaps as market data, from the run's --funding files.

The files are the ones the paper executor pays funding from (``--funding SYMBOL=FILE``), so a prompt or a
planner sees the rate the account pays. Each rate counts from its own time (the first cycle at or after it);
between funding times the last rate holds. A symbol with no file has no rate (None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from statistics import median
from typing import TYPE_CHECKING, Any, ClassVar

from runner.block import BlockConfig, Source
from runner.errors import BlockError

if TYPE_CHECKING:
    from runner.cycle import BuildContext

YEAR_MS = 365 * 86_400_000


class Funding(Source):
    """Each perp's latest funding rate: `rate`, per funding interval as a fraction (0.0001 = 1 bp; positive:
    longs pay shorts), and `annualized`, the rate times the intervals in a 365-day year (the file's median
    interval). Replayed from the files bound with --funding SYMBOL=FILE, which the paper executor pays from;
    a symbol without one has no rate."""

    class Config(BlockConfig):
        pass

    outputs: ClassVar[Mapping[str, str]] = {"rate": "number", "annualized": "number"}
    example: ClassVar[dict[str, Any]] = {}

    def open(self, ctx: BuildContext) -> FundingFeed:
        from blocks.executors.funding import load_funding

        bound = {sym: path for sym, path in ctx.funding.items() if sym in ctx.symbols}
        if not bound:
            raise BlockError(
                self.step_id,
                "no funding data: bind a perp's funding history with --funding SYMBOL=FILE "
                "(live rates come with the venue adapters)",
            )
        events: list[tuple[int, str, float, float]] = []
        for symbol, path in sorted(bound.items()):
            history = load_funding(path)
            times, rates = history.times, history.rates
            steps = [b - a for a, b in pairwise(times[:1001])]
            per_year = YEAR_MS / median(steps) if steps else 0.0
            cut = len(times) if ctx.data_until is None else sum(1 for t in times if t <= ctx.data_until)
            events += [(times[i], symbol, rates[i], rates[i] * per_year) for i in range(cut)]
        events.sort()
        slots = (ctx.slots[(self.step_id, "rate")], ctx.slots[(self.step_id, "annualized")])
        return FundingFeed(events, slots)


class FundingFeed:
    """Replays funding events: one timeline entry per distinct time, each writing its symbols' rates."""

    def __init__(self, events: Sequence[tuple[int, str, float, float]], slots: tuple[int, int]) -> None:
        times: list[int] = []
        self._at: list[list[tuple[str, float, float]]] = []
        for t, symbol, rate, annualized in events:
            if not times or times[-1] != t:
                times.append(t)
                self._at.append([])
            self._at[-1].append((symbol, rate, annualized))
        self.timeline: Sequence[int] = times
        self._slots = slots

    def emit(self, i: int, lanes: dict[str, list[Any]]) -> Sequence[str]:
        rate_slot, annual_slot = self._slots
        symbols = []
        for symbol, rate, annualized in self._at[i]:
            lane = lanes[symbol]
            lane[rate_slot], lane[annual_slot] = rate, annualized
            symbols.append(symbol)
        return symbols
