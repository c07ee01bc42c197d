"""Applying the proxy's rules to the kernel: ``iptables-restore --noflush`` of our chains only.

Everything runs through an optional command prefix (``nsenter --net=<netns>``) so tests and lab
nodes can point the proxy at a network namespace. The built-in chains get one jump each to our
entry chains, added once and never duplicated; :func:`cleanup` removes all of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from kboot.controlplane.errors import ControlPlaneError

log = logging.getLogger(__name__)
JUMPS = (("nat", "PREROUTING", "KBOOT-SERVICES"), ("nat", "OUTPUT", "KBOOT-SERVICES"),
         ("nat", "POSTROUTING", "KBOOT-POSTROUTING"), ("filter", "INPUT", "KBOOT-FILTER"),
         ("filter", "FORWARD", "KBOOT-FILTER"), ("filter", "OUTPUT", "KBOOT-FILTER"),
         ("filter", "FORWARD", "KBOOT-NETPOL"))
COMMENTS = {"KBOOT-NETPOL": "kboot network policies"}


class IptablesError(ControlPlaneError, RuntimeError):
    pass


class Iptables:
    def __init__(self, prefix: Sequence[str] = ()) -> None:
        self.prefix = list(prefix)

    async def run(self, *cmd: str, stdin: bytes | None = None, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix, *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin)
        if check and proc.returncode:
            raise IptablesError(f"{' '.join(cmd)}: {err.decode(errors='replace').strip()}")
        return out.decode()

    async def chains(self, table: str = "nat") -> set[str]:
        text = await self.run("iptables-save", "-t", table)
        return {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}

    async def restore(self, rules: str) -> None:
        await self.run("iptables-restore", "--noflush", stdin=rules.encode())

    async def ensure_jumps(self) -> None:
        for table, chain, target in JUMPS:
            if not await self._has(table, chain, target):
                await self.run("iptables", "-t", table, "-I", *_jump(chain, target))

    async def _has(self, table: str, chain: str, target: str) -> bool:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix, "iptables", "-t", table, "-C", *_jump(chain, target),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return await proc.wait() == 0

    async def enable_bridge_netfilter(self) -> None:
        """Bridged pod-to-pod replies must pass conntrack to be un-DNATed."""
        await self.run("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1", check=False)
        await self.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", check=False)

    async def cleanup(self) -> None:
        for table, chain, target in JUMPS:
            while await self._has(table, chain, target):
                await self.run("iptables", "-t", table, "-D", *_jump(chain, target))
        ours = sorted(c for c in await self.chains() if c.startswith("KBOOT-"))
        filters = sorted(c for c in await self.chains("filter") if c.startswith("KBOOT-"))
        text = "\n".join(["*nat", *(f":{c} - [0:0]" for c in ours), *(f"-X {c}" for c in ours),
                          "COMMIT", "*filter", *(f":{c} - [0:0]" for c in filters),
                          *(f"-X {c}" for c in filters), "COMMIT", ""])
        await self.restore(text)


def _jump(chain: str, target: str) -> list[str]:
    extra = ["-m", "conntrack", "--ctstate", "NEW"] if target == "KBOOT-FILTER" else []
    comment = COMMENTS.get(target, "kboot services")
    return [chain, *extra, "-m", "comment", "--comment", comment, "-j", target]
