"""What sweeps and walk-forward runs can rank by: summary keys, each with its better direction."""

OBJECTIVES: dict[str, bool] = {
    "sharpe": True,
    "sortino": True,
    "calmar": True,
    "return_pct": True,
    "annual_return_pct": True,
    "profit_factor": True,
    "expectancy": True,
    "win_rate_pct": True,
    "max_drawdown_pct": False,
}
"""Summary key -> True when larger is better."""
