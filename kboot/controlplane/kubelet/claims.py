"""PersistentVolumeClaims for the kubelet: a pod's claim resolves to its bound PV's path.

The kubelet never provisions or binds (that is the controller-manager's local-path
provisioner and binder, :mod:`kboot.controlplane.controllers.provisioner`): it reads the claim
and its PV by name, and mounts the PV's ``hostPath.path`` (or ``local.path``), creating the
directory on first use. The scheduler places a pod only once its claims are bound, so an
unbound claim here (a pod created with ``nodeName`` set, bypassing the scheduler) is waited
for: the pod stays ``ContainerCreating`` with a message naming the claim.
"""

from __future__ import annotations

import logging

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client import ApiClient, ApiError, NotFound

log = logging.getLogger(__name__)


def pv_path(pv: Obj) -> str:
    spec = pv.get("spec") or {}
    return str((spec.get("hostPath") or spec.get("local") or {}).get("path", ""))


async def resolve_claims(client: ApiClient, pod: Obj) -> dict[str, str]:
    """Claim name → node path for the pod's PVC volumes that are bound."""
    ns = pod["metadata"].get("namespace", "default")
    out: dict[str, str] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        ref = vol.get("persistentVolumeClaim")
        if not ref:
            continue
        try:
            claim = await client.get("persistentvolumeclaims", ref["claimName"], namespace=ns)
            name = (claim.get("spec") or {}).get("volumeName")
            if not name:
                continue
            pv = await client.get("persistentvolumes", name)
        except NotFound:
            continue
        except ApiError as exc:
            log.warning("claim %s/%s: %s", ns, ref["claimName"], exc)
            continue
        if pv_path(pv):
            out[ref["claimName"]] = pv_path(pv)
    return out
