"""Applying the proxy's rules to the kernel: ``iptables-restore --noflush`` of our chains only.

Everything runs through an optional command prefix (``nsenter --net=<netns>``) so tests and lab
nodes can point the proxy at a network namespace. The built-in chains get one jump each to our
entry chains, added once and never duplicated; :func:`cleanup` removes all of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)
JUMPS = (("PREROUTING", "KBOOT-SERVICES"), ("OUTPUT", "KBOOT-SERVICES"),
         ("POSTROUTING", "KBOOT-POSTROUTING"))


class IptablesError(RuntimeError):
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

    async def chains(self) -> set[str]:
        text = await self.run("iptables-save", "-t", "nat")
        return {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}

    async def restore(self, rules: str) -> None:
        await self.run("iptables-restore", "--noflush", stdin=rules.encode())

    async def ensure_jumps(self) -> None:
        for chain, target in JUMPS:
            args = ("-t", "nat", chain, "-m", "comment", "--comment", "kboot services",
                    "-j", target)
            if await self._has(args):
                continue
            await self.run("iptables", "-t", "nat", "-I", *args[2:])

    async def _has(self, args: tuple[str, ...]) -> bool:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix, "iptables", "-t", "nat", "-C", *args[2:],
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return await proc.wait() == 0

    async def enable_bridge_netfilter(self) -> None:
        """Bridged pod-to-pod replies must pass conntrack to be un-DNATed."""
        await self.run("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1", check=False)
        await self.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1", check=False)

    async def cleanup(self) -> None:
        for chain, target in JUMPS:
            args = ("-t", "nat", chain, "-m", "comment", "--comment", "kboot services",
                    "-j", target)
            while await self._has(args):
                await self.run("iptables", "-t", "nat", "-D", *args[2:])
        ours = sorted(c for c in await self.chains() if c.startswith("KBOOT-"))
        if ours:
            text = "\n".join(["*nat", *(f":{c} - [0:0]" for c in ours),
                              *(f"-X {c}" for c in ours), "COMMIT", ""])
            await self.restore(text)
