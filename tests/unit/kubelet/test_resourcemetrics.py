"""``/metrics/resource`` from fake cgroup trees (v2 and v1) and a fake /proc, and the metrics
server's parsing and rates over two such scrapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kboot.controlplane.kubelet.resourcemetrics import ContainerId, cgroup_usage, scrape
from kboot.controlplane.metricsserver.usage import UsageStore, parse

C = ContainerId("default", "web-1", "uid1", "app", "cid1")


def _proc(tmp: Path, busy: int) -> Path:
    proc = tmp / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "stat").write_text(f"cpu  {busy} 0 0 1000 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    (proc / "meminfo").write_text("MemTotal:  4000000 kB\nMemAvailable:  3000000 kB\n")
    return proc


def _v2(tmp: Path, usec: int, current: int) -> Path:
    base = tmp / "cg2"
    d = base / "kubepods" / "poduid1" / "cid1"
    d.mkdir(parents=True, exist_ok=True)
    (base / "cgroup.controllers").write_text("cpu memory\n")
    (d / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec 1\n")
    (d / "memory.current").write_text(f"{current}\n")
    (d / "memory.stat").write_text("anon 1\ninactive_file 1048576\n")
    return base


def test_cgroup_v2_and_v1_usage(tmp_path: Path) -> None:
    base = _v2(tmp_path, 2_500_000, 10_485_760)
    usage = cgroup_usage("/kubepods/poduid1/cid1", base)
    assert usage is not None
    assert (usage.cpu_seconds, usage.memory_bytes) == (2.5, 9_437_184)
    v1 = tmp_path / "cg1"
    (v1 / "cpuacct" / "x").mkdir(parents=True)
    (v1 / "memory" / "x").mkdir(parents=True)
    (v1 / "cpuacct" / "x" / "cpuacct.usage").write_text("3000000000\n")
    (v1 / "memory" / "x" / "memory.usage_in_bytes").write_text("2000\n")
    (v1 / "memory" / "x" / "memory.stat").write_text("total_inactive_file 500\n")
    usage = cgroup_usage("x", v1)
    assert usage is not None
    assert (usage.cpu_seconds, usage.memory_bytes) == (3.0, 1500)
    assert cgroup_usage("gone", v1) is None


def test_cgroup_v1_without_a_cpuacct_directory_sums_its_processes(tmp_path: Path) -> None:
    v1 = tmp_path / "cg1"
    mem = v1 / "memory" / "kubepods" / "poduid1" / "cid1"
    mem.mkdir(parents=True)
    (v1 / "cpuacct" / "kubepods" / "poduid1").mkdir(parents=True)  # the pod's only
    (mem / "memory.usage_in_bytes").write_text("4096\n")
    (mem / "memory.stat").write_text("total_inactive_file 0\n")
    (mem / "cgroup.procs").write_text("7\n8\n9\n")  # 9 has exited
    proc = tmp_path / "proc"
    for pid, ticks in (("7", (100, 50, 0, 0)), ("8", (20, 10, 5, 5))):
        (proc / pid).mkdir(parents=True)
        fields = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0",
                  *[str(t) for t in ticks], "20", "0"]
        (proc / pid / "stat").write_text(f"{pid} (sh (x)) {' '.join(fields)}\n")
    usage = cgroup_usage("kubepods/poduid1/cid1", v1, proc)
    assert usage is not None
    clk = os.sysconf("SC_CLK_TCK")
    assert usage.cpu_seconds == pytest.approx(190 / clk)
    assert usage.memory_bytes == 4096


def test_two_scrapes_give_rates(tmp_path: Path) -> None:
    first = scrape([C], "/kubepods", 1_000_000, base=_v2(tmp_path, 1_000_000, 10_485_760),
                   proc=_proc(tmp_path, 1000))
    assert 'container_cpu_usage_seconds_total{container="app",namespace="default",' \
           'pod="web-1"} 1.000000000 1000000' in first
    second = scrape([C], "/kubepods", 1_010_000, base=_v2(tmp_path, 3_000_000, 20_971_520),
                    proc=_proc(tmp_path, 1000 + 500))
    store = UsageStore()
    store.record("n1", parse(first, 0))
    assert store.pod_metrics() == []  # one sample: no rate yet
    store.record("n1", parse(second, 0))
    pod = store.pod_metrics()[0]
    assert pod["metadata"] == {"name": "web-1", "namespace": "default",
                               "creationTimestamp": "1970-01-01T00:16:50Z"}
    assert pod["containers"] == [{"name": "app", "usage": {"cpu": "200000000n",
                                                          "memory": "19456Ki"}}]
    assert pod["window"] == "10s"
    node = store.node_metrics()[0]
    assert node["usage"]["memory"] == "1000000Ki"  # MemTotal - MemAvailable
    assert node["usage"]["cpu"].endswith("n") and node["usage"]["cpu"] != "0n"


def test_a_restarted_container_waits_for_a_new_rate() -> None:
    store = UsageStore()
    line = 'container_cpu_usage_seconds_total{container="a",namespace="n",pod="p"} %s %d\n'
    store.record("n1", parse(line % ("50", 1000), 0))
    store.record("n1", parse(line % ("1", 2000), 0))  # counter went backwards
    assert store.pod_metrics() == []


def test_running_containers_have_upstreams_start_time_series(tmp_path: Path) -> None:
    started = ContainerId("default", "web-1", "uid1", "app", "cid1",
                          started_ns=1_624_396_248_302_091_600)
    text = scrape([started, ContainerId("default", "web-1", "uid1", "side", "cid2")],
                  "/kubepods", 1_624_396_278_302, base=_v2(tmp_path, 1_000_000, 10_485_760),
                  proc=_proc(tmp_path, 1000))
    assert ("# HELP container_start_time_seconds [STABLE] Start time of the container since "
            "unix epoch in seconds\n# TYPE container_start_time_seconds gauge\n"
            'container_start_time_seconds{container="app",namespace="default",pod="web-1"} '
            "1.6243962483020916e+09 1624396248302\n") in text
    assert text.count("container_start_time_seconds{") == 1  # cid2: no cgroup, no start


def _series(cpu: float, at_ms: int, started_s: float | None) -> str:
    labels = 'container="a",namespace="n",pod="p"'
    text = f"container_cpu_usage_seconds_total{{{labels}}} {cpu} {at_ms}\n"
    if started_s is not None:
        text += f"container_start_time_seconds{{{labels}}} {started_s:e} {int(started_s * 1000)}\n"
    return text


def test_a_new_container_has_a_rate_from_its_start_after_one_scrape() -> None:
    store = UsageStore(resolution=10.0)
    store.record("n1", parse(_series(1.0, 1_004_000, 1_000.0), 0))
    (pod,) = store.pod_metrics()
    assert pod["containers"][0]["usage"]["cpu"] == "250000000n"  # 1 s of CPU over 4 s
    assert pod["window"] == "4s"


def test_the_start_time_is_used_only_for_a_fresh_container() -> None:
    for started in (1_003.9, 980.0, 1_004.0, 1_005.0):  # too near, too old, at or after the sample
        store = UsageStore(resolution=10.0)
        store.record("n1", parse(_series(1.0, 1_004_000, started), 0))
        assert store.pod_metrics() == [], started


def test_a_restarted_container_gets_a_rate_from_its_new_start() -> None:
    store = UsageStore(resolution=10.0)
    store.record("n1", parse(_series(50.0, 1_000_000, 500.0), 0))
    store.record("n1", parse(_series(60.0, 1_010_000, 1_005.0), 0))  # counter grew, new start
    (pod,) = store.pod_metrics()
    assert pod["containers"][0]["usage"]["cpu"] == "12000000000n"  # 60 s since the restart
    assert pod["window"] == "5s"
    store.record("n1", parse(_series(62.0, 1_020_000, 1_005.0), 0))  # same run: two samples
    (pod,) = store.pod_metrics()
    assert (pod["containers"][0]["usage"]["cpu"], pod["window"]) == ("200000000n", "10s")
