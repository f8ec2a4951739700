"""planner.mean_reversion: perp-bot's z-score mean reversion, with its filters and regime adjustments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from runner.block import BlockConfig, CategoryRef, Planner, Ref
from runner.types import Intent, Side, Size

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue

_OPTIONAL = ("rsi", "adx", "hurst", "upper", "lower", "regime")


class MeanReversion(Planner):
    """Fade stretched prices back to their mean. With a position: close when |z| < exit_z (reverted), or when z
    runs past stop_z against it. Flat: short when z > entry_z, RSI > rsi_overbought and close > upper band;
    long when z < -entry_z, RSI < rsi_oversold and close < lower band; entries only while ADX < adx_max (no
    trend) and Hurst < hurst_max (mean-reverting), each filter applied when its series is given. A regime
    series (indicator.prediction_regime) adjusts: CRISIS blocks entries, HIGH_RISK uses the high-risk
    thresholds, DOVISH eases long entries and HAWKISH short entries by shift_factor."""

    class Config(BlockConfig):
        z: Ref = Field(description="The z-score of price, e.g. z (an indicator.zscore)")
        close: Ref | None = Field(None, description="Price compared with the bands, e.g. candles.close")
        upper: Ref | None = Field(None, description="Upper band: shorts need close above it, e.g. bb.upper")
        lower: Ref | None = Field(None, description="Lower band: longs need close below it, e.g. bb.lower")
        rsi: Ref | None = Field(None, description="RSI filter: shorts need it above rsi_overbought, longs below")
        adx: Ref | None = Field(None, description="Trend filter: entries only while ADX is below adx_max")
        hurst: Ref | None = Field(None, description="Entries only while the Hurst exponent is below hurst_max")
        regime: CategoryRef | None = Field(
            None, description="A prediction regime label (CRISIS, HIGH_RISK, DOVISH, ...), e.g. macro.regime"
        )
        entry_z: float = Field(2.0, gt=0, description="|z| that opens a position")
        exit_z: float = Field(0.3, ge=0, description="|z| below which an open position has reverted and closes")
        stop_z: float = Field(3.0, gt=0, description="z beyond which a position that ran against us closes")
        rsi_overbought: float = Field(70.0, gt=0, lt=100, description="RSI above which shorts may open")
        rsi_oversold: float = Field(30.0, gt=0, lt=100, description="RSI below which longs may open")
        adx_max: float = Field(25.0, gt=0, description="ADX at or above which the market trends: no entries")
        hurst_max: float = Field(0.5, gt=0, lt=1, description="Hurst at or above which prices trend: no entries")
        high_risk_entry_z: float = Field(2.5, gt=0, description="entry_z in a HIGH_RISK regime")
        high_risk_exit_z: float = Field(0.5, ge=0, description="exit_z in a HIGH_RISK regime")
        shift_factor: float = Field(
            0.9, gt=0, le=1, description="DOVISH multiplies the long threshold by it, HAWKISH the short one"
        )
        size: Size = Field(Size(fraction=0.5), description="Position size: fraction sizes a perp's margin")
        leverage: float = Field(3.0, ge=1, le=100, description="Leverage of the position (perps)")
        stop_loss_pct: float | None = Field(
            None, gt=0, lt=1, description="Exit plan: a stop this fraction of the entry price away (checked intrabar)"
        )
        allow_long: bool = Field(True, description="Open long positions")
        allow_short: bool = Field(True, description="Open short positions (perps)")

        @model_validator(mode="after")
        def _ordered(self) -> MeanReversion.Config:
            if not self.exit_z < self.entry_z < self.stop_z:
                raise ValueError("thresholds must rise: exit_z < entry_z < stop_z")
            if self.rsi_oversold >= self.rsi_overbought:
                raise ValueError("rsi_oversold must be below rsi_overbought")
            if (self.upper is not None or self.lower is not None) and self.close is None:
                raise ValueError("bands need the price to compare: set close, e.g. close: candles.close")
            if self.stop_loss_pct is not None and self.close is None:
                raise ValueError("stop_loss_pct needs the price it is measured from: set close, e.g. candles.close")
            return self

    example = {
        "z": "z",
        "close": "candles.close",
        "upper": "bb.upper",
        "lower": "bb.lower",
        "rsi": "rsi",
        "adx": "adx.adx",
        "entry_z": 2.0,
        "exit_z": 0.3,
        "stop_z": 3.0,
    }

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        config = step.config
        assert isinstance(config, cls.Config)
        if not (config.allow_long or config.allow_short):
            yield ctx.issue((*step.path, "with", "allow_long"), "both sides are disabled: this planner can never trade")
        if config.allow_short and ctx.header is not None:
            spot = [s for s in ctx.header.symbols if ":" not in s]
            if spot:
                yield ctx.issue(
                    (*step.path, "with", "allow_short"),
                    f"{', '.join(spot)} is spot and cannot be sold short",
                    "trade the perp (e.g. ETH/USDC:USDC) or set allow_short: false",
                )

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._z = ctx.slot(config.z)
        self._close = ctx.slot(config.close) if config.close else None
        self._slots = {name: ctx.slot(getattr(config, name)) for name in _OPTIONAL if getattr(config, name)}

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        positions = cycle.account().positions
        intents = []
        for symbol, lane in cycle.lanes.items():
            z = lane[self._z]
            if z is None:
                continue
            values = {name: lane[slot] for name, slot in self._slots.items()}
            regime = str(values.get("regime") or "NORMAL").upper()
            held = positions.get(symbol)
            quantity = held.quantity if held is not None else 0.0
            intent = (
                self._exit(symbol, quantity, z, regime)
                if quantity
                else self._entry(symbol, z, values, regime, lane[self._close] if self._close is not None else None)
            )
            if intent is not None:
                intents.append(intent)
        return intents

    def _exit(self, symbol: str, quantity: float, z: float, regime: str) -> Intent | None:
        config = self.config
        assert isinstance(config, self.Config)
        exit_z = config.high_risk_exit_z if regime == "HIGH_RISK" else config.exit_z
        if abs(z) < exit_z:
            return Intent(symbol, "close", reason=f"mean_reversion_complete: |z| {abs(z):.3f} < {exit_z:g}")
        if quantity > 0 and z < -config.stop_z:
            return Intent(symbol, "close", reason=f"zscore_stop_long: z {z:.3f} < -{config.stop_z:g}")
        if quantity < 0 and z > config.stop_z:
            return Intent(symbol, "close", reason=f"zscore_stop_short: z {z:.3f} > {config.stop_z:g}")
        return None

    def _entry(self, symbol: str, z: float, values: dict[str, Any], regime: str, close: float | None) -> Intent | None:
        config = self.config
        assert isinstance(config, self.Config)
        if regime == "CRISIS":
            return None
        for name, limit in (("adx", config.adx_max), ("hurst", config.hurst_max)):
            if name in self._slots and (values[name] is None or values[name] >= limit):
                return None
        entry = config.high_risk_entry_z if regime == "HIGH_RISK" else config.entry_z
        long_at = entry * (config.shift_factor if regime in ("DOVISH", "DOVISH_SHIFT") else 1.0)
        short_at = entry * (config.shift_factor if regime in ("HAWKISH", "HAWKISH_SHIFT") else 1.0)
        rsi, upper, lower = values.get("rsi"), values.get("upper"), values.get("lower")
        if (
            config.allow_short
            and z > short_at
            and ("rsi" not in self._slots or (rsi is not None and rsi > config.rsi_overbought))
            and ("upper" not in self._slots or (upper is not None and close is not None and close > upper))
        ):
            return self._open(symbol, "sell", close, f"z {z:.3f} > {short_at:g}" + _filters(values))
        if (
            config.allow_long
            and z < -long_at
            and ("rsi" not in self._slots or (rsi is not None and rsi < config.rsi_oversold))
            and ("lower" not in self._slots or (lower is not None and close is not None and close < lower))
        ):
            return self._open(symbol, "buy", close, f"z {z:.3f} < -{long_at:g}" + _filters(values))
        return None

    def _open(self, symbol: str, side: Side, close: float | None, reason: str) -> Intent:
        config = self.config
        assert isinstance(config, self.Config)
        stop = None
        if config.stop_loss_pct is not None and close is not None:
            stop = close * (1 - config.stop_loss_pct) if side == "buy" else close * (1 + config.stop_loss_pct)
        return Intent(
            symbol,
            "target",
            side,
            config.size,
            leverage=config.leverage if ":" in symbol else 1.0,
            stop_loss=stop,
            reason=reason,
        )


def _filters(values: dict[str, Any]) -> str:
    shown = [f"{name} {value:.4g}" for name, value in values.items() if isinstance(value, int | float)]
    return f" ({', '.join(shown)})" if shown else ""
