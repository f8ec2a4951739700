"""The prompts an LLM bot would send at a time, rendered over real data without asking any model."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from runner.compile import CompiledBot
from runner.cycle import Cycle
from runner.llm import LLM_BLOCKS
from runner.llm.record import LlmCall
from runner.loop import BacktestClock, Window, drive
from runner.runs import RunOptions, open_pipeline

__all__ = ["RenderError", "Rendered", "render_prompts"]


class RenderError(Exception):
    """The data has no cycle to render at."""


@dataclass
class Rendered:
    """The prompts of each LLM step at cycle ``t`` (ms), and why a step rendered none."""

    t: int
    calls: list[LlmCall] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Keep:
    rendered: Rendered | None = None

    def record(self, cycle: Cycle) -> None:
        self.rendered = Rendered(cycle.t, list(cycle.llm_calls), [m for k, m in cycle.events if k != "llm_rejection"])
        if cycle.error:
            self.rendered.problems.append(cycle.error)


def render_prompts(
    bot: CompiledBot, data: dict[str, str], at: int | None = None, funding: dict[str, str] | None = None
) -> Rendered:
    """Replay ``data`` up to the cycle at ``at`` (default: the last one), indicators warmed up on everything
    before it, and render every LLM step's prompts there; no model is asked and nothing is stored."""
    options = RunOptions(data, llm="dry", funding=funding or {})
    pipeline = open_pipeline(bot, "backtest", options)
    every = bot.every * 1000
    limit = at if at is not None else max((f.timeline[-1] for f in pipeline.feeds if len(f.timeline)), default=None)
    closes = [f.timeline[i - 1] for f in pipeline.feeds if (i := bisect_right(f.timeline, limit or 0))]
    if limit is None or not closes:
        raise RenderError("the data has no bar at or before that time")
    t = max(closes)
    steps = [s.every * 1000 for s in bot.steps if s.uses in LLM_BLOCKS and s.every]
    step = max([every, *steps])
    t = t - t % step  # the cycle at or before ``at`` when the LLM steps run
    keep = _Keep()
    drive(pipeline, keep, BacktestClock(), every, Window(t, t))
    if keep.rendered is None:
        raise RenderError("no LLM step ran at that time")
    return keep.rendered
