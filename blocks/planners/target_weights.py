"""planner.target_weights: keep each symbol at a target share of equity, trading only when it drifts out of a band."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Self

from pydantic import Field, model_validator

from runner.block import BlockConfig, Planner, Ref
from runner.types import Intent, Size, Symbol

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue


class TargetWeights(Planner):
    """Holds each symbol at a target weight (its position's share of equity, long only), given in the config
    or read from a per-symbol series and normalised; a symbol is traded back to its target only when its
    weight is more than band away. Sales go first: when some are due, the buys wait for the next cycle, so
    they spend the cash the sales actually brought."""

    class Config(BlockConfig):
        weights: dict[Symbol, float] | None = Field(
            None, description="Target weight per symbol, each from 0 to 1, together at most 1 (the rest is cash)"
        )
        weight: Ref | None = Field(
            None,
            description="Or a per-symbol series, e.g. subnets.stability: weights proportional to its positive "
            "values, summing to invest; a symbol whose value is unknown is left as it is",
        )
        invest: float = Field(1.0, gt=0, le=1, description="With weight: the share of equity the weights spread")
        band: float = Field(
            0.02, ge=0, lt=1, description="Trade a symbol when its weight is more than this from target, e.g. 0.02"
        )
        rebalance_every: int = Field(1, ge=1, le=100_000, description="Cycles between checks of the weights")
        symbols: list[Symbol] | None = Field(
            None, min_length=1, description="With weight: the symbols to spread over; all the bot's when omitted"
        )

        @model_validator(mode="after")
        def _one_source_of_weights(self) -> Self:
            if (self.weights is None) == (self.weight is None):
                raise ValueError("give exactly one of weights (fixed) or weight (a series)")
            if self.weights is not None:
                bad = [s for s, w in self.weights.items() if not 0 <= w <= 1]
                if bad:
                    raise ValueError(f"weights must be from 0 to 1 (got {', '.join(bad)} outside)")
                if sum(self.weights.values()) > 1 + 1e-9:
                    raise ValueError(f"weights add up to {sum(self.weights.values()):g}; at most 1 can be invested")
            return self

    example = {"weights": {"SN8/TAO": 0.5, "SN19/TAO": 0.3}, "band": 0.02}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if ctx.header is None:
            return
        for field, symbols in (("weights", list(config.weights or ())), ("symbols", config.symbols or [])):
            for i, symbol in enumerate(symbols):
                if symbol not in ctx.header.symbols:
                    path = (*step.path, "with", field, symbol if field == "weights" else i)
                    yield ctx.issue(path, f"'{symbol}' is not one of the bot's symbols", at_key=field == "weights")

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._close = ctx.price_slots()[3]
        self._weight = ctx.slot(config.weight) if config.weight else None
        self._universe = list(config.weights or config.symbols or ctx.symbols)
        self._cycles = -1
        self._buys_due = False

    def targets(self, cycle: Cycle) -> dict[str, float]:
        """Target weight per symbol this cycle (symbols with an unknown weight left out)."""
        config = self.config
        assert isinstance(config, self.Config)
        if config.weights is not None:
            return dict(config.weights)
        assert self._weight is not None
        values = {s: cycle.lanes[s][self._weight] for s in self._universe}
        known = {s: max(v, 0.0) for s, v in values.items() if v is not None}
        total = sum(known.values())
        return {s: config.invest * v / total if total > 0 else 0.0 for s, v in known.items()}

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        self._cycles += 1
        if self._cycles % config.rebalance_every and not self._buys_due:
            return []
        account = cycle.account()
        equity = account.equity
        targets = self.targets(cycle)
        if equity <= 0 or not targets:
            return []
        sales: list[Intent] = []
        buys: list[Intent] = []
        for symbol, target in targets.items():
            price = cycle.lanes[symbol][self._close]
            if price is None:
                continue
            position = account.positions.get(symbol)
            weight = (position.quantity if position is not None else 0.0) * price / equity
            if abs(weight - target) <= config.band:
                continue
            reason = f"weight {weight:.2%}, target {target:.2%} (band {config.band:.2%})"
            if target <= 0:
                sales.append(Intent(symbol, "close", reason=reason))
            else:
                intent = Intent(symbol, "target", "buy", Size(fraction=min(target, 1.0)), reason=reason)
                (sales if weight > target else buys).append(intent)
        self._buys_due = bool(sales and buys)
        return sales if sales else buys
