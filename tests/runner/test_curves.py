"""Stored equity curves round-trip exactly, and regular times take a few bytes."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from runner.curves import decode_times, decode_values, encode_times, encode_values


@given(st.lists(st.integers(1, 10_000_000), max_size=60).map(lambda steps: [sum(steps[:i]) for i in range(len(steps))]))
def test_any_ascending_times_round_trip(times: list[int]) -> None:
    assert list(decode_times(encode_times(array("q", times)))) == times
    assert list(decode_times(encode_times(times))) == times


def test_a_million_minutes_with_two_gaps_are_three_runs() -> None:
    start = 1_577_836_800_000
    times = array("q", range(start, start + 1_000_000 * 60_000, 60_000))
    times = array("q", [t for i, t in enumerate(times) if not 400_000 <= i < 400_010 and i != 700_000])
    blob = encode_times(times)
    assert len(blob) == 3 * 24
    assert decode_times(blob) == times


@given(st.lists(st.floats(allow_nan=False), max_size=50))
def test_values_round_trip_bit_for_bit(values: list[float]) -> None:
    assert list(decode_values(encode_values(array("d", values)))) == values
