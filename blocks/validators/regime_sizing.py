"""validator.regime_sizing: scale entries by the market regime; block them in a crisis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, CategoryRef, Validator
from runner.types import Intent, Size, Verdict

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle


class RegimeSizing(Validator):
    """Multiplies the size of every entry by the multiplier of the current regime label (`default` for labels not
    listed); a multiplier of 0 rejects entries in that regime. perp-bot halves sizes in HIGH_RISK and opens
    nothing in CRISIS. Closing and reduce-only intents always pass; with no regime known yet, entries pass."""

    class Config(BlockConfig):
        regime: CategoryRef = Field(description="The regime label, e.g. macro.regime or regime")
        multipliers: dict[str, float] = Field(
            description="Regime label -> size multiplier (0 blocks entries), e.g. {CRISIS: 0, HIGH_RISK: 0.5}"
        )
        default: float = Field(1.0, ge=0, le=10, description="Multiplier of labels not listed")

    example = {"regime": "macro.regime", "multipliers": {"CRISIS": 0, "HIGH_RISK": 0.5}}

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._slot = ctx.slot(config.regime)
        self._multipliers = {k.upper(): v for k, v in config.multipliers.items()}
        self._approve = Verdict(self.step_id, "approve")

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        config = self.config
        assert isinstance(config, self.Config)
        lane = cycle.lanes.get(intent.symbol)
        label = lane[self._slot] if lane is not None else None
        if intent.kind in ("close", "cancel") or intent.reduce_only or label is None or intent.size is None:
            return self._approve
        factor = self._multipliers.get(str(label).upper(), config.default)
        if factor == 1.0:
            return self._approve
        if factor <= 0:
            return Verdict(self.step_id, "reject", f"no entries in the {label} regime")
        size = intent.size
        if size.fraction is not None:
            scaled = Size(fraction=min(size.fraction * factor, 1.0))
        elif size.notional is not None:
            scaled = Size(notional=size.notional * factor)
        else:
            scaled = Size(quantity=(size.quantity or 0.0) * factor)
        return Verdict(self.step_id, "resize", f"size x{factor:g} in the {label} regime", scaled)
