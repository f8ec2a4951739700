"""planner.noop: never trades (Permafrost's noop); for wiring and smoke tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.block import BlockConfig, Planner

if TYPE_CHECKING:
    from runner.cycle import Cycle
    from runner.types import Intent


class Noop(Planner):
    """Proposes nothing, every cycle."""

    class Config(BlockConfig):
        pass

    def plan(self, cycle: Cycle) -> list[Intent]:
        return []
