"""The replay cache: model replies keyed by (model, sha256 of the rendered messages), kept in the store.

A backtest of an LLM bot that ran once runs again for free and gives the same decisions; ``--llm replay``
answers only from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from runner.llm.client import Reply
from runner.snapshot import canonical_json
from runner.store import Store, now_iso

__all__ = ["LlmCache", "LlmMode", "prompt_hash"]

LlmMode = Literal["live", "cached", "replay", "dry"]
"""live: always ask the model; cached: ask only when the cache has no reply; replay: never ask;
dry: render the prompts and ask nobody (``runner render``)."""


def prompt_hash(messages: tuple[tuple[str, str], ...]) -> str:
    """The sha256 of the messages' canonical JSON: the same prompt always has the same hash."""
    return hashlib.sha256(canonical_json([list(m) for m in messages]).encode()).hexdigest()


@dataclass
class LlmCache:
    """Replies recorded in the store's ``llm_cache`` table."""

    store: Store

    def get(self, model: str, digest: str) -> Reply | None:
        row = self.store.one(
            "SELECT response, tokens_in, tokens_out, cost_usd, latency_ms FROM llm_cache "
            "WHERE model = ? AND prompt_hash = ?",
            (model, digest),
        )
        if row is None:
            return None
        return Reply(row["response"], row["tokens_in"], row["tokens_out"], row["cost_usd"], row["latency_ms"])

    def put(self, model: str, digest: str, reply: Reply) -> None:
        self.store.conn.execute(
            "INSERT OR REPLACE INTO llm_cache (model, prompt_hash, response, tokens_in, tokens_out, cost_usd, "
            "latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (model, digest, reply.text, reply.tokens_in, reply.tokens_out, reply.cost_usd, reply.latency_ms, now_iso()),
        )
