"""executor.testvenue: a pretend venue executor that can trade live and needs a private key."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runner.block import BlockConfig, Executor, Secret


class PretendVenue(Executor):
    """Sends orders to a pretend venue; exists only to test live executors and secrets."""

    class Config(BlockConfig):
        private_key: Secret = Field(description="Signing key, as ${env:NAME} or ${keystore:NAME}")
        network: Literal["mainnet", "testnet"] = Field("testnet", description="Which network to trade on")

    live = True
    example = {"private_key": "${env:TESTVENUE_KEY}", "network": "testnet"}
