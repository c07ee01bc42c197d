"""A 100 MB image made runnable on every node: through the cluster registry (`kboot image
push` + pulls by each node's containerd) vs `kboot image load` (the tarball copied to and
imported on each node), in the same run, on the same cluster. Not a test.

    .venv/bin/python -m benchmarks.images.bench_registry_lab [--size-mb 100] [--keep]
        [--bundle DIR] [--inventory INV]

Without ``--inventory`` it brings up a 1 + 4 lab (``kbrb``, pre-provisioned image,
10.87.250.0/24: five nodes) and runs ``kboot up``. Two images of the same size with different
random content (so no layer is shared between the two paths) are built locally; each path is
timed from the kboot command to the moment a DaemonSet using the image (tolerating every taint)
has a Running pod on every node. Prints both times and their ratio. (Do not start it while
an e2e session with ``KBOOT_TEST_LAB_PREFIX=kbr`` is starting: that session removes leftover
``kbr*`` labs, ``kbrb`` included.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kboot.images import ImageConfig, build_from_directory

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      tolerations: [{{operator: Exists}}]
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: {image}
          imagePullPolicy: {policy}
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
"""


def _run(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr}")
    return proc.stdout


def _kboot(env: dict[str, str], *args: str) -> str:
    return _run(env, sys.executable, "-m", "kboot.cli.main", *args)


def _image(work: Path, name: str, size_mb: int) -> Path:
    root = work / f"{name.rsplit('/', 1)[-1].replace(':', '-')}-root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "blob").write_bytes(os.urandom(size_mb * 2**20))
    out = work / f"{root.name}.tar"
    build_from_directory(root, out, name=name, config=ImageConfig(), base_busybox=True)
    return out


def _running_everywhere(env: dict[str, str], kubeconfig: Path, app: str, nodes: int,
                        timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = json.loads(_run(env, "kubectl", "--kubeconfig", str(kubeconfig), "get", "pods",
                                "-l", f"app={app}", "-o", "json"))["items"]
        if sum(p.get("status", {}).get("phase") == "Running" for p in items) >= nodes:
            return
        time.sleep(0.5)
    raise SystemExit(f"{app}: not Running on {nodes} nodes within {timeout:.0f}s")


def _timed(env: dict[str, str], kubeconfig: Path, work: Path, nodes: int, app: str,
           command: list[str], image: str, policy: str) -> float:
    manifest = work / f"{app}.yaml"
    manifest.write_text(DAEMONSET.format(name=app, image=image, policy=policy))
    start = time.monotonic()
    _kboot(env, *command)
    _run(env, "kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", str(manifest))
    _running_everywhere(env, kubeconfig, app, nodes)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--bundle", default="/var/cache/kboot/bundle-kbr")
    parser.add_argument("--inventory", help="an existing cluster (kboot up already run)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kboot-bench-reg-"))
    env = {**os.environ, "KBOOT_HOME": os.environ.get("KBOOT_HOME", str(work / "home"))}
    lab = None
    if args.inventory:
        inventory = Path(args.inventory)
    else:
        from kboot.lab import Lab
        lab = Lab("kbrb", control_planes=1, workers=4, subnet="10.87.250.0/24",
                  image="provisioned", inventory_path=work / "lab-kbrb.yaml")
        lab.down()
        inventory = lab.up()
    try:
        if lab is not None:
            _kboot(env, "up", str(inventory), "--bundle", args.bundle)
        from kboot.cluster.topology import state_dir, topology_from_inventory
        from kboot.inventory import load_inventory
        os.environ["KBOOT_HOME"] = env["KBOOT_HOME"]
        topo = topology_from_inventory(load_inventory(str(inventory)))
        kubeconfig = state_dir(topo.name) / "kubeconfigs" / "admin.kubeconfig"
        nodes = len(topo.nodes)
        via_registry = _image(work, "docker.io/library/bench-registry:1", args.size_mb)
        via_load = _image(work, "kboot.io/bench-load:1", args.size_mb)
        registry = _timed(env, kubeconfig, work, nodes, "bench-registry",
                          ["image", "push", str(via_registry), "-i", str(inventory)],
                          "docker.io/library/bench-registry:1", "IfNotPresent")
        load = _timed(env, kubeconfig, work, nodes, "bench-load",
                      ["image", "load", str(via_load), "-i", str(inventory)],
                      "kboot.io/bench-load:1", "Never")
    finally:
        if lab is not None and not args.keep:
            lab.down()
    print(f"{args.size_mb} MB image runnable on {nodes} nodes "
          f"({len(topo.control_planes)} control planes):")
    print(f"  via the cluster registry (push + pulls): {registry:7.1f} s")
    print(f"  via kboot image load (copy + import):    {load:7.1f} s")
    print(f"  registry / load: {registry / load:.2f}")


if __name__ == "__main__":
    main()
