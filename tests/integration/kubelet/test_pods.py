"""Pods on a real containerd through the kubelet and the apiserver, driven with kubectl."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.integration.kubelet.cluster import Cluster, pod
from tests.waiting import stays, wait_until

pytestmark = pytest.mark.integration


def _logs(cluster: Cluster, *args: str, expect: str, timeout: float = 40) -> str:
    """``kubectl logs`` until it shows *expect* (a just-started container may not have
    written yet on a loaded machine)."""
    def shown() -> str | None:
        out = cluster.kubectl("logs", *args).stdout
        return out if out == expect else None

    return wait_until(f"logs {args} to be {expect!r}", shown, timeout=timeout, interval=0.3)


def _cs(p: dict) -> dict:  # type: ignore[type-arg]
    statuses = (p.get("status") or {}).get("containerStatuses") or [{}]
    return {"restartCount": 0, "state": {}, "ready": False, **statuses[0]}


def test_pod_runs_and_logs_come_through(cluster: Cluster) -> None:
    cluster.apply(pod("logger", "for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done",
                      restartPolicy="Never"))
    p = cluster.wait_running("logger")
    assert p["status"]["podIP"].startswith(f"10.251.{cluster.node.slot}.")
    assert _cs(p)["ready"] and p["status"]["hostIP"] == "127.0.0.1"
    follow = cluster.kubectl("logs", "-f", "logger", timeout=60)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.splitlines() == [f"line {i}" for i in range(1, 6)]
    tail = cluster.kubectl("logs", "logger", "--tail=2", "--timestamps")
    lines = tail.stdout.splitlines()
    assert len(lines) == 2 and lines[1].endswith("line 5") and lines[1][:4].isdigit()
    done = cluster.wait("pod", "logger", lambda p: p["status"]["phase"] == "Succeeded")
    assert _cs(done)["state"]["terminated"]["exitCode"] == 0


def test_exec_stdin_stdout_stderr_and_exit_codes(cluster: Cluster) -> None:
    cluster.apply(pod("shell", "sleep 3600"))
    cluster.wait_running("shell")
    res = cluster.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert res.returncode == 3
    assert res.stdout == "out\n" and "err" in res.stderr
    res = cluster.kubectl("exec", "-i", "shell", "--", "sh", "-c", "cat; echo done",
                          input="hello\nworld\n")
    assert res.returncode == 0 and res.stdout == "hello\nworld\ndone\n", res.stderr
    res = cluster.kubectl("exec", "shell", "--", "true")
    assert res.returncode == 0


def test_crash_loop_backoff_counts_restarts(cluster: Cluster) -> None:
    cluster.apply(pod("crasher", "echo boom; exit 2"))
    p = cluster.wait("pod", "crasher", lambda p: _cs(p)["restartCount"] >= 2, timeout=40)
    st = _cs(p)
    assert st["lastState"]["terminated"]["exitCode"] == 2
    assert p["status"]["phase"] == "Running"
    prev = cluster.kubectl("logs", "crasher", "--previous")
    assert prev.stdout.strip() == "boom"
    p = cluster.wait("pod", "crasher", lambda p: _cs(p)["state"].get("waiting", {}).get(
        "reason") == "CrashLoopBackOff", timeout=40)
    assert not _cs(p)["ready"]
    table = cluster.kubectl("get", "pod", "crasher", "--no-headers").stdout.split()
    assert table[2] in ("CrashLoopBackOff", "Error", "Completed") and int(table[3]) >= 2


def test_liveness_restarts_and_readiness_gates_ready(cluster: Cluster) -> None:
    probe = {"periodSeconds": 1, "failureThreshold": 1}
    cluster.apply(pod("probed", "touch /tmp/alive; sleep 3600", container={
        "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/alive"]},
                          "initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 2},
        "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, **probe}}))
    p = cluster.wait_running("probed")
    assert not _cs(p)["ready"]
    assert cluster.kubectl("exec", "probed", "--", "touch", "/tmp/ready").returncode == 0
    p = cluster.wait("pod", "probed", lambda p: _cs(p)["ready"], timeout=40)
    ready = {c["type"]: c["status"] for c in p["status"]["conditions"]}
    assert ready["Ready"] == "True" and ready["ContainersReady"] == "True"
    assert cluster.kubectl("exec", "probed", "--", "rm", "/tmp/alive").returncode == 0
    p = cluster.wait("pod", "probed", lambda p: _cs(p)["restartCount"] >= 1, timeout=40)
    assert "running" in _cs(cluster.wait_running("probed"))["state"]


def test_configmap_secret_env_files_and_emptydir(cluster: Cluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "namespace": "default"},
                   "data": {"color": "blue", "motd": "hi there"}})
    cluster.apply({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "creds", "namespace": "default"},
                   "stringData": {"password": "s3cret"}})
    script = ("echo run >> /scratch/runs; echo COLOR=$COLOR PASS=$PASS; "
              "cat /cfg/motd; echo; cat /sec/password; echo; sleep 2; exit 1")
    cluster.apply(pod("configured", script, container={
        "env": [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings",
                                                                     "key": "color"}}},
                {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                                "key": "password"}}}],
        "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"},
                         {"name": "sec", "mountPath": "/sec"},
                         {"name": "scratch", "mountPath": "/scratch"}]},
        volumes=[{"name": "cfg", "configMap": {"name": "settings"}},
                 {"name": "sec", "secret": {"secretName": "creds"}},
                 {"name": "scratch", "emptyDir": {}}]))
    cluster.wait_running("configured")
    def greeted() -> str | None:  # the echo may lag
        out = cluster.kubectl("logs", "configured").stdout
        return out if "hi there" in out else None

    logs = wait_until("the configured pod's greeting", greeted, timeout=40, interval=0.3)
    assert "COLOR=blue PASS=s3cret" in logs and "hi there" in logs and "s3cret" in logs
    p = cluster.wait("pod", "configured", lambda p: _cs(p)["restartCount"] >= 1
                     and "running" in _cs(p)["state"], timeout=30)
    assert p
    runs = cluster.kubectl("exec", "configured", "--", "cat", "/scratch/runs").stdout
    assert runs.count("run") >= 2  # the emptyDir kept the first run's line


def test_pods_reach_each_other_by_ip(cluster: Cluster) -> None:
    cluster.apply(pod("server", "mkdir -p /www && echo hello-from-server > /www/index.html "
                      "&& exec httpd -f -p 8080 -h /www"))
    cluster.apply(pod("client", "sleep 3600"))
    ip = cluster.wait_running("server")["status"]["podIP"]
    cluster.wait_running("client")
    res = cluster.kubectl("exec", "client", "--", "timeout", "5", "wget", "-q", "-O-",
                          f"http://{ip}:8080/")
    assert res.stdout.strip() == "hello-from-server", res.stderr


def test_graceful_delete_removes_everything(cluster: Cluster) -> None:
    cluster.apply(pod("doomed", "trap 'exit 0' TERM; while true; do sleep 0.2; done"))
    p = cluster.wait_running("doomed")
    uid = p["metadata"]["uid"]
    res = cluster.kubectl("delete", "pod", "doomed", "--timeout=20s")
    assert res.returncode == 0, res.stderr
    assert cluster.get("pod", "doomed") is None
    assert not list(cluster.node.log_dir.glob(f"*_{uid}"))
    ctrs = cluster.node.ctr("-n", "k8s.io", "containers", "list", "-q").stdout.split()
    for c in ctrs:  # (other pods' containers may come and go meanwhile)
        info = cluster.node.ctr("-n", "k8s.io", "containers", "info", c, check=False).stdout
        assert uid not in info


def test_pvc_data_survives_pod_deletion(cluster: Cluster) -> None:
    data_dir = cluster.node.workdir / "pv-data"
    cluster.apply({"apiVersion": "v1", "kind": "PersistentVolume",
                   "metadata": {"name": "kbt-pv"},
                   "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                            "hostPath": {"path": str(data_dir), "type": "DirectoryOrCreate"},
                            "storageClassName": "manual",
                            "claimRef": {"namespace": "default", "name": "kbt-claim"}}})
    cluster.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "kbt-claim", "namespace": "default"},
                   "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                            "volumeName": "kbt-pv",
                            "resources": {"requests": {"storage": "1Gi"}}}})
    volume = {"name": "data", "persistentVolumeClaim": {"claimName": "kbt-claim"}}
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    cluster.apply(pod("writer", "echo persisted > /data/file; sleep 3600", container=mount,
                      volumes=[volume]))
    cluster.wait_running("writer")
    assert cluster.kubectl("delete", "pod", "writer", "--timeout=20s").returncode == 0
    cluster.apply(pod("reader", "cat /data/file; sleep 3600", container=mount,
                      volumes=[volume]))
    cluster.wait_running("reader")
    assert _logs(cluster, "reader", expect="persisted\n") == "persisted\n"
    assert (data_dir / "file").read_text() == "persisted\n"


def test_init_container_multi_container_logs_and_host_port(cluster: Cluster) -> None:
    spec = pod("multi", "cat /shared/greeting; exec httpd -f -p 8080 -h /shared")
    spec["spec"]["initContainers"] = [{
        "name": "init", "image": "kboot.io/busybox:1.35",
        "command": ["sh", "-c", "echo from-init > /shared/greeting; echo init-ran"],
        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}]
    main = spec["spec"]["containers"][0]
    main["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
    main["ports"] = [{"containerPort": 8080, "hostPort": 18080}]
    spec["spec"]["containers"].append({"name": "side", "image": "kboot.io/busybox:1.35",
                                       "command": ["sh", "-c", "echo side-car; sleep 3600"]})
    spec["spec"]["volumes"] = [{"name": "shared", "emptyDir": {}}]
    cluster.apply(spec)
    p = cluster.wait("pod", "multi", lambda p: (p.get("status") or {}).get("phase") == "Running"
                     and all(c["ready"] for c in p["status"]["containerStatuses"]))
    init = p["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 0
    assert cluster.kubectl("logs", "multi", "-c", "init").stdout == "init-ran\n"
    assert _logs(cluster, "multi", "-c", "c", expect="from-init\n") == "from-init\n"
    assert _logs(cluster, "multi", "-c", "side", expect="side-car\n") == "side-car\n"
    table = cluster.kubectl("get", "pod", "multi", "--no-headers").stdout.split()
    assert table[1] == "2/2" and table[2] == "Running"
    with urllib.request.urlopen(f"http://{cluster.node.node_ip}:18080/greeting",
                                timeout=5) as resp:
        assert resp.read() == b"from-init\n"


def test_kubectl_exec_it_through_the_apiserver(cluster: Cluster) -> None:
    """``kubectl exec -it`` needs a terminal: run kubectl under ``script`` (a pty)."""
    cluster.apply(pod("interactive", "sleep 3600"))
    cluster.wait_running("interactive")
    server = cluster.server
    kubectl = (f"HOME={server.workdir}/home /usr/bin/kubectl --kubeconfig {server.kubeconfig} "
               "exec -it interactive -- sh -c 'tty; echo $((6*7)); exit 5'")
    res = subprocess.run(["script", "-qec", kubectl, "/dev/null"], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert "/dev/pts/" in res.stdout and "42" in res.stdout, (res.stdout, res.stderr)
    assert res.returncode == 5


def test_http_and_tcp_probes_from_the_kubelet(cluster: Cluster) -> None:
    serve = "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"
    probes = {"periodSeconds": 1, "failureThreshold": 1}
    cluster.apply(pod("web-ok", serve, container={
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, **probes},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1,
                          "failureThreshold": 5}}))
    cluster.apply(pod("web-404", serve, container={
        "readinessProbe": {"httpGet": {"path": "/missing", "port": 8080}, **probes}}))
    p = cluster.wait("pod", "web-ok", lambda p: _cs(p)["ready"], timeout=30)
    assert _cs(p)["restartCount"] == 0
    p = cluster.wait_running("web-404")
    cluster.wait("pod", "web-404", lambda p: "running" in _cs(p)["state"])

    def unready_and_never_restarted() -> bool:
        p = cluster.get("pod", "web-404")
        return p is not None and not _cs(p)["ready"] and _cs(p)["restartCount"] == 0

    stays("web-404 unready, not restarted", unready_and_never_restarted, seconds=3,
          interval=0.5)  # a few probe periods: a failing readiness probe never restarts


def test_kubelet_restart_adopts_running_pods(cluster: Cluster) -> None:
    cluster.apply(pod("survivor", "sleep 3600"))
    before = cluster.wait_running("survivor")
    uid = before["metadata"]["uid"]

    def mine() -> list[str]:  # this pod's sandbox and container in containerd
        return sorted(cluster.node.ctr("-n", "k8s.io", "containers", "list", "-q",
                                       f'labels."io.kubernetes.pod.uid"=={uid}').stdout.split())

    sandboxes = mine()
    assert len(sandboxes) == 2
    logged = len(cluster.kubelet_log.read_text())
    cluster.restart_kubelet()
    wait_until("the restarted kubelet adopts the pod's sandbox",
               lambda: "of pod survivor" in cluster.kubelet_log.read_text()[logged:],
               diagnose=lambda: cluster.kubelet_log.read_text()[-2000:])
    # the restarted kubelet's port may take a moment
    wait_until("exec through the restarted kubelet",
               lambda: cluster.kubectl("exec", "survivor", "--", "true").returncode == 0,
               timeout=30, interval=0.5, diagnose=lambda: cluster.kubelet_log.read_text()[-2000:])
    after = cluster.wait_running("survivor")
    assert after["status"]["podIP"] == before["status"]["podIP"]
    assert _cs(after)["containerID"] == _cs(before)["containerID"]
    assert _cs(after)["restartCount"] == 0 and _cs(after)["ready"]
    assert mine() == sandboxes


def test_security_context_user(cluster: Cluster) -> None:
    cluster.apply(pod("nonroot", "id -u; id -g; sleep 3600",
                      securityContext={"runAsUser": 1000, "runAsGroup": 2000}))
    cluster.wait_running("nonroot")
    assert _logs(cluster, "nonroot", expect="1000\n2000\n") == "1000\n2000\n"


def test_service_account_token_and_service_env_reach_the_container(cluster: Cluster) -> None:
    """The ServiceAccount admission's volume is filled by the real kubelet (bound token, CA,
    namespace) and the master Service's variables are in the environment, which is what
    in-cluster clients read."""
    mount = "/var/run/secrets/kubernetes.io/serviceaccount"
    cluster.apply(pod("incluster", "sleep 3600"))
    cluster.wait_running("incluster")
    token = cluster.kubectl("exec", "incluster", "--", "cat", f"{mount}/token")
    assert token.returncode == 0, token.stderr
    assert token.stdout.count(".") == 2  # a JWT
    ns = cluster.kubectl("exec", "incluster", "--", "cat", f"{mount}/namespace")
    assert ns.stdout == "default"
    ca = cluster.kubectl("exec", "incluster", "--", "cat", f"{mount}/ca.crt")
    assert ca.stdout == cluster.server.ca_file.read_text()
    env = cluster.kubectl("exec", "incluster", "--", "env").stdout.splitlines()
    service = cluster.get("service", "kubernetes")
    assert service is not None
    assert f"KUBERNETES_SERVICE_HOST={service['spec']['clusterIP']}" in env
    assert "KUBERNETES_SERVICE_PORT=443" in env


def test_post_start_and_pre_stop_hooks_run_in_the_container(cluster: Cluster,
                                                            tmp_path: Path) -> None:
    """The hooks wait for files the test creates (no timing): the container is not Running
    while postStart runs; while preStop runs the pod still serves and has had no SIGTERM."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    wait_for = "while [ ! -e /hooks/{0} ]; do sleep 0.1; done"
    spec = pod("hooked", "trap 'echo term > /hooks/term; exit 0' TERM; mkdir -p /www; "
               "echo up > /www/index.html; httpd -p 8080 -h /www; "
               "while true; do sleep 0.1; done", container={
                   "volumeMounts": [{"name": "hooks", "mountPath": "/hooks"}],
                   "lifecycle": {
                       "postStart": {"exec": {"command": ["sh", "-c", "touch /hooks/post-begun; "
                                                          + wait_for.format("go")]}},
                       "preStop": {"exec": {"command": ["sh", "-c", "touch /hooks/pre-stop; "
                                                        + wait_for.format("release")]}}}},
               volumes=[{"name": "hooks", "hostPath": {"path": str(hooks)}}],
               terminationGracePeriodSeconds=60)
    cluster.apply(spec)
    wait_until("the postStart hook to begin", (hooks / "post-begun").exists, timeout=60)
    p = cluster.get("pod", "hooked")
    assert p is not None and "running" not in _cs(p)["state"]
    (hooks / "go").touch()
    ip = cluster.wait_running("hooked")["status"]["podIP"]
    assert "running" in _cs(cluster.get("pod", "hooked") or {})["state"]

    cluster.kubectl("delete", "pod", "hooked", "--wait=false")
    wait_until("the preStop hook to begin", (hooks / "pre-stop").exists, timeout=30)
    with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as resp:
        assert resp.read() == b"up\n"  # still serving: SIGTERM only after the hook
    assert not (hooks / "term").exists() and cluster.get("pod", "hooked") is not None
    (hooks / "release").touch()
    wait_until("the pod to be gone", lambda: cluster.get("pod", "hooked") is None, timeout=30)
    assert (hooks / "term").read_text() == "term\n"  # SIGTERM came, within the grace period
