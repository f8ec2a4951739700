"""Deployments: a bot at a version. ``(bot, version) -> config_id`` is fixed the first time it runs."""

from __future__ import annotations

import json

from runner.compile import CompiledBot
from runner.snapshot import diff
from runner.store import Store, now_iso


class DeploymentConflict(Exception):
    """The file changed but its version did not."""

    def __init__(self, bot: str, version: str, changes: list[str]) -> None:
        self.bot, self.version, self.changes = bot, version, changes
        lines = "\n".join(f"  {c}" for c in changes)
        # A change of house rules alone is the operator's, not the bot author's: say where it comes from.
        house = (
            "the house rules (--risk FILE or $RUNNER_RISK) are part of a deployment's config: run it under the "
            "rules it was deployed with, or "
            if any(c[2:].startswith("risk") for c in changes)
            else ""
        )
        super().__init__(
            f"{bot} {version} is already deployed with a different config:\n{lines}\n"
            f"{house}bump the version (e.g. to {_next_patch(version)}) to deploy these changes"
        )


def deployment_id(bot: str, version: str) -> str:
    return f"{bot}@{version}"


def deploy(store: Store, bot: CompiledBot) -> str:
    """The deployment of this compiled bot, creating it on first use; raises DeploymentConflict on a change."""
    name, version = bot.spec.bot, bot.spec.version
    with store.transaction():  # read under the write lock: two processes may deploy the same version at once
        row = store.one("SELECT config_id, snapshot FROM deployments WHERE bot = ? AND version = ?", (name, version))
        if row is not None:
            if row["config_id"] != bot.config_id:
                raise DeploymentConflict(name, version, diff(json.loads(row["snapshot"]), bot.snapshot))
            return deployment_id(name, version)
        store.insert_all(
            "deployments",
            [
                {
                    "id": deployment_id(name, version),
                    "bot": name,
                    "version": version,
                    "config_id": bot.config_id,
                    "snapshot": json.dumps(bot.snapshot, sort_keys=True),
                    "created_at": now_iso(),
                }
            ],
        )
    return deployment_id(name, version)


def _next_patch(version: str) -> str:
    core = version.split("-")[0].split("+")[0]
    major, minor, patch = core.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"
