"""The pure rules of ``storage.k8s.io/v1`` StorageClasses and of dynamic provisioning, shared
by validation, the DefaultStorageClass admission, the scheduler's volume binding, the
provisioning controller and the kubelet's local-path cleanup.

- A class is the default when its ``storageclass.kubernetes.io/is-default-class`` annotation
  (or the beta one) is ``"true"``; with several defaults the newest wins, then the name
  (upstream since 1.26), so adding a second default never breaks claim creation.
- ``kboot up`` installs :func:`local_path_class`: ``WaitForFirstConsumer``, provisioner
  ``kboot.io/local-path``, data in ``/var/lib/kboot/local-path/pvc-<uid>_<ns>_<claim>`` on the
  node the scheduler picked. A directory has no quota: the requested size is recorded, not
  enforced.
- How a pod's claims stand for scheduling is :func:`claim_state` (one small enum), so the
  scheduler's filter and its events say the same thing as the controller decides.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from typing import Any

from kboot.controlplane.api.field_errors import (
    FieldError,
    check_enum,
    forbidden,
    immutable,
    invalid,
    required,
)
from kboot.controlplane.api.quantities import parse_quantity
from kboot.controlplane.api.shapes import Obj

IS_DEFAULT = "storageclass.kubernetes.io/is-default-class"
IS_DEFAULT_BETA = "storageclass.beta.kubernetes.io/is-default-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
STORAGE_PROVISIONER_BETA = "volume.beta.kubernetes.io/storage-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
IMMEDIATE, WAIT = "Immediate", "WaitForFirstConsumer"

LOCAL_PATH_CLASS = "local-path"
LOCAL_PATH_PROVISIONER = "kboot.io/local-path"
LOCAL_PATH_DIR = "/var/lib/kboot/local-path"
# on local-path PVs: the node's kubelet removes the directory, then this finalizer
DATA_FINALIZER = "kboot.io/local-path-data"
HOSTNAME = "kubernetes.io/hostname"


def is_default(sc: Obj) -> bool:
    notes = (sc.get("metadata") or {}).get("annotations") or {}
    return "true" in (notes.get(IS_DEFAULT), notes.get(IS_DEFAULT_BETA))


def default_class(classes: Iterable[Obj]) -> str | None:
    """The name of the default class: the newest default, ties broken by name."""
    defaults = [c for c in classes if is_default(c) and not (c.get("metadata") or {}).get(
        "deletionTimestamp")]
    if not defaults:
        return None
    defaults.sort(key=lambda c: (str(c["metadata"].get("creationTimestamp") or ""),
                                 _neg(c["metadata"]["name"])), reverse=True)
    return str(defaults[0]["metadata"]["name"])


def _neg(name: str) -> tuple[int, ...]:
    """Sort key that orders names ascending inside a descending sort."""
    return tuple(-ord(ch) for ch in name)


def binding_mode(sc: Obj) -> str:
    return str(sc.get("volumeBindingMode") or IMMEDIATE)


def local_path_class() -> Obj:
    """The default class ``kboot up`` installs."""
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": LOCAL_PATH_CLASS, "annotations": {IS_DEFAULT: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
        "volumeBindingMode": WAIT, "allowVolumeExpansion": True,
    }


def local_path_dir(base: str, claim: Obj) -> str:
    """Where the local-path provisioner keeps a claim's data on its node."""
    meta = claim["metadata"]
    return os.path.join(base, f"pvc-{meta['uid']}_{meta['namespace']}_{meta['name']}")


def under_base(path: str, base: str) -> bool:
    """Whether ``path`` is a directory the local-path provisioner made (never removes
    anything else, whatever a PV says)."""
    real, root = os.path.normpath(path), os.path.normpath(base)
    return os.path.dirname(real) == root and os.path.basename(real).startswith("pvc-")


