"""The root-CA publisher (upstream's ``rootcacertpublisher``): a ``kube-root-ca.crt``
ConfigMap with key ``ca.crt`` in every namespace that is not being deleted, holding the CA
that signs the apiserver's serving certificate, so pods (and projected service-account
volumes) can verify the apiserver. A deleted or edited copy is put back.

The CA is ``--root-ca-file`` or, as upstream, the CA of the controller-manager's own
kubeconfig; with neither, the controller does nothing (and says so once).
"""

from __future__ import annotations

import logging
from pathlib import Path

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.config import ClientConfig
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.errors import AlreadyExists, Conflict, Forbidden, NotFound
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.client.meta import is_deleting
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)
NAME = "kube-root-ca.crt"
KEY = "ca.crt"
# upstream marks the map so tools can tell it apart from user config
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using "
               "internal endpoints such as the internal service IP or kubernetes.default.svc. "
               "No other usage is guaranteed across distributions of Kubernetes clusters.")


def root_ca(root_ca_file: str, config: ClientConfig | None) -> str:
    """The PEM to publish: the file if given, else the kubeconfig's CA (data or file)."""
    if root_ca_file:
        return Path(root_ca_file).read_text()
    if config is None:
        return ""
    if config.ca_data:
        return config.ca_data.decode()
    return Path(config.ca_file).read_text() if config.ca_file else ""


def wanted_configmap(namespace: str, ca: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": namespace,
                         "annotations": {"kubernetes.io/description": DESCRIPTION}},
            "data": {KEY: ca}}


class RootCaPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.ca = ctx.options.root_ca
        self.namespaces = self.informer("namespaces")
        self.maps = self.informer("configmaps", field_selector=f"metadata.name={NAME}")
        self.namespaces.add_handlers(Handlers(on_add=self.enqueue,
                                              on_update=lambda _o, n: self.enqueue(n)))
        self.maps.add_handlers(Handlers(on_update=lambda _o, n: self._map(n),
                                        on_delete=self._map))
        if not self.ca:
            log.warning("no root CA (--root-ca-file, or a CA in the kubeconfig): "
                        "%s ConfigMaps are not published", NAME)

    def _map(self, cm: Obj) -> None:
        self.queue.add(cm["metadata"]["namespace"])

    async def reconcile(self, key: str) -> Result:
        ns = self.namespaces.get(key)
        if not self.ca or ns is None or is_deleting(ns):
            return DONE
        current = self.maps.get(f"{key}/{NAME}")
        wanted = wanted_configmap(key, self.ca)
        try:
            if current is None:
                await self.client.create("configmaps", wanted, namespace=key)
            elif (current.get("data") or {}) != wanted["data"]:
                meta = current["metadata"]
                await self.client.replace("configmaps", {
                    **wanted, "metadata": {**meta, "annotations": {
                        **(meta.get("annotations") or {}), **wanted["metadata"]["annotations"]}}})
        except (AlreadyExists, Conflict, NotFound):
            return Result(requeue=True)  # the cache lags a write: look again
        except Forbidden:
            return DONE  # the namespace is terminating: nothing may be created in it
        return DONE
