"""planner.flaky: raises from a given time on, so failure handling has something real to handle."""

from __future__ import annotations

from pydantic import Field

from runner.block import BlockConfig, Planner
from runner.cycle import Cycle
from runner.types import Intent


class Flaky(Planner):
    """Proposes nothing; from `fail_from` (ms) on, every call raises, like a planner whose API key expired."""

    class Config(BlockConfig):
        fail_from: int = Field(description="First cycle time (ms) at which plan() raises")

    example = {"fail_from": 0}

    def plan(self, cycle: Cycle) -> list[Intent]:
        config = self.config
        assert isinstance(config, self.Config)
        if cycle.t >= config.fail_from:
            raise RuntimeError("401 Unauthorized: the API key expired")
        return []
