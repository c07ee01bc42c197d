"""The ApiClient contract over the fake client and over the real client against an in-process
kboot-apiserver on the memory store (see ``contract.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from kboot.controlplane.client.api import ApiClient
from kboot.controlplane.client.config import ClientConfig
from kboot.controlplane.client.fake import FakeClient
from kboot.controlplane.client.rest import Client
from tests.unit.apiserver.harness import ADMIN, running
from tests.unit.client.contract import ApiClientContract, Backend


@contextlib.asynccontextmanager
async def _fake() -> AsyncIterator[ApiClient]:
    client = FakeClient()
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def _apiserver() -> AsyncIterator[ApiClient]:
    async with running() as h:
        server = str(h.client.make_url("")).rstrip("/")
        client = Client(ClientConfig(server=server, token=ADMIN))
        try:
            yield client
        finally:
            await client.close()


@pytest.fixture(params=["fake", "apiserver"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return Backend(request.param, _fake if request.param == "fake" else _apiserver)


class TestContract(ApiClientContract):
    pass
