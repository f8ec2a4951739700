"""validator.llm_veto: a model approves or refuses each entry of a rule-based planner, with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from runner.block import Validator
from runner.llm.step import LlmConfig, check_templates, include_templates, open_step
from runner.types import Verdict

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle
    from runner.errors import ConfigIssue
    from runner.types import Intent


class LlmVeto(Validator):
    """Asks a model whether each entry may go ahead (Permafrost's veto): it answers {"veto": bool, "reason":
    text}; a veto rejects the intent with the model's reason. Closes, cancels and reduce-only orders are never
    asked about: unwinding must always be possible. One question per symbol per cycle covers all of that
    symbol's entries in it (a market maker's bid and ask). With no usable answer (an error, a malformed
    reply, a spent budget) the entry is rejected (``on_failure: reject``, fail closed) or, if you choose,
    let through with the failure recorded. Every question is recorded with its prompt, reply, tokens, cost
    and latency; place it after the other validators so that it is asked only about entries they approved."""

    class Config(LlmConfig):
        temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature")
        max_tokens: int = Field(200, ge=16, le=200_000, description="Longest reply, in tokens")
        on_failure: Literal["reject", "approve"] = Field(
            "reject",
            description="With no usable answer: reject the entry (fail closed) or approve it (recorded either way)",
        )

    example = {"model": "local/smollm2", "on_failure": "reject", "budget_usd_per_day": 1}

    @classmethod
    def include(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        yield from include_templates(step, ctx)

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterator[ConfigIssue]:
        yield from check_templates(step, ctx, extra=("intent",))

    def start(self, ctx: BuildContext) -> None:
        from runner.llm import veto

        config = self.config
        assert isinstance(config, self.Config)
        limits = {"symbols": ctx.symbols}
        self._context, self._asker, self._close = open_step(self.step_id, config, ctx, limits, veto.veto_schema())
        self._system = config.system if config.system is not None else veto.DEFAULT_SYSTEM
        self._user = config.user if config.user is not None else veto.DEFAULT_USER
        self._cycle_t: int | None = None
        self._values: dict[str, Any] = {}
        self._answers: dict[str, tuple[bool | None, str]] = {}

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        if intent.kind in ("close", "cancel") or intent.reduce_only:
            return Verdict(self.step_id, "approve")
        if self._cycle_t != cycle.t:
            self._cycle_t, self._answers, self._values = cycle.t, {}, {}
        answer = self._answers.get(intent.symbol)
        if answer is None:
            answer = self._answers[intent.symbol] = self._ask(intent, cycle)
        approved, reason = answer
        model = self._asker.config.model
        if approved is True:
            return Verdict(self.step_id, "approve", f"{model}: {reason}")
        if approved is False:
            return Verdict(self.step_id, "reject", f"vetoed by {model}: {reason}")
        config = self.config
        assert isinstance(config, self.Config)
        if config.on_failure == "approve":
            return Verdict(self.step_id, "approve", f"no answer ({reason}); approved as on_failure says")
        return Verdict(self.step_id, "reject", f"no answer, so no order (fail closed): {reason}")

    def _ask(self, intent: Intent, cycle: Cycle) -> tuple[bool | None, str]:
        from runner.llm import veto

        asker = self._asker
        if asker.spent_out(cycle, "entries get no answer"):
            return None, "the daily budget is spent"
        if not self._values:
            self._values = self._context.build(cycle)
        price = cycle.lanes[intent.symbol][self._close] if self._close is not None else None
        values = {**self._values, "intent": veto.describe(intent, price, self._values["account"]["equity"])}
        number = len(self._answers) + 1
        return veto.ask(asker, values, self._system, self._user, intent.symbol, number, cycle)
