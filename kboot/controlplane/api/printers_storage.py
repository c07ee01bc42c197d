"""Upstream's table columns for ``storage.k8s.io`` kinds (``kubectl get sc,csidrivers,csinodes``).

A default StorageClass prints as ``local-path (default)`` in the Name cell, as upstream's printer
does, so the StorageClass printer renders its own name cell.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kboot.controlplane.api.printers_base import AGE, NAME, Obj, Printer, age, column, meta, sub
from kboot.controlplane.api.storageclasses import is_default


def _class_cells(sc: Obj, now: datetime) -> list[Any]:
    name = str(meta(sc).get("name", ""))
    return [f"{name} (default)" if is_default(dict(sc)) else name,
            sc.get("provisioner") or "", sc.get("reclaimPolicy") or "Delete",
            sc.get("volumeBindingMode") or "Immediate",
            bool(sc.get("allowVolumeExpansion")), age(sc, now)]


STORAGE_CLASS = Printer(
    (NAME, column("Provisioner"), column("ReclaimPolicy"), column("VolumeBindingMode"),
     column("AllowVolumeExpansion", "boolean"), AGE),
    _class_cells, names_itself=True)


def _modes(driver: Obj) -> str:
    modes = sub(driver, "spec", "volumeLifecycleModes") or ["Persistent"]
    return ",".join(str(m) for m in modes)


CSI_DRIVER = Printer(
    (NAME, column("AttachRequired", "boolean"), column("PodInfoOnMount", "boolean"),
     column("StorageCapacity", "boolean"), column("TokenRequests"),
     column("RequiresRepublish", "boolean"), column("Modes"), AGE),
    lambda d, now: [bool(sub(d, "spec", "attachRequired") is not False),
                    bool(sub(d, "spec", "podInfoOnMount")),
                    bool(sub(d, "spec", "storageCapacity")),
                    ",".join(str(t.get("audience", "")) for t in
                             sub(d, "spec", "tokenRequests") or []) or "<unset>",
                    bool(sub(d, "spec", "requiresRepublish")), _modes(d), age(d, now)])

CSI_NODE = Printer(
    (NAME, column("Drivers", "integer"), AGE),
    lambda n, now: [len(sub(n, "spec", "drivers") or []), age(n, now)])

STORAGE_PRINTERS: dict[str, Printer] = {
    "StorageClass": STORAGE_CLASS, "CSIDriver": CSI_DRIVER, "CSINode": CSI_NODE,
}
