"""Secret references (``${env:NAME}``, ``${keystore:NAME}``) and detection of literal secrets."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from runner.errors import Path

REFERENCE = re.compile(r"^\$\{(env|keystore):([A-Za-z_][A-Za-z0-9_.\-]*)\}$")
_SECRET_KEY_NAME = re.compile(
    r"(private_?key|secret|api_?key|passphrase|password|mnemonic|seed_?phrase|(api|auth|access|bot)_?token)$", re.I
)
_LOOKS_SECRET = (
    (re.compile(r"^(0x)?[0-9a-fA-F]{64}$"), "a 32-byte private key"),
    (re.compile(r"^(0x)?[0-9a-fA-F]{128}$"), "a 64-byte private key"),
    (re.compile(r"^[1-9A-HJ-NP-Za-km-z]{86,90}$"), "a base58 secret key"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"^([a-z]{3,8} ){11}([a-z]{3,8} ){0,12}[a-z]{3,8}$"), "a seed phrase"),
)


_TOKEN = re.compile(
    r"(?<![0-9A-Za-z])(?:0x)?(?:[0-9a-fA-F]{128}|[0-9a-fA-F]{64})(?![0-9A-Za-z])|[1-9A-HJ-NP-Za-km-z]{86,90}"
)


def secret_tokens(text: str) -> list[str]:
    """Everything in a file's text that looks like key material, with the decimal reading of hex keys
    (YAML reads an unquoted 0x... as a number), longest first."""
    found: set[str] = set()
    for match in _TOKEN.finditer(text):
        token = match.group()
        found.add(token)
        hexdigits = token.removeprefix("0x")
        if len(hexdigits) in (64, 128) and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
            found.update({hexdigits, str(int(hexdigits, 16))})
    return sorted(found, key=len, reverse=True)


class SecretError(Exception):
    """A secret reference that cannot be resolved; the message names the reference, never a value."""


def resolve(reference: str) -> str:
    """The value a reference names, read at run start: ``${env:NAME}`` from the environment."""
    match = REFERENCE.match(reference)
    if match is None:
        raise SecretError("not a secret reference; write ${env:NAME} or ${keystore:NAME}")
    kind, name = match.groups()
    if kind == "keystore":
        raise SecretError(f"{reference}: the keystore is not available yet; use ${{env:{name}}}")
    value = os.environ.get(name)
    if not value:
        raise SecretError(f"{reference}: the environment variable {name} is not set")
    return value


def is_reference(value: object) -> bool:
    """True for ``${env:NAME}`` and ``${keystore:NAME}``."""
    return isinstance(value, str) and REFERENCE.match(value) is not None


def secret_kind(value: object) -> str | None:
    """What a value looks like if it looks like key material, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "a private key (YAML read it as a number)"
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern, kind in _LOOKS_SECRET:
        if pattern.search(text):
            return kind
    return None


def is_secret_key_name(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY_NAME.search(key) is not None


def literal_secrets(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every place in ``data`` holding a literal secret, with what it looks like."""
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret_key_name(key) and isinstance(value, str | int) and value != "" and not is_reference(value):
                yield (*path, key), secret_kind(value) or "a secret"
            else:
                yield from literal_secrets(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from literal_secrets(value, (*path, i))
    else:
        kind = secret_kind(data)  # strings and numbers alike
        if kind:
            yield path, kind
