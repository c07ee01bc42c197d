"""The benchmark workload for pyinfra: the same 30 tasks as site.yml (kboot and Ansible).

Run by ``python -m benchmarks.executor``; host data ``bench_root`` and ``inventory_hostname``
come from the generated inventory. Templates get Ansible's jinja2 settings (``trim_blocks``)
so the three tools render the same bytes. ``creates`` is expressed the pyinfra way: a ``File``
fact decides whether the command is part of the deploy.
"""

from io import StringIO

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

r = host.data.bench_root
VARS = {
    "app_name": "demo", "app_port": 8080, "app_workers": 4, "log_level": "info",
    "peers": ["alpha", "beta", "gamma"],
    "inventory_hostname": host.data.inventory_hostname, "bench_root": r,
}
JINJA = {"trim_blocks": True}

for name, path, mode in [
    ("root dir", "", "0755"), ("etc dir", "/etc/app", "0755"),
    ("unit dir", "/etc/systemd/system", "0755"), ("sysctl dir", "/etc/sysctl.d", "0755"),
    ("state dir", "/var/lib/app", "0755"), ("log dir", "/var/lib/app/log", "0750"),
    ("bin dir", "/opt/app/bin", "0755"),
]:
    files.directory(name=name, path=r + path, mode=mode)

for name, path, content, mode in [
    ("motd", "/etc/app/motd", "Welcome to demo\n", "0644"),
    ("env file", "/etc/app/env", "APP_PORT=8080\nAPP_MODE=prod\n", "0600"),
    ("features", "/etc/app/features.list", "metrics\ntracing\nauth\n", "0644"),
    ("start script", "/opt/app/bin/start.sh", '#!/bin/sh\nexec /usr/bin/true "$@"\n', "0755"),
    ("limits", "/etc/app/limits.conf", "nofile 65536\nnproc 4096\n", "0644"),
    ("version", "/var/lib/app/VERSION", "1.4.2\n", "0644"),
    ("hosts.allow", "/etc/app/hosts.allow", "ALL: 10.0.0.0/8\n", "0644"),
]:
    files.put(name=name, src=StringIO(content), dest=r + path, mode=mode)

for name, src, path, mode in [
    ("app config", "app.conf.j2", "/etc/app/app.conf", "0640"),
    ("logging config", "logging.ini.j2", "/etc/app/logging.ini", "0644"),
    ("proxy site", "site.conf.j2", "/etc/app/site.conf", "0644"),
    ("cluster members", "cluster.yaml.j2", "/etc/app/cluster.yaml", "0644"),
    ("shell env", "env.sh.j2", "/etc/app/env.sh", "0644"),
    ("systemd unit", "app.service.j2", "/etc/systemd/system/app.service", "0644"),
]:
    files.template(name=name, src=f"templates/{src}", dest=r + path, mode=mode,
                   jinja_env_kwargs=dict(JINJA), **VARS)

files.link(name="current link", path=r + "/opt/app/current", target=r + "/opt/app/bin")

for name, creates, command in [
    ("init database", "/var/lib/app/db.init", f"echo initialized > {r}/var/lib/app/db.init"),
    ("generate secret", "/var/lib/app/secret",
     f"printf '%s\\n' {host.data.inventory_hostname}-secret > {r}/var/lib/app/secret"),
    ("cache stamp", "/var/cache/app/stamp",
     f"mkdir -p {r}/var/cache/app && echo ok > {r}/var/cache/app/stamp"),
    ("tuning defaults", "/etc/app/tuning.conf",
     f"printf 'max_conn = 10\\ntimeout = 30\\n' > {r}/etc/app/tuning.conf"),
]:
    if not host.get_fact(File, path=r + creates):
        server.shell(name=name, commands=[command])

for name, path, line in [
    ("sysctl somaxconn", "/etc/sysctl.d/99-app.conf", "net.core.somaxconn = 1024"),
    ("sysctl swappiness", "/etc/sysctl.d/99-app.conf", "vm.swappiness = 10"),
    ("registry host", "/etc/hosts", "10.0.0.5 registry.local"),
    ("mirror host", "/etc/hosts", "10.0.0.6 mirror.local"),
]:
    files.line(name=name, path=r + path, line=f"^{line}$", replace=line)

files.line(name="tune max_conn", path=r + "/etc/app/tuning.conf", line="^max_conn.*",
           replace="max_conn = 100")
