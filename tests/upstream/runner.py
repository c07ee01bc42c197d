"""Runs the vendored upstream e2e suite of the Python client against one cluster and returns
each test's outcome.

The suite runs in a fresh ``pytest`` process: upstream's ``base.get_e2e_configuration()``
reads the kubeconfig named by ``KUBECONFIG`` when ``kubernetes.config`` is first imported, so
the variable must be in the environment before that import (and this process has imported the
client long ago). Outcomes come from the child's JUnit XML, not from its exit status, so a
caller can assert test by test.

By hand: ``python -m tests.upstream.runner KUBECONFIG [-k EXPR]`` prints one line per test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

SUITE = Path(__file__).resolve().parent / "python_client_e2e" / "kubernetes" / "e2e_test"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Outcome:
    """One test's result: ``passed``, ``failed``, ``error`` or ``skipped``, with the text
    pytest reported for anything but a pass."""

    result: str
    detail: str = ""


def run_suite(kubeconfig: Path, junit: Path, *, select: str = "", timeout: float = 3600
              ) -> tuple[dict[str, Outcome], str]:
    """Every test of the suite (or those ``-k select`` picks) → its outcome, plus the child's
    output tail (for an assertion message)."""
    env = {**os.environ, "KBOOT_UPSTREAM_E2E": "1", "KUBECONFIG": str(kubeconfig),
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-q",
           "-o", "addopts=", "--timeout=300", f"--junitxml={junit}"]
    if select:
        cmd += ["-k", select]
    # cwd: upstream opens its YAML files by paths relative to the directory holding kubernetes/
    proc = subprocess.run(cmd, cwd=SUITE.parents[1], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if not junit.exists():
        raise AssertionError(f"the upstream suite wrote no report (exit {proc.returncode})\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return parse_junit(junit), (proc.stdout + proc.stderr)[-6000:]


def parse_junit(path: Path) -> dict[str, Outcome]:
    """``module.Class.test`` (module without the ``e2e_test.`` package) → outcome."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        classname = case.get("classname", "").rpartition("e2e_test.")[2]
        name = f"{classname}.{case.get('name', '')}"
        outcome = Outcome("passed")
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                text = (node.get("message") or "") + "\n" + (node.text or "")
                outcome = Outcome("failed" if tag == "failure" else tag, text.strip()[-3000:])
                break
        outcomes[name] = outcome
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kubeconfig", type=Path)
    parser.add_argument("-k", dest="select", default="")
    parser.add_argument("--junit", type=Path, default=Path("upstream-e2e.xml"))
    args = parser.parse_args()
    outcomes, _ = run_suite(args.kubeconfig, args.junit, select=args.select)
    for name, outcome in sorted(outcomes.items()):
        first = outcome.detail.splitlines()[0] if outcome.detail else ""
        print(f"{outcome.result:8} {name}  {first}")
    counts = {r: sum(o.result == r for o in outcomes.values())
              for r in ("passed", "failed", "error", "skipped")}
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
