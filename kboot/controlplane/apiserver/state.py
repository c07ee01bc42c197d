"""What every handler receives: the server-wide state and the per-request scope.

``ServerState`` is built once at startup (store and served kinds, caches, auth, allocators,
metrics, clock) and passed
explicitly — no module-level globals. ``Scope`` is the parsed request: target, user, verb and the
query parameters handlers share.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiMapping

from kboot.controlplane.api.registry import ResourceKind
from kboot.controlplane.apiserver.admission import WriteOptions
from kboot.controlplane.apiserver.auth import Authenticator, UserInfo
from kboot.controlplane.apiserver.config import ServerConfig
from kboot.controlplane.apiserver.errors import bad_request
from kboot.controlplane.apiserver.metrics import Metrics
from kboot.controlplane.apiserver.routing import Target
from kboot.controlplane.apiserver.storage import ObjectStorage
from kboot.controlplane.apiserver.tokens import PrivateKey
from kboot.controlplane.apiserver.watchcache import WatchCaches
from kboot.controlplane.client.clock import Clock, LoopClock

if TYPE_CHECKING:
    from kboot.controlplane.apiserver.allocators import ServiceAllocators
    from kboot.controlplane.apiserver.apiservices import Aggregation
    from kboot.controlplane.apiserver.authz import Authorizer
    from kboot.controlplane.apiserver.crdcontroller import CRDController
    from kboot.controlplane.apiserver.kinds import KindRegistry
    from kboot.controlplane.apiserver.strategy import Strategy
    from kboot.controlplane.apiserver.webhooks.dispatcher import WebhookDispatcher


@dataclass
class ServerState:
    config: ServerConfig
    storage: ObjectStorage
    caches: WatchCaches
    authenticator: Authenticator
    authorizer: Authorizer
    allocators: ServiceAllocators
    metrics: Metrics = field(default_factory=Metrics)
    kubelet_ssl: ssl.SSLContext | None = None
    sa_signing_key: PrivateKey | None = None
    clock: Clock = field(default_factory=LoopClock)
    webhooks: WebhookDispatcher | None = None  # admission webhooks (None: not called)
    aggregation: Aggregation | None = None  # APIService proxying and discovery (aggregator.py)
    ready: bool = False
    stopping: bool = False  # shutting down: every response closes its connection
    crd_controller: CRDController | None = None  # started by main.start_background

    @property
    def kinds(self) -> KindRegistry:
        """The served kinds and their strategies (held by the storage)."""
        return self.storage.kinds

    def strategy(self, kind: ResourceKind) -> Strategy:
        return self.storage.kinds.strategy(kind)


STATE: web.AppKey[ServerState] = web.AppKey("kboot_state", ServerState)


@dataclass(frozen=True)
class Scope:
    target: Target
    user: UserInfo
    verb: str
    query: MultiMapping[str]
    user_agent: str = ""

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1")

    def write_options(self) -> WriteOptions:
        dry = self.query.getall("dryRun", [])
        for value in dry:
            if value != "All":
                raise bad_request(f'unsupported dryRun value "{value}"; only "All" is supported')
        validation = self.query.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f'invalid fieldValidation directive "{validation}": must be one '
                              'of Strict, Warn, Ignore')
        manager = self.query.get("fieldManager") or _manager_from_agent(self.user_agent)
        if len(manager) > 128:
            raise bad_request("fieldManager: Too long: may not be more than 128 bytes")
        return WriteOptions(field_manager=manager, field_validation=validation,
                            dry_run=bool(dry))


def _manager_from_agent(agent: str) -> str:
    """Upstream's default manager: the User-Agent up to the first '/'."""
    name = agent.split("/")[0].strip()
    return name[:128] or "unknown"
