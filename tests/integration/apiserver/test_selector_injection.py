"""Name-scoped access through selectors (issue 14): a user allowed one named object sees only
that object, whatever the field selector says — authorization and filtering use the same parsed
selector, never text spliced together."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest

from tests.fixtures.apiserver import ApiServer, Identity
from tests.integration.apiserver.http import call
from tests.integration.apiserver.rbac_helpers import grant, rule, wait_can

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(server: ApiServer, namespace: str) -> str:
    """A fresh namespace with the ConfigMaps ``mine`` and ``other``."""
    for cm in ("mine", "other"):
        assert call(server, "POST", f"/api/v1/namespaces/{namespace}/configmaps",
                    {"metadata": {"name": cm}, "data": {"k": cm}}).status == 201
    return namespace


@pytest.fixture
def me(server: ApiServer, ns: str) -> Identity:
    """May get, list and watch the ConfigMap ``mine`` only."""
    who = server.identity(f"one-name-{uuid.uuid4().hex[:6]}")
    grant(server, ns, "one-name", who.name,
          [rule(["get", "list", "watch"], ["configmaps"], names=["mine"])])
    wait_can(server, who, "watch", "configmaps", ns=ns, name="mine")
    return who


def _watch(server: ApiServer, who: Identity, path: str) -> tuple[int, list[str] | str]:
    """Status and the names in the events of a 1-second watch (or the error message)."""
    sep = "&" if "?" in path else "?"
    reply = call(server, "GET", f"{path}{sep}watch=true&timeoutSeconds=1", identity=who)
    if reply.status != 200:
        return reply.status, str(reply.body["message"])
    body = reply.body if isinstance(reply.body, str) else (  # one event parses as JSON
        json.dumps(reply.body) if reply.body is not None else "")
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    return 200, sorted(e["object"]["metadata"]["name"] for e in events)


@pytest.mark.parametrize("selector", [
    "metadata.name!=x\\",  # the reported attack: escapes the comma kboot used to append
    "metadata.name!=x",
    "metadata.namespace!=nothing\\",
])
def test_named_watch_with_foreign_selector_is_refused(
        server: ApiServer, ns: str, me: Identity, selector: str) -> None:
    status, result = _watch(server, me, f"/api/v1/namespaces/{ns}/configmaps/mine"
                                        f"?fieldSelector={quote(selector)}")
    assert (status, result) == (400, "fieldSelector metadata.name doesn't match requested name")


def test_named_watch_sees_only_its_object(server: ApiServer, ns: str, me: Identity) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps/mine"
    assert _watch(server, me, path) == (200, ["mine"])
    pinned = f"{path}?fieldSelector={quote('metadata.name=mine')}"
    assert _watch(server, me, pinned) == (200, ["mine"])
    other = f"/api/v1/namespaces/{ns}/configmaps/other"
    assert _watch(server, me, other)[0] == 403


def test_collection_watch_and_list_authorized_by_parsed_name(
        server: ApiServer, ns: str, me: Identity) -> None:
    """``kubectl get cm mine -w`` style requests: the name comes from the parsed selector."""
    base = f"/api/v1/namespaces/{ns}/configmaps"
    assert _watch(server, me, f"{base}?fieldSelector={quote('metadata.name=mine')}") == (
        200, ["mine"])
    listed = call(server, "GET", f"{base}?fieldSelector={quote('metadata.name=mine')}",
                  identity=me)
    assert listed.status == 200
    assert [i["metadata"]["name"] for i in listed.body["items"]] == ["mine"]
    for selector in ("", "metadata.name=mine\\", "metadata.name=mine\\,metadata.name!=x",
                     "metadata.name=other", "metadata.name!=mine"):
        query = f"?fieldSelector={quote(selector)}" if selector else ""
        assert call(server, "GET", base + query, identity=me).status == 403, selector
        assert _watch(server, me, base + query)[0] == 403, selector
    # a selector pinning the name and excluding it again matches nothing, safely
    both = quote("metadata.name=mine,metadata.name!=mine")
    assert _watch(server, me, f"{base}?fieldSelector={both}") == (200, [])
