"""Node IPAM: each Node gets ``spec.podCIDR`` (and ``podCIDRs``), a /``mask`` block of the
cluster CIDR, lowest free first. Blocks already on nodes are marked used as the informer
replays them, before any allocation, so a restarted or newly elected manager never hands out
a block twice.
"""

from __future__ import annotations

import ipaddress
import logging

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.controller import DONE, Result
from kboot.controlplane.client.informer import Handlers
from kboot.controlplane.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)


class CidrAllocator:
    def __init__(self, cluster_cidr: str, mask: int) -> None:
        self.network = ipaddress.ip_network(cluster_cidr)
        self.mask = mask
        self.used: dict[str, str] = {}  # cidr -> node

    def occupy(self, cidr: str, node: str) -> None:
        self.used[cidr] = node

    def release(self, node: str) -> None:
        for cidr in [c for c, n in self.used.items() if n == node]:
            del self.used[cidr]

    def allocate(self, node: str) -> str:
        """The node's block: the one it already holds here (a patch of ours the informer has not
        shown yet must not earn it a second block), else the lowest free one."""
        held = next((c for c, n in self.used.items() if n == node), None)
        if held is not None:
            return held
        for subnet in self.network.subnets(new_prefix=self.mask):
            text = str(subnet)
            if text not in self.used:
                self.used[text] = node
                return text
        raise RuntimeError(f"cluster CIDR {self.network} is exhausted")


class NodeIpamController(Controller):
    name = "nodeipam"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.alloc = CidrAllocator(ctx.options.cluster_cidr, ctx.options.node_cidr_mask)
        self.nodes = self.informer("nodes")
        self.nodes.add_handlers(Handlers(on_add=self._seen, on_update=lambda _o, n: self._seen(n),
                                         on_delete=self._gone))

    def _seen(self, node: Obj) -> None:
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr:
            self.alloc.occupy(cidr, node["metadata"]["name"])
        else:
            self.enqueue(node)

    def _gone(self, node: Obj) -> None:
        self.alloc.release(node["metadata"]["name"])

    async def reconcile(self, key: str) -> Result:
        node = self.nodes.get(key)
        if node is None or (node.get("spec") or {}).get("podCIDR"):
            return DONE
        cidr = self.alloc.allocate(key)
        try:
            await self.client.patch("nodes", key, {"spec": {"podCIDR": cidr,
                                                            "podCIDRs": [cidr]}})
        except Exception:
            self.alloc.release(key)
            raise
        log.info("node %s: podCIDR %s", key, cidr)
        self.ctx.recorder.event(node, "Normal", "CIDRAssignmentSucceeded",
                                f"Node {key} assigned podCIDR {cidr}")
        return DONE
