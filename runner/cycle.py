"""One cycle: run the steps of a compiled bot in order on a Cycle object.

Values live in *lanes*: one list per symbol, one slot per referencable output, so that a reference
such as ``candles.close`` compiles to a list index and the per-bar path does no dictionary lookups.
A bar from a source is an event: the executor settles it (fills pending orders, marks to market) and
the indicators that source drives update, once per bar and per symbol. Once per cycle the planners
propose intents, every validator gives every intent a verdict, and the executor receives the
approved ones as orders that fill no earlier than the next bar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from runner.attempts import Guard, Policy, StepFailed, Timing
from runner.block import Account, Block, Breaker, Executor, Indicator, Planner, Source, Validator
from runner.compile import CompiledBot, StepInfo
from runner.errors import BlockError
from runner.llm.record import LlmCall
from runner.refs import ref_spec
from runner.types import Fill, Intent, LedgerEntry, Order, Verdict

if TYPE_CHECKING:
    from runner.controls import Control
    from runner.llm.cache import LlmCache
    from runner.trades import TradeBook


class Feed(Protocol):
    """Bars of one source for a run: a timeline of bar close times and a way to write bar i."""

    timeline: Sequence[int]
    """Close times (ms since the epoch, UTC) of every bar, ascending; several symbols share one entry."""

    def emit(self, i: int, lanes: dict[str, list[Any]]) -> Sequence[str]:
        """Write the values of timeline entry ``i`` into the lanes; returns the symbols that had a bar."""
        ...


@dataclass
class BuildContext:
    """What blocks see when a run starts: symbols, value slots, data bindings and the account."""

    bot: CompiledBot
    deployment_id: str = "adhoc"
    run_kind: str = "backtest"
    data: dict[str, str] = field(default_factory=dict)
    """Symbol -> file of candles to replay (backtests and replays)."""
    slots: dict[tuple[str, str], int] = field(default_factory=dict)
    price_source: str | None = None
    requested: set[int] = field(default_factory=set)
    """Every slot a block asked for while starting; lets a backtest write only what is read."""
    fee_bps: float | None = None
    slippage_bps: float | None = None
    entry_delay: int | None = None
    """Extra bars a planner's orders wait before they meet the market (None: the executor's own setting)."""
    funding: dict[str, str] = field(default_factory=dict)
    """Symbol -> file of the venue's funding history (backtests and replays)."""
    force: bool = False
    """Started with --force: breakers that honour it (losing_weeks) record their trip but do not act."""
    data_until: int | None = None
    """Sources replay no bar that closes after this time, as if the data ended there (look-ahead checks)."""
    llm: str = "live"
    """How LLM planners get replies: ``live``, ``cached`` (the cache first) or ``replay`` (the cache only)."""
    llm_cache: LlmCache | None = None
    """The replay cache of the run's store; None: nothing is cached."""
    resume_until: int | None = None
    """A resumed run recomputes its recorded cycles up to this time before it records new ones."""
    trade_book: TradeBook | None = None
    """The run's round trips as they happen, kept only once a block asks for them (``book()``)."""

    @property
    def symbols(self) -> list[str]:
        return list(self.bot.spec.symbols)

    @property
    def cash(self) -> float:
        return self.bot.spec.account.cash

    def slot(self, ref: str) -> int:
        """The lane index of a reference such as ``candles.close`` or ``ema`` (its default output)."""
        step, _, name = ref.partition(".")
        index = self.slots[(step, name)] if name else next(i for (owner, _), i in self.slots.items() if owner == step)
        self.requested.add(index)
        return index

    def book(self) -> TradeBook:
        """The run's round trips, kept from now on as fills arrive."""
        if self.trade_book is None:
            from runner.trades import TradeBook

            self.trade_book = TradeBook()
        return self.trade_book

    def price_slots(self) -> tuple[int, int, int, int]:
        """Slots of open, high, low and close of the source that prices orders."""
        if self.price_source is None:
            raise BlockError("exec", "no source with open/high/low/close prices the orders")
        slots = tuple(self.slots[(self.price_source, f)] for f in ("open", "high", "low", "close"))
        self.requested.update(slots)
        return slots  # type: ignore[return-value]


