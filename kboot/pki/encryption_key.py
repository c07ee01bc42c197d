"""The Secrets encryption key file the apiserver reads (``--encryption-key-file``).

Format (YAML; JSON is valid YAML)::

    keys:                 # the first key encrypts, every key decrypts
      - name: key2
        secret: <base64 of 32 random bytes>
      - name: key1
        secret: <…>

Rotation: prepend a new key, restart the apiservers, rewrite every Secret (so each is encrypted
with the new key), then drop the old key. See docs/security.md.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import yaml

KEY_BYTES = 32


def new_encryption_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def encryption_key_file(keys: list[tuple[str, str]]) -> str:
    """Render ``[(name, base64 secret), …]`` (first = the encrypting key) as the key file."""
    if not keys:
        raise ValueError("an encryption key file needs at least one key")
    doc: dict[str, Any] = {"keys": [{"name": n, "secret": s} for n, s in keys]}
    return yaml.safe_dump(doc, sort_keys=False)


def rotated(existing: list[tuple[str, str]], new_name: str) -> list[tuple[str, str]]:
    """``existing`` with a fresh key named ``new_name`` first (step one of a rotation)."""
    if any(name == new_name for name, _ in existing):
        raise ValueError(f"encryption key {new_name!r} already exists")
    return [(new_name, new_encryption_key()), *existing]
