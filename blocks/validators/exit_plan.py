"""validator.exit_plan: every new position must carry a sane stop (and, if asked, a take-profit)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from runner.block import BlockConfig, Validator
from runner.types import Intent, Verdict

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle


class ExitPlan(Validator):
    """Rejects an intent that opens or grows a position without the exit plan the operator requires: a stop-loss on
    the losing side of the price, between min_stop_pct and max_stop_pct away from it, and a take-profit on the
    winning side when require_take_profit is set. Closing and reduce-only intents always pass."""

    class Config(BlockConfig):
        require_stop_loss: bool = Field(True, description="Entries must carry a stop-loss")
        max_stop_pct: float | None = Field(
            0.1, gt=0, lt=1, description="Farthest a stop may be from the price, as a fraction (0.1 = 10%)"
        )
        min_stop_pct: float = Field(
            0.001, ge=0, lt=1, description="Nearest a stop may be: closer ones trigger on noise, as a fraction"
        )
        require_take_profit: bool = Field(False, description="Entries must also carry a take-profit")

        @model_validator(mode="after")
        def _ordered(self) -> ExitPlan.Config:
            if self.max_stop_pct is not None and self.min_stop_pct >= self.max_stop_pct:
                raise ValueError("min_stop_pct must be below max_stop_pct")
            return self

    example = {"require_stop_loss": True, "max_stop_pct": 0.05}

    def start(self, ctx: BuildContext) -> None:
        self._close = ctx.price_slots()[3]
        self._approve = Verdict(self.step_id, "approve")

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        config = self.config
        assert isinstance(config, self.Config)
        if intent.kind in ("close", "cancel") or intent.reduce_only or intent.side is None:
            return self._approve
        lane = cycle.lanes.get(intent.symbol)
        price = intent.price or (lane[self._close] if lane is not None else None)
        long = intent.side == "buy"
        stop, target = intent.stop_loss, intent.take_profit
        if stop is None:
            return self._reject("no stop-loss: every entry needs one") if config.require_stop_loss else self._approve
        if price is None or not price > 0:
            return self._reject("no price to measure the stop-loss against")
        if not stop > 0 or (stop >= price if long else stop <= price):
            return self._reject(f"stop-loss {stop:g} is on the wrong side of the price {price:g}")
        distance = abs(price - stop) / price
        if distance < config.min_stop_pct:
            return self._reject(f"stop-loss {distance:.2%} from the price is closer than {config.min_stop_pct:.2%}")
        if config.max_stop_pct is not None and distance > config.max_stop_pct:
            return self._reject(f"stop-loss {distance:.2%} from the price is farther than {config.max_stop_pct:.2%}")
        if target is not None and (target <= price if long else target >= price):
            return self._reject(f"take-profit {target:g} is on the wrong side of the price {price:g}")
        if target is None and config.require_take_profit:
            return self._reject("no take-profit: every entry needs one")
        return self._approve

    def _reject(self, reason: str) -> Verdict:
        return Verdict(self.step_id, "reject", reason)