@dataclass(slots=True)
class Decision:
    """One planner invocation and what it proposed."""

    step_id: str
    intents: list[Intent]
    note: str = ""


@dataclass(slots=True)
class Cycle:
    """Everything one pass through the pipeline at clock time ``t`` saw and did."""

    t: int
    lanes: dict[str, list[Any]]
    bars: int = 0
    decisions: list[Decision] = field(default_factory=list)
    verdicts: list[tuple[Intent, list[Verdict]]] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    """The account's cash movements in this cycle."""
    llm_calls: list[LlmCall] = field(default_factory=list)
    """Model calls made by LLM planners in this cycle, with their prompts and replies."""
    error: str = ""
    failed_before: int = 0
    """How many cycles in a row before this one failed (a step raised or returned garbage)."""
    account: Callable[[], Account] = field(default=lambda: Account(0.0, 0.0))
    """The executor's account now: cash, equity, positions (computed on call; read only)."""

    def reset(self, t: int) -> None:
        """Reuse this object for the next cycle (backtests run a million of them)."""
        self.t = t
        self.bars = 0
        if self.decisions:
            self.decisions = []
        if self.verdicts:
            self.verdicts = []
        if self.orders:
            self.orders = []
        if self.fills:
            self.fills = []
        if self.events:
            self.events = []
        if self.ledger:
            self.ledger = []
        if self.llm_calls:
            self.llm_calls = []
        self.error = ""

    def detached(self) -> Cycle:
        """A copy for a call that may be abandoned (a step's timeout): it reads the same values, frozen as
        they are now, and writes events and LLM calls into lists of its own, which ``adopt`` takes back if
        the call returns in time. An abandoned call can thus never write into this or a later cycle."""
        account = self.account()
        return Cycle(
            self.t,
            {symbol: list(lane) for symbol, lane in self.lanes.items()},
            self.bars,
            list(self.decisions),
            list(self.verdicts),
            list(self.orders),
            list(self.fills),
            [],
            list(self.ledger),
            [],
            self.error,
            self.failed_before,
            lambda: account,
        )

    def adopt(self, view: Cycle) -> None:
        """Take the events and LLM calls a ``detached`` copy recorded."""
        self.events.extend(view.events)
        self.llm_calls.extend(view.llm_calls)


class Actor(Protocol):
    """Whatever proposes intents: a planner, a breaker closing positions, the operator's kill switch."""

    step_id: str


@dataclass
class _Operator:
    step_id: str = "operator"


_OPERATOR = _Operator()


def client_id(deployment_id: str, t: int, step_id: str, leg: int) -> str:
    """The order id for a leg of a cycle: the same inputs give the same id, so a retry is idempotent."""
    digest = hashlib.sha256(f"{deployment_id}|{t}|{step_id}|{leg}".encode()).hexdigest()
    return "br-" + digest[:24]


Updater = Callable[[list[Any]], None]


