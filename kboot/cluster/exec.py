"""``kboot exec``: run a command in a pod (WebSocket v5 through the apiserver) or on many hosts
at once (a one-task ``shell`` playbook through the engine).

Neither prints: pod output goes to a caller-supplied sink ``(channel, bytes)``, stdin comes from
a caller-supplied blocking reader, and host runs return one :class:`HostOutput` per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from kboot.controlplane.client.rest import Client
from kboot.controlplane.client.streams import STATUS, ExecStream, exit_status
from kboot.errors import UserError
from kboot.inventory import Inventory, select_hosts
from kboot.playbook import Event, Playbook, TaskResult, load_playbook, run_playbook
from kboot.playbook.state import TransportFactory
from kboot.playbook.yamlload import load_yaml_text

log = logging.getLogger(__name__)

Sink = Callable[[int, bytes], None]
Reader = Callable[[], bytes]  # blocking; b"" at end of input


@dataclass(frozen=True)
class PodExec:
    pod: str
    namespace: str
    command: tuple[str, ...]
    container: str | None = None
    stdin: bool = False
    tty: bool = False
    size: tuple[int, int] | None = None  # terminal (columns, rows) to announce with -t


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    message: str = ""  # why it failed, when the Status said something else than an exit code


async def _pump_stdin(stream: ExecStream, read: Reader) -> None:
    """Forward blocking reads (in a daemon thread) to the pod; CLOSE the stdin stream at EOF."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def reader() -> None:
        while True:
            try:
                data = read()
            except OSError:
                data = b""
            loop.call_soon_threadsafe(queue.put_nowait, data)
            if not data:
                return

    threading.Thread(target=reader, daemon=True, name="kboot-exec-stdin").start()
    while True:
        data = await queue.get()
        if not data:
            await stream.close_stdin()
            return
        await stream.send_stdin(data)


def _follow_resizes(stream: ExecStream, size: Callable[[], tuple[int, int]]) -> None:
    """Send the terminal's new size on SIGWINCH (for the life of the event loop)."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    def changed() -> None:
        task = loop.create_task(stream.resize(*size()))
        pending.add(task)
        task.add_done_callback(pending.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGWINCH, changed)


async def exec_in_pod(kubeconfig: str | os.PathLike[str], spec: PodExec, *, sink: Sink,
                      read: Reader | None = None,
                      terminal_size: Callable[[], tuple[int, int]] | None = None) -> ExecResult:
    """Run ``spec.command`` in the pod; output frames go to ``sink``; returns the exit code.
    With a tty, ``terminal_size`` is asked again whenever the terminal is resized."""
    async with Client.from_kubeconfig(kubeconfig) as client:
        stream = await ExecStream.open(client, spec.pod, spec.command, namespace=spec.namespace,
                                       container=spec.container, stdin=spec.stdin,
                                       tty=spec.tty)
        async with stream:
            if spec.tty and spec.size:
                await stream.resize(*spec.size)
            if spec.tty and terminal_size is not None:
                _follow_resizes(stream, terminal_size)
            pump = (asyncio.create_task(_pump_stdin(stream, read))
                    if spec.stdin and read is not None else None)
            result = ExecResult(0)
            try:
                async for channel, payload in stream.frames():
                    if channel == STATUS:
                        status = exit_status(payload)
                        result = ExecResult(status.code, status.message)
                        break
                    sink(channel, payload)
            finally:
                if pump is not None:
                    pump.cancel()
            return result


@dataclass(frozen=True)
class HostOutput:
    host: str
    exit_code: int | None  # None: the command did not run (unreachable)
    stdout: str
    stderr: str
    status: str  # ok, failed or unreachable
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.exit_code == 0


def host_exec_playbook(pattern: str, command: str, *, become: bool) -> Playbook:
    """The in-memory playbook ``kboot exec --hosts`` runs: one ``shell`` task, nothing else.
    ``command`` may be a template (``run_on_hosts`` passes per-host commands as a variable)."""
    book = [{
        "name": f"kboot exec on {pattern}",
        "hosts": pattern,
        "gather_facts": False,
        "become": become,
        "tasks": [{"name": "exec", "shell": command, "changed_when": False}],
    }]
    return load_playbook(load_yaml_text(yaml.safe_dump(book), "<kboot exec>"))


def _outputs(results: Sequence[TaskResult], hosts: Sequence[str]) -> dict[str, HostOutput]:
    by_host = {r.host: r for r in results}
    out = {}
    for host in hosts:
        r = by_host.get(host)
        if r is None:
            out[host] = HostOutput(host, None, "", "", "unreachable", "no result")
        elif r.status == "unreachable":
            out[host] = HostOutput(host, None, "", "", "unreachable", r.msg)
        else:
            code = r.exit_code if r.exit_code is not None else (0 if r.status == "ok" else 1)
            status = "ok" if code == 0 and r.status in ("ok", "changed") else "failed"
            message = r.msg if status == "failed" and r.exit_code is None else ""
            out[host] = HostOutput(host, code, r.stdout, r.stderr, status, message)
    return out


def run_on_hosts(inventory: Inventory, commands: Mapping[str, str], *, become: bool = False,
                 transports_factory: TransportFactory | None = None,
                 forks: int = 20) -> dict[str, HostOutput]:
    """Run each host's shell command (``{host: command}``) in parallel, one round trip each."""
    results: list[TaskResult] = []
    lock = threading.Lock()

    def collect(event: Event) -> None:
        if isinstance(event, TaskResult):
            with lock:
                results.append(event)

    book = host_exec_playbook(",".join(commands), "{{ kboot_exec_commands[inventory_hostname] }}",
                              become=become)
    run_playbook(book, inventory, transports_factory=transports_factory, forks=forks,
                 on_event=collect, extra_vars={"kboot_exec_commands": dict(commands)})
    return _outputs(results, list(commands))


def exec_on_hosts(inventory: Inventory, pattern: str, command: str, *, become: bool = False,
                  transports_factory: TransportFactory | None = None,
                  forks: int = 20) -> list[HostOutput]:
    """Run ``command`` through ``/bin/sh`` on every host matching ``pattern``, in parallel."""
    hosts = select_hosts(inventory, pattern)
    if not hosts:
        raise UserError(f"--hosts {pattern!r} matches no host of {inventory.source}")
    outputs = run_on_hosts(inventory, dict.fromkeys(hosts, command), become=become,
                           transports_factory=transports_factory, forks=forks)
    return [outputs[h] for h in hosts]
