"""Protobuf request bodies: decoding the bodies kubectl 1.32's generators really send
(captured from ``kubectl create …``), and refusing what the decoder does not know."""

from __future__ import annotations

import pytest

from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.protobuf import decode_object

# kubectl create deployment d1 --image=nginx:1 --replicas=3 --port=80
DEPLOYMENT = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b6010a1d0a02643112001a0022002a"
    "003200380042005a090a03617070120264311286010803120b0a090a03617070120264311a6d0a1b0a0012"
    "001a0022002a003200380042005a090a0361707012026431124e12300a056e67696e7812076e67696e783a"
    "312a00320a0a001000185022002a0042006a007200800100880100900100a201001a003200420"
    "04a0052005800600068008201008a01009a0100c2010022020a00280038001a0c080010001800200028003"
    "8001a002200")
# kubectl create service clusterip svc1 --tcp=80:8080
SERVICE = bytes.fromhex(
    "6b3873000a0d0a027631120753657276696365126c0a210a047376633112001a0022002a003200380042005a"
    "0b0a0361707012047376633112430a1b0a0738302d38303830120354435018502207080010903f1a0028001"
    "20b0a036170701204737663311a002209436c757374657249503a00420052005a00600068001a020a001a00"
    "2200")
# kubectl create rolebinding rb1 --role=r1 --user=u1
ROLEBINDING = bytes.fromhex(
    "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542"
    "696e64696e6712650a130a0372623112001a0022002a0032003800420012270a04557365721219726261632e"
    "617574686f72697a6174696f6e2e6b38732e696f1a02753122001a250a19726261632e617574686f72697a61"
    "74696f6e2e6b38732e696f1204526f6c651a0272311a002200")
# kubectl create secret generic s1 --from-literal=a=b
SECRET = bytes.fromhex(
    "6b3873000a0c0a0276311206536563726574121e0a120a02733112001a0022002a0032003800420012060a01"
    "611201621a001a002200")


def test_deployment() -> None:
    assert decode_object(DEPLOYMENT) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d1", "labels": {"app": "d1"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d1"}},
                 "template": {"metadata": {"labels": {"app": "d1"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1",
                                                       "ports": [{"containerPort": 80}]}]}}}}


def test_service_secret_and_binding() -> None:
    assert decode_object(SERVICE)["spec"] == {
        "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        "selector": {"app": "svc1"}, "type": "ClusterIP"}
    assert decode_object(SECRET) == {"apiVersion": "v1", "kind": "Secret",
                                     "metadata": {"name": "s1"}, "data": {"a": "Yg=="}}
    binding = decode_object(ROLEBINDING)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "r1"}
    assert binding["subjects"][0]["name"] == "u1"


@pytest.mark.parametrize("raw", [
    b"not protobuf",
    b"k8s\x00\x0a\x0a\x0a\x02v1\x12\x04Node\x12\x00",  # a kind the decoder does not know
    SECRET[:-9],  # truncated
    # a ConfigMap whose metadata carries an unknown field (number 99) with a value
    b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x06\x0a\x04\x98\x06\x01\x00",
])
def test_unknown_or_broken_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(StatusError) as err:
        decode_object(raw)
    assert err.value.code == 415
