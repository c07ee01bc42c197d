"""Which Ingresses are ours: ``spec.ingressClassName``, the legacy ``kubernetes.io/ingress.class``
annotation, and the default IngressClass (annotation
``ingressclass.kubernetes.io/is-default-class: "true"``) for Ingresses that name no class.

Kept apart from routing so the controller can ask the same question when it decides whose
``status.loadBalancer`` to maintain and whether to create the ``kboot`` IngressClass.
"""

from __future__ import annotations

from collections.abc import Iterable

from kboot.controlplane.api.shapes import Obj, metadata

DEFAULT_CONTROLLER = "kboot.io/ingress"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def is_default_class(ingress_class: Obj) -> bool:
    annotations = metadata(ingress_class).get("annotations") or {}
    return str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"


def our_class_names(classes: Iterable[Obj], controller: str) -> tuple[set[str], bool]:
    """Names of the IngressClasses of ``controller``, and whether one of them is the default."""
    names: set[str] = set()
    default = False
    for c in classes:
        if (c.get("spec") or {}).get("controller") == controller:
            names.add(c["metadata"]["name"])
            default = default or is_default_class(c)
    return names, default


def is_ours(ingress: Obj, classes: Iterable[Obj], controller: str) -> bool:
    names, default = our_class_names(classes, controller)
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    if class_name is None:
        annotations = metadata(ingress).get("annotations") or {}
        class_name = annotations.get(LEGACY_CLASS_ANNOTATION)
    if class_name is None:
        return default
    return class_name in names


def default_class_body(name: str, controller: str, *, make_default: bool) -> Obj:
    """The IngressClass the controller creates at startup when none of its class exists."""
    metadata: Obj = {"name": name}
    if make_default:
        metadata["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": metadata, "spec": {"controller": controller}}
