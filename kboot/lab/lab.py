"""The lab as one object: ``Lab(name).up()``, ``status()``, fault injection, ``down()``.

This module sequences the pieces (image, network, rootfs, machine, state, inventory) and owns
the lab's state directory, ``/var/lib/kboot/lab/<name>/``: the lab SSH key, ``known_hosts``,
``state.json`` and one directory per node. Every operation is idempotent where that makes sense:
``up`` converges an existing lab (starts stopped nodes, adds missing ones), ``down`` twice is
fine and also removes what a crashed run left behind.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kboot.errors import LabError, tail
from kboot.lab import cleanup, machine, network, rootfs
from kboot.lab import state as state_mod
from kboot.lab.image import ImageKind, ensure_image
from kboot.lab.inventory import render_inventory, render_known_hosts
from kboot.lab.spec import CACHE_ROOT, DEFAULT_NAME, DEFAULT_SUBNET, STATE_ROOT, LabSpec, NodeSpec
from kboot.lab.state import LabState, NodeRecord
from kboot.lab.system import ensure_host_sysctls, require_root, require_tools, run, write_file
from kboot.transport.base import RunResult

log = logging.getLogger(__name__)

BOOT_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    state: str  # "running" | "starting" (nspawn up, no init yet) | "stopped"
    address: str
    pid: int | None  # host pid of the node's init (PID 1 inside), when running


def lab_names(state_root: Path = STATE_ROOT) -> list[str]:
    """The labs that exist on this machine (those with a recorded state), sorted."""
    if not state_root.is_dir():
        return []
    return sorted(d.name for d in state_root.iterdir() if (d / "state.json").is_file())


class Lab:
    """One named lab. Constructor arguments are the *desired* shape, used by :meth:`up`; every
    other operation works from the lab's recorded state."""

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        *,
        control_planes: int = 3,
        workers: int = 2,
        subnet: str | None = None,
        image: ImageKind | None = None,
        inventory_path: Path | str | None = None,
        state_root: Path = STATE_ROOT,
        cache_root: Path = CACHE_ROOT,
    ) -> None:
        self.desired = LabSpec(name, control_planes, workers, subnet or DEFAULT_SUBNET)
        self.name = name
        # None: an existing lab's own subnet/image, the defaults for a new one
        self._subnet = subnet
        self._image = image
        self.state_dir = state_root / name
        self.state_root = state_root
        self.cache_root = cache_root
        self._inventory = Path(inventory_path) if inventory_path else None

    # --- paths ---------------------------------------------------------------------------
    @property
    def key_file(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def inventory_path(self) -> Path:
        st = self._load()
        if self._inventory is None and st is not None and st.inventory:
            return Path(st.inventory)
        return (self._inventory or Path("inventories") / f"lab-{self.name}.yaml").absolute()

    def node_paths(self, node: NodeSpec) -> rootfs.NodePaths:
        return rootfs.NodePaths(self.state_dir / "nodes" / node.name)

    # --- state ---------------------------------------------------------------------------
    def _load(self) -> LabState | None:
        return state_mod.load(self.state_file)

    def _state(self) -> LabState:
        st = self._load()
        if st is None:
            labs = lab_names(self.state_root)
            there = f"labs here: {', '.join(labs)}" if labs else "there is no lab"
            raise LabError(f"no lab named {self.name!r} ({there}; create it with: "
                           f"kboot lab up --name {self.name})")
        return st

    def _save(self, st: LabState) -> None:
        state_mod.save(self.state_file, st)

    @property
    def spec(self) -> LabSpec:
        """The lab's actual shape (its state), or the desired one before the first ``up``."""
        st = self._load()
        return st.spec if st else self.desired

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        return self.spec.nodes

    def node(self, name: str) -> NodeSpec:
        return self.spec.node_by_name(name)

    def existing_nodes(self) -> tuple[NodeSpec, ...]:
        """The nodes of this lab as it exists (an error when it does not)."""
        return self._state().spec.nodes

    def existing_node(self, name: str) -> NodeSpec:
        """A node of this lab as it exists, by full (``demo-w2``) or short (``w2``) name. Unlike
        :meth:`node`, never falls back to the desired shape: a lab that does not exist is an
        error naming the labs there are, not an address that may be another lab's machine."""
        return self._state().spec.node_by_name(name)

    # --- up / down -----------------------------------------------------------------------
    def up(self, *, timeout: float = BOOT_TIMEOUT) -> Path:
        """Create or converge the lab; return the inventory path."""
        require_root()
        require_tools()
        st = self._converged_state()
        image = ensure_image(self.cache_root, _image_kind(st.image))
        self._ensure_key()
        network.load_host_modules()
        ensure_host_sysctls()
        network.ensure_bridge(st.spec)
        network.ensure_host_firewall(st.spec)
        self._save(st)
        started = []
        for node in st.spec.nodes:
            if not machine.alive(self._proc(node.name)):
                self._boot(node, image)
                started.append(node)
        self._wait_ready(started, timeout=timeout)
        self._refresh_hosts(st.spec)
        self._write_client_files()
        return self.inventory_path

    def _converged_state(self) -> LabState:
        st = self._load()
        want = self.desired
        inventory = str(self._inventory.absolute()) if self._inventory else ""
        if st is None:
            self._check_subnet_free(want)
            return LabState(spec=want, image=self._image or "plain",
                            inventory=inventory or str(self.inventory_path))
        if self._subnet is not None and st.spec.subnet != want.subnet:
            raise LabError(f"lab {self.name!r} exists on {st.spec.subnet}; run "
                           f"`kboot lab down --name {self.name}` to change its subnet")
        if self._image is not None and st.image != self._image:
            raise LabError(f"lab {self.name!r} exists with image {st.image!r}; "
                           f"run `kboot lab down --name {self.name}` to change it")
        spec = replace(st.spec, control_planes=max(st.spec.control_planes, want.control_planes),
                       workers=max(st.spec.workers, want.workers))
        return replace(st, spec=spec, inventory=inventory or st.inventory)

    def _check_subnet_free(self, want: LabSpec) -> None:
        for other in self.state_root.glob("*/state.json"):
            st = state_mod.load(other)
            if st and st.spec.name != want.name and st.spec.network.overlaps(want.network):
                raise LabError(f"subnet {want.subnet} overlaps lab {st.spec.name!r} "
                               f"({st.spec.subnet}); choose another with --subnet")

    def _ensure_key(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.key_file.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"kboot-lab-{self.name}",
                 "-f", str(self.key_file)])

    def _proc(self, name: str) -> machine.Proc | None:
        st = self._load()
        rec = st.nodes.get(name) if st else None
        if rec is None or rec.pid is None or rec.start is None:
            return None
        return machine.Proc(rec.pid, rec.start)

    def _boot(self, node: NodeSpec, image: Path) -> None:
        st = self._state()
        paths = self.node_paths(node)
        network.ensure_node_network(st.spec, node)
        rootfs.mount_overlay(image, paths)
        host_key = rootfs.personalise(paths.root, node, st.spec,
                                      lab_public_key=self.key_file.with_suffix(".pub").read_text())
        dirs = machine.node_cgroup_dirs(node.name)
        procs = machine.make_cgroups(dirs)
        argv = machine.nspawn_argv(node, paths.root, paths.containerd, rootfs.host_modules_dir())
        proc = machine.launch(node, argv, procs_files=procs, log_path=paths.console_log)
        record = NodeRecord(proc.pid, proc.start, host_key, tuple(map(str, dirs)))
        self._save(st.with_node(node.name, record))
        log.info("%s: booting (nspawn pid %d)", node.name, proc.pid)

    def _wait_ready(self, nodes: Sequence[NodeSpec], *, timeout: float) -> None:
        """Wait until each node's sshd answers, then set its hostname from inside."""
        deadline = time.monotonic() + timeout
        pending = list(nodes)
        while pending:
            for node in list(pending):
                if not machine.alive(self._proc(node.name)):
                    raise LabError(f"{node.name}: machine exited while booting\n  "
                                   + self._console_tail(node))
                if _ssh_banner(node.address):
                    self.exec(node.name, ["hostname", node.name], check=True)
                    pending.remove(node)
            if pending and time.monotonic() > deadline:
                names = ", ".join(n.name for n in pending)
                raise LabError(f"lab machines not ready after {timeout:.0f}s: {names}\n  "
                               + self._console_tail(pending[0]))
            if pending:
                time.sleep(0.2)

    def _console_tail(self, node: NodeSpec) -> str:
        path = self.node_paths(node).console_log
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"console ({path}):\n" + tail(text, 10)

    def _refresh_hosts(self, spec: LabSpec) -> None:
        """Every node's /etc/hosts names every node (nodes added later included)."""
        text = rootfs.hosts_file(spec.nodes)
        for node in spec.nodes:
            write_file(self.node_paths(node).root / "etc/hosts", text)

    def _write_client_files(self) -> None:
        st = self._state()
        keys = {self.node(n).address: rec.host_key for n, rec in st.nodes.items()}
        write_file(self.known_hosts, render_known_hosts(keys), mode=0o600)
        path = Path(st.inventory)
        write_file(path, render_inventory(st.spec, st.spec.nodes, key_file=self.key_file,
                                          known_hosts=self.known_hosts, path=path))

    def down(self) -> None:
        """Remove the lab and everything it made on this machine (also after a crash)."""
        require_root()
        cleanup.teardown(self.name, self._load(), self.state_dir)

    # --- observation ---------------------------------------------------------------------
    def status(self) -> list[NodeStatus]:
        st = self._state()
        out = []
        for node in st.spec.nodes:
            proc = self._proc(node.name)
            lead = machine.leader(proc) if proc else None
            state = "running" if lead else "starting" if machine.alive(proc) else "stopped"
            out.append(NodeStatus(node.name, node.role, state, node.address, lead))
        return out

    def leader(self, name: str) -> int:
        """Host pid of the node's PID 1 (for ``nsenter``); raises if the node is not running."""
        require_root()
        node = self.node(name)
        proc = self._proc(node.name)
        lead = machine.leader(proc) if proc else None
        if lead is None:
            raise LabError(f"{node.name} is not running (start it: kboot lab start {node.name})")
        return lead

    def exec(
        self, name: str, cmd: Sequence[str], *, input: bytes | None = None,
        timeout: float | None = 120, check: bool = False,
    ) -> RunResult:
        """Run ``cmd`` (an argv) inside node ``name`` through its namespaces, without SSH."""
        argv = machine.enter_argv(self.leader(name), cmd)
        t0 = time.monotonic()
        proc = run(argv, input=input, timeout=timeout, check=check)
        return RunResult(" ".join(cmd), proc.returncode, proc.stdout.decode(errors="replace"),
                         proc.stderr.decode(errors="replace"), time.monotonic() - t0)

    def put(self, name: str, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """Write a file inside a running node (seen through its own mounts)."""
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"'
        self.exec(name, ["sh", "-c", script, "put", path, f"{mode:o}"], input=data, check=True)

    # --- fault injection -----------------------------------------------------------------
    def stop(self, name: str, *, timeout: float = STOP_TIMEOUT) -> None:
        """Clean shutdown (``systemctl poweroff`` inside); the node keeps its disk."""
        require_root()
        node = self.node(name)
        proc = self._proc(node.name)
        if not machine.alive(proc) or proc is None:
            return
        if machine.leader(proc):
            self.exec(node.name, ["systemctl", "poweroff"], timeout=30)
        if not machine.wait_gone([proc.pid], timeout):
            log.warning("%s: no clean shutdown after %.0fs; killing it", node.name, timeout)
            self.kill(node.name)
        self._forget_pid(node.name)

    def kill(self, name: str) -> None:
        """Hard power-off: SIGKILL the node's init (its whole pid namespace) and nspawn."""
        require_root()
        node = self.node(name)
        proc = self._proc(node.name)
        if proc is not None and machine.alive(proc):
            lead = machine.leader(proc)
            machine.kill_all([lead] if lead else [])
            if not machine.wait_gone([proc.pid], 10):
                machine.kill_all([proc.pid])
                machine.wait_gone([proc.pid], 10)
        self._forget_pid(node.name)

    def _forget_pid(self, name: str) -> None:
        st = self._state()
        rec = st.nodes.get(name, NodeRecord())
        self._save(st.with_node(name, replace(rec, pid=None, start=None)))

    def start(self, name: str, *, timeout: float = BOOT_TIMEOUT) -> None:
        """Boot a stopped node again, with its disk as it was."""
        require_root()
        node = self.node(name)
        if machine.alive(self._proc(node.name)):
            return
        self._boot(node, ensure_image(self.cache_root, _image_kind(self._state().image)))
        self._wait_ready([node], timeout=timeout)

    def recreate(self, name: str, *, timeout: float = BOOT_TIMEOUT) -> None:
        """The machine deleted and created again: same name and address, a fresh disk (a new
        SSH host key, written to known_hosts), as after a disk failure."""
        require_root()
        node = self.node(name)
        self.kill(node.name)
        paths = self.node_paths(node)
        rootfs.unmount(paths.root)
        run(["rm", "-rf", "--one-file-system", str(paths.base)])
        st = self._state()
        self._save(st.with_node(node.name, NodeRecord()))
        self.up(timeout=timeout)

    def partition(self, name: str, from_nodes: Sequence[str] | None = None) -> None:
        """Drop all traffic between ``name`` and ``from_nodes`` (default: every other node)."""
        require_root()
        node = self.node(name)
        peers = [self.node(p) for p in from_nodes] if from_nodes else [
            n for n in self.nodes if n != node]
        st = self._state()
        pairs = set(st.partitions)
        for peer in peers:
            if peer == node:
                raise LabError(f"cannot partition {node.name} from itself")
            network.block(node, peer)
            pairs.add((node.name, peer.name))
        self._save(replace(st, partitions=tuple(sorted(pairs))))

    def heal(self) -> None:
        """Remove every partition."""
        require_root()
        for node in self.nodes:
            network.unblock_all(node)
        self._save(replace(self._state(), partitions=()))


def _image_kind(recorded: str) -> ImageKind:
    return "provisioned" if recorded == "provisioned" else "plain"


def _ssh_banner(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False

