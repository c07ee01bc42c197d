"""ServiceAccount signing-key rotation in the apiserver: several verification keys (files with
several PEM blocks, repeated flags), a separate signing key, old tokens still accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.controlplane.apiserver import tokens
from kboot.controlplane.apiserver.auth import Authenticator
from kboot.controlplane.apiserver.main import parse_args, signing_key
from kboot.controlplane.client.clock import FakeClock
from kboot.pki import new_service_account_key

CLOCK = FakeClock()
NOW = CLOCK.time() - 10  # tokens issued ten seconds ago
SA = {"metadata": {"uid": "sa-1"}}


def _keys(n: int) -> list[tuple[bytes, bytes]]:
    return [new_service_account_key() for _ in range(n)]


def _token(private_pem: bytes, *, expires_in: int = 3600) -> str:
    key = tokens.load_private_key(private_pem)
    assert key is not None
    return tokens.issue(key, namespace="ns", name="robot", uid="sa-1", now=NOW,
                        expires_in=expires_in)


def test_public_keys_of_a_bundle_file_in_order() -> None:
    (old_priv, old_pub), (_new_priv, new_pub) = _keys(2)
    keys = tokens.load_public_keys(new_pub + old_priv)  # public and private blocks mixed
    assert [k.public_numbers() for k in keys] == [
        tokens.load_public_key(new_pub).public_numbers(),  # type: ignore[union-attr]
        tokens.load_public_key(old_pub).public_numbers()]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no PEM key"):
        tokens.load_public_keys(b"garbage")


def test_verify_any_accepts_either_key_and_only_those() -> None:
    (old_priv, old_pub), (new_priv, new_pub), (other_priv, _) = _keys(3)
    both = tokens.load_public_keys(new_pub + old_pub)
    for priv in (old_priv, new_priv):
        claims = tokens.verify_any(both, _token(priv), now=NOW + 10)
        assert claims["sub"] == "system:serviceaccount:ns:robot"
    with pytest.raises(tokens.TokenError, match="bad signature"):
        tokens.verify_any(both, _token(other_priv), now=NOW + 10)
    only_new = tokens.load_public_keys(new_pub)
    with pytest.raises(tokens.TokenError, match="bad signature"):
        tokens.verify_any(only_new, _token(old_priv), now=NOW + 10)  # the old key dropped
    with pytest.raises(tokens.TokenError, match="expired"):  # a signature match decides
        tokens.verify_any(both, _token(old_priv, expires_in=60), now=NOW + 120)


def test_authenticator_with_old_and_new_keys() -> None:
    (old_priv, old_pub), (new_priv, new_pub) = _keys(2)
    objects = {("serviceaccounts", "ns", "robot"): SA}

    def auth(pub: bytes) -> Authenticator:
        return Authenticator(sa_keys=tokens.load_public_keys(pub), clock=CLOCK,
                             objects=lambda p, ns, n: objects.get((p, ns, n)))

    rotating = auth(new_pub + old_pub)
    for priv in (old_priv, new_priv):
        user = rotating.from_token(_token(priv))
        assert user is not None and user.name == "system:serviceaccount:ns:robot"
    assert auth(new_pub).from_token(_token(old_priv)) is None
    assert auth(new_pub).from_token(_token(new_priv)) is not None


def test_flags_signing_key_and_repeated_key_files(tmp_path: Path) -> None:
    (_old_priv, old_pub), (new_priv, new_pub) = _keys(2)
    (tmp_path / "sa.key").write_bytes(new_priv)
    (tmp_path / "sa.pub").write_bytes(new_pub + old_pub)
    (tmp_path / "extra.pub").write_bytes(old_pub)
    base = ["--tls-cert-file=c", "--tls-private-key-file=k"]
    cfg, _ = parse_args([*base, f"--service-account-key-file={tmp_path}/sa.pub",
                         f"--service-account-key-file={tmp_path}/extra.pub",
                         f"--service-account-signing-key-file={tmp_path}/sa.key"])
    assert cfg.service_account_key_file == (f"{tmp_path}/sa.pub", f"{tmp_path}/extra.pub")
    key = signing_key(cfg)
    assert key is not None
    assert key.public_key().public_numbers() == tokens.load_public_key(  # type: ignore
        new_pub).public_numbers()
    # an older unit: one private key file both signs and verifies
    cfg, _ = parse_args([*base, f"--service-account-key-file={tmp_path}/sa.key"])
    assert signing_key(cfg) is not None
    cfg, _ = parse_args([*base, f"--service-account-key-file={tmp_path}/sa.pub"])
    assert signing_key(cfg) is None  # public keys only: verify, never sign
