"""validator.schedule: trade only inside the operator's windows and never in a blackout."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from runner.block import BlockConfig, Validator
from runner.types import Intent, Verdict

if TYPE_CHECKING:
    from runner.cycle import BuildContext, Cycle

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TradingWindow(BlockConfig):
    """Days and a UTC time range in which entries are allowed; end before start spans midnight."""

    days: list[Day] = Field(default_factory=lambda: list(_DAYS), description="Days the window is open (UTC)")
    start: str = Field("00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Opens at HH:MM UTC")
    end: str = Field("24:00", pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", description="Closes at HH:MM UTC")


class Blackout(BlockConfig):
    """A period with no entries, e.g. around a rate decision."""

    start: datetime = Field(description="From, e.g. 2025-12-10T18:30:00Z (UTC when no zone is given)")
    end: datetime = Field(description="Until, exclusive")
    reason: str = Field("blackout", description="Shown in the verdict, e.g. FOMC")

    @model_validator(mode="after")
    def _ordered(self) -> Blackout:
        if _utc(self.end) <= _utc(self.start):
            raise ValueError("a blackout must end after it starts")
        return self


class Schedule(Validator):
    """Rejects entries outside every trading window or inside a blackout, judged at the cycle's time (UTC).
    Closing and reduce-only intents always pass: a position can always be unwound."""

    class Config(BlockConfig):
        windows: list[TradingWindow] = Field(
            default_factory=lambda: [TradingWindow()], description="When entries are allowed; always by default"
        )
        blackouts: list[Blackout] = Field(default_factory=list, description="When entries are never allowed")

    example = {
        "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "20:00"}],
        "blackouts": [{"start": "2025-12-10T18:30:00Z", "end": "2025-12-10T20:00:00Z", "reason": "FOMC"}],
    }

    def start(self, ctx: BuildContext) -> None:
        config = self.config
        assert isinstance(config, self.Config)
        self._windows = [({_DAYS.index(d) for d in w.days}, _minutes(w.start), _minutes(w.end)) for w in config.windows]
        self._blackouts = [
            (int(_utc(b.start).timestamp() * 1000), int(_utc(b.end).timestamp() * 1000), b.reason)
            for b in config.blackouts
        ]
        self._approve = Verdict(self.step_id, "approve")

    def verdict(self, intent: Intent, cycle: Cycle) -> Verdict:
        if intent.kind in ("close", "cancel") or intent.reduce_only:
            return self._approve
        t = cycle.t
        for start, end, reason in self._blackouts:
            if start <= t < end:
                return Verdict(self.step_id, "reject", f"{reason}: no entries until {_iso(end)}")
        moment = datetime.fromtimestamp(t / 1000, UTC)
        weekday, minute = moment.weekday(), moment.hour * 60 + moment.minute
        for days, start_min, end_min in self._windows:
            if start_min <= end_min and weekday in days and start_min <= minute < end_min:
                return self._approve
            if start_min > end_min and (
                (weekday in days and minute >= start_min) or ((weekday - 1) % 7 in days and minute < end_min)
            ):
                return self._approve
        return Verdict(self.step_id, "reject", f"{_iso(t)} is outside the trading windows")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%a %Y-%m-%d %H:%M UTC")
