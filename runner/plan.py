"""The plan an LLM planner must reply with: per symbol a signal, size, leverage and exit plan.

The canonical shape is ``{"positions": [{"symbol": ..., "signal": ...}, ...], "notes": ...}``; replies in
AI Perp Trader's and Alpha Arena's shapes (a mapping keyed by coin, ``buy_to_enter``, ``profit_target``,
``invalidation_condition`` and a flat or nested exit plan) are read as the same plan.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, Self, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ExitPlan",
    "Plan",
    "PlanError",
    "SymbolPlan",
    "keyed_plan_schema",
    "parse_plan",
    "parse_reply",
    "plan_schema",
]

Signal = Literal["buy", "sell", "hold", "close"]
_SIGNALS = {
    "buy_to_enter": "buy",
    "long": "buy",
    "sell_to_enter": "sell",
    "short": "sell",
    "close_position": "close",
    "exit": "close",
}
_EXIT_FIELDS = ("stop_loss", "take_profit", "profit_target", "invalidation", "invalidation_condition")
M = TypeVar("M", bound=BaseModel)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


class PlanError(ValueError):
    """A reply that is not a valid plan; the message says what is wrong, for the repair prompt."""


class ExitPlan(BaseModel):
    """When the position is abandoned: a stop, a target, and a condition in words."""

    model_config = ConfigDict(extra="ignore")

    stop_loss: float | None = Field(None, gt=0, allow_inf_nan=False, description="Stop-loss price")
    take_profit: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        validation_alias=AliasChoices("take_profit", "profit_target"),
        description="Take-profit price",
    )
    invalidation: str = Field(
        "",
        max_length=500,
        validation_alias=AliasChoices("invalidation", "invalidation_condition"),
        description="The market condition that proves the trade wrong, in words",
    )


class SymbolPlan(BaseModel):
    """What to do with one symbol."""

    model_config = ConfigDict(extra="ignore")

    symbol: str = Field(
        min_length=1, validation_alias=AliasChoices("symbol", "coin"), description="The symbol or its base, e.g. BTC"
    )
    signal: Signal = Field(description="buy or sell: hold a position of quantity long or short; close: go flat")
    quantity: float = Field(
        0.0,
        allow_inf_nan=False,
        description="Position size in base units; buy and sell need it > 0 (the signal gives the direction), "
        "hold and close ignore it",
    )
    leverage: float = Field(1.0, ge=1, le=200, allow_inf_nan=False, description="Leverage of the position")
    exit_plan: ExitPlan = Field(default_factory=ExitPlan, description="Stop-loss, take-profit and invalidation")
    justification: str = Field("", max_length=2000, description="Why, in one or two sentences")
    confidence: float | None = Field(None, ge=0, le=1, description="From 0 (a guess) to 1 (certain)")
    risk_usd: float | None = Field(None, ge=0, allow_inf_nan=False, description="Loss at the stop, in the quote asset")

    @model_validator(mode="before")
    @classmethod
    def _read_variants(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        signal = data.get("signal")
        if isinstance(signal, str):
            data["signal"] = _SIGNALS.get(signal.strip().lower(), signal.strip().lower())
        if "exit_plan" not in data and any(k in data for k in _EXIT_FIELDS):
            data["exit_plan"] = {k: data.pop(k) for k in _EXIT_FIELDS if k in data}
        if data.get("quantity") is None:
            data.pop("quantity", None)
        if data.get("leverage") is None:
            data.pop("leverage", None)
        return data

    @model_validator(mode="after")
    def _sized(self) -> Self:
        if self.signal in ("buy", "sell") and self.quantity <= 0:
            raise ValueError(f"{self.signal} needs a quantity > 0")
        return self


class Plan(BaseModel):
    """An LLM planner's reply: one entry per symbol it has a view on, and notes for the audience."""

    model_config = ConfigDict(extra="ignore")

    positions: list[SymbolPlan] = Field(description="One entry per symbol; symbols left out are held")
    notes: str = Field(
        "",
        max_length=2000,
        validation_alias=AliasChoices("notes", "notes_for_audience"),
        description="Notes for the audience",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_variants(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "positions" not in data:  # Alpha Arena: the reply is the mapping coin -> decision
            notes = {k: data[k] for k in ("notes", "notes_for_audience") if k in data}
            data = {"positions": {k: v for k, v in data.items() if k not in notes}, **notes}
        positions = data.get("positions")
        if isinstance(positions, dict):
            entries = []
            for key, value in positions.items():
                if not isinstance(value, dict):
                    raise ValueError(f"positions.{key}: expected an object with a signal, got {_kind(value)}")
                symbol = value.get("symbol") or value.get("coin")
                if symbol is not None and str(symbol) != key:
                    raise ValueError(f"positions.{key}: its symbol is {symbol!r}, not {key!r}")
                entries.append({"symbol": key, **value})
            data = {**data, "positions": entries}
        return data

    @model_validator(mode="after")
    def _once_each(self) -> Self:
        seen: set[str] = set()
        for entry in self.positions:
            if entry.symbol in seen:
                raise ValueError(f"{entry.symbol} appears twice; give one decision per symbol")
            seen.add(entry.symbol)
        return self


def _kind(value: Any) -> str:
    return "text" if isinstance(value, str) else type(value).__name__


def parse_plan(text: str) -> Plan:
    """The plan in a reply's text (a fenced ```json block is unwrapped); PlanError says what is wrong."""
    return parse_reply(text, Plan)


def parse_reply(text: str, model: type[M]) -> M:
    """The ``model`` in a reply's text: one JSON object, maybe in a ```json fence; PlanError says what is wrong."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text.strip()
    if not body:
        raise PlanError("the reply is empty; reply with one JSON object")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PlanError(f"the reply is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise PlanError(f"the reply must be a JSON object, got {_kind(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PlanError("; ".join(_describe(e) for e in exc.errors(include_url=False))) from None


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of the canonical plan, as sent to providers with structured output."""
    schema = Plan.model_json_schema(mode="serialization")
    schema["title"] = "plan"
    return schema


def keyed_plan_schema(names: list[str]) -> dict[str, Any]:
    """A stricter plan that a grammar can enforce whole: positions keyed by each of ``names`` (so none twice),
    buy and sell with a quantity > 0, hold and close with only a justification and confidence.

    Every reply it allows is a valid plan (the mapping shape is read like Alpha Arena's), so a grammar-constrained
    local model can get the trading wrong but never the format.
    """
    schema = plan_schema()
    entry = schema["$defs"].pop("SymbolPlan")["properties"]
    sized = {key: value for key, value in entry.items() if key not in ("symbol", "signal")}
    sized["quantity"] = {**sized["quantity"], "exclusiveMinimum": 0}
    schema["$defs"]["Decision"] = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"signal": {"enum": ["buy", "sell"]}, **sized},
                "required": ["signal", "quantity"],
            },
            {
                "type": "object",
                "properties": {
                    "signal": {"enum": ["hold", "close"]},
                    "justification": entry["justification"],
                    "confidence": entry["confidence"],
                },
                "required": ["signal"],
            },
        ]
    }
    schema["properties"]["positions"] = {
        "type": "object",
        "properties": {name: {"$ref": "#/$defs/Decision"} for name in names},
        "description": "Each symbol's decision, by symbol; symbols left out are held",
    }
    return schema