class Pipeline:
    """The blocks of a compiled bot, wired for one run."""

    def __init__(self, bot: CompiledBot, ctx: BuildContext, timing: Timing | None = None) -> None:
        self.bot = bot
        self.ctx = ctx
        self.blocks: list[tuple[StepInfo, Block]] = []
        for step in bot.steps:
            assert step.block is not None and step.config is not None and step.id is not None
            self.blocks.append((step, step.block(step.id, step.config)))
        self._assign_slots()
        self.sources = [(s, b) for s, b in self.blocks if isinstance(b, Source)]
        self.planners = [(s, b) for s, b in self.blocks if isinstance(b, Planner)]
        self.validators = [(s, b) for s, b in self.blocks if isinstance(b, Validator)]
        self.breakers = [b for _, b in self.validators if isinstance(b, Breaker)]
        self.halted = ""
        """Why the bot stopped trading (a breaker's halt or kill, or an operator's kill); planners no longer run."""
        self.failures = 0
        """Consecutive failed cycles so far."""
        self.dry_run = bot.spec.mode == "dry-run" and ctx.run_kind != "backtest"
        """mode: dry-run outside backtests: the whole pipeline runs, and no order reaches the executor."""
        self.paused = False
        self.killed = False
        self._halt_on_error = {step.id for step in bot.steps if step.on_error == "halt"}
        self.guards: dict[str, Guard] = {
            step.id: Guard(
                step.id,
                Policy(step.timeout, step.retries, step.backoff),
                timing or Timing(),
                timeouts=ctx.run_kind != "backtest",
            )
            for step in bot.steps
            if step.id is not None and (step.timeout or step.retries)
        }
        """The steps with a timeout or retries, by id: their per-cycle calls go through these."""
        self.chains: list[tuple[Order, list[Order]]] = []
        """Legs held back: (the leg they wait for, the legs after it, in order)."""
        self.poll: Callable[[int], list[Control]] | None = None
        """Operator commands (pause, resume, kill) that arrived for this bot; set by paper and live runs."""
        executors = [b for _, b in self.blocks if isinstance(b, Executor)]
        if len(executors) != 1:
            raise BlockError("pipeline", f"runs need exactly one executor for now (found {len(executors)})")
        self.executor: Executor = executors[0]
        self.lanes: dict[str, list[Any]] = {sym: [None] * len(ctx.slots) for sym in ctx.symbols}
        self.account = self.executor.account
        self.feeds: list[Feed] = []
        self.updaters: dict[str, dict[str, list[tuple[str, Updater]]]] = {}
        self.driven: dict[str, list[tuple[Indicator, list[str], Updater | None]]] = {}
        self.planner_reads: set[int] = set()
        """Slots the planners asked for: the only ones a planner may read each bar."""
        """Per source: its indicators in pipeline order, their references, and (one symbol) their updater."""

    def _assign_slots(self) -> None:
        for _, block in self.blocks:
            for name in block.output_fields(block.config):
                self.ctx.slots[(block.step_id, name)] = len(self.ctx.slots)
            if isinstance(block, Source) and {"open", "high", "low", "close"} <= set(block.output_fields(block.config)):
                self.ctx.price_source = self.ctx.price_source or block.step_id

    def open(self) -> None:
        """Open feeds, start every block and wire indicator updates to the source that drives them."""
        driver: dict[str, str] = {}
        for _, block in self.blocks:
            if isinstance(block, Source):
                self.feeds.append(block.open(self.ctx))
                driver[block.step_id] = block.step_id
                self.updaters[block.step_id] = {sym: [] for sym in self.ctx.symbols}
            elif isinstance(block, Indicator):
                refs = _refs(block)
                owners = {driver[r.split(".")[0]] for r in refs if r.split(".")[0] in driver}
                driver[block.step_id] = min(owners) if owners else ""
                for source_id in owners:
                    for sym in self.ctx.symbols:
                        updater = self._updater(block, sym, refs)
                        self.updaters[source_id][sym].append((block.step_id, updater))
                        if len(owners) == 1 and len(self.ctx.symbols) == 1:
                            self.driven.setdefault(source_id, []).append((block, refs, updater))
            elif isinstance(block, Planner):
                before = set(self.ctx.requested)
                self.ctx.requested.clear()
                block.start(self.ctx)
                self.planner_reads |= self.ctx.requested
                self.ctx.requested |= before
            elif isinstance(block, Validator | Executor):
                block.start(self.ctx)

    def _updater(self, block: Indicator, symbol: str, refs: list[str]) -> Updater:
        update = block.start(symbol)
        inputs = [self.ctx.slot(r) for r in refs]
        outputs = [self.ctx.slots[(block.step_id, name)] for name in block.output_fields(block.config)]
        if len(inputs) == 1 and len(outputs) == 1:
            (src,), (dst,) = inputs, outputs

            def one_to_one(lane: list[Any]) -> None:
                x = lane[src]
                if x is not None:
                    lane[dst] = update(x)

            return one_to_one

        def many(lane: list[Any]) -> None:
            args = [lane[i] for i in inputs]
            if None in args:
                return
            result = update(*args)
            if len(outputs) == 1:
                lane[outputs[0]] = result
            else:
                for index, value in zip(outputs, result or (None,) * len(outputs), strict=True):
                    lane[index] = value

        return many

    def on_bar(self, source_id: str, symbols: Sequence[str], cycle: Cycle) -> None:
        """A source wrote a bar for ``symbols``: settle it, then update the indicators it drives."""
        lanes = self.lanes
        cycle.bars += 1
        if source_id == self.ctx.price_source:
            for sym in symbols:
                fills = self.settle(sym, lanes[sym], cycle)
                if fills:
                    cycle.fills.extend(fills)
                    if self.ctx.trade_book is not None:
                        self.ctx.trade_book.settled(fills, cycle.orders)
        updaters = self.updaters[source_id]
        for sym in symbols:
            update_all(updaters[sym], lanes[sym])

    def settle(self, symbol: str, lane: list[Any], cycle: Cycle) -> list[Fill]:
        """The executor settles a bar; if it raises, the run stops with an error naming the executor step."""
        try:
            return self.executor.on_bar(symbol, lane, cycle)
        except BlockError:
            raise
        except Exception as exc:
            raise BlockError(self.executor.step_id, f"{type(exc).__name__}: {exc}") from exc

    def decide(self, cycle: Cycle, due: Callable[[StepInfo, int], bool] | None = None) -> None:
        """Planners, then every validator on every intent, then the executor takes the approved ones.

        Orders are sent only once every planner and validator of the cycle has run without error: a step
        that raises marks the cycle failed, and nothing of it reaches the executor.
        """
        orders: list[Order] = []
        cycle.failed_before = self.failures
        if self.chains:
            self.advance(cycle)
        if self.poll is not None:
            orders += self.obey(self.poll(cycle.t), cycle)
        if self.breakers:
            self.watch(cycle)
        for step, planner in self.planners if not (self.halted or self.paused) else ():
            if due is not None and not due(step, cycle.t):
                continue
            intents = self.plan(planner, cycle)
            if intents:
                orders += self.act(planner, intents, cycle)
            if cycle.error:
                break
        if self.breakers and not cycle.error:
            orders += self.breaker_orders(cycle)
        self.failures = self.failures + 1 if cycle.error else 0
        if not cycle.error:
            self.send(orders, cycle)

    @property
    def can_halt(self) -> bool:
        """Whether something other than a breaker can stop this bot's planners (a step with on_error: halt)."""
        return bool(self._halt_on_error)

    def watch(self, cycle: Cycle) -> None:
        """Every breaker sees the cycle; a trip is an event, and halt or kill stops the planners for good."""
        for breaker in self.breakers:
            guard = self.guards.get(breaker.step_id)
            try:
                reason = breaker.observe(cycle) if guard is None else guard.call(cycle, breaker.observe)
            except Exception as exc:
                self.fail(cycle, breaker.step_id, exc)
                return
            if reason and not breaker.tripped:
                breaker.tripped = reason
                action = getattr(breaker.config, "on_trip", "reject_new")
                cycle.events.append(("breaker", f"{breaker.step_id} tripped: {reason}; action {action}"))
                if action in ("halt", "kill") and not self.halted:
                    self.halted = f"{breaker.step_id}: {reason}"
                    cycle.events.append(("halt", f"the bot stops trading: {self.halted}"))

    def obey(self, controls: list[Control], cycle: Cycle) -> list[Order]:
        """Carry out operator commands in order; a kill returns the orders that flatten the account."""
        orders: list[Order] = []
        for control in controls:
            if control.command == "pause":
                self.paused = True
                cycle.events.append(("control", "paused by the operator: no planner runs until resume"))
            elif control.command == "resume":
                self.paused = False
                note = "resumed by the operator" if not self.killed else "resume ignored: the bot was killed"
                cycle.events.append(("control", note))
            elif control.command == "kill":
                orders += self._kill(cycle, bool(control.args.get("liquidate_spot")))
        return orders

    def _kill(self, cycle: Cycle, liquidate_spot: bool) -> list[Order]:
        """Cancel every open order, close every perp (and spot when asked) at market, halt; twice is once."""
        if self.killed:
            cycle.events.append(("kill", "kill: nothing to do, the bot is already killed"))
            return []
        self.killed, self.halted = True, "killed by the operator"
        cancelled = self.executor.cancel_all(cycle)  # the recorders see their new status
        cycle.events.append(("kill", f"kill: cancelled {len(cancelled)} open order(s)"))
        positions = cycle.account().positions
        closes = [
            Intent(symbol, "close", reduce_only=True, reason="kill switch")
            for symbol, position in sorted(positions.items())
            if position.quantity and (":" in symbol or liquidate_spot)
        ]
        cycle.events.append(("kill", f"kill: closing {len(closes)} position(s); the bot stops trading"))
        return self.act(_OPERATOR, closes, cycle) if closes else []

    def breaker_orders(self, cycle: Cycle) -> list[Order]:
        """The intents breakers send themselves (closing positions), validated like any others."""
        orders: list[Order] = []
        for breaker in self.breakers:
            intents = breaker.exits(cycle)
            if intents:
                orders += self.act(breaker, intents, cycle)
        return orders

    def plan_call(self, planner: Planner) -> Callable[[Cycle], Any]:
        """The planner's ``plan``, through its step's guard when it has a timeout or retries."""
        guard = self.guards.get(planner.step_id)
        return planner.plan if guard is None else partial(guard.call, fn=planner.plan)

    def plan(self, planner: Planner, cycle: Cycle) -> list[Intent]:
        """A planner's intents; a planner that raises, times out or outlasts its retries fails the cycle."""
        guard = self.guards.get(planner.step_id)
        try:
            intents = planner.plan(cycle) if guard is None else guard.call(cycle, planner.plan)
        except Exception as exc:
            self.fail(cycle, planner.step_id, exc)
            return []
        return self.checked(planner, intents, cycle) if intents else []

    def checked(self, planner: Planner, intents: Any, cycle: Cycle) -> list[Intent]:
        """A planner's non-empty result, if it is a list of Intent; otherwise the cycle fails."""
        if type(intents) is list and all(type(i) is Intent for i in intents):
            return intents
        self.fail(cycle, planner.step_id, TypeError(f"plan() must return a list of Intent, not {intents!r:.80}"))
        return []

    def act(self, planner: Actor, intents: list[Intent], cycle: Cycle) -> list[Order]:
        """Record a planner's decision and validate each intent; returns the orders for the approved ones."""
        cycle.decisions.append(Decision(planner.step_id, intents))
        orders = []
        for leg, intent in enumerate(intents):
            intent.step_id = planner.step_id
            intent.leg = leg
            verdicts = self._validate(intent, cycle)
            if verdicts is None:
                return []
            cycle.verdicts.append((intent, verdicts))
            if any(v.action == "reject" for v in verdicts):
                continue
            orders.append(
                Order(client_id(self.ctx.deployment_id, cycle.t, planner.step_id, leg), cycle.t, intent.symbol, intent)
            )
        return orders

    def send(self, orders: list[Order], cycle: Cycle) -> None:
        """Hand approved orders to the executor (a failed cycle sends none). In a dry run they are recorded,
        validated as any others, and never sent."""
        if cycle.error:
            return
        dry = self.dry_run
        sent: Order | None = None
        for k, order in enumerate(orders):
            if not dry and order.intent.after_previous and sent is not None and _follows(order, sent):
                rest = [order]
                for later in orders[k + 1 :]:
                    if not (later.intent.after_previous and _follows(later, rest[-1])):
                        break
                    rest.append(later)
                self.chains.append((sent, rest))
                continue
            if any(order in held for _, held in self.chains):
                continue
            cycle.orders.append(order)
            if self.ctx.trade_book is not None:
                self.ctx.trade_book.sent((order,))
            if dry:
                order.status, order.reason = "not_sent", "dry-run: validated and recorded, never sent"
            else:
                self.executor.submit(order, cycle)
            sent = order

    def busy(self) -> bool:
        """Whether the next bar can change anything: an order at the venue, or a leg waiting for one."""
        return bool(self.chains) or self.executor.has_open_orders()

    def advance(self, cycle: Cycle) -> None:
        """Send the next leg of every group whose previous leg filled; cancel the rest of a group whose leg
        failed. Legs that are sent or cancelled are recorded in this cycle."""
        waiting: list[tuple[Order, list[Order]]] = []
        for previous, rest in self.chains:
            if previous.status in ("open", "pending"):
                waiting.append((previous, rest))
                continue
            if previous.status == "filled":
                head, rest = rest[0], rest[1:]
                cycle.orders.append(head)
                if self.ctx.trade_book is not None:
                    self.ctx.trade_book.sent((head,))
                self.executor.submit(head, cycle)
                if rest:
                    waiting.append((head, rest))
                continue
            why = f"leg {previous.intent.leg} {previous.status} ({previous.reason}): the group is cancelled"
            for order in rest:
                order.status, order.reason = "cancelled", why
                cycle.orders.append(order)
            cycle.events.append(("group", f"{previous.intent.step_id} at {previous.t}: {why}"))
        self.chains = waiting

    def fail(self, cycle: Cycle, step_id: str, exc: Exception) -> None:
        """Mark the cycle failed because of a step; it is recorded, and sends no order."""
        error = BlockError(step_id, str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}")
        cycle.error = cycle.error or str(error)
        cycle.events.append(("block_error", str(error)))
        if step_id in self._halt_on_error and not self.halted:
            self.halted = f"{step_id} failed and its on_error is halt"
            cycle.events.append(("halt", f"the bot stops trading: {self.halted}"))

    def _validate(self, intent: Intent, cycle: Cycle) -> list[Verdict] | None:
        verdicts = []
        for _, validator in self.validators:
            guard = self.guards.get(validator.step_id)
            try:
                if guard is None:
                    verdict = validator.verdict(intent, cycle)
                else:
                    verdict = guard.call(cycle, partial(validator.verdict, intent))
            except Exception as exc:
                self.fail(cycle, validator.step_id, exc)
                return None
            verdicts.append(verdict)
            if verdict.action == "reject":
                break
            if verdict.action == "resize" and verdict.size is not None:
                if intent.requested is None:
                    intent.requested = intent.size
                intent.size = verdict.size
        return verdicts


def _follows(order: Order, previous: Order) -> bool:
    """Whether ``order`` is the next leg of the same decision as ``previous``."""
    return (
        order.t == previous.t
        and order.intent.step_id == previous.intent.step_id
        and order.intent.leg == previous.intent.leg + 1
    )


def update_all(updaters: list[tuple[str, Updater]], lane: list[Any]) -> None:
    """Run indicator updates in order; one that raises stops the run with an error naming its step (its
    state is half-updated, so going on would feed wrong values to everything downstream)."""
    step_id = ""
    try:
        for step_id, update in updaters:  # noqa: B007 -- read in the except below
            update(lane)
    except Exception as exc:
        raise BlockError(step_id, f"{type(exc).__name__}: {exc}") from exc


def _refs(block: Block) -> list[str]:
    """The references a block's config makes, in field order."""
    refs = []
    for name, info in type(block.config).model_fields.items():
        value = getattr(block.config, name)
        if value is not None and ref_spec(info) is not None:
            refs.append(str(value))
    return refs
