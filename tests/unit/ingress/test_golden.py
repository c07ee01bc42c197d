"""Golden files for :func:`kboot.controlplane.ingress.config.render` (see ``cases.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kboot.controlplane.ingress.config import RenderedConfig
from tests.unit.ingress.cases import SCENARIOS

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("KBOOT_REGEN_GOLDEN") == "1"


def _artifacts(rendered: RenderedConfig) -> dict[str, str]:
    problems = "".join(f"{ing}\t{p.reason}\t{p.message}\n"
                       for ing, ps in rendered.problems.items() for p in ps)
    out = {"cfg": rendered.haproxy_cfg, "problems.txt": problems,
           "ingresses.txt": "".join(f"{i}\n" for i in rendered.ingresses)}
    if "crt-list" in rendered.files:
        out["crt-list"] = rendered.files["crt-list"].decode()
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden(name: str) -> None:
    artifacts = _artifacts(SCENARIOS[name]().render())
    for suffix, text in artifacts.items():
        golden = GOLDEN / f"{name}.{suffix}"
        if REGEN:
            golden.write_text(text)
        assert golden.exists(), f"missing {golden}; run with KBOOT_REGEN_GOLDEN=1"
        assert text == golden.read_text(), f"{golden} differs (regenerate and review the diff)"
    stale = {p.name for p in GOLDEN.glob(f"{name}.*")} - {f"{name}.{s}" for s in artifacts}
    assert not stale, f"stale golden files: {stale}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_render_is_deterministic(name: str) -> None:
    scenario = SCENARIOS[name]()
    first = scenario.render()
    scenario.ingresses.reverse()
    scenario.services.reverse()
    second = scenario.render()
    assert first.haproxy_cfg == second.haproxy_cfg
    assert first.files == second.files
    assert first.problems == second.problems
