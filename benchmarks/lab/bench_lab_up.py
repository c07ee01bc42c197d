"""How long ``kboot lab up`` takes for 5 nodes (3 control planes + 2 workers), cold and warm.

    sudo .venv/bin/python -m benchmarks.lab.bench_lab_up [--runs N] [--image plain|provisioned]

*cold* builds the base image from scratch (debootstrap) into a temporary cache, so the real cache
in /var/cache/kboot/lab is neither used nor touched; *warm* uses the cached image. Each run ends
with ``lab down``, which is timed too. Uses the lab name ``kbbench`` on 10.77.250.0/24.
Not a test: it prints a table and exits 0.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kboot.lab import Lab
from kboot.lab.image import ImageKind
from kboot.lab.spec import CACHE_ROOT

NAME = "kbbench"
SUBNET = "10.77.250.0/24"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def one_run(cache_root: Path, image: ImageKind, inventory: Path) -> tuple[float, float]:
    lab = Lab(NAME, control_planes=3, workers=2, subnet=SUBNET, image=image,
              inventory_path=inventory, cache_root=cache_root)
    try:
        up = timed(lab.up)
        running = sum(s.state == "running" for s in lab.status())
        if running != 5:
            raise SystemExit(f"only {running}/5 nodes running")
    finally:
        down = timed(lab.down)
    return up, down


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs (default 3)")
    parser.add_argument("--image", choices=("plain", "provisioned"), default="plain")
    parser.add_argument("--skip-cold", action="store_true", help="only the warm runs")
    args = parser.parse_args(argv)
    Lab(NAME).down()  # leftovers of an interrupted benchmark
    rows: list[tuple[str, list[float], list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="kboot-bench-lab-") as tmp:
        inventory = Path(tmp) / "inventory.yaml"
        if not args.skip_cold:
            cold_cache = Path(tmp) / "cache"
            up, down = one_run(cold_cache, args.image, inventory)
            rows.append(("cold (builds image)", [up], [down]))
            shutil.rmtree(cold_cache, ignore_errors=True)
        one_run(CACHE_ROOT, args.image, inventory)  # make sure the real cache is filled
        ups, downs = [], []
        for _ in range(args.runs):
            up, down = one_run(CACHE_ROOT, args.image, inventory)
            ups.append(up)
            downs.append(down)
        rows.append(("warm (cached)", ups, downs))
    table = Table(title=f"kboot lab up: 5 nodes (3 control planes + 2 workers), image {args.image}")
    for col in ("case", "runs", "up median (s)", "up min (s)", "down median (s)"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for case, up_times, down_times in rows:
        table.add_row(case, str(len(up_times)), f"{statistics.median(up_times):.2f}",
                      f"{min(up_times):.2f}", f"{statistics.median(down_times):.2f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
