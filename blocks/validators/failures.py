"""validator.failures: stop a bot whose steps keep failing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from runner.block import Breaker, BreakerConfig, TripAction

if TYPE_CHECKING:
    from runner.cycle import Cycle


class Failures(Breaker):
    """Trips after `max_consecutive` failed cycles in a row: a step that raised, timed out or returned garbage
    fails its cycle (recorded as an event, nothing sent), and an expired API key must not fail quietly every
    minute. Halts the planners by default."""

    class Config(BreakerConfig):
        max_consecutive: int = Field(3, ge=1, le=10_000, description="Failed cycles in a row that trip it")
        on_trip: TripAction = Field("halt", description="What a trip does (default: halt the planners)")

    example = {"max_consecutive": 3}

    def observe(self, cycle: Cycle) -> str:
        config = self.config
        assert isinstance(config, self.Config)
        if cycle.failed_before >= config.max_consecutive:
            return f"{cycle.failed_before} cycles in a row failed"
        return ""
