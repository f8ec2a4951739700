"""validator.limits: hard caps on leverage, position size, exposure and symbols."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import BlockConfig, Validator
from runner.types import Symbol

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
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
        if ctx.header is not None and config.allow_symbols is not None:
            for i, symbol in enumerate(config.allow_symbols):
                if symbol not in ctx.header.symbols:
                    yield ctx.issue(
                        (*step.path, "with", "allow_symbols", i),
                        f"'{symbol}' is not one of the bot's symbols",
                        "it could never be traded",
                    )
