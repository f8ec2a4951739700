"""Secret references and literal-secret detection."""

from __future__ import annotations

import pytest

from runner.secrets import is_reference, literal_secrets, secret_kind

HEX_KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SOLANA_KEY = "4NMwxzmYj2uvHuq8xoqhY8RXg63KSVJM1DXkpbmkUY7YQWuoyQgFnnzn6yo3CMnqZasnNPNuAT2TLwQsCaKkUddp"


@pytest.mark.parametrize("text", ["${env:HL_PRIVATE_KEY}", "${keystore:hl-main}", "${env:_X1}"])
def test_references(text: str) -> None:
    assert is_reference(text)


@pytest.mark.parametrize("text", ["$HL_KEY", "${HL_KEY}", "${vault:x}", "${env:}", " ${env:X}"])
def test_not_references(text: str) -> None:
    assert not is_reference(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("0x" + HEX_KEY, "a 32-byte private key"),
        (HEX_KEY, "a 32-byte private key"),
        (HEX_KEY * 2, "a 64-byte private key"),
        (SOLANA_KEY, "a base58 secret key"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcC...", "a PEM private key"),
        ("abandon " * 11 + "about", "a seed phrase"),
    ],
)
def test_key_material_is_recognised(text: str, kind: str) -> None:
    assert secret_kind(text) == kind


@pytest.mark.parametrize(
    "text", ["0x" + "a" * 40, "BTC/USDC:USDC", "Z-score mean reversion on the BTC perp", "binanceusdm", ""]
)
def test_ordinary_values_are_not_secrets(text: str) -> None:
    assert secret_kind(text) is None


def test_literal_secrets_names_every_place() -> None:
    data = {"a": {"api_key": "abc", "token": "SOL"}, "b": ["0x" + HEX_KEY], "c": {"private_key": "${env:K}"}}
    assert sorted(literal_secrets(data)) == [(("a", "api_key"), "a secret"), (("b", 0), "a 32-byte private key")]
