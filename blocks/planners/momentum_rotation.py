"""planner.momentum_rotation: hold the top K symbols by rolling momentum (Permafrost's alpha_momentum)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from blocks.planners.rotation import Rotation
from runner.block import BlockConfig, Planner, Ref
from runner.symbols import foreign_symbols
from runner.types import Intent, Symbol

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue


class MomentumRotation(Planner):
    """Every rebalance_every cycles, holds the top_k symbols by momentum = price / price window cycles
    earlier - 1, among those above exit_threshold; between rebalances a holding whose momentum falls to
    exit_threshold is sold. Sales are market closes of what is held; buys take free slots only (see
    blocks/planners/rotation.py), so no more than top_k symbols are ever held."""

    class Config(BlockConfig):
        of: Ref = Field(description="Price series whose momentum ranks the symbols, e.g. subnets.close")
        window: int = Field(
            30, ge=1, le=100_000, description="Cycles the momentum spans: price now / price window cycles ago - 1"
        )
        top_k: int = Field(5, ge=1, le=1_000, description="Most symbols held at once")
        exit_threshold: float = Field(
            -0.02,
            ge=-1,
            allow_inf_nan=False,
            description="Momentum at or below this is never bought, and a holding that falls to it is sold",
        )
        rebalance_every: int = Field(
            1, ge=1, le=100_000, description="Cycles between rebalances; the first comes once a momentum is known"
        )
        amount: float | None = Field(
            None,
            gt=0,
            allow_inf_nan=False,
            description="Quote amount per new position, e.g. 5 TAO; omitted: equal weights (each new position "
            "at most 1/top_k of equity, together at most the cash)",
        )
        symbols: list[Symbol] | None = Field(
            None, min_length=1, description="The universe to choose from; all the bot's symbols when omitted"
        )

    example = {"of": "subnets.close", "window": 30, "top_k": 5, "exit_threshold": -0.02, "amount": 5}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        yield from foreign_symbols(ctx, (*step.path, "with", "symbols"), config.symbols or ())

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._of = ctx.slot(config.of)
        self._universe = list(config.symbols or ctx.symbols)
        self._prices: dict[str, deque[float]] = {s: deque(maxlen=config.window + 1) for s in self._universe}
        self._rotation = Rotation(config.top_k, config.amount)
        self._cycles: int | None = None
        """Cycles since the first with a momentum; rebalances fall on its multiples of rebalance_every."""

    def momentum(self) -> dict[str, float]:
        """Each symbol's momentum over the full window, for the symbols that have one."""
        return {s: p[-1] / p[0] - 1 for s, p in self._prices.items() if len(p) == p.maxlen and p[0] > 0}

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        for symbol, prices in self._prices.items():
            price = cycle.lanes[symbol][self._of]
            if price is not None:
                prices.append(price)
        scores = self.momentum()
        rotation = self._rotation
        account = cycle.account()
        held = rotation.held(account, self._universe)
        reasons: dict[str, str] = {}
        if scores:
            self._cycles = 0 if self._cycles is None else self._cycles + 1
        if self._cycles is not None and self._cycles % config.rebalance_every == 0:
            ranked = sorted(scores, key=lambda s: (-scores[s], s))
            target = [s for s in ranked[: config.top_k] if scores[s] > config.exit_threshold]
            rotation.retarget(target)
            for rank, symbol in enumerate(ranked, 1):
                score = scores[symbol]
                reasons[symbol] = f"momentum {score:+.2%} over {config.window} cycles, rank {rank} of {len(ranked)}"
        else:
            for symbol in sorted(held):
                now = scores.get(symbol)
                if now is not None and now <= config.exit_threshold:
                    rotation.drop(symbol)
                    reasons[symbol] = f"momentum {now:+.2%} at or below exit_threshold {config.exit_threshold:+.2%}"
        return rotation.intents(account, held, reasons)
