"""Builders for the API objects the ingress tests feed to the pure functions."""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from kboot.pki import CertKeyPair, CertSpec, issue, new_ca

Obj = dict[str, Any]


def ingress_class(name: str = "kboot", *, controller: str = "kboot.io/ingress",
                  default: bool = False) -> Obj:
    md: Obj = {"name": name}
    if default:
        md["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": md,
            "spec": {"controller": controller}}


def path(p: str, service: str, port: int | str = 80, path_type: str = "Prefix") -> Obj:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": p, "pathType": path_type,
            "backend": {"service": {"name": service, "port": ref}}}


def rule(host: str | None, *paths: Obj) -> Obj:
    r: Obj = {"http": {"paths": list(paths)}}
    if host is not None:
        r["host"] = host
    return r


def ingress(name: str, *rules: Obj, ns: str = "default", created: str = "2026-01-01T00:00:00Z",
            class_name: str | None = "kboot", tls: list[Obj] | None = None,
            default_backend: tuple[str, int] | None = None,
            annotations: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"rules": list(rules)}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if tls is not None:
        spec["tls"] = tls
    if default_backend is not None:
        spec["defaultBackend"] = {"service": {"name": default_backend[0],
                                              "port": {"number": default_backend[1]}}}
    md: Obj = {"name": name, "namespace": ns, "creationTimestamp": created,
               "uid": f"uid-{ns}-{name}"}
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": md,
            "spec": spec}


def service(name: str, *ports: tuple[str, int], ns: str = "default") -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}}


def endpoints(name: str, ips: list[str], ports: list[tuple[str, int]], *, ns: str = "default",
              not_ready: list[str] | None = None) -> Obj:
    subset: Obj = {"addresses": [{"ip": ip} for ip in ips],
                   "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
            "subsets": [subset]}


@cache
def ca_pair() -> CertKeyPair:
    return new_ca("kboot-ingress-test-ca")


def server_pair(*hosts: str) -> CertKeyPair:
    return issue(ca_pair(), CertSpec(hosts[0], dns_names=hosts, server=True))


def tls_secret(name: str, pair: CertKeyPair | None, *, ns: str = "default",
               type_: str = "kubernetes.io/tls", key_pem: bytes | None = None) -> Obj:
    data = {}
    if pair is not None:
        data = {"tls.crt": base64.b64encode(pair.cert_pem()).decode(),
                "tls.key": base64.b64encode(key_pem or pair.key_pem()).decode()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": type_, "data": data}
