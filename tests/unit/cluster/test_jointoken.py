"""The join token's life on the workstation: made once, reused while it has time left, renewed
before it expires; and the Secret the API receives."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kboot.cluster.jointoken import MIN_LEFT, TTL, ensure_join_token, token_secret
from kboot.controlplane.api import bootstraptokens

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_made_once_then_reused_while_it_has_time_left(tmp_path: Path) -> None:
    first, renewed = ensure_join_token(tmp_path, now=NOW)
    assert renewed and first.expires == NOW + TTL
    assert stat.S_IMODE((tmp_path / "join-token.json").stat().st_mode) == 0o600
    later = NOW + TTL - MIN_LEFT - timedelta(minutes=1)
    again, renewed = ensure_join_token(tmp_path, now=later)
    assert not renewed and again == first


def test_renewed_when_about_to_expire_or_unreadable(tmp_path: Path) -> None:
    first, _ = ensure_join_token(tmp_path, now=NOW)
    late = NOW + TTL - MIN_LEFT + timedelta(seconds=1)
    second, renewed = ensure_join_token(tmp_path, now=late)
    assert renewed and second.token != first.token and second.expires == late.replace(
        microsecond=0) + TTL
    (tmp_path / "join-token.json").write_text("{not json")
    third, renewed = ensure_join_token(tmp_path, now=late)
    assert renewed and third.token != second.token


def test_secret_authenticates_until_expiry_and_repr_hides_the_secret(tmp_path: Path) -> None:
    token, _ = ensure_join_token(tmp_path, now=NOW)
    secret = token_secret(token, "prod")
    data = bootstraptokens.data(secret)
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": f"bootstrap-token-{token.token.id}",
                                  "namespace": "kube-system"}
    assert data["token-secret"] == token.token.secret
    assert data["usage-bootstrap-authentication"] == "true"
    assert bootstraptokens.expiration(secret) == token.expires
    assert not bootstraptokens.is_expired(secret, NOW)
    assert bootstraptokens.is_expired(secret, token.expires)
    assert token.token.secret not in repr(token)
    assert base64.b64decode(secret["data"]["expiration"]).decode().endswith("Z")
