"""Operator commands to running bots, through the store: pause, resume and kill.

`runner pause|resume|kill BOT` writes a row; every running bot of that name reads its new rows at the start of
each cycle (one indexed query) and acts on them in order, so it works from another process and on several
processes at once. A command given while no bot runs waits for the next start. Each command taken is an event
of the run that took it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from runner.store import Store, now_iso

Command = Literal["pause", "resume", "kill"]


@dataclass(frozen=True)
class Control:
    id: int
    command: Command
    args: dict[str, Any]


def send(store: Store, bot: str, command: Command, **args: Any) -> int:
    """Queue a command for every run of ``bot``; returns its id."""
    with store.transaction():
        cursor = store.conn.execute(
            "INSERT INTO controls (bot, command, args, created_at) VALUES (?, ?, ?, ?)",
            (bot, command, json.dumps(args, sort_keys=True), now_iso()),
        )
    return int(cursor.lastrowid or 0)


def latest_id(store: Store, bot: str) -> int:
    """The newest command's id for ``bot`` (0 if none): a run starting now takes only commands after it,
    except a kill still in force, which it honours."""
    row = store.one("SELECT COALESCE(MAX(id), 0) AS id FROM controls WHERE bot = ?", (bot,))
    return int(row["id"]) if row else 0


def standing(store: Store, bot: str) -> Control | None:
    """The command in force when a bot starts: the latest kill or pause not followed by a resume."""
    row = store.one(
        "SELECT id, command, args FROM controls WHERE bot = ? AND command IN ('pause', 'resume', 'kill') "
        "ORDER BY id DESC LIMIT 1",
        (bot,),
    )
    if row is None or row["command"] == "resume":
        return None
    return Control(row["id"], row["command"], json.loads(row["args"]))


def since(store: Store, bot: str, after: int) -> list[Control]:
    """Commands for ``bot`` newer than ``after``, oldest first."""
    rows = store.rows("SELECT id, command, args FROM controls WHERE bot = ? AND id > ? ORDER BY id", (bot, after))
    return [Control(r["id"], r["command"], json.loads(r["args"])) for r in rows]


def taken(store: Store, control: Control, run_id: str, t: int) -> None:
    store.conn.execute("UPDATE controls SET taken_by = ?, taken_t = ? WHERE id = ?", (run_id, t, control.id))


def taken_by(store: Store, run_id: str) -> list[tuple[int, Control]]:
    """The commands a run took, with the cycle at which it took each, in order."""
    rows = store.rows(
        "SELECT id, command, args, taken_t FROM controls WHERE taken_by = ? ORDER BY taken_t, id", (run_id,)
    )
    return [(int(r["taken_t"]), Control(r["id"], r["command"], json.loads(r["args"]))) for r in rows]
