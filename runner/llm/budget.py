"""What an LLM step has already spent per UTC day in earlier paper and live runs of its deployment, so that a
restarted bot does not get a fresh budget."""

from __future__ import annotations

from runner.store import Store

__all__ = ["DAY_MS", "spent_per_day"]

DAY_MS = 86_400_000


def spent_per_day(store: Store, deployment_id: str, step_id: str) -> dict[int, float]:
    """Day number (cycle time // DAY_MS) -> USD paid for live model replies by this step, outside backtests."""
    rows = store.rows(
        "SELECT l.t / ? AS day, SUM(l.cost_usd) AS usd FROM llm_calls l JOIN runs r ON r.id = l.run_id "
        "WHERE r.deployment_id = ? AND r.kind != 'backtest' AND l.step_id = ? AND l.source = 'live' "
        "AND l.cost_usd IS NOT NULL GROUP BY day",
        (DAY_MS, deployment_id, step_id),
    )
    return {int(row["day"]): float(row["usd"]) for row in rows}
