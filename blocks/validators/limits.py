"""validator.limits: hard caps on leverage, position size, exposure and symbols."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, Validator
from runner.symbols import foreign_symbols
from runner.types import Intent, Size, Symbol, Verdict

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue


class Limits(Validator):
    """Rejects or shrinks intents that break a cap; an unset cap is not enforced."""

    class Config(BlockConfig):
        max_leverage: float | None = Field(None, gt=0, le=200, description="Highest leverage an intent may use")
        max_position_usd: float | None = Field(
            None, gt=0, allow_inf_nan=False, description="Largest position notional per symbol, in the quote asset"
        )
        max_total_exposure_usd: float | None = Field(
            None, gt=0, allow_inf_nan=False, description="Largest sum of position notionals"
        )
        max_open_positions: int | None = Field(None, ge=1, description="Most symbols with an open position at once")
        min_notional_usd: float = Field(
            0.0, ge=0, allow_inf_nan=False, description="Orders smaller than this are rejected"
        )
        allow_symbols: list[Symbol] | None = Field(None, description="Only these symbols may be traded")
        deny_symbols: list[Symbol] = Field(default_factory=list, description="These symbols may never be traded")

    example = {"max_leverage": 5, "max_position_usd": 2000, "max_open_positions": 3}

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        for i, symbol in enumerate(config.deny_symbols):
            if symbol in (config.allow_symbols or ()):
                yield ctx.issue((*step.path, "with", "deny_symbols", i), f"'{symbol}' is both allowed and denied")
        path = (*step.path, "with", "allow_symbols")
        yield from foreign_symbols(ctx, path, config.allow_symbols or (), "it could never be traded")

    def start(self, ctx: BuildContext) -> None:
        self._close = ctx.price_slots()[3]
        self._approve = Verdict(self.step_id, "approve")
        self._symbols = set(ctx.symbols)

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        config = self.config
        assert isinstance(config, self.Config)
        approve = self._approve
        if config.allow_symbols is not None and intent.symbol not in config.allow_symbols:
            return self._reject(f"{intent.symbol} is not in allow_symbols")
        if intent.symbol in config.deny_symbols:
            return self._reject(f"{intent.symbol} is in deny_symbols")
        problem = _nonsense(intent)
        if intent.symbol not in self._symbols:
            problem = f"{intent.symbol} is not one of the bot's symbols"
        if problem:
            return self._reject(problem)
        if intent.kind in ("close", "cancel") or intent.reduce_only:
            return approve  # unwinding must always be possible
        if config.max_leverage is not None and intent.leverage > config.max_leverage:
            return self._reject(f"leverage {intent.leverage:g} is above max_leverage {config.max_leverage:g}")
        lane = cycle.lanes.get(intent.symbol)
        price = intent.price or (lane[self._close] if lane is not None else None)
        if price is None or intent.size is None:
            return self._reject("no price to size the intent against")
        account = cycle.account()
        held = account.positions.get(intent.symbol)
        held_qty = held.quantity if held is not None else 0.0
        notional = _notional(intent.size, price, account.equity)
        signed = notional if intent.side == "buy" else -notional
        after = abs(signed if intent.kind == "target" else held_qty * price + signed)
        if notional < config.min_notional_usd:
            return self._reject(f"notional {notional:.2f} is below min_notional_usd {config.min_notional_usd:g}")
        open_symbols = {s for s, p in account.positions.items() if p.quantity}
        if config.max_open_positions is not None and held_qty == 0 and len(open_symbols) >= config.max_open_positions:
            return self._reject(
                f"{len(open_symbols)} positions open, max_open_positions is {config.max_open_positions}"
            )
        room = [after]
        if config.max_position_usd is not None:
            room.append(config.max_position_usd)
        if config.max_total_exposure_usd is not None:
            others = sum(abs(p.quantity) * p.avg_price for s, p in account.positions.items() if s != intent.symbol)
            room.append(config.max_total_exposure_usd - others)
        allowed = min(room)
        if allowed >= after - 1e-9:
            return approve
        grow = allowed - (0.0 if intent.kind == "target" else abs(held_qty) * price)
        if grow <= 0 or allowed <= 0:
            return self._reject(f"position would be {after:.2f}, the limit leaves no room")
        size = Size(notional=allowed) if intent.kind == "target" else Size(notional=min(notional, grow))
        return Verdict(self.step_id, "resize", f"position {after:.2f} cut to {allowed:.2f} by the limits", size)

    def _reject(self, reason: str) -> Verdict:
        return Verdict(self.step_id, "reject", reason)


def _nonsense(intent: Intent) -> str:
    """What makes an intent meaningless whatever the caps: a leverage or a price that is not a positive number."""
    if not (math.isfinite(intent.leverage) and intent.leverage > 0):
        return f"leverage {intent.leverage} is not a positive number"
    for name in ("price", "stop_loss", "take_profit"):
        value = getattr(intent, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            return f"{name.replace('_', '-')} {value} is not a positive price"
    return ""


def _notional(size: Size, price: float, equity: float) -> float:
    if size.notional is not None:
        return size.notional
    if size.quantity is not None:
        return size.quantity * price
    return (size.fraction or 0.0) * equity
