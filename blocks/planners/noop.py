"""planner.noop: never trades (Permafrost's noop); for wiring and smoke tests."""

from __future__ import annotations

from runner.block import BlockConfig, Planner


class Noop(Planner):
    """Proposes nothing, every cycle; records a decision with the note 'noop'."""

    class Config(BlockConfig):
        pass
