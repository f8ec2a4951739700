"""Value types shared by the engine and the blocks."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from runner.spec import SYMBOL_PATTERN

Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN)]
Timeframe = Literal["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w"]


class Size(BaseModel):
    """How big an order is: exactly one of a fraction of equity, a quote notional, or a base quantity."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    fraction: float | None = Field(None, gt=0, le=1, description="Fraction of equity; 1 is all-in, fees included")
    notional: float | None = Field(None, gt=0, allow_inf_nan=False, description="Quote amount, e.g. 1000 USDC")
    quantity: float | None = Field(None, gt=0, allow_inf_nan=False, description="Base units, e.g. 0.1 BTC")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [n for n in ("fraction", "notional", "quantity") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of fraction, notional or quantity" + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @model_serializer(mode="wrap")
    def _only_the_one_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}
