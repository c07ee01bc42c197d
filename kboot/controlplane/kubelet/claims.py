"""PersistentVolumeClaims for the kubelet, with a node-local "local-path" provisioner.

A claim that is bound resolves to its PV's ``hostPath.path`` (or ``local.path``). A claim with
``storageClassName: local-path`` that is still unbound when the first pod using it starts on
this node is provisioned here: a PV ``pvc-<claim uid>`` pointing at a directory under
``--local-path-dir`` with a required node affinity to this node, then the claim is bound to it
(the PV's phase is the controller-manager's: nodes may not write PV status).
The data therefore outlives the pod, and later pods using the claim are scheduled (by the PV's
node affinity) back to the same node.
"""

from __future__ import annotations

import logging

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client import AlreadyExists, ApiClient, ApiError, NotFound
from kboot.controlplane.kubelet.volumes import local_path_dir

log = logging.getLogger(__name__)
LOCAL_PATH_CLASS = "local-path"


def pv_path(pv: Obj) -> str:
    spec = pv.get("spec") or {}
    return str((spec.get("hostPath") or spec.get("local") or {}).get("path", ""))


def provisioned_pv(claim: Obj, *, node: str, base: str) -> Obj:
    meta, spec = claim["metadata"], claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    path = local_path_dir(base, meta["namespace"], meta["name"], meta["uid"])
    selector = {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}",
                     "annotations": {"pv.kubernetes.io/provisioned-by": "kboot.io/local-path"}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": LOCAL_PATH_CLASS,
            "hostPath": {"path": path, "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [selector]}]}},
        },
    }


async def _provision(client: ApiClient, claim: Obj, *, node: str, base: str) -> Obj:
    pv = provisioned_pv(claim, node=node, base=base)
    try:
        pv = await client.create("persistentvolumes", pv)
    except AlreadyExists:
        pv = await client.get("persistentvolumes", pv["metadata"]["name"])
    meta = claim["metadata"]
    await client.patch("persistentvolumeclaims", meta["name"], namespace=meta["namespace"],
                       patch={"spec": {"volumeName": pv["metadata"]["name"]}})
    await client.patch_status("persistentvolumeclaims", meta["name"],
                              namespace=meta["namespace"],
                              patch={"status": {"phase": "Bound",
                                                "accessModes": pv["spec"]["accessModes"],
                                                "capacity": pv["spec"]["capacity"]}})
    log.info("provisioned %s for claim %s/%s", pv_path(pv), meta["namespace"], meta["name"])
    return pv


async def resolve_claims(client: ApiClient, pod: Obj, *, node: str, base: str) -> dict[str, str]:
    """Claim name → node path for the pod's PVC volumes that are (or can be) bound."""
    ns = pod["metadata"].get("namespace", "default")
    out: dict[str, str] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        ref = vol.get("persistentVolumeClaim")
        if not ref:
            continue
        try:
            claim = await client.get("persistentvolumeclaims", ref["claimName"], namespace=ns)
            name = (claim.get("spec") or {}).get("volumeName")
            if name:
                pv = await client.get("persistentvolumes", name)
            elif (claim.get("spec") or {}).get("storageClassName") == LOCAL_PATH_CLASS:
                pv = await _provision(client, claim, node=node, base=base)
            else:
                continue
        except NotFound:
            continue
        except ApiError as exc:  # e.g. Forbidden: the node identity may not provision
            log.warning("claim %s/%s: %s", ns, ref["claimName"], exc)
            continue
        if pv_path(pv):
            out[ref["claimName"]] = pv_path(pv)
    return out
