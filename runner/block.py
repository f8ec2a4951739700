"""The block contract: a Config model plus a class of one of five kinds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from runner.durations import parse_duration
from runner.types import Intent, Verdict

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.cycle import BuildContext, Cycle, Feed
    from runner.errors import ConfigIssue
    from runner.types import Fill, Order

KINDS = ("source", "indicator", "planner", "validator", "executor")

REF_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$"
SECRET_REF_PATTERN = r"^\$\{(env|keystore):[A-Za-z_][A-Za-z0-9_.\-]*\}$"


@dataclass(frozen=True, slots=True)
class RefSpec:
    """Marks a config field as a reference to an earlier step's output of one of ``kinds``."""

    kinds: tuple[str, ...] = ("number",)


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """Marks a config field as a secret: only ``${env:NAME}`` or ``${keystore:NAME}`` are accepted."""


Ref = Annotated[
    str,
    RefSpec(("number",)),
    StringConstraints(pattern=REF_PATTERN),
    Field(json_schema_extra={"x-runner-ref": "number"}),
]
"""A reference to a numeric output of an earlier step: ``candles.close`` or ``rsi``."""

CategoryRef = Annotated[
    str,
    RefSpec(("category",)),
    StringConstraints(pattern=REF_PATTERN),
    Field(json_schema_extra={"x-runner-ref": "category"}),
]
"""A reference to a categorical output of an earlier step: a label from a fixed set, e.g. ``regime``."""

Secret = Annotated[str, SecretSpec(), Field(json_schema_extra={"pattern": SECRET_REF_PATTERN})]
"""A credential, given as a reference that is resolved at run start and never stored."""


def _canonical_duration(value: str) -> str:
    from runner.durations import format_duration

    return format_duration(parse_duration(value))


@dataclass(slots=True)
class Account:
    """An executor's account: cash, equity and positions (symbol -> Position), in the quote asset."""

    cash: float
    equity: float
    positions: dict[str, Any] = field(default_factory=dict)
    fees: float = 0.0
    funding: float = 0.0
    """Funding paid in all (negative: received)."""
    used_margin: float = 0.0
    """Initial margin of the open perp positions: notional at the mark / leverage."""
    maintenance_margin: float = 0.0
    liquidations: int = 0


class BlockConfig(BaseModel):
    """Base of every block's Config: frozen, unknown keys rejected, every field described."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)


class Block:
    """Base of all blocks. Subclass one of the five kinds and give it a ``Config``."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[BlockConfig]] = BlockConfig
    outputs: ClassVar[Mapping[str, str]] = {}
    """Fields other steps may reference, name -> kind (``number``, ``category``: a label such as ``trending_up``,
    ``text``, ``candles``); the first is the default. A ``Ref`` reads numbers, a ``CategoryRef`` categories."""
    example: ClassVar[Mapping[str, Any]] = {}
    """An example ``with:`` mapping, shown by ``runner blocks NAME`` and checked by the tests."""
    live: ClassVar[bool] = False
    """True for executors that can send real orders to a venue."""

    def __init__(self, step_id: str, config: BlockConfig) -> None:
        self.step_id = step_id
        self.config = config

    @classmethod
    def output_fields(cls, config: BlockConfig) -> Mapping[str, str]:
        """The referencable outputs for this configuration (override when they depend on it)."""
        return cls.outputs

    @classmethod
    def check(cls, step: StepInfo, ctx: CompileContext) -> Iterable[ConfigIssue]:
        """Static checks that need the whole pipeline; pure, no I/O. Override to add some."""
        return ()

    @classmethod
    def include(cls, step: StepInfo, ctx: CompileContext) -> Iterable[ConfigIssue]:
        """Read the files the config names (relative to the bot file) into ``step.config``, before the
        checks, so that checks, the snapshot and the run all see their content. Override to add some."""
        return ()


class Source(Block):
    """Brings market state into the cycle: candles, funding, books, subnet prices."""

    kind = "source"

    def open(self, ctx: BuildContext) -> Feed:
        """The feed of this source's bars for the run (files in backtests and replays, a venue live)."""
        raise NotImplementedError

    @classmethod
    def timeframe_seconds(cls, config: BlockConfig) -> int | None:
        """How often this source produces a new bar, if it is bar-based."""
        timeframe = getattr(config, "timeframe", None)
        return parse_duration(timeframe) if isinstance(timeframe, str) else None


class Indicator(Block):
    """Turns earlier outputs into a value per symbol, updated in O(1) per cycle."""

    kind = "indicator"
    outputs = {"value": "number"}

    def start(self, symbol: str) -> Callable[..., Any]:
        """A fresh O(1) update function for one symbol: takes the values of the Ref fields in order and
        returns the output (a tuple in ``outputs`` order when there are several), None while warming up."""
        raise NotImplementedError

    def batch(self, *inputs: list[Any]) -> list[Any] | None:
        """Optional: the whole output series at once from whole input series, equal element by element to
        feeding ``start``'s function bar by bar (backtests use it; tests prove the equality). None if absent."""
        return None


