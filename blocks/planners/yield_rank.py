"""planner.yield_rank: stake into the top K symbols by a rank, switching only for a clear gain (alpha_yield)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


class YieldRank(Planner):
    """Every rebalance_every cycles, holds the top_k symbols by a rank (higher is better, e.g.
    subnets.stability); a holding is replaced only by a symbol ranked at least min_improvement higher (the
    min_yield_delta Permafrost never used), and sold once its rank is at or below min_rank. Sales are market
    closes of what is held; buys take free slots only, so no more than top_k symbols are ever held."""

    class Config(BlockConfig):
        rank: Ref = Field(description="Per-symbol score to rank by, higher is better, e.g. subnets.stability")
        top_k: int = Field(3, ge=1, le=1_000, description="Most symbols held at once")
        rebalance_every: int = Field(
            50, ge=1, le=100_000, description="Cycles between rebalances; the first comes once a rank is known"
        )
        min_improvement: float = Field(
            0.05,
            ge=0,
            allow_inf_nan=False,
            description="How much higher a symbol must rank than a holding to replace it (in the rank's units)",
        )
        min_rank: float = Field(
            0.0,
            allow_inf_nan=False,
            description="Symbols ranked at or below this are never bought, and holdings that fall to it are sold",
        )
        amount: float | None = Field(
            None,
            gt=0,
            allow_inf_nan=False,
            description="Quote amount per new position, e.g. 10 TAO; omitted: equal weights (each new position "
            "at most 1/top_k of equity, together at most the cash)",
        )
        symbols: list[Symbol] | None = Field(
            None, min_length=1, description="The universe to choose from; all the bot's symbols when omitted"
        )

    example = {"rank": "subnets.stability", "top_k": 3, "rebalance_every": 50, "min_improvement": 0.05, "amount": 10}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        yield from foreign_symbols(ctx, (*step.path, "with", "symbols"), config.symbols or ())

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._rank = ctx.slot(config.rank)
        self._universe = list(config.symbols or ctx.symbols)
        self._rotation = Rotation(config.top_k, config.amount)
        self._cycles: int | None = None

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        ranks: dict[str, float] = {}
        for symbol in self._universe:
            value = cycle.lanes[symbol][self._rank]
            if value is not None:
                ranks[symbol] = value
        rotation = self._rotation
        account = cycle.account()
        held = rotation.held(account, self._universe)
        reasons: dict[str, str] = {}
        if ranks:
            self._cycles = 0 if self._cycles is None else self._cycles + 1
        if self._cycles is not None and self._cycles % config.rebalance_every == 0:
            rotation.retarget(self.choose(ranks, held))
            for symbol, value in ranks.items():
                reasons[symbol] = f"{config.rank} {value:.4g}"
            for symbol in held - set(rotation.target):
                value = ranks.get(symbol)
                if value is not None and value <= config.min_rank:
                    reasons[symbol] += f", at or below min_rank {config.min_rank:g}"
                elif value is not None:
                    reasons[symbol] += f", replaced by a symbol ranked at least {config.min_improvement:g} higher"
        return rotation.intents(account, held, reasons)

    def choose(self, ranks: Mapping[str, float], held: set[str]) -> list[str]:
        """The symbols to hold, best first: holdings stay unless out-ranked by min_improvement or at min_rank."""
        config = self.config
        assert isinstance(config, self.Config)
        eligible = {s: r for s, r in ranks.items() if r > config.min_rank}
        unknown = sorted(s for s in held if s not in ranks)  # no rank to judge them by: kept
        chosen = unknown + sorted((s for s in held if s in eligible), key=lambda s: (-eligible[s], s))
        chosen = chosen[: config.top_k]
        for candidate in sorted(eligible, key=lambda s: (-eligible[s], s)):
            if candidate in chosen:
                continue
            if len(chosen) < config.top_k:
                chosen.append(candidate)
                continue
            ranked = [s for s in chosen if s in eligible]
            if not ranked:
                break
            weakest = min(ranked, key=lambda s: (eligible[s], s))
            gain = eligible[candidate] - eligible[weakest]
            if gain <= 0 or gain < config.min_improvement:
                break  # candidates come best first: no later one gains more
            chosen.remove(weakest)
            chosen.append(candidate)
        return sorted(chosen, key=lambda s: (-ranks.get(s, float("inf")), s))
