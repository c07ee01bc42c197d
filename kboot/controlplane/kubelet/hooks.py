"""Container lifecycle hooks (``postStart``, ``preStop``): running one handler, as upstream.

``exec`` runs the command in the container through the runtime's ``ExecSync`` with no time
limit; ``httpGet`` is sent by the kubelet to ``host`` (default: the pod IP) and succeeds on any
HTTP response, whatever its status (only connecting or reading fails it); ``sleep`` waits
``seconds`` in the kubelet. ``tcpSocket`` passes API validation for compatibility but is not a
runnable hook upstream: it fails at run time. Where a hook runs, and what its failure does, is
:class:`~kboot.controlplane.kubelet.sync.PodWorker`'s part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kboot.controlplane.api.shapes import Obj
from kboot.controlplane.client.clock import Clock, wait_event
from kboot.controlplane.errors import ControlPlaneError
from kboot.controlplane.kubelet.cri.types import Runtime, RuntimeError_
from kboot.controlplane.kubelet.probes import http_get, resolve_port

log = logging.getLogger(__name__)
AGENT = "kube-lifecycle/1.32"
MINIMUM_GRACE = 2  # upstream's minimumGracePeriodInSeconds: the SIGTERM window a stop always gets


class HookError(ControlPlaneError):
    """A lifecycle handler failed; the message says which and why (kubelet log only: events
    carry a fixed text, since hook output may hold secrets)."""


async def run_hook(handler: Obj, *, runtime: Runtime, container_id: str, container: Obj,
                   pod_name: str, pod_ip: str, clock: Clock) -> None:
    """Run one ``LifecycleHandler``; raise :class:`HookError` when it fails."""
    who = f"for Container {container.get('name')!r} in Pod {pod_name!r}"
    if isinstance(handler.get("exec"), dict):
        command = [str(a) for a in handler["exec"].get("command") or []]
        try:
            res = await runtime.exec_sync(container_id, command, 0)
        except RuntimeError_ as exc:
            raise HookError(f"Exec lifecycle hook ({command}) {who} failed - error: {exc}"
                            ) from None
        if res.exit_code != 0:
            output = (res.stdout + res.stderr).decode(errors="replace")[-1024:]
            raise HookError(f"Exec lifecycle hook ({command}) {who} failed - error: command "
                            f"exited with {res.exit_code}, message: {output!r}")
        return
    if isinstance(handler.get("httpGet"), dict):
        action = handler["httpGet"]
        try:
            await http_get(action, host=action.get("host") or pod_ip,
                           port=resolve_port(action.get("port"), container), timeout=None,
                           agent=AGENT)
        except (OSError, ValueError, TimeoutError) as exc:
            raise HookError(f"HTTP lifecycle hook ({action.get('path', '/')}) {who} failed - "
                            f"error: {exc}") from None
        return
    if isinstance(handler.get("sleep"), dict):
        await clock.sleep(float(handler["sleep"].get("seconds") or 0))
        return
    raise HookError(f"Cannot run handler {who}: invalid handler {sorted(handler)} (tcpSocket "
                    "is not supported as a lifecycle hook)")


async def run_pre_stop(handler: Obj, grace: int, *, runtime: Runtime, container_id: str,
                       container: Obj, pod_name: str, pod_ip: str, clock: Clock,
                       on_failure: Callable[[], None]) -> int:
    """Run a ``preStop`` hook for at most *grace* seconds; return the whole seconds it took
    (upstream subtracts them from the grace period left for SIGTERM). A hook still running
    at the deadline is abandoned; a failed one calls *on_failure* and termination goes on."""
    start = clock.monotonic()
    task = asyncio.create_task(run_hook(handler, runtime=runtime, container_id=container_id,
                                        container=container, pod_name=pod_name, pod_ip=pod_ip,
                                        clock=clock))
    done = asyncio.Event()
    task.add_done_callback(lambda _t: done.set())
    if not await wait_event(clock, done, grace):
        task.cancel()
        log.info("preStop hook of %s in %s not completed in the grace period (%d s)",
                 container.get("name"), pod_name, grace)
    elif not task.cancelled() and task.exception() is not None:
        log.warning("preStop hook failed: %s", task.exception())
        on_failure()
    return int(clock.monotonic() - start)
