"""A step's call under its failure settings: retries of temporary errors only, with a doubling backoff, and a
timeout that abandons a try for real and never lets the step run twice at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from runner.attempts import Guard, Policy, StepFailed, Timing
from runner.cycle import Cycle
from runner.errors import TemporaryError, is_temporary
from runner.llm.client import LlmError

T0 = 1_746_372_780_000


class Sleeps:
    """A sleep that only writes down how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(*errors: BaseException, then: Any = "ok") -> Any:
    """A step call that raises ``errors`` one per call, then returns ``then``; counts its calls."""

    def call(cycle: Cycle) -> Any:
        call.calls += 1  # type: ignore[attr-defined]
        if call.calls <= len(errors):  # type: ignore[attr-defined]
            raise errors[call.calls - 1]  # type: ignore[attr-defined]
        return then

    call.calls = 0  # type: ignore[attr-defined]
    return call


def guard(policy: Policy, sleep: Sleeps | None = None, timeouts: bool = True) -> Guard:
    return Guard("plan", policy, Timing(sleep=sleep or Sleeps()), timeouts)


def cycle() -> Cycle:
    return Cycle(T0, {"BTC/USDT": [100.0]})


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (TemporaryError("429 rate limited"), True),
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (LlmError("RateLimitError (429): slow down", temporary=True), True),
        (LlmError("AuthenticationError (401): bad key", temporary=False), False),
        (FileNotFoundError("no such file"), False),
        (ValueError("bad number"), False),
        (RuntimeError("401 Unauthorized"), False),
    ],
)
def test_what_counts_as_temporary(error: Exception, temporary: bool) -> None:
    assert is_temporary(error) is temporary


def test_temporary_errors_are_retried_after_a_doubling_backoff_and_each_retry_is_an_event() -> None:
    sleeps, c = Sleeps(), cycle()
    call = failing(ConnectionResetError("reset by peer"), TemporaryError("503 unavailable"), then=["intent"])
    assert guard(Policy(retries=3, backoff_s=2), sleeps).call(c, call) == ["intent"]
    assert call.calls == 3 and sleeps.waits == [2, 4]
    assert c.events == [
        ("retry", "step 'plan': ConnectionResetError: reset by peer; try 2 of 4 in 2s"),
        ("retry", "step 'plan': TemporaryError: 503 unavailable; try 3 of 4 in 4s"),
    ]


def test_temporary_errors_that_outlast_the_retries_fail_the_call_saying_so() -> None:
    sleeps = Sleeps()
    call = failing(*[TimeoutError("read timed out")] * 5)
    with pytest.raises(StepFailed) as failed:
        guard(Policy(retries=2), sleeps).call(cycle(), call)
    assert str(failed.value) == "TimeoutError: read timed out (temporary; gave up after 3 tries)"
    assert failed.value.tries == 3 and call.calls == 3 and sleeps.waits == [1, 2]


def test_a_permanent_error_fails_at_once_without_a_retry() -> None:
    sleeps, c = Sleeps(), cycle()
    call = failing(RuntimeError("401 Unauthorized: the API key expired"))
    with pytest.raises(StepFailed) as failed:
        guard(Policy(retries=5), sleeps).call(c, call)
    expected = "RuntimeError: 401 Unauthorized: the API key expired (not a temporary error: not retried)"
    assert str(failed.value) == expected
    assert call.calls == 1 and sleeps.waits == [] and c.events == []


def test_without_retries_an_error_is_raised_as_it_was() -> None:
    error = ConnectionResetError("reset by peer")
    with pytest.raises(ConnectionResetError) as raised:
        guard(Policy(retries=0)).call(cycle(), failing(error))
    assert raised.value is error


def test_a_try_that_outlasts_its_timeout_is_abandoned_and_never_overlapped_by_the_next() -> None:
    """Real threads and a real (short) timeout: the hung try is given up on, the step is refused while it
    still runs, and what it records after it was abandoned reaches no cycle."""
    release, entered = threading.Event(), threading.Event()
    running, most = [0], [0]

    def hangs(view: Cycle) -> list[str]:
        running[0] += 1
        most[0] = max(most[0], running[0])
        entered.set()
        release.wait(30)
        view.events.append(("late", "written after the step was abandoned"))
        running[0] -= 1
        return ["late intent"]

    g = guard(Policy(timeout_s=0.2, retries=2))
    first = cycle()
    with pytest.raises(StepFailed) as failed:
        g.call(first, hangs)
    assert str(failed.value) == (
        "timed out after 0.2s on try 1 of 3; the try is abandoned and whatever it returns is discarded"
    )
    assert entered.is_set() and running[0] == 1  # abandoned, not stopped: Python cannot stop a thread
    second = Cycle(T0 + 60_000, first.lanes)
    with pytest.raises(StepFailed) as busy:
        g.call(second, hangs)
    assert str(busy.value) == (
        "the try abandoned in the cycle at 2025-05-04 15:33 is still running; the step is not called again "
        "until it returns"
    )
    release.set()
    for _ in range(3000):
        if running[0] == 0:
            break
        threading.Event().wait(0.01)
    third = Cycle(T0 + 120_000, first.lanes)
    assert g.call(third, lambda view: ["fresh"]) == ["fresh"]
    assert most[0] == 1  # the step never ran twice at once
    assert first.events == second.events == third.events == []  # the late write went to a detached copy


def test_a_try_in_time_hands_back_what_it_recorded_even_when_it_raises() -> None:
    def records_then_fails(view: Cycle) -> list[str]:
        assert threading.current_thread() is not threading.main_thread()  # the try runs in a worker
        view.events.append(("llm_reject", "the reply was not a plan"))
        raise RuntimeError("bad plan")

    c = cycle()
    with pytest.raises(RuntimeError, match="bad plan"):
        guard(Policy(timeout_s=30)).call(c, records_then_fails)
    assert c.events == [("llm_reject", "the reply was not a plan")]


def test_backtests_ignore_timeouts_and_run_the_call_in_place() -> None:
    seen: list[threading.Thread] = []

    def call(view: Cycle) -> str:
        seen.append(threading.current_thread())
        return "ok"

    c = cycle()
    assert guard(Policy(timeout_s=1), timeouts=False).call(c, call) == "ok"
    assert seen == [threading.current_thread()]
