"""executor.paper: simulated fills against candles with fees and slippage; the default executor."""

from __future__ import annotations

from pydantic import Field

from runner.block import BlockConfig, Executor


class Paper(Executor):
    """Fills market orders at the next bar's open (plus slippage) and limit orders when price trades through."""

    class Config(BlockConfig):
        fee_bps: float = Field(2.0, ge=0, le=1000, description="Taker fee per side, in basis points")
        maker_fee_bps: float | None = Field(
            None, ge=-100, le=1000, description="Maker fee for resting limit orders; fee_bps when omitted"
        )
        slippage_bps: float = Field(1.0, ge=0, le=1000, description="Adverse slippage on market orders, in bps")

    example = {"fee_bps": 2, "slippage_bps": 1}
