"""indicator.prediction_regime: perp-bot's macro regime from prediction-market probabilities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from runner.block import BlockConfig, Indicator, Ref

Output = tuple[str | None, float | None, float | None, float | None]


class PredictionRegime(Indicator):
    """CRISIS when the war-risk probability >= crisis_threshold, else HIGH_RISK when >= war_risk_threshold, else
    DOVISH when rate_change < -rate_change_threshold, else HAWKISH when > rate_change_threshold, else NORMAL;
    rate_change = (probability of a rate change - 0.5) * 2, from -1 to 1. size_multiplier is 0 in CRISIS,
    position_size_reduction in HIGH_RISK and 1 otherwise; validators and planners may scale sizes by it."""

    class Config(BlockConfig):
        war_risk: Ref | None = Field(None, description="Probability of the risk event, e.g. pm.war_risk")
        rate_change: Ref | None = Field(None, description="Probability of the rate move, e.g. pm.rate_change")
        war_risk_threshold: float = Field(0.4, gt=0, le=1, description="War risk from which the regime is HIGH_RISK")
        crisis_threshold: float = Field(0.7, gt=0, le=1, description="War risk from which the regime is CRISIS")
        rate_change_threshold: float = Field(
            0.3, gt=0, le=1, description="|rate_change| beyond which the regime is DOVISH or HAWKISH"
        )
        position_size_reduction: float = Field(0.5, ge=0, le=1, description="size_multiplier in HIGH_RISK")

        @model_validator(mode="after")
        def _sane(self) -> PredictionRegime.Config:
            if self.war_risk is None and self.rate_change is None:
                raise ValueError("give war_risk, rate_change or both")
            if self.crisis_threshold < self.war_risk_threshold:
                raise ValueError("crisis_threshold must not be below war_risk_threshold")
            return self

    outputs = {"regime": "category", "war_risk": "number", "rate_change": "number", "size_multiplier": "number"}
    example = {"war_risk": "pm.war_risk", "rate_change": "pm.rate_change"}

    def start(self, symbol: str) -> Callable[..., Output]:
        config = self.config
        assert isinstance(config, self.Config)
        has_war, has_rate = config.war_risk is not None, config.rate_change is not None

        def update(*values: Any) -> Output:
            war = values[0] if has_war else None
            rate_p = values[-1] if has_rate else None
            if (has_war and war is None) or (has_rate and rate_p is None):
                return None, None, None, None  # a market not seen yet: no regime rather than a guess
            rate = (rate_p - 0.5) * 2 if rate_p is not None else None
            regime, size = "NORMAL", 1.0
            if war is not None and war >= config.crisis_threshold:
                regime, size = "CRISIS", 0.0
            elif war is not None and war >= config.war_risk_threshold:
                regime, size = "HIGH_RISK", config.position_size_reduction
            elif rate is not None and rate < -config.rate_change_threshold:
                regime = "DOVISH"
            elif rate is not None and rate > config.rate_change_threshold:
                regime = "HAWKISH"
            return regime, war, rate, size

        return update
