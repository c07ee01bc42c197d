"""The README's tour, line by line (issue 21): every command of its "A tour" block, parsed from
README.md so that this test breaks when the README drifts, run as written on the session's
3 + 2 lab cluster (the tour's own shape) from a scratch working directory.

What is put in for the tour's names: the lab ``demo`` → the session's lab (``kboot lab up`` of
an existing lab converges it: nothing is rebuilt); ``inventories/lab-demo.yaml`` → a link to
that lab's inventory; ``demo-w2`` → its second worker; the demo lab's addresses (the default
lab subnet) → the same hosts of the session lab's subnet; ``~/.kboot/bundle`` → the tests'
cached bundle (a link); ``export PATH=…/.venv/bin…`` → the interpreter running these tests.
Between the tour's lines the test waits for what a reader waits for (the example's pods before
``curl``) and checks what the tour's comments promise.

The tour ends with ``kboot reset`` and ``kboot lab down``: this module must stay the last e2e
user of the 3 + 2 cluster (``test_ingress`` and ``test_up_ha`` run before it), and it brings the
lab back up, without a cluster, for the lab-machine tests that run after it."""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kboot.lab import Lab
from kboot.lab.spec import DEFAULT_SUBNET
from tests.e2e.conftest import BUNDLE_CACHE, KUBECTL, Kboot
from tests.fixtures.lab import Shape

pytestmark = [pytest.mark.e2e, pytest.mark.lab]
LABS = (Shape(3, 2),)

ROOT = Path(__file__).resolve().parents[2]
TOUR_LAB = "demo"


def tour_lines(readme: str) -> list[str]:
    """The commands of the README's tour block (comments and blank lines dropped)."""
    section = readme.split("\n## A tour\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README.md: no ```sh block under ## A tour"
    return [" ".join(shlex.split(line, comments=True))
            for line in block.group(1).splitlines() if shlex.split(line, comments=True)]


def test_the_tour_block_is_found_and_parsed() -> None:
    lines = tour_lines((ROOT / "README.md").read_text())
    assert lines[0].startswith("export PATH=") and lines[-1].startswith("kboot lab down")
    assert all("#" not in line for line in lines)
    assert sum(line.startswith("kboot up ") for line in lines) >= 3


def _substitute(line: str, lab: Lab) -> str:
    default = ipaddress.ip_network(DEFAULT_SUBNET)
    ours = ipaddress.ip_network(lab.spec.subnet)

    def address(m: re.Match[str]) -> str:
        host = int(ipaddress.ip_address(m.group(0))) - int(default.network_address)
        return str(ours.network_address + host)

    line = re.sub(rf"--name {TOUR_LAB}\b", f"--name {lab.name}", line)
    line = re.sub(rf"\b{TOUR_LAB}-((?:cp|w)\d+)\b", rf"{lab.name}-\1", line)
    prefix = re.escape(str(default.network_address).rsplit(".", 1)[0])
    return re.sub(rf"\b{prefix}\.\d+\b", address, line)


class Tour:
    """Runs tour lines as a reader's shell would, in ``cwd``, with the e2e ``kboot``'s home."""

    def __init__(self, kboot: Kboot, cwd: Path) -> None:
        self.cwd = cwd
        self.env = kboot.env()

    def __call__(self, line: str, *, timeout: float = 900) -> str:
        outs = []
        for part in line.split(" && "):
            argv = shlex.split(part)
            if argv[0] == "export":
                name, _, value = argv[1].partition("=")
                assert name == "PATH" and value.startswith("$PWD/.venv/bin:"), part
                self.env["PATH"] = f"{Path(sys.executable).parent}:{self.env['PATH']}"
                continue
            if argv[0] == "kboot":
                argv = [sys.executable, "-m", "kboot.cli.main", *argv[1:]]
            elif argv[0] == "kubectl":
                argv = [KUBECTL, *argv[1:]]
            proc = subprocess.run(argv, cwd=self.cwd, env=self.env, capture_output=True,
                                  text=True, timeout=timeout, check=False)
            assert proc.returncode == 0, (f"tour line `{line}` failed ({proc.returncode}):\n"
                                          f"{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}")
            outs.append(proc.stdout)
        return "".join(outs)


def _until_ok(tour: Tour, line: str, timeout: float) -> str:
    """``curl`` right after the pods are ready may beat kboot-proxy's rules by a moment (as
    it may for a reader): try again until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return tour(line, timeout=30)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_every_tour_line_works_as_written(kboot: Kboot, ha_cluster: str, lab: Lab,
                                         tmp_path: Path) -> None:
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / f"lab-{TOUR_LAB}.yaml").symlink_to(lab.inventory_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    if not (kboot.home / "bundle").exists():  # the reader's ~/.kboot/bundle, built once
        (kboot.home / "bundle").symlink_to(BUNDLE_CACHE)
    tour = Tour(kboot, tmp_path)
    ups = 0
    for raw in tour_lines((ROOT / "README.md").read_text()):
        line = _substitute(raw, lab)
        if line.startswith("curl "):
            tour("kubectl -n hello rollout status deployment/hello --timeout=180s")
            out = _until_ok(tour, line, timeout=30)
            assert "Hello from kboot" in out
            continue
        out = tour(line)
        if line.startswith("kboot up ") and "--check" not in line:
            ups += 1
            if ups == 2:  # "again: no changes"
                assert "no changes" in out, out[-3000:]
        elif "--check" in line:  # the exit status was 0: nothing to do
            assert "no changes" in out, out[-3000:]
        elif line.startswith("kboot kubeconfig"):
            assert f"kboot-{ha_cluster}" in out and "made current" in out, out
        elif line.startswith("kboot backup"):
            assert (tmp_path / "demo.tar.gz").stat().st_size > 0
        elif line.startswith("kboot lab down"):
            assert not Lab(lab.name).state_dir.exists()
    assert ups == 2
    lab.up()  # the session's 3 + 2 lab back, bare, for tests/integration/lab
