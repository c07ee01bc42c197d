"""The SSH floor: what any agentless tool pays on these hosts before doing any work.

``python -m benchmarks.executor.floor INVENTORY EXECS`` connects to every host of a kboot
inventory in parallel with kboot's own SSH transport (same paramiko settings, strict host
keys, key auth) and runs ``EXECS`` round trips of ``true`` per host — the executor's design
floor (one handshake; a batched check, at most one batched change): 3 for a first run, 1 for a
no-op. It does nothing else, so wall(N=50)/wall(N=10) of this floor is the best fan-out scaling
the benchmark's machine allows: every host's sshd shares the same cores as the workstation.
"""

from __future__ import annotations

import concurrent.futures
import sys

from kboot.inventory import load_inventory
from kboot.transport import open_transport


def _host(host: object, execs: int) -> None:
    transport = open_transport(host)  # type: ignore[arg-type]
    try:
        for _ in range(execs):
            result = transport.run("true")
            if result.exit_code != 0:
                raise RuntimeError(f"true exited {result.exit_code}")
    finally:
        transport.close()


def main(argv: list[str]) -> int:
    inventory = load_inventory(argv[0])
    execs = int(argv[1])
    hosts = list(inventory.hosts.values())
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        for future in [pool.submit(_host, h, execs) for h in hosts]:
            future.result()
    print(f"{len(hosts)} hosts, {execs} execs each")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
