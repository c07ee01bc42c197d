"""Both storage backends for every acceptance test: ``server`` is the session apiserver on SQLite
or on the shared TLS etcd (the same tests, twice)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest

from tests.fixtures.apiserver import ApiServer

_names = itertools.count(1)


@pytest.fixture(params=["sqlite", "etcd"])
def server(request: pytest.FixtureRequest) -> ApiServer:
    fixture = "apiserver_sqlite" if request.param == "sqlite" else "apiserver_etcd"
    value = request.getfixturevalue(fixture)
    assert isinstance(value, ApiServer)
    return value


@pytest.fixture
def ns(server: ApiServer) -> str:
    """A fresh namespace name for this test (created by the test's own manifests)."""
    # unique across runs too: the etcd may be shared with other apiservers of the session
    return f"t{next(_names)}-{server.store_url.split(':')[0]}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(server: ApiServer, ns: str) -> Iterator[str]:
    """Like ``ns``, but created before the test and deleted after it."""
    from tests.integration.apiserver.http import call
    reply = call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert reply.status == 201, reply.body
    yield ns
    call(server, "DELETE", f"/api/v1/namespaces/{ns}")
