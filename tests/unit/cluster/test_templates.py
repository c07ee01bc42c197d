"""Rendered node configuration for the API virtual address: keepalived and haproxy."""

from __future__ import annotations

from pathlib import Path

from kboot.templating import render_file

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def test_keepalived_holds_the_vip_on_the_node_link_with_unicast_peers() -> None:
    text = render_file(TEMPLATES / "keepalived" / "keepalived.conf.j2", {
        "inventory_hostname": "lab-cp2", "api_vip": "10.77.0.10", "api_vip_router_id": 42,
        "api_vip_priority": 149, "node_ip": "10.77.0.12",
        "api_vip_peers": ["10.77.0.11", "10.77.0.12", "10.77.0.13"],
        "vip_link": {"stdout": "eth0 10.77.0.12/24\n"}})
    assert "Rendered by kboot" in text
    assert "interface eth0" in text and "virtual_router_id 42" in text
    assert "priority 149" in text and "unicast_src_ip 10.77.0.12" in text
    peers = text.split("unicast_peer {")[1].split("}")[0].split()
    assert peers == ["10.77.0.11", "10.77.0.13"]  # never itself
    assert "10.77.0.10/24 dev eth0" in text
    assert "/dev/tcp/127.0.0.1/6443" in text  # the address follows a serving haproxy


def test_haproxy_binds_the_vip_only_when_there_is_one() -> None:
    base = {"inventory_hostname": "n1",
            "apiserver_endpoints": [{"name": "cp1", "address": "10.0.0.11"}]}
    plain = render_file(TEMPLATES / "haproxy" / "haproxy.cfg.j2", {**base, "api_vip": ""})
    assert "bind 127.0.0.1:6443" in plain and "transparent" not in plain
    vip = render_file(TEMPLATES / "haproxy" / "haproxy.cfg.j2", {**base, "api_vip": "10.0.0.10"})
    assert "bind 10.0.0.10:6443 transparent" in vip


def test_the_bundle_phase_stops_an_interrupted_runs_leftovers(tmp_path: Path) -> None:
    """A killed `kboot up` can leave its pip or tar running on a host; the re-run's kb_reap
    stops what works on the same path (and never its own shell, whatever its command line)."""
    import subprocess

    import yaml

    from kboot.templating import render_string
    from tests.waiting import wait_until
    play = yaml.safe_load((TEMPLATES.parent / "playbooks" / "up" / "bundle.yaml").read_text())
    reap = render_string(play[0]["vars"]["reap"], {})
    target = tmp_path / "venv-D"
    for how in ("-c", "-s"):
        writer = subprocess.Popen(["sh", "-c", 'while :; do mkdir -p "$0/lib"; '
                                   'touch "$0/lib/f$$_$RANDOM"; done', str(target)])
        try:
            wait_until("the writer to be at work", lambda: any((target / "lib").glob("f*")),
                       timeout=30, interval=0.01)
            script = f"{reap} kb_reap '{target}'; rm -rf '{target}' && echo clean"
            # the timeouts bound a hang (rm -rf racing a live writer forever), no speed claim
            if how == "-c":
                out = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                                     timeout=120)
            else:
                out = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True,
                                     timeout=120)
            assert out.stdout == "clean\n", out.stderr
            assert writer.wait(timeout=60) == -9 and not target.exists()
        finally:
            writer.kill()


