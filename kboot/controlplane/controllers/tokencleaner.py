"""The token cleaner: deletes bootstrap-token Secrets once their ``expiration`` has passed.

The apiserver already refuses an expired token; deleting the Secret keeps ``kube-system`` tidy
and the credential gone for good. A token not yet expired is looked at again when it expires.
"""

from __future__ import annotations

import logging

from kboot.controlplane.api import bootstraptokens
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)


class TokenCleaner(Controller):
    name = "tokencleaner"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.tokens = self.informer("secrets", namespace=bootstraptokens.NAMESPACE,
                                    field_selector=f"type={bootstraptokens.SECRET_TYPE}")
        self.tokens.add_handlers(Handlers(on_add=self.enqueue,
                                          on_update=lambda _o, n: self.enqueue(n)))

    async def reconcile(self, key: str) -> Result:
        secret = self.tokens.get(key)
        if secret is None:
            return DONE
        expires = bootstraptokens.expiration(secret)
        if expires is None:
            return DONE
        left = (expires - self.clock.now()).total_seconds()
        if left > 0:
            return Result(requeue_after=left + 1)
        name = secret["metadata"]["name"]
        try:
            await self.client.delete("secrets", name, namespace=bootstraptokens.NAMESPACE)
        except NotFound:
            return DONE
        log.info("deleted expired bootstrap token %s", name)
        return DONE
