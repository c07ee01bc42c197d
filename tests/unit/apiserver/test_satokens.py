"""ServiceAccount token claims against live objects (upstream's validator), as data."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest

from kboot.controlplane.apiserver import satokens

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
POLICY = satokens.TokenPolicy(issuer="https://issuer", audiences=("https://issuer", "api"))
OBJECTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("serviceaccounts", "ns", "robot"): {"metadata": {"uid": "sa-1"}},
    ("pods", "ns", "p"): {"metadata": {"uid": "pod-1"}},
    ("pods", "ns", "leaving"): {"metadata": {"uid": "pod-2",
                                             "deletionTimestamp": "2026-12-07T11:58:00Z"}},
    ("pods", "ns", "stopping"): {"metadata": {"uid": "pod-3",
                                              "deletionTimestamp": "2026-12-07T11:59:30Z"}},
    ("secrets", "ns", "s"): {"metadata": {"uid": "sec-1"}},
}


def _lookup(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((plural, namespace, name))


def _claims(**over: Any) -> dict[str, Any]:
    k8s = {"namespace": "ns", "serviceaccount": {"name": "robot", "uid": "sa-1"}}
    k8s.update(over.pop("k8s", {}))
    return {"iss": "https://issuer", "sub": "system:serviceaccount:ns:robot", "aud": ["api"],
            "nbf": NOW.timestamp(), "kubernetes.io": k8s, **over}


@pytest.mark.parametrize(("claims", "accepted"), [
    (_claims(), True),
    ({k: v for k, v in _claims().items() if k != "aud"}, True),  # no aud: the apiserver's own
    (_claims(aud="api"), True),
    (_claims(aud=["https://vault"]), False),
    (_claims(aud=[]), True),
    (_claims(aud=""), False),
    (_claims(iss="https://elsewhere"), False),
    (_claims(sub="system:serviceaccount:ns:other"), False),
    (_claims(nbf=NOW.timestamp() + 3600), False),
    (_claims(k8s={"serviceaccount": {"name": "robot", "uid": "sa-old"}}), False),
    (_claims(k8s={"serviceaccount": {"name": "ghost", "uid": "x"}},
             sub="system:serviceaccount:ns:ghost"), False),
    (_claims(k8s={"pod": {"name": "p", "uid": "pod-1"}}), True),
    (_claims(k8s={"pod": {"name": "p", "uid": "pod-0"}}), False),  # recreated pod
    (_claims(k8s={"pod": {"name": "gone", "uid": "pod-9"}}), False),
    (_claims(k8s={"pod": {"name": "leaving", "uid": "pod-2"}}), False),  # deleted 2 min ago
    (_claims(k8s={"pod": {"name": "stopping", "uid": "pod-3"}}), True),  # within the leeway
    (_claims(k8s={"pod": "p"}), False),
    (_claims(k8s={"secret": {"name": "s", "uid": "sec-1"}}), True),
    (_claims(k8s={"secret": {"name": "s", "uid": "sec-0"}}), False),
])
def test_bound_tokens(claims: dict[str, Any], accepted: bool) -> None:
    try:
        sa = satokens.validate(claims, "raw", policy=POLICY, objects=_lookup, now=NOW)
    except satokens.TokenRejected:
        assert not accepted
    else:
        assert accepted and sa == satokens.ServiceAccountIdentity("ns", "robot", "sa-1")


def test_default_audience_is_the_issuer() -> None:
    assert satokens.TokenPolicy(issuer="https://i").api_audiences == ("https://i",)


LEGACY_TOKEN = "header.payload.signature"


def _legacy_objects(**secret_meta: Any) -> satokens.ObjectLookup:
    secret = {"metadata": {"uid": "s", **secret_meta},
              "data": {"token": base64.b64encode(LEGACY_TOKEN.encode()).decode()}}
    objects = {**OBJECTS, ("secrets", "ns", "robot-token"): secret}
    return lambda plural, namespace, name: objects.get((plural, namespace, name))


def _legacy(uid: str = "sa-1") -> dict[str, Any]:
    prefix = satokens.LEGACY_PREFIX
    return {"iss": satokens.LEGACY_ISSUER, "sub": "system:serviceaccount:ns:robot",
            prefix + "namespace": "ns", prefix + "secret.name": "robot-token",
            prefix + "service-account.name": "robot", prefix + "service-account.uid": uid}


@pytest.mark.parametrize(("claims", "raw", "secret_meta", "accepted"), [
    (_legacy(), LEGACY_TOKEN, {}, True),
    (_legacy(), "another.token.value", {}, False),  # not the stored copy
    (_legacy("sa-old"), LEGACY_TOKEN, {}, False),  # recreated account
    (_legacy(), LEGACY_TOKEN, {"deletionTimestamp": "2026-12-07T11:59:59Z"}, False),
    (_legacy(), LEGACY_TOKEN, {"labels": {satokens.INVALID_SINCE_LABEL: "2026-12-01"}}, False),
    ({k: v for k, v in _legacy().items() if not k.endswith("secret.name")}, LEGACY_TOKEN, {},
     False),
])
def test_legacy_tokens(claims: dict[str, Any], raw: str, secret_meta: dict[str, Any],
                       accepted: bool) -> None:
    try:
        satokens.validate(claims, raw, policy=POLICY, objects=_legacy_objects(**secret_meta),
                          now=NOW)
    except satokens.TokenRejected:
        assert not accepted
    else:
        assert accepted
