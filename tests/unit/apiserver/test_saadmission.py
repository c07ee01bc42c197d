"""The ServiceAccount admission plugin: defaulting, the API-access volume and mounts, the
opt-outs (pod wins over ServiceAccount), mirror pods exempt, a missing named account refused."""

from __future__ import annotations

from typing import Any

from kboot.controlplane.apiserver.saadmission import (
    MOUNT_PATH,
    api_access_volume,
    inject,
    should_automount,
)
from tests.unit.apiserver.harness import async_test, running

NS = "/api/v1/namespaces/default"


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def test_volume_is_upstreams_projection() -> None:
    sources = api_access_volume("kube-api-access-abcde")["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"] == {"name": "kube-root-ca.crt",
                                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert api_access_volume("x")["projected"]["defaultMode"] == 420


def test_inject_mounts_every_container_without_own_mount_but_not_ephemeral() -> None:
    own = {"name": "own", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]}
    spec: dict[str, Any] = {"initContainers": [{"name": "i"}],
                            "containers": [{"name": "a"}, own],
                            "ephemeralContainers": [{"name": "e"}]}
    inject(spec, "abcde")
    assert [v["name"] for v in spec["volumes"]] == ["kube-api-access-abcde"]
    mount = {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT_PATH}
    assert spec["initContainers"][0]["volumeMounts"] == [mount]
    assert spec["containers"][0]["volumeMounts"] == [mount]
    assert spec["containers"][1]["volumeMounts"] == [{"name": "mine", "mountPath": MOUNT_PATH}]
    assert "volumeMounts" not in spec["ephemeralContainers"][0]


def test_inject_adds_nothing_when_all_containers_mount_the_path() -> None:
    spec: dict[str, Any] = {"containers": [
        {"name": "a", "volumeMounts": [{"name": "m", "mountPath": MOUNT_PATH}]}]}
    inject(spec)
    assert "volumes" not in spec


def test_pod_opt_out_wins_over_service_account() -> None:
    assert should_automount({}, None)
    assert not should_automount({}, {"automountServiceAccountToken": False})
    assert should_automount({"automountServiceAccountToken": True},
                            {"automountServiceAccountToken": False})
    assert not should_automount({"automountServiceAccountToken": False},
                                {"automountServiceAccountToken": True})


@async_test
async def test_pod_create_gets_volume_mount_and_default_account() -> None:
    async with running() as h:
        await h.json("POST", f"{NS}/serviceaccounts",
                     {"metadata": {"name": "default"}}, expect=201)
        made = await h.json("POST", f"{NS}/pods", _pod("p"), expect=201)
        assert made["spec"]["serviceAccountName"] == "default"
        assert made["spec"]["serviceAccount"] == "default"
        (volume,) = made["spec"]["volumes"]
        assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == 21
        assert made["spec"]["containers"][0]["volumeMounts"] == [
            {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}]


@async_test
async def test_opt_outs_and_mirror_pods() -> None:
    async with running() as h:
        await h.json("POST", f"{NS}/serviceaccounts",
                     {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False},
                     expect=201)
        quiet = await h.json("POST", f"{NS}/pods", _pod("q", serviceAccountName="quiet"),
                             expect=201)
        assert "volumes" not in quiet["spec"]
        loud = await h.json("POST", f"{NS}/pods", _pod(
            "l", serviceAccountName="quiet", automountServiceAccountToken=True), expect=201)
        assert loud["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
        mirror = _pod("m", serviceAccountName="ghost")
        mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
        made = await h.json("POST", f"{NS}/pods", mirror, expect=201)
        assert "volumes" not in made["spec"]


@async_test
async def test_missing_named_service_account_is_refused() -> None:
    async with running() as h:
        refused = await h.json("POST", f"{NS}/pods", _pod("p", serviceAccountName="ghost"),
                               expect=403)
        assert refused["message"] == ('pods "p" is forbidden: error looking up service account '
                                      'default/ghost: serviceaccount "ghost" not found')
