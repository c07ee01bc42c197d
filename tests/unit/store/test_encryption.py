"""Secrets encryption at rest (kboot.controlplane.apiserver.encryption) and its key file."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from kboot.controlplane.apiserver.encryption import (
    PREFIX,
    EncryptionConfigError,
    EncryptionError,
    EncryptionKey,
    Encryptor,
    load_keys,
    parse_keys,
)
from kboot.pki import encryption_key_file, new_encryption_key, rotated

SECRET = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


def key(name: str) -> EncryptionKey:
    return EncryptionKey(name, os.urandom(32))


def test_round_trip_hides_plaintext() -> None:
    enc = Encryptor([key("k1")])
    sealed = enc.encrypt(SECRET)
    assert sealed.startswith(PREFIX + b"k1:")
    assert b"aHVudGVyMg" not in sealed and b"Secret" not in sealed
    assert enc.decrypt(sealed) == SECRET
    assert enc.encrypt(SECRET) != sealed, "a fresh nonce per value"


def test_rotation_new_key_first_old_still_reads() -> None:
    old, new = key("old"), key("new")
    before = Encryptor([old]).encrypt(SECRET)
    during = Encryptor([new, old])
    assert during.decrypt(before) == SECRET
    assert during.needs_rewrite(before)
    rewritten = during.encrypt(during.decrypt(before))
    assert rewritten.startswith(PREFIX + b"new:") and not during.needs_rewrite(rewritten)
    after = Encryptor([new])
    assert after.decrypt(rewritten) == SECRET
    with pytest.raises(EncryptionError, match="no encryption key named 'old'"):
        after.decrypt(before)


@pytest.mark.parametrize("position", [len(PREFIX) + 3, len(PREFIX) + 10, -1])
def test_tampering_is_detected(position: int) -> None:
    enc = Encryptor([key("k1")])
    sealed = bytearray(enc.encrypt(SECRET))
    sealed[position] ^= 0x01
    with pytest.raises(EncryptionError):
        enc.decrypt(bytes(sealed))


def test_wrong_key_with_same_name_fails() -> None:
    sealed = Encryptor([key("k1")]).encrypt(SECRET)
    with pytest.raises(EncryptionError, match="authentication"):
        Encryptor([key("k1")]).decrypt(sealed)


def test_context_is_bound() -> None:
    enc = Encryptor([key("k1")])
    sealed = enc.encrypt(SECRET, context=b"/registry/secrets/default/a")
    assert enc.decrypt(sealed, context=b"/registry/secrets/default/a") == SECRET
    with pytest.raises(EncryptionError):
        enc.decrypt(sealed, context=b"/registry/secrets/default/b")


def test_identity_fallback_and_disabled_encryptor() -> None:
    assert Encryptor([key("k1")]).decrypt(SECRET) == SECRET
    plain = Encryptor()
    assert not plain.enabled and plain.encrypt(SECRET) == SECRET
    with pytest.raises(EncryptionError, match="unsupported"):
        plain.decrypt(b"k8s:enc:aescbc:v1:k1:xxxxxxxx")
    with pytest.raises(EncryptionError, match="truncated"):
        Encryptor([key("k1")]).decrypt(PREFIX + b"k1:short")


def test_pki_key_file_loads_and_rotates(tmp_path: Path) -> None:
    keys = [("key1", new_encryption_key())]
    path = tmp_path / "enc.yaml"
    path.write_text(encryption_key_file(keys))
    first = Encryptor.from_file(path)
    sealed = first.encrypt(SECRET)
    path.write_text(encryption_key_file(rotated(keys, "key2")))
    loaded = load_keys(path)
    assert [k.name for k in loaded] == ["key2", "key1"]
    second = Encryptor(loaded)
    assert second.decrypt(sealed) == SECRET and second.encrypt(SECRET).startswith(PREFIX + b"key2:")


def test_upstream_encryption_configuration() -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    text = f"""
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - name: key1
              secret: {secret}
      - identity: {{}}
"""
    [only] = parse_keys(text)
    assert only.name == "key1" and base64.b64encode(only.secret).decode() == secret


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys: []", "no keys"),
        ("{not yaml", "not YAML"),
        ("- a\n- b", "expected a 'keys:' list"),
        ("keys: [{secret: AAAA}]", r"keys\[0\] needs a 'name'"),
        ("keys: [{name: k, secret: '***'}]", "not valid base64"),
        ("keys: [{name: k, secret: AAAA}]", "is 3 bytes"),
        ("keys: [{name: 'a:b', secret: AAAA}]", "without ':'"),
        ("kind: EncryptionConfiguration\nresources: []", "no aesgcm provider"),
    ],
)
def test_bad_key_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(EncryptionConfigError, match=message):
        parse_keys(text, where="enc.yaml")


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(EncryptionConfigError, match="cannot read encryption key file"):
        load_keys(tmp_path / "nope.yaml")


def test_key_repr_hides_secret() -> None:
    k = EncryptionKey("k1", b"\x07" * 32)
    assert "\\x07" not in repr(k) and "k1" in repr(k)