def pinned_node(pv: Obj) -> str | None:
    """The one node a PV's required node affinity names by hostname (local volumes)."""
    terms = ((((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
             .get("nodeSelectorTerms") or [])
    if len(terms) != 1:
        return None
    exprs = terms[0].get("matchExpressions") or []
    if (len(exprs) == 1 and exprs[0].get("key") == HOSTNAME and exprs[0].get("operator") == "In"
            and len(exprs[0].get("values") or []) == 1):
        return str(exprs[0]["values"][0])
    return None


# -- validation and defaults (upstream's ValidateStorageClass / Update) ---------------------

_RECLAIM = ("Delete", "Retain")
_MODES = (IMMEDIATE, WAIT)


def default_storage_class(obj: Obj) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", IMMEDIATE)


def validate_storage_class(obj: Obj, old: Obj | None) -> list[FieldError]:
    errors: list[FieldError] = []
    provisioner = obj.get("provisioner")
    if not provisioner:
        errors.append(required("provisioner"))
    elif not isinstance(provisioner, str) or len(provisioner) > 63 * 4 + 3:
        errors.append(invalid("provisioner", provisioner, "must be a qualified name"))
    params = obj.get("parameters") or {}
    if not isinstance(params, dict) or len(params) > 512:
        errors.append(invalid("parameters", params, "must have at most 512 entries"))
    errors += check_enum("reclaimPolicy", obj.get("reclaimPolicy"), _RECLAIM)
    errors += check_enum("volumeBindingMode", obj.get("volumeBindingMode"), _MODES)
    if old is None:
        return errors
    for field in ("parameters", "provisioner", "reclaimPolicy"):
        if (old.get(field) or None) != (obj.get(field) or None):
            errors.append(forbidden(field, f"updates to {field} are forbidden."))
    if old.get("volumeBindingMode") != obj.get("volumeBindingMode"):
        errors.append(immutable("volumeBindingMode", obj.get("volumeBindingMode")))
    return errors


def validate_csi_driver(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = check_enum("spec.fsGroupPolicy", spec.get("fsGroupPolicy"),
                        ("File", "None", "ReadWriteOnceWithFSType"))
    if old is not None and (old.get("spec") or {}).get("attachRequired") != spec.get(
            "attachRequired"):
        errors.append(immutable("spec.attachRequired", spec.get("attachRequired")))
    return errors


def validate_csi_node(obj: Obj, old: Obj | None) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, driver in enumerate((obj.get("spec") or {}).get("drivers") or []):
        if not isinstance(driver, dict) or not driver.get("name"):
            errors.append(required(f"spec.drivers[{i}].name"))
        elif not driver.get("nodeID"):
            errors.append(required(f"spec.drivers[{i}].nodeID"))
    return errors


# -- claims -----------------------------------------------------------------------------------

def claim_class(claim: Obj) -> str:
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def requested(claim: Obj) -> int:
    spec = claim.get("spec") or {}
    value: Any = ((spec.get("resources") or {}).get("requests") or {}).get("storage") or "0"
    return int(parse_quantity(str(value)))


def resize_error(claim: Obj, old: Obj, sc: Obj | None) -> str | None:
    """Upstream's PersistentVolumeClaimResize admission: why a changed request is refused,
    or None. Only a bound claim of a class with ``allowVolumeExpansion`` may grow; no claim
    may shrink below its recorded capacity."""
    if requested(claim) == requested(old):
        return None
    if not (old.get("spec") or {}).get("volumeName"):
        return "spec is immutable after creation except resources.requests for bound claims"
    if sc is None or not sc.get("allowVolumeExpansion"):
        return ("only dynamically provisioned pvc can be resized and the storageclass that "
                "provisions the pvc must support resize")
    capacity = ((old.get("status") or {}).get("capacity") or {}).get("storage")
    if capacity and requested(claim) < int(parse_quantity(str(capacity))):
        return "field can not be less than previous value"
    return None


class ClaimState(enum.Enum):
    BOUND = "bound"  # has a volume: the pod goes where the volume is reachable
    PROVISION = "provision"  # WaitForFirstConsumer: provisioned on the node chosen for the pod
    WAITING = "waiting"  # a provisioner or the binder still has to act (Immediate)
    NO_CLASS = "no-class"  # names a class that does not exist


def claim_state(claim: Obj, classes: dict[str, Obj]) -> ClaimState:
    if (claim.get("spec") or {}).get("volumeName"):
        return ClaimState.BOUND
    name = claim_class(claim)
    if not name:
        return ClaimState.WAITING  # only a pre-created volume can satisfy it
    sc = classes.get(name)
    if sc is None:
        return ClaimState.NO_CLASS
    return ClaimState.PROVISION if binding_mode(sc) == WAIT else ClaimState.WAITING
