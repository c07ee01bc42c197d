"""How long ``kboot up`` takes on 3 + 2 lab machines: from bare machines, then the no-op re-run,
with the phase breakdown, printed against issue 22's targets (≤ 30 s and ≤ 2 s).

    .venv/bin/python -m benchmarks.up.bench_up [--keep] [--bundle DIR]

Brings up its own lab (``kbench``, 10.77.250.0/24; ``KBOOT_BENCH_LAB`` and
``KBOOT_BENCH_SUBNET`` choose others on a shared machine) with fresh machines, uses the bundle
``--bundle`` (default ``KBOOT_TEST_BUNDLE``, else ``~/.kboot/bundle``; built on first use and
not timed), and removes the lab afterwards unless ``--keep``. Not a test: it prints numbers.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kboot.cli.phases import PhaseRunner
from kboot.cluster.up import UpReport, prepare_bundle, standard_api_steps, up
from kboot.cluster.verify import verify_cluster, verify_unchanged
from kboot.inventory import load_inventory
from kboot.lab import Lab

TARGET_FIRST, TARGET_NOOP = 30.0, 2.0  # issue 22


def _run(inventory: Path, bundle: Path | None) -> tuple[UpReport, float]:
    inv = load_inventory(inventory, require_groups=("control_plane",))
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    start = time.monotonic()
    with PhaseRunner(inv, quiet) as runner:
        report = up(inv, runner=runner, on_phase=lambda p, s: None,
                    bundle_dir=bundle, api_steps=standard_api_steps(),
                    verify=verify_cluster, verify_unchanged=verify_unchanged)
    return report, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    parser.add_argument("--bundle", type=Path, default=os.environ.get("KBOOT_TEST_BUNDLE"),
                        help="bundle directory (default: $KBOOT_TEST_BUNDLE, else ~/.kboot/bundle)")
    args = parser.parse_args()
    console = Console()
    os.environ.setdefault("KBOOT_HOME", tempfile.mkdtemp(prefix="kboot-bench-up-"))
    prepare_bundle(args.bundle, rebuild=False)  # not timed: built once per workstation
    console.print(f"load average at the start: {os.getloadavg()}")
    name = os.environ.get("KBOOT_BENCH_LAB", "kbench")
    lab = Lab(name, control_planes=3, workers=2,
              subnet=os.environ.get("KBOOT_BENCH_SUBNET", "10.77.250.0/24"),
              inventory_path=Path(tempfile.mkdtemp()) / f"lab-{name}.yaml")
    lab.down()
    inventory = lab.up()
    try:
        first, t_first = _run(inventory, args.bundle)
        noop, t_noop = _run(inventory, args.bundle)
    finally:
        if not args.keep:
            lab.down()
    table = Table(title="kboot up on 3 control planes + 2 workers (lab)")
    for col in ("phase", "from bare (s)", "no-op re-run (s)"):
        table.add_column(col)
    noop_times = {name: secs for name, _, secs in noop.phases}
    for name, _, secs in first.phases:
        table.add_row(name, f"{secs:.1f}", f"{noop_times.get(name, 0.0):.1f}")
    table.add_row("total", f"{t_first:.1f}", f"{t_noop:.1f}")
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()}")
    console.print(f"from bare: {t_first:.1f}s (target ≤ {TARGET_FIRST:.0f}s, "
                  f"ratio {t_first / TARGET_FIRST:.2f}); no-op: {t_noop:.1f}s "
                  f"(target ≤ {TARGET_NOOP:.0f}s, ratio {t_noop / TARGET_NOOP:.2f}); "
                  f"changed on re-run: {noop.changed}")
    if args.keep:  # what a `kboot up` by hand on the kept lab needs
        console.print(f"kept lab {lab.name}: KBOOT_HOME={os.environ['KBOOT_HOME']} "
                      f"kboot up {inventory}")


if __name__ == "__main__":
    main()
