"""Secrets encryption at rest: upstream's ``aesgcm`` envelope, keys from a key file.

A stored value is ``k8s:enc:aesgcm:v1:<key name>:`` + 12-byte random nonce + AES-256-GCM
ciphertext and tag, the same layout kube-apiserver writes, so etcd (or the SQLite file) never
holds a Secret in plaintext and a tampered or swapped value fails authentication instead of
decoding. The first key encrypts; every key decrypts, which is what makes rotation possible
(docs/security.md). Values without the ``k8s:enc:`` prefix are read as plaintext (the identity
provider), so a cluster that turns encryption on keeps reading what it wrote before.

The key file is YAML or JSON, either kboot's short form::

    keys:
      - {name: key2, secret: <base64 of 32 bytes>}
      - {name: key1, secret: <…>}

or upstream's ``EncryptionConfiguration`` with an ``aesgcm`` provider for ``secrets``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kboot.controlplane.errors import ControlPlaneError

log = logging.getLogger(__name__)

ENVELOPE = b"k8s:enc:"
PREFIX = b"k8s:enc:aesgcm:v1:"
NONCE_BYTES = 12
KEY_BYTES = 32


class EncryptionError(ControlPlaneError):
    """A value cannot be decrypted (unknown key, tampered data, unsupported provider)."""


class EncryptionConfigError(EncryptionError):
    """The key file is missing, unreadable or malformed; the message says where and what."""


@dataclass(frozen=True)
class EncryptionKey:
    name: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise EncryptionConfigError(f"key name {self.name!r} must be non-empty without ':'")
        if len(self.secret) != KEY_BYTES:
            raise EncryptionConfigError(
                f"key {self.name!r} is {len(self.secret)} bytes; AES-256-GCM needs {KEY_BYTES}"
            )


class Encryptor:
    """Encrypts with the first key, decrypts with any; without keys it is the identity."""

    def __init__(self, keys: Sequence[EncryptionKey] = ()) -> None:
        names = [k.name for k in keys]
        if len(set(names)) != len(names):
            raise EncryptionConfigError(f"duplicate key names in {names}")
        self._keys = {k.name: AESGCM(k.secret) for k in keys}
        self._primary = keys[0].name if keys else None

    @classmethod
    def from_file(cls, path: str | Path) -> Encryptor:
        return cls(load_keys(path))

    @property
    def enabled(self) -> bool:
        return self._primary is not None

    def encrypt(self, data: bytes, *, context: bytes = b"") -> bytes:
        """Seal ``data``; ``context`` (e.g. the storage key) is authenticated, not stored."""
        if self._primary is None:
            return data
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._primary].encrypt(nonce, data, context or None)
        return PREFIX + self._primary.encode() + b":" + nonce + sealed

    def decrypt(self, data: bytes, *, context: bytes = b"") -> bytes:
        if not data.startswith(ENVELOPE):
            return data  # identity: written before encryption was turned on
        if not data.startswith(PREFIX):
            raise EncryptionError(f"unsupported encryption provider {data[:24]!r}")
        name, sep, rest = data[len(PREFIX) :].partition(b":")
        aead = self._keys.get(name.decode(errors="replace"))
        if not sep or aead is None:
            raise EncryptionError(f"no encryption key named {name.decode(errors='replace')!r}")
        if len(rest) < NONCE_BYTES + 16:
            raise EncryptionError("encrypted value is truncated")
        try:
            return aead.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], context or None)
        except InvalidTag:
            raise EncryptionError("encrypted value failed authentication (tampered?)") from None

    def needs_rewrite(self, data: bytes) -> bool:
        """True when ``data`` is not sealed with the current first key (rotation step 3)."""
        if self._primary is None:
            return data.startswith(ENVELOPE)
        return not data.startswith(PREFIX + self._primary.encode() + b":")


def _decode_secret(name: str, secret: object, where: str) -> bytes:
    if not isinstance(secret, str):
        raise EncryptionConfigError(f"{where}: key {name!r} needs a base64 'secret' string")
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionConfigError(f"{where}: key {name!r}: secret is not valid base64") from None


def _key_entries(doc: Any, where: str) -> list[Any]:
    if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        return list(doc["keys"])
    if isinstance(doc, dict) and doc.get("kind") == "EncryptionConfiguration":
        for resource in doc.get("resources") or []:
            if "secrets" not in (resource.get("resources") or []):
                continue
            for provider in resource.get("providers") or []:
                if isinstance(provider, dict) and "aesgcm" in provider:
                    return list((provider["aesgcm"] or {}).get("keys") or [])
        raise EncryptionConfigError(f"{where}: no aesgcm provider for secrets")
    raise EncryptionConfigError(f"{where}: expected a 'keys:' list or an EncryptionConfiguration")


def parse_keys(text: str, *, where: str = "<key file>") -> list[EncryptionKey]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise EncryptionConfigError(f"{where}: not YAML/JSON: {err}") from None
    keys = []
    for i, entry in enumerate(_key_entries(doc, where)):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise EncryptionConfigError(f"{where}: keys[{i}] needs a 'name' string")
        name = entry["name"]
        keys.append(EncryptionKey(name, _decode_secret(name, entry.get("secret"), where)))
    if not keys:
        raise EncryptionConfigError(f"{where}: no keys")
    return keys


def load_keys(path: str | Path) -> list[EncryptionKey]:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise EncryptionConfigError(f"cannot read encryption key file {path}: {err}") from None
    return parse_keys(text, where=str(path))
