"""An existing bundle follows kboot: new packages or Python requirements refresh its debs and
wheels; an unchanged recipe touches nothing (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.bundle import build


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    calls: list[str] = []
    for part in ("debs", "wheels", "images"):
        (tmp_path / part).mkdir()
    (tmp_path / "wheels" / "kboot-0.1.0-py3-none-any.whl").write_bytes(b"k")
    monkeypatch.setattr(build, "dependency_closure", lambda pkgs: sorted(pkgs))
    monkeypatch.setattr(build, "_download_debs",
                        lambda debs, pkgs: calls.append("debs:" + ",".join(pkgs)))
    monkeypatch.setattr(build, "_build_wheels",
                        lambda wheels, source, deps=True: calls.append(f"wheels deps={deps}"))
    monkeypatch.setattr(build, "refresh_kboot_wheel", lambda out: False)
    return tmp_path, calls


def test_a_bundle_of_another_recipe_is_refreshed_then_left_alone(
        bundle: tuple[Path, list[str]]) -> None:
    out, calls = bundle
    old = build.BundleManifest(packages=["etcd-server", "python3-venv", "tcpdump"],
                               extra_packages=["tcpdump"], recipe="built-by-an-older-kboot")
    fresh = build.refresh_bundle(out, old)
    # this kboot's defaults (an older kboot's python3-venv is gone), the user's extra kept
    want = [*build.DEFAULT_PACKAGES, "tcpdump"]
    assert fresh.packages == want and fresh.extra_packages == ["tcpdump"]
    debs = ",".join(sorted([*want, *build.OPTIONAL_PACKAGES]))
    assert calls == ["debs:" + debs, "wheels deps=True"]
    assert fresh.recipe == build.bundle_recipe(want) != old.recipe
    assert build.load_manifest(out) == fresh
    calls.clear()
    assert build.refresh_bundle(out, fresh) == fresh  # same recipe: nothing to do
    assert calls == []


def test_debs_no_longer_needed_leave_the_bundle(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(build, "_run", lambda cmd, cwd=None: ran.append(cmd) or "")
    monkeypatch.setattr(build, "repack_debs", lambda debs: 0)  # the files are not real debs
    for name in ("containerd_1.6_amd64.deb", "python3-venv_3.11_amd64.deb"):
        (tmp_path / name).write_bytes(b"deb")
    build._download_debs(tmp_path, ["containerd", "runc"])
    assert sorted(p.name for p in tmp_path.glob("*.deb")) == ["containerd_1.6_amd64.deb"]
    assert ran[0] == ["apt-get", "download", "-q", "runc"]


def test_the_recipe_follows_packages_and_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    one = build.bundle_recipe(["a", "b"])
    assert build.bundle_recipe(["b", "a"]) == one
    assert build.bundle_recipe(["a"]) != one
    monkeypatch.setattr(build, "_requirements", lambda: ["uvloop>=0.19"])
    assert build.bundle_recipe(["a", "b"]) != one


def test_the_dependency_closure_asks_apt_for_priorities_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One ``apt-cache show`` for all names (it was one per package: minutes per bundle)."""
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], *, cwd: Path | None = None) -> str:
        calls.append(cmd)
        if cmd[1] == "depends":
            return "a\n  Depends: b\nb\nc\n<virtual>\n"
        return "Package: a\nPriority: optional\n\nPackage: b\nPriority: required\n\n" \
               "Package: c\nPriority: important\n"

    monkeypatch.setattr(build, "_run", fake_run)
    assert build.dependency_closure(["a"]) == ["a", "c"]
    assert [c[1] for c in calls] == ["depends", "show"]
