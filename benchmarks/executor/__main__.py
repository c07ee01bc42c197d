"""``python -m benchmarks.executor``: kboot vs ansible-core vs pyinfra on the same hosts.

Run from the repository root as root (network namespaces)::

    .venv/bin/python -m benchmarks.executor --hosts 10,50

Brings up max(N) netns sshd hosts (tests/fixtures/sshd.py), makes sure the peers' virtualenv
exists (``--venv``, default /var/cache/kboot/bench-venv), then for every N and tool: a first run
from a clean state and a no-op re-run of the 30-task workload (benchmarks/executor/workload),
checking that the no-op run changes nothing and that every tool leaves exactly the files kboot
leaves. Prints one table; see docs/performance.md for how the peers are configured.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.executor.compare import Snapshot, differences, snapshot
from benchmarks.executor.hosts import BENCH_ROOT, Inventories, reset_roots, write_inventories
from benchmarks.executor.peers import DEFAULT_VENV, ensure_venv, versions
from benchmarks.executor.report import render
from benchmarks.executor.tools import (
    Timing,
    ToolError,
    run_ansible,
    run_floor,
    run_kboot,
    run_pyinfra,
)
from tests.fixtures.sshd import start_sshd_hosts, stop_sshd_hosts

log = logging.getLogger("benchmarks.executor")
Runner = Callable[[Inventories, str, Path], Timing]
TOOLS = ("kboot", "pyinfra", "ansible", "floor")  # floor: SSH round trips only, no work


def _runners(bin_dir: Path) -> dict[str, Runner]:
    return {
        "kboot": run_kboot,
        "floor": run_floor,
        "ansible": lambda inv, run, wd: run_ansible(inv, run, wd, bin_dir),
        "pyinfra": lambda inv, run, wd: run_pyinfra(inv, run, wd, bin_dir),
    }


def _median(samples: list[Timing]) -> Timing:
    ordered = sorted(samples, key=lambda t: t.wall)
    return ordered[len(ordered) // 2]


def bench_tool(runner: Runner, inv: Inventories, workdir: Path, repeat: int
               ) -> tuple[Timing, Timing, Snapshot, list[str]]:
    """First run and no-op re-run (median of ``repeat`` each); returns the snapshot after the
    first run and any problems (the no-op run changing something)."""
    firsts, noops, problems = [], [], []
    after_first: Snapshot = {}
    for _ in range(repeat):
        reset_roots()
        firsts.append(runner(inv, "first", workdir))
        after_first = snapshot(BENCH_ROOT)
        noops.append(runner(inv, "no-op", workdir))
        diff = differences(after_first, snapshot(BENCH_ROOT))
        if diff:
            problems.append("no-op run changed files: " + "; ".join(diff))
        if noops[-1].changed:
            problems.append(f"no-op run reported {noops[-1].changed} changed tasks")
    return _median(firsts), _median(noops), after_first, problems


def bench_size(n: int, tools: list[str], runners: dict[str, Runner], inv: Inventories,
               workdir: Path, repeat: int) -> tuple[list[Timing], list[str]]:
    rows: list[Timing] = []
    problems: list[str] = []
    reference: tuple[str, Snapshot] | None = None
    for tool in tools:
        log.info("N=%d %s", n, tool)
        if tool == "floor":  # changes nothing: timed, not compared
            rows += [runners[tool](inv, "first", workdir), runners[tool](inv, "no-op", workdir)]
            continue
        try:
            first, noop, snap, issues = bench_tool(runners[tool], inv, workdir, repeat)
        except ToolError as exc:
            problems.append(f"N={n} {tool} failed: {exc}")
            continue
        rows += [first, noop]
        problems += [f"N={n} {tool}: {p}" for p in issues]
        if reference is None:
            reference = (tool, snap)
        else:
            diff = differences(reference[1], snap)
            if diff:
                problems.append(f"N={n}: {tool} left different files than {reference[0]}: "
                                + "; ".join(diff))
    if reference is not None and len(reference[1]) < 30 * n:
        problems.append(f"N={n}: only {len(reference[1])} paths on the hosts (expected more)")
    return rows, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.executor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="10,50", help="host counts N (default 10,50)")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="subset of kboot,pyinfra,ansible,floor")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="peers' virtualenv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = sorted({int(x) for x in args.hosts.split(",")})
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    bin_dir = ensure_venv(args.venv)
    runners = _runners(bin_dir)
    hosts = start_sshd_hosts(max(sizes))
    rows: dict[int, list[Timing]] = {}
    problems: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kbt-bench-") as tmp:
            for n in sizes:
                workdir = Path(tmp) / f"n{n}"
                inv = write_inventories(hosts, n, workdir)
                rows[n], found = bench_size(n, tools, runners, inv, workdir, max(1, args.repeat))
                problems += found
    finally:
        stop_sshd_hosts(hosts)
        shutil.rmtree(BENCH_ROOT, ignore_errors=True)
    print(render(rows, versions(bin_dir) if len(tools) > 1 else {}))
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