def test_each_host_installs_its_roles_packages_in_one_apt_run(tmp_path: Path) -> None:
    """The rendered apt step, run with stand-ins for apt-get and dpkg-query: each role's
    packages in one install, general tools only where the host lacks them."""
    import os
    import subprocess

    import yaml

    from kboot.cluster.pki import ensure_pki
    from kboot.cluster.topology import Node, Topology
    from kboot.cluster.vars import _host_vars
    from kboot.templating import render_string
    play = yaml.safe_load((TEMPLATES.parent / "playbooks" / "up" / "bundle.yaml").read_text())
    task = next(t for t in play[0]["tasks"] if t["name"].startswith("Debian packages"))
    cp = Node("cp1", "10.0.0.11", control_plane=True, etcd=True, worker=False)
    w = Node("w1", "10.0.0.21", control_plane=False, etcd=False, worker=True)
    packages = ["etcd-server", "etcd-client", "containerd", "haproxy", "iptables", "kmod"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # the host has iptables (any version) but no kmod; dpkg-query fails for unknown packages
    (bin_dir / "dpkg-query").write_text(
        "#!/bin/sh\nprintf 'iptables=installed kmod=not-installed '\nexit 1\n")
    (bin_dir / "dpkg-query").chmod(0o755)

    def installed(node: Node, vip: str | None) -> list[str]:
        topo = Topology("t", (cp, w), "10.244.0.0/16", "10.96.0.0/16", "cluster.local", vip,
                        False)
        hv = _host_vars(topo, node, ensure_pki(tmp_path, topo))
        text = render_string(task["shell"], {
            **hv, "bundle_packages": packages, "bundle_present_packages": ["iptables", "kmod"],
            "apt_offline": "echo apt-get", "bundle_dir": "/b"})
        lines = text.splitlines()
        first = next(i for i, ln in enumerate(lines) if ln.startswith("pkgs="))
        last = next(i for i, ln in enumerate(lines) if "install --no-install-recommends" in ln)
        fragment = "set -e\n" + "\n".join(lines[first:last + 1]) + "\n"
        out = subprocess.run(["/bin/sh", "-c", fragment], capture_output=True, text=True,
                             check=True, env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"})
        return out.stdout.split()[3:]

    wanted = ["etcd-server", "etcd-client", "containerd", "haproxy"]
    assert installed(cp, "10.0.0.10") == [*wanted, "keepalived", "kmod"]
    assert installed(cp, None) == [*wanted, "kmod"]
    assert installed(w, "10.0.0.10") == ["containerd", "haproxy", "kmod"]


def test_preflight_refuses_to_switch_the_store_of_a_live_cluster(tmp_path: Path) -> None:
    """The check reads the installed apiserver unit's --storage: another kind than the
    inventory's cluster.datastore fails with what to do; the same kind, or no unit, passes."""
    import subprocess

    import yaml

    from kboot.templating import render_string
    play = yaml.safe_load((TEMPLATES.parent / "playbooks" / "up" / "preflight.yaml").read_text())
    task = next(t for t in play[0]["tasks"] if "data store" in t["name"])
    unit = tmp_path / "kboot-apiserver.service"

    def check(datastore: str, storage: str | None) -> subprocess.CompletedProcess[str]:
        if storage is None:
            unit.unlink(missing_ok=True)
        else:
            unit.write_text(f"[Service]\nExecStart=/opt/kboot/venv/bin/kboot-apiserver \\\n"
                            f"  --storage={storage} \\\n  --secure-port=6443\n")
        script = render_string(task["shell"], {"datastore": datastore}).replace(
            "/etc/systemd/system/kboot-apiserver.service", str(unit))
        return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)

    etcd = "etcd://10.0.0.11:2379?cacert=/etc/kboot/pki/etcd/ca.crt"
    assert check("etcd", None).returncode == 0
    assert check("etcd", etcd).returncode == 0
    assert check("sqlite", "sqlite:///var/lib/kboot/store/kboot.db").returncode == 0
    refused = check("sqlite", etcd)
    assert refused.returncode == 1
    assert "runs on its etcd store" in refused.stdout
    assert "Keep cluster.datastore: etcd" in refused.stdout
    back = check("etcd", "sqlite:///var/lib/kboot/store/kboot.db")
    assert back.returncode == 1 and "Keep cluster.datastore: sqlite" in back.stdout


def test_with_host_package_sources_apt_uses_them_and_no_bundle_source() -> None:
    import yaml

    from kboot.templating import render_string
    play = yaml.safe_load((TEMPLATES.parent / "playbooks" / "up" / "bundle.yaml").read_text())
    apt = play[0]["vars"]["apt_offline"]
    bundle = render_string(apt, {"package_source": "bundle"})
    host = render_string(apt, {"package_source": "host"})
    assert "Dir::Etc::sourcelist=/etc/apt/sources.list.d/kboot.list" in bundle
    assert "sourcelist" not in host and "sourceparts" not in host
    assert host.split()[:3] == ["apt-get", "-q", "-y"] and "DPkg::Lock::Timeout=120" in host
    tasks = {t["name"]: t for t in play[0]["tasks"]}
    assert "'bundle'" in tasks["the bundle is the host's package source for kboot"]["when"]
    removal = tasks["no bundle package source (the host's own apt sources are used)"]
    assert removal["file"]["state"] == "absent" and "'host'" in removal["when"]
