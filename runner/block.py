"""The block contract: a Config model plus a class of one of five kinds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from runner.durations import parse_duration

if TYPE_CHECKING:
    from runner.compile import CompileContext, StepInfo
    from runner.errors import ConfigIssue

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

Secret = Annotated[str, SecretSpec(), Field(json_schema_extra={"pattern": SECRET_REF_PATTERN})]
"""A credential, given as a reference that is resolved at run start and never stored."""


def _canonical_duration(value: str) -> str:
    from runner.durations import format_duration

    return format_duration(parse_duration(value))


class BlockConfig(BaseModel):
    """Base of every block's Config: frozen, unknown keys rejected, every field described."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)


class Block:
    """Base of all blocks. Subclass one of the five kinds and give it a ``Config``."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[BlockConfig]] = BlockConfig
    outputs: ClassVar[Mapping[str, str]] = {}
    """Fields other steps may reference, name -> kind (``number``, ``text``, ``candles``); the first is the default."""
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


class Source(Block):
    """Brings market state into the cycle: candles, funding, books, subnet prices."""

    kind = "source"

    @classmethod
    def timeframe_seconds(cls, config: BlockConfig) -> int | None:
        """How often this source produces a new bar, if it is bar-based."""
        timeframe = getattr(config, "timeframe", None)
        return parse_duration(timeframe) if isinstance(timeframe, str) else None


class Indicator(Block):
    """Turns earlier outputs into a value per symbol, updated in O(1) per cycle."""

    kind = "indicator"
    outputs = {"value": "number"}


class Planner(Block):
    """Proposes intents (what it wants to trade) with a decision record."""

    kind = "planner"


class Validator(Block):
    """Gives every intent a verdict: approve, resize or reject, and may trip a breaker."""

    kind = "validator"


class Executor(Block):
    """Turns approved intents into orders and reports fills and account state."""

    kind = "executor"


KIND_CLASSES: dict[str, type[Block]] = {
    "source": Source,
    "indicator": Indicator,
    "planner": Planner,
    "validator": Validator,
    "executor": Executor,
}
