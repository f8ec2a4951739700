"""One driver per run: a paper run of a deployment over the same data is locked while a process drives it.

Without it a second ``runner run`` of the same bot and data resumes the run under the first one's feet: both
record the same cycles (the second fails on them) and both would send the same orders. The lock is an OS
file lock next to the store (``runner.db.locks/``), so the OS releases it when its process ends, however it
ends: a killed run leaves no stale lock, and its restart resumes the run as before. Each lock is its own open
file, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.store import now_iso


class RunLocked(Exception):
    """Another process (or thread) drives this run now."""


@contextmanager
def run_lock(store_path: str, key: str) -> Iterator[None]:
    """Hold the lock of the run ``key`` for the store at ``store_path``, or raise RunLocked naming who holds
    it. A store in memory is private to its connection and needs no lock."""
    if store_path == ":memory:":
        yield
        return
    folder = Path(f"{store_path}.locks")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.lock"
    # Lock files are never deleted: removing one while another process has it open would let two hold a lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            holder = path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
            raise RunLocked(
                f"already running over the same data ({holder}); one process drives a run at a time: "
                "stop that one first, or run another version or other data"
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {now_iso()}".encode())
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":
    import msvcrt

    # Windows locks are mandatory: lock one byte far past the holder's note, so that the note stays readable.
    _FAR = 1 << 30

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _FAR, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _FAR, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
