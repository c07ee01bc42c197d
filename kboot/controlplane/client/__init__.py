"""How every control-plane component talks to the apiserver.

``rest.Client`` (async REST over aiohttp) and ``fake.FakeClient`` (in-memory, for unit tests)
both satisfy :class:`kboot.controlplane.client.api.ApiClient`; informers, the workqueue, the
controller runner, the event recorder and leader election are built on that protocol only, so
everything above it runs unchanged against either. ``sync`` is a blocking facade for the
bootstrapper.
"""

from __future__ import annotations

from kboot.controlplane.client.api import ApiClient, Obj, WatchEvent
from kboot.controlplane.client.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Expired,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)

__all__ = [
    "AlreadyExists",
    "ApiClient",
    "ApiError",
    "Conflict",
    "Expired",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Obj",
    "Unauthorized",
    "WatchEvent",
]
