"""source.prediction: prediction-market probabilities (Polymarket, Kalshi) replayed from a snapshot file.

Two file shapes are read, both as recorded in shared/data/prediction:
- wide: a ``timestamp_ms`` column and one column per market (e.g. ``poly_mid``, ``kalshi_mid``);
- long: ``fetched_at_utc``, ``ticker`` and ``yes_probability`` columns, one row per market per snapshot.
A snapshot is visible from the first cycle at or after its time; between snapshots the last value holds.
Probabilities are written to every symbol's lane: they describe the world, not one market.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from runner.block import BlockConfig, Source
from runner.errors import BlockError, DataError

if TYPE_CHECKING:
    from runner.cycle import BuildContext


class Market(BlockConfig):
    """One market to read, and the output it is published as."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Output name, e.g. fed_hold (read as STEP.fed_hold)")
    column: str | None = Field(None, description="Wide files: the column holding the probability, e.g. poly_mid")
    ticker: str | None = Field(None, description="Long files: the market's ticker, e.g. KXRECSSNBER-26")
    category: Literal["war_risk", "rate_change"] | None = Field(
        None, description="Counts towards this category's weighted probability (perp-bot's prediction regime)"
    )
    weight: float = Field(1.0, gt=0, description="Weight within its category")

    @model_validator(mode="after")
    def _one_key(self) -> Market:
        if (self.column is None) == (self.ticker is None):
            raise ValueError("give exactly one of column (wide files) or ticker (long files)")
        return self


class Prediction(Source):
    """Probabilities (0 to 1) of prediction-market outcomes, one output per configured market, replayed from a
    snapshot file bound with --data STEP=FILE. Each snapshot counts from the first cycle at or after its time.
    Markets given a category also feed `war_risk` and `rate_change`: the weighted mean of the latest
    probabilities of that category's markets (perp-bot's inputs to indicator.prediction_regime)."""

    class Config(BlockConfig):
        markets: list[Market] = Field(min_length=1, description="The markets to publish, each as an output")

        @model_validator(mode="after")
        def _unique(self) -> Prediction.Config:
            names = [m.name for m in self.markets]
            if len(set(names)) != len(names):
                raise ValueError("market names must be unique")
            return self

    outputs: ClassVar[Mapping[str, str]] = {}
    example = {"markets": [{"name": "fed_hold", "column": "poly_mid"}]}

    @classmethod
    def output_fields(cls, config: BlockConfig) -> Mapping[str, str]:
        assert isinstance(config, cls.Config)
        categories = {m.category: "number" for m in config.markets if m.category is not None}
        return {**{m.name: "number" for m in config.markets}, **dict(sorted(categories.items()))}

    def open(self, ctx: BuildContext) -> PredictionFeed:
        config = self.config
        assert isinstance(config, self.Config)
        path = ctx.data.get(self.step_id)
        if path is None:
            raise BlockError(
                self.step_id,
                f"no prediction data: bind a snapshot file with --data {self.step_id}=FILE "
                "(live polling comes with the venue adapters)",
            )
        times, rows = load_snapshots(path, config.markets)
        if ctx.data_until is not None:
            keep = sum(1 for t in times if t <= ctx.data_until)
            times, rows = times[:keep], rows[:keep]
        slots = [ctx.slots[(self.step_id, m.name)] for m in config.markets]
        groups = {
            ctx.slots[(self.step_id, category)]: [
                (k, m.weight) for k, m in enumerate(config.markets) if m.category == category
            ]
            for category in {m.category for m in config.markets if m.category is not None}
        }
        return PredictionFeed(times, _with_groups(rows, groups), [*slots, *groups], list(ctx.symbols))


class PredictionFeed:
    """Replays snapshots: each writes its probabilities (None for a market it lacks) into every lane."""

    def __init__(
        self, timeline: Sequence[int], rows: Sequence[Sequence[float | None]], slots: list[int], symbols: list[str]
    ) -> None:
        self.timeline = timeline
        self._rows = rows
        self._slots = slots
        self._symbols = symbols

    def emit(self, i: int, lanes: dict[str, list[Any]]) -> Sequence[str]:
        row = self._rows[i]
        for symbol in self._symbols:
            lane = lanes[symbol]
            for slot, value in zip(self._slots, row, strict=True):
                if value is not None:
                    lane[slot] = value
        return self._symbols


