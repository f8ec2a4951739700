"""A step's per-cycle call under its failure settings: a timeout on each try, and retries of temporary
errors (``runner.errors.is_temporary``) after a doubling backoff.

Each retry is an event of the cycle. A call that fails for good raises ``StepFailed``, whose message says how
(the error or the timeout, and which try), and the pipeline records it as the cycle's failure. A try with a
timeout runs in a worker thread that the step waits for; a try that outlasts it is abandoned. Python cannot
stop a thread, so the abandoned try runs on, on a detached copy of the cycle: whatever it returns or records
is discarded, and the step is not called again until it has returned, so one block never runs twice at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from runner.durations import format_duration, format_time
from runner.errors import is_temporary

if TYPE_CHECKING:
    from runner.cycle import Cycle

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Policy:
    """A step's failure settings: seconds a try may take (None: no limit), retries, the first backoff."""

    timeout_s: float | None = None
    retries: int = 0
    backoff_s: float = 1.0


@dataclass(frozen=True)
class Timing:
    """How guarded calls spend time; injected so that tests run instantly."""

    sleep: Callable[[float], None] = time.sleep
    """Waits between a failed try and its retry."""
    wait: Callable[[threading.Event, float], bool] = threading.Event.wait
    """Waits up to a timeout for a try's worker to finish; True if it did."""


class StepFailed(Exception):
    """A guarded call that failed for good; the message says how, ``tries`` how many were made."""

    def __init__(self, message: str, tries: int) -> None:
        super().__init__(message)
        self.tries = tries


class _Try(Generic[T]):
    """One try in a daemon thread (a hung try must not keep the process from exiting)."""

    def __init__(self, fn: Callable[[Cycle], T], view: Cycle) -> None:
        self.done = threading.Event()
        self._fn, self._view = fn, view
        self._result: T | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, daemon=True, name="runner-step-try").start()

    def _run(self) -> None:
        try:
            self._result = self._fn(self._view)
        except BaseException as exc:  # handed to the waiting thread, which raises it
            self._error = exc
        finally:
            self.done.set()

    def outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class Guard:
    """Calls one step's per-cycle method under its policy. ``timeouts`` is False in backtests."""

    def __init__(self, step_id: str, policy: Policy, timing: Timing, timeouts: bool = True) -> None:
        self.step_id = step_id
        self.policy = policy
        self.timing = timing
        # A backtest ignores timeouts: a wall-clock deadline would make its result depend on how busy the
        # machine is, and the same backtest must give the same result anywhere.
        self.timeout_s = policy.timeout_s if timeouts else None
        self._abandoned: _Try[object] | None = None
        self._abandoned_t = 0

    def call(self, cycle: Cycle, fn: Callable[[Cycle], T]) -> T:
        """``fn(cycle)`` under the policy; raises StepFailed, or a permanent error as it was raised."""
        if self._abandoned is not None:
            if not self._abandoned.done.is_set():
                raise StepFailed(
                    f"the try abandoned in the cycle at {format_time(self._abandoned_t)} is still running; "
                    "the step is not called again until it returns",
                    0,
                )
            self._abandoned = None
        tries = self.policy.retries + 1
        for attempt in range(1, tries + 1):
            try:
                return self._try(cycle, fn, attempt, tries)
            except StepFailed:
                raise
            except Exception as exc:
                if not self.policy.retries:
                    raise
                error = f"{type(exc).__name__}: {exc}"
                if not is_temporary(exc):
                    raise StepFailed(f"{error} (not a temporary error: not retried)", attempt) from exc
                if attempt == tries:
                    raise StepFailed(f"{error} (temporary; gave up after {tries} tries)", attempt) from exc
                delay = self.policy.backoff_s * 2 ** (attempt - 1)
                cycle.events.append(
                    ("retry", f"step '{self.step_id}': {error}; try {attempt + 1} of {tries} in {_seconds(delay)}")
                )
                self.timing.sleep(delay)
        raise AssertionError("unreachable: the last try returns or raises")

    def _try(self, cycle: Cycle, fn: Callable[[Cycle], T], attempt: int, tries: int) -> T:
        if self.timeout_s is None:
            return fn(cycle)
        view = cycle.detached()
        work = _Try(fn, view)
        if not self.timing.wait(work.done, self.timeout_s):
            self._abandoned, self._abandoned_t = work, cycle.t  # type: ignore[assignment]
            raise StepFailed(
                f"timed out after {_seconds(self.timeout_s)} on try {attempt} of {tries}; the try is abandoned "
                "and whatever it returns is discarded",
                attempt,
            )
        cycle.adopt(view)  # also when it raised: what it recorded first (an LLM call, say) explains the error
        return work.outcome()


def _seconds(value: float) -> str:
    whole = int(value)
    return format_duration(whole) if whole == value and whole > 0 else f"{value:g}s"
