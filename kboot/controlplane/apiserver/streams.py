"""Checks before an exec/attach stream is opened to a kubelet, so mistakes are plain 400s.

Upstream's kubelet answers a stream to a missing or stopped container with an error before the
upgrade; here the apiserver looks at the pod's reported status first, which gives kubectl the
same kind of message (``cannot exec into a container in a completed pod``) without a WebSocket
handshake failing somewhere between apiserver and kubelet.
"""

from __future__ import annotations

from kboot.controlplane.apiserver.errors import JsonObj, bad_request

_VERBS = {"exec": "exec into", "attach": "attach to"}


def _state(pod: JsonObj, container: str) -> JsonObj | None:
    status = pod.get("status") or {}
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for st in status.get(field) or []:
            if isinstance(st, dict) and st.get("name") == container:
                state = st.get("state")
                return state if isinstance(state, dict) else {}
    return None


def ensure_running(pod: JsonObj, container: str, subresource: str) -> None:
    """400 when the pod has finished or reports *container* as not running. A container the
    kubelet has not reported on yet is left for the kubelet to judge."""
    verb = _VERBS.get(subresource, subresource)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise bad_request(f"cannot {verb} a container in a completed pod; current phase is "
                          f"{phase}")
    state = _state(pod, container)
    if state is not None and "running" not in state:
        detail = ""
        if state and "waiting" in state:
            detail = f" (waiting: {(state['waiting'] or {}).get('reason', 'unknown')})"
        elif state and "terminated" in state:
            detail = " (terminated)"
        raise bad_request(f"container {container} is not running in pod "
                          f"{pod['metadata']['name']}{detail}")
