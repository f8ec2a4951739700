"""indicator.regime: trending_up, trending_down, ranging or volatile, from ADX, a trend's slope and volatility."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable

from pydantic import Field

from runner.block import BlockConfig, Indicator, Ref

REGIMES = ("trending_up", "trending_down", "ranging", "volatile")
Output = tuple[str | None, float | None, float | None]
NOTHING: Output = (None, None, None)


class Regime(Indicator):
    """Market regime per symbol: trending_up, trending_down, ranging or volatile (a category output).

    The first rule that holds decides:
      trending_up    ADX >= trend_adx and slope > min_slope
      trending_down  ADX >= trend_adx and slope < -min_slope
      volatile       volatility percentile >= volatile_percentile
      ranging        otherwise
    slope = trend_t / trend_(t - slope_bars) - 1, the trend a positive series such as an EMA of the close.
    The volatility percentile is the share of the last `volatility_window` volatility values (the current
    one included) that are <= the current one, in (0, 1]: unit-free, so any volatility series works
    (realized_vol, atr) and one threshold fits every asset and timeframe. Reported once slope_bars + 1
    trend values and volatility_window volatility values are in.

    Unlike AI Perp Trader's regime, volatility is compared only with its own history (theirs mixed an
    annualised fraction with a percentage), the regime is decided per symbol rather than averaged over
    markets, and the direction comes from the trend's slope. O(log window) comparisons per bar: a sorted
    copy of the window, updated by bisection."""

    class Config(BlockConfig):
        adx: Ref = Field(description="Trend strength, e.g. adx (indicator.adx's adx output)")
        trend: Ref = Field(description="Positive trend series whose slope gives the direction, e.g. an EMA")
        volatility: Ref = Field(description="Volatility series, e.g. a realized_vol or atr step")
        trend_adx: float = Field(25.0, ge=0, le=100, description="ADX at or above which the market trends")
        slope_bars: int = Field(5, gt=0, le=10_000, description="Bars the trend's slope is measured over")
        min_slope: float = Field(
            0.0, ge=0, description="Relative change of the trend over slope_bars that a trend must exceed"
        )
        volatility_window: int = Field(
            200, ge=2, le=100_000, description="Bars of volatility history the percentile ranks against"
        )
        volatile_percentile: float = Field(
            0.8,
            gt=0,
            le=1,
            description="Volatility percentile (0-1] at or above which an untrending market is volatile",
        )

    outputs = {"value": "category", "slope": "number", "volatility_percentile": "number"}
    example = {"adx": "adx", "trend": "ema_slow", "volatility": "vol", "trend_adx": 25, "volatile_percentile": 0.8}

    def start(self, symbol: str) -> Callable[[float, float, float], Output]:
        config = self.config
        assert isinstance(config, self.Config)
        trend_adx, min_slope, cutoff = config.trend_adx, config.min_slope, config.volatile_percentile
        n, span = config.volatility_window, config.slope_bars + 1
        trends: deque[float] = deque(maxlen=span)
        history: deque[float] = deque()
        ranked: list[float] = []

        def update(adx: float, trend: float, volatility: float) -> Output:
            if trend <= 0.0:
                raise ValueError(f"regime's trend series must be positive; got {trend}")
            if volatility != volatility:
                raise ValueError("regime's volatility is NaN")
            trends.append(trend)
            history.append(volatility)
            insort(ranked, volatility)
            if len(history) > n:
                del ranked[bisect_left(ranked, history.popleft())]
            if len(history) < n or len(trends) < span:
                return NOTHING
            slope = trend / trends[0] - 1.0
            percentile = bisect_right(ranked, volatility) / n
            if adx >= trend_adx and slope > min_slope:
                regime = "trending_up"
            elif adx >= trend_adx and slope < -min_slope:
                regime = "trending_down"
            elif percentile >= cutoff:
                regime = "volatile"
            else:
                regime = "ranging"
            return regime, slope, percentile

        return update
