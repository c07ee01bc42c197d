"""How each tool is invoked and configured, and one timed run of it.

Every run is a separate process tree started from here: wall time is measured around it and
workstation CPU time is the ``RUSAGE_CHILDREN`` user+sys delta (the tool and every child it
waited for, e.g. Ansible's ssh clients; a ControlPersist master that daemonises is not counted).
Peers are configured as their documentation recommends for speed (see docs/performance.md).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.executor.hosts import Inventories

WORKLOAD = Path(__file__).resolve().parent / "workload"
ANSIBLE_CFG = """[defaults]
forks = {forks}
host_key_checking = True
gathering = explicit
interpreter_python = /usr/bin/python3
retry_files_enabled = False
stdout_callback = default

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
control_path_dir = {control}
"""


@dataclass(frozen=True)
class Timing:
    tool: str
    run: str  # "first" or "no-op"
    wall: float
    cpu: float  # workstation user+sys seconds of the tool's process tree
    changed: int | None  # tasks reported changed (summed over hosts), if the tool says
    execs: float | None = None  # exec round trips per host (kboot only)


class ToolError(RuntimeError):
    pass


def _timed(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    # Python's normal bytecode cache for every tool: the peers' site-packages were compiled at
    # install time, and kboot (an editable install) must not recompile its sources every run.
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise ToolError(f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                        f"{proc.stderr[-3000:]}")
    return wall, cpu, proc.stdout + proc.stderr


def run_kboot(inv: Inventories, run: str, workdir: Path) -> Timing:
    kboot = Path(sys.executable).parent / "kboot"
    cmd = [str(kboot), "run", str(WORKLOAD / "site.yml"), "-i", str(inv.kboot),
           "--forks", str(inv.n), "--output", "json"]
    wall, cpu, out = _timed(cmd, cwd=workdir, env=dict(os.environ))
    recap = next(json.loads(line) for line in reversed(out.splitlines())
                 if line.startswith("{") and '"results"' in line)
    results = recap["results"].values()
    changed = sum(r["changed"] for r in results)
    execs = sum(r["execs"] for r in results) / max(1, len(results))
    return Timing("kboot", run, wall, cpu, changed, execs)


def run_ansible(inv: Inventories, run: str, workdir: Path, bin_dir: Path) -> Timing:
    cfg = workdir / "ansible.cfg"
    control = workdir / "cp"
    control.mkdir(exist_ok=True)
    cfg.write_text(ANSIBLE_CFG.format(forks=inv.n, control=control))
    env = {**os.environ, "ANSIBLE_CONFIG": str(cfg), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local"),
           "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    cmd = [str(bin_dir / "ansible-playbook"), "-i", str(inv.ansible),
           str(WORKLOAD / "site.yml")]
    wall, cpu, out = _timed(cmd, cwd=workdir, env=env)
    changed = sum(int(m) for m in re.findall(r"\bchanged=(\d+)", out))
    return Timing("ansible", run, wall, cpu, changed)


def run_pyinfra(inv: Inventories, run: str, workdir: Path, bin_dir: Path) -> Timing:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    cmd = [str(bin_dir / "pyinfra"), "-y", "--parallel", str(inv.n), str(inv.pyinfra),
           "deploy.py"]
    wall, cpu, out = _timed(cmd, cwd=WORKLOAD, env=env)
    return Timing("pyinfra", run, wall, cpu, _pyinfra_changed(out))


def _pyinfra_changed(out: str) -> int | None:
    """Changed operations: the ``Success`` column of the ``Grand total`` row of pyinfra's
    results table (ops that made no change are counted under ``No Change``)."""
    for line in out.splitlines():
        fields = line.split()
        if fields[:2] == ["Grand", "total"] and len(fields) >= 4:
            return 0 if fields[3] == "-" else int(fields[3])
    return None


def run_floor(inv: Inventories, run: str, workdir: Path) -> Timing:
    """The SSH floor (benchmarks/executor/floor.py): kboot's transport, ``true`` only, as many
    execs per host as kboot's design allows for the run (3 first, 1 no-op)."""
    execs = 3 if run == "first" else 1
    cmd = [sys.executable, "-m", "benchmarks.executor.floor", str(inv.kboot), str(execs)]
    wall, cpu, _out = _timed(cmd, cwd=Path.cwd(), env=dict(os.environ))
    return Timing("floor", run, wall, cpu, None, float(execs))
