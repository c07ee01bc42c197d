"""Random bearer tokens: bootstrap tokens for joining nodes.

A bootstrap token is ``<id>.<secret>``: 6 and 16 characters of ``[a-z0-9]`` (upstream's format,
so ``kubeadm``-style tooling recognises it). The id is public (it names the Secret
``bootstrap-token-<id>``); only the secret authenticates.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

ALPHABET = string.ascii_lowercase + string.digits
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")


@dataclass(frozen=True)
class BootstrapToken:
    id: str
    secret: str

    @property
    def value(self) -> str:
        return f"{self.id}.{self.secret}"

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"BootstrapToken(id={self.id!r}, secret=<redacted>)"


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def new_bootstrap_token() -> BootstrapToken:
    return BootstrapToken(_random(6), _random(16))


def parse_bootstrap_token(value: str) -> BootstrapToken:
    match = TOKEN_RE.match(value)
    if match is None:
        raise ValueError("a bootstrap token looks like abcdef.0123456789abcdef")
    return BootstrapToken(match.group(1), match.group(2))


def new_secret_token(nbytes: int = 32) -> str:
    """An opaque URL-safe random token (static component tokens, shared secrets)."""
    return secrets.token_urlsafe(nbytes)
