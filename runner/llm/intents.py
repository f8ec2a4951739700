"""A validated plan as intents: buy and sell hold a position of the given quantity, close goes flat."""

from __future__ import annotations

from collections.abc import Sequence

from runner.llm.context import base_of
from runner.plan import Plan, SymbolPlan
from runner.types import Intent, Size

__all__ = ["plan_intents", "plan_names"]


def plan_intents(plan: Plan, symbols: Sequence[str]) -> tuple[list[Intent], list[str]]:
    """The intents of a plan for the bot's ``symbols``, and each entry that became none, with why.

    A plan names a symbol as the bot does (BTC/USDC:USDC) or by its base (BTC); anything else is
    refused, never guessed. Hold proposes nothing.
    """
    names = _names(symbols)
    intents: list[Intent] = []
    rejected: list[str] = []
    for entry in plan.positions:
        symbol = names.get(entry.symbol.strip().upper())
        if symbol is None:
            rejected.append(
                f"{entry.symbol}: not one of the bot's symbols ({', '.join(symbols)}); {entry.signal} ignored"
            )
            continue
        intent = _intent(symbol, entry)
        if intent is not None:
            intents.append(intent)
    return intents, rejected


def plan_names(symbols: Sequence[str]) -> list[str]:
    """The name a plan gives each symbol: its base (BTC), or the symbol itself when two share that base."""
    bases = [base_of(s).upper() for s in symbols]
    return [base if bases.count(base) == 1 else symbol for symbol, base in zip(symbols, bases, strict=True)]


def _names(symbols: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    bases = [base_of(s).upper() for s in symbols]
    for symbol, base in zip(symbols, bases, strict=True):
        names[symbol.upper()] = symbol
        if bases.count(base) == 1:  # a base shared by two symbols (BTC/USDT and BTC/USDC) names neither
            names[base] = symbol
    return names


def _intent(symbol: str, entry: SymbolPlan) -> Intent | None:
    if entry.signal == "hold":
        return None
    reason = entry.justification or f"{entry.signal} (no justification given)"
    if entry.signal == "close":
        return Intent(symbol, "close", reason=reason, confidence=entry.confidence)
    exit_plan = entry.exit_plan
    return Intent(
        symbol,
        "target",
        side="buy" if entry.signal == "buy" else "sell",
        size=Size(quantity=entry.quantity),
        leverage=entry.leverage,
        stop_loss=exit_plan.stop_loss,
        take_profit=exit_plan.take_profit,
        invalidation=exit_plan.invalidation,
        reason=reason,
        confidence=entry.confidence,
    )
