"""One driver per run: the lock refuses a second driver, names the first, and dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runner.runlock import RunLocked, run_lock

KEY = 'ema_cross@1.0.0|paper|{"BTC/USDT": "c.csv"}'


def test_a_second_driver_of_the_same_run_is_refused_and_told_who_drives_it(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    with run_lock(db, KEY):
        errors: list[Exception] = []

        def second() -> None:  # another thread of this process, as `runner run x.yaml x.yaml` would start
            try:
                with run_lock(db, KEY):
                    pass
            except RunLocked as exc:
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
        [error] = errors
        assert str(error).startswith(f"already running over the same data (pid {os.getpid()} on ")
        assert str(error).endswith(
            "); one process drives a run at a time: stop that one first, or run another version or other data"
        )
        with run_lock(db, KEY.replace("c.csv", "other.csv")):
            pass  # other data is another run
    with run_lock(db, KEY):
        pass  # released when the first driver is done


def test_a_store_in_memory_needs_no_lock(tmp_path: Path) -> None:
    with run_lock(":memory:", KEY), run_lock(":memory:", KEY):
        pass


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_killed_driver_leaves_no_stale_lock(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    code = (
        f"from runner.runlock import run_lock\nwith run_lock({db!r}, {KEY!r}):\n"
        "    print('locked', flush=True)\n    input()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            with pytest.raises(RunLocked, match=f"pid {holder.pid} on "), run_lock(db, KEY):
                pass
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
    with run_lock(db, KEY):
        pass
