"""The LLM veto (Permafrost): a model reads a rule-based planner's entry and the market, and approves it or
refuses it with a reason. No answer (an error, a malformed reply, a spent budget) is not an approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from runner.llm.cache import prompt_hash
from runner.llm.context import base_of
from runner.llm.prompt import render
from runner.llm.record import LlmCall
from runner.plan import PlanError, parse_reply

if TYPE_CHECKING:
    from runner.cycle import Cycle
    from runner.llm.decide import Asker
    from runner.types import Intent

__all__ = ["DEFAULT_SYSTEM", "DEFAULT_USER", "VetoReply", "ask", "describe", "veto_schema"]

DEFAULT_SYSTEM = """\
You are the risk filter of a trading bot. A rule-based strategy proposes an order; you let it through or veto it.
Default to NOT vetoing. Veto only for a clear, present reason in the data you are given: extreme volatility, a
disorderly or gapping market, a price far outside its recent range, funding strongly against the position, or an
order that makes no sense for the account. Reply with one JSON object and nothing else, with your own reason in one
short sentence, such as {"veto": false, "reason": "calm: no bar moved more than 0.3%"} or
{"veto": true, "reason": "the price fell 4% in the last bar"}.
"""

DEFAULT_USER = """\
{{ now }} UTC. Step '{{ intent.step }}' proposes: {{ intent.action }} at about {{ intent.price | num }} \
(notional about {{ intent.notional | usd }}, leverage {{ intent.leverage | num }}x\
{%- if intent.stop_loss %}, stop {{ intent.stop_loss | num }}{% endif %}\
{%- if intent.take_profit %}, target {{ intent.take_profit | num }}{% endif %}).
Its reason: {{ intent.reason or "none given" }}

{{ intent.symbol }}, recent cycles, oldest first:
{{ market[intent.symbol].history | candles }}

Account: equity {{ account.equity | usd }}, cash {{ account.cash | usd }}, {{ positions | length }} open position(s)
{%- for p in positions %}; {{ p.side }} {{ p.quantity | num }} {{ p.coin }} @ {{ p.avg_price | num }} \
(unrealised {{ p.unrealized_pnl | usd }}){% endfor %}.

Should this order be vetoed?
"""


class VetoReply(BaseModel):
    """The model's answer: whether to refuse the order, and why."""

    model_config = ConfigDict(extra="forbid")

    veto: bool = Field(description="true refuses the order; false lets it through")
    reason: str = Field(min_length=1, max_length=500, description="Why, in one short sentence")


def veto_schema() -> dict[str, Any]:
    """The JSON schema of the answer, as sent to providers with structured output."""
    schema = VetoReply.model_json_schema()
    schema["title"] = "veto_decision"
    return schema


def describe(intent: Intent, price: float | None, equity: float) -> dict[str, Any]:
    """The intent as the prompt sees it, with its size in base units and in the quote asset where known."""
    size = intent.size
    quantity = size.quantity if size is not None else None
    notional = size.notional if size is not None else None
    if size is not None and size.fraction is not None:
        notional = size.fraction * equity
    if price := intent.price or price:
        quantity = quantity if quantity is not None else (notional / price if notional is not None else None)
        notional = notional if notional is not None else (quantity * price if quantity is not None else None)
    coin = base_of(intent.symbol)
    amount = f"{quantity:.6g} {coin}" if quantity is not None else coin
    if intent.kind == "target":
        action = f"hold a {'long' if intent.side == 'buy' else 'short'} position of {amount}"
    else:
        action = f"{intent.order_type} {intent.side or ''} {amount}".replace("  ", " ")
    return {
        "step": intent.step_id,
        "symbol": intent.symbol,
        "coin": coin,
        "kind": intent.kind,
        "side": intent.side,
        "action": action,
        "order_type": intent.order_type,
        "price": price,
        "quantity": quantity,
        "notional": notional,
        "leverage": intent.leverage,
        "stop_loss": intent.stop_loss,
        "take_profit": intent.take_profit,
        "reason": intent.reason,
        "confidence": intent.confidence,
    }


def ask(
    asker: Asker, values: dict[str, Any], system: str, user: str, subject: str, number: int, cycle: Cycle
) -> tuple[bool | None, str]:
    """Whether the model lets the entry through (None: no usable answer) and its reason or the failure.

    The call is recorded on the cycle as call ``number`` of the step this cycle, about ``subject``; a fatal
    error (bad key, unknown model) raises, so the cycle fails visibly.
    """
    step_id, model = asker.step_id, asker.config.model
    try:
        messages = (("system", render(system, values)), ("user", render(user, values)))
    except Exception as exc:
        error = f"prompt: {type(exc).__name__}: {exc}"
        cycle.llm_calls.append(
            LlmCall(step_id, model, number, system, user, "", error=error, source="none", subject=subject)
        )
        return None, error
    call = LlmCall(step_id, model, number, messages[0][1], messages[1][1], prompt_hash(messages), subject=subject)
    cycle.llm_calls.append(call)
    reply = asker.ask(messages, call, cycle.t)
    if reply is None:
        return None, call.error
    try:
        answer = parse_reply(reply.text, VetoReply)
    except PlanError as exc:
        call.error = f"invalid answer: {exc}"
        return None, call.error
    call.plan = answer.model_dump_json()
    return not answer.veto, answer.reason