class Planner(Block):
    """Proposes intents (what it wants to trade) with a decision record."""

    kind = "planner"

    def start(self, ctx: BuildContext) -> None:
        """Resolve references to value slots once, before the first cycle."""

    def plan(self, cycle: Cycle) -> list[Intent]:
        """The intents for this cycle; pure: reads only the cycle."""
        raise NotImplementedError

    def wake(self, columns: Mapping[int, Sequence[Any]], first: int, end: int) -> Sequence[int] | None:
        """Optional, for a backtest of one symbol: given each value slot's whole column, the bars in
        ``[first, end)`` (ascending) at which ``plan`` may return intents. Calling ``plan`` only at these
        bars, and at any others, must give the same intents as calling it at every bar from ``first``; the
        backtest then skips the rest (tests prove the equality). None: every bar."""
        return None


class Validator(Block):
    """Gives every intent a verdict: approve, resize or reject, and may trip a breaker."""

    kind = "validator"

    def start(self, ctx: BuildContext) -> None:
        """Prepare before the first cycle."""

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        """Approve, resize or reject one intent; pure."""
        raise NotImplementedError


TripAction = Literal["reject_new", "halt", "flatten", "kill"]


class BreakerConfig(BlockConfig):
    """The config every breaker has: what it does when it trips."""

    on_trip: TripAction = Field(
        "reject_new",
        description="reject_new: refuse entries while tripped; flatten: also close every position; halt: no planner "
        "runs again (positions stay); kill: close every position and halt",
    )


class Breaker(Validator):
    """A validator that watches every cycle and trips when a risk condition is met: from then on it refuses
    entries, and by ``on_trip`` closes positions or halts the bot. Every trip is recorded as an event."""

    Config: ClassVar[type[BlockConfig]] = BreakerConfig

    def start(self, ctx: BuildContext) -> None:
        self.tripped = ""
        """Why it tripped; empty while it has not."""
        self._flattened = False

    def observe(self, cycle: Cycle) -> str:
        """Update the state from this cycle (after its fills, before its planners); the reason it trips now,
        or empty. Called once per cycle, every cycle."""
        raise NotImplementedError

    def exits(self, cycle: Cycle) -> list[Intent]:
        """Intents this breaker sends itself this cycle: by default, closing every position once it has
        tripped with flatten or kill."""
        action = getattr(self.config, "on_trip", "reject_new")
        if not self.tripped or action not in ("flatten", "kill") or self._flattened:
            return []
        self._flattened = True
        positions = cycle.account().positions
        reason = f"{self.step_id} tripped ({self.tripped}): {action}"
        return [Intent(s, "close", reason=reason) for s, p in sorted(positions.items()) if p.quantity]

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        if self.tripped and intent.kind not in ("close", "cancel") and not intent.reduce_only:
            return Verdict(self.step_id, "reject", f"{self.step_id} tripped: {self.tripped}")
        return Verdict(self.step_id, "approve")


class Executor(Block):
    """Turns approved intents into orders and reports fills and account state."""

    kind = "executor"

    def start(self, ctx: BuildContext) -> None:
        """Open the account before the first cycle."""
        raise NotImplementedError

    def on_bar(self, symbol: str, lane: list[Any], cycle: Cycle) -> list[Fill]:
        """Settle a new bar of ``symbol`` (its values are in ``lane``): fill pending orders, mark to market."""
        raise NotImplementedError

    def equity(self) -> float:
        """Equity marked at the latest closes."""
        raise NotImplementedError

    def mark_line(self, symbol: str) -> tuple[float, float] | None:
        """``(a, b)`` such that equity = a + b * close of ``symbol`` until the next fill, when the account
        holds nothing else; lets a backtest mark every bar without a call. None when not that simple."""
        return None

    def has_open_orders(self) -> bool:
        """Whether a new bar could fill something (a backtest skips ``on_bar`` otherwise)."""
        return True

    def submit(self, order: Order, cycle: Cycle) -> None:
        """Accept an approved order; it fills no earlier than the next bar. Idempotent by client id."""
        raise NotImplementedError

    def cancel_all(self, cycle: Cycle) -> list[Order]:
        """Cancel every open order; returns them."""
        raise NotImplementedError

    def account(self) -> Account:
        """Cash, equity and positions now."""
        raise NotImplementedError


KIND_CLASSES: dict[str, type[Block]] = {
    "source": Source,
    "indicator": Indicator,
    "planner": Planner,
    "validator": Validator,
    "executor": Executor,
}