def _with_groups(
    rows: Sequence[Sequence[float | None]], groups: dict[int, list[tuple[int, float]]]
) -> list[list[float | None]]:
    """Each row extended with every group's weighted mean of its markets' latest known probabilities."""
    latest: list[float | None] = [None] * (len(rows[0]) if rows else 0)
    out = []
    for row in rows:
        latest = [new if new is not None else old for new, old in zip(row, latest, strict=True)]
        means: list[float | None] = []
        for members in groups.values():
            known = [(latest[k], w) for k, w in members if latest[k] is not None]
            total = sum(w for _, w in known)
            means.append(math.fsum(p * w for p, w in known if p is not None) / total if known else None)
        out.append([*row, *means])
    return out


def load_snapshots(path: str, markets: Sequence[Market]) -> tuple[list[int], list[list[float | None]]]:
    """Snapshot times (ms, ascending) and each market's probability at each; DataError names file and line."""
    try:
        with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(path, message=f"{exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    header = reader.fieldnames or []
    if "timestamp_ms" in header:
        return _wide(path, reader, header, markets)
    if {"fetched_at_utc", "ticker", "yes_probability"} <= set(header):
        return _long(path, reader, markets)
    raise DataError(
        path,
        line=1,
        message="not a prediction snapshot file: expected a timestamp_ms column (one column per market) or "
        "fetched_at_utc, ticker and yes_probability columns",
    )


def _wide(
    path: str, reader: csv.DictReader[str], header: Sequence[str], markets: Sequence[Market]
) -> tuple[list[int], list[list[float | None]]]:
    missing = [m.column for m in markets if m.column not in header]
    if missing or any(m.column is None for m in markets):
        raise DataError(
            path, line=1, message=f"no column {', '.join(map(str, missing)) or '(a market gives a ticker)'}"
        )
    times: list[int] = []
    rows: list[list[float | None]] = []
    for line, record in enumerate(reader, start=2):
        t = _int(path, line, record["timestamp_ms"])
        if times and t <= times[-1]:
            raise DataError(path, line=line, message=f"timestamp {t} is not after the previous row's {times[-1]}")
        times.append(t)
        rows.append([_probability(path, line, record[str(m.column)]) for m in markets])
    if not times:
        raise DataError(path, message="no snapshots")
    return times, rows


def _long(
    path: str, reader: csv.DictReader[str], markets: Sequence[Market]
) -> tuple[list[int], list[list[float | None]]]:
    index = {m.ticker: k for k, m in enumerate(markets)}
    if None in index:
        raise DataError(path, line=1, message="a long snapshot file needs every market to give a ticker, not a column")
    by_time: dict[int, list[float | None]] = {}
    seen: set[str] = set()
    for line, record in enumerate(reader, start=2):
        k = index.get(record["ticker"])
        if k is None:
            continue
        seen.add(record["ticker"])
        try:
            t = int(datetime.fromisoformat(record["fetched_at_utc"].replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            raise DataError(
                path, line=line, message=f"fetched_at_utc {record['fetched_at_utc']!r} is not a time"
            ) from None
        by_time.setdefault(t, [None] * len(markets))[k] = _probability(path, line, record["yes_probability"])
    absent = [str(m.ticker) for m in markets if m.ticker not in seen]
    if absent:
        raise DataError(path, message=f"no rows for ticker {', '.join(absent)}")
    times = sorted(by_time)
    return times, [by_time[t] for t in times]


def _int(path: str, line: int, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(path, line=line, message=f"timestamp {text!r} is not a whole number of ms") from None


def _probability(path: str, line: int, text: str) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, line=line, message=f"probability {text!r} is not a number") from None
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise DataError(path, line=line, message=f"probability {text} is outside 0..1")
    return value
