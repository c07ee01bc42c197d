"""The benchmark's table: wall and CPU time per tool and run, kboot's execs per host, the
peers-to-kboot ratios, and kboot's scaling between the smallest and largest N."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence

from benchmarks.executor.tools import Timing


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}, Linux {platform.release()}, " \
           f"Python {platform.python_version()}; load average at the end {load}"


def _find(rows: Sequence[Timing], tool: str, run: str) -> Timing | None:
    return next((t for t in rows if t.tool == tool and t.run == run), None)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "-"


def table(rows: Mapping[int, Sequence[Timing]]) -> list[str]:
    head = (f"| {'N':>3} | {'tool':<8} | {'run':<6} | {'wall s':>7} | {'CPU s':>6} | "
            f"{'changed':>7} | {'execs/host':>10} | {'tool/kboot wall':>15} | "
            f"{'tool/kboot CPU':>14} |")
    out = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for n, timings in rows.items():
        for t in timings:
            k = _find(timings, "kboot", t.run)
            wall_ratio = _ratio(t.wall, k.wall) if k and t.tool != "kboot" else ""
            cpu_ratio = _ratio(t.cpu, k.cpu) if k and t.tool != "kboot" else ""
            execs = f"{t.execs:.1f}" if t.execs is not None else ""
            changed = "" if t.changed is None else str(t.changed)
            out.append(f"| {n:>3} | {t.tool:<8} | {t.run:<6} | {t.wall:>7.2f} | {t.cpu:>6.2f} | "
                       f"{changed:>7} | {execs:>10} | {wall_ratio:>15} | {cpu_ratio:>14} |")
    return out


def scaling(rows: Mapping[int, Sequence[Timing]]) -> list[str]:
    sizes = sorted(rows)
    if len(sizes) < 2:
        return []
    lo, hi = sizes[0], sizes[-1]
    out = []
    for tool in ("kboot", "floor"):
        for run in ("first", "no-op"):
            a, b = _find(rows[lo], tool, run), _find(rows[hi], tool, run)
            if a and b:
                per_host = (b.cpu - a.cpu) / (hi - lo) * 1000
                wall_host = (b.wall - a.wall) / (hi - lo) * 1000
                out.append(f"{tool} {run}: wall(N={hi})/wall(N={lo}) = {b.wall / a.wall:.2f}; "
                           f"per additional host: {wall_host:.1f} ms wall, "
                           f"{per_host:.1f} ms workstation CPU")
    floor_first = _find(rows[hi], "floor", "first")
    kboot_lo = _find(rows[lo], "kboot", "first")
    if floor_first and kboot_lo:
        out.append(f"the SSH floor alone at N={hi} takes {floor_first.wall / kboot_lo.wall:.2f}x "
                   f"kboot's whole first run at N={lo}")
    return out


def render(rows: Mapping[int, Sequence[Timing]], peer_versions: Mapping[str, str]) -> str:
    lines = [f"machine: {machine()}"]
    if peer_versions:
        lines.append("peers: " + ", ".join(f"{k} {v}" for k, v in peer_versions.items()))
    lines += ["", *table(rows), "", *scaling(rows)]
    return "\n".join(lines)
