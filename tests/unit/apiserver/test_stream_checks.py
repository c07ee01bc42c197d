"""What the apiserver refuses before opening an exec/attach stream, and the Pod that
``kubectl debug node/N`` sends in protobuf."""

from __future__ import annotations

from typing import Any

import pytest

from kboot.controlplane.apiserver.errors import StatusError
from kboot.controlplane.apiserver.kubeletproxy import pick_container
from kboot.controlplane.apiserver.protobuf import decode_object
from kboot.controlplane.apiserver.streams import ensure_running


def _pod(phase: str, state: dict[str, Any] | None) -> dict[str, Any]:
    statuses = [{"name": "c", "state": state}] if state is not None else []
    return {"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}], "ephemeralContainers": [{"name": "dbg"}]},
            "status": {"phase": phase, "containerStatuses": statuses}}


def test_running_and_not_yet_reported_containers_pass() -> None:
    ensure_running(_pod("Running", {"running": {}}), "c", "exec")
    ensure_running(_pod("Pending", None), "c", "attach")  # the kubelet judges


@pytest.mark.parametrize(("pod", "sub", "message"), [
    (_pod("Succeeded", None), "attach",
     "cannot attach to a container in a completed pod; current phase is Succeeded"),
    (_pod("Failed", None), "exec",
     "cannot exec into a container in a completed pod; current phase is Failed"),
    (_pod("Running", {"waiting": {"reason": "CrashLoopBackOff"}}), "exec",
     "container c is not running in pod p (waiting: CrashLoopBackOff)"),
    (_pod("Running", {"terminated": {"exitCode": 1}}), "attach",
     "container c is not running in pod p (terminated)"),
])
def test_refusals(pod: dict[str, Any], sub: str, message: str) -> None:
    with pytest.raises(StatusError) as err:
        ensure_running(pod, "c", sub)
    assert (err.value.code, err.value.message) == (400, message)


def test_ephemeral_containers_can_be_addressed() -> None:
    assert pick_container(_pod("Running", None), "dbg") == "dbg"


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _f(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def test_debug_node_pod_in_protobuf() -> None:
    # what kubectl 1.32's generateNodeDebugPod + the legacy profile fill, field by field
    container = (_f(1, b"debugger") + _f(2, b"busybox") + _f(3, b"sh")
                 + _f(9, _f(1, b"host-root") + _f(3, b"/host")) + _f(16, 1) + _f(18, 1)
                 + _f(20, b"File"))
    spec = (_f(1, _f(1, b"host-root") + _f(2, _f(1, _f(1, b"/") + _f(2, b""))))
            + _f(2, container) + _f(3, b"Never") + _f(10, b"n1") + _f(11, 1) + _f(12, 1)
            + _f(13, 1) + _f(22, _f(2, b"Exists")))
    body = _f(1, _f(1, b"node-debugger-n1-x")) + _f(2, spec) + _f(3, b"")
    raw = b"k8s\x00" + _f(1, _f(1, b"v1") + _f(2, b"Pod")) + _f(2, body)
    assert decode_object(raw) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "node-debugger-n1-x"},
        "spec": {"volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
                 "containers": [{"name": "debugger", "image": "busybox", "command": ["sh"],
                                 "volumeMounts": [{"name": "host-root", "mountPath": "/host"}],
                                 "stdin": True, "tty": True,
                                 "terminationMessagePolicy": "File"}],
                 "restartPolicy": "Never", "nodeName": "n1", "hostNetwork": True,
                 "hostPID": True, "hostIPC": True, "tolerations": [{"operator": "Exists"}]}}
