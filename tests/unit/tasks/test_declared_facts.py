"""Each task's facts are declared once, in ``needs``: its plan reads only those.

The runner gives a plan exactly the facts its task declares (``TaskContext.fact`` refuses any
other with :class:`UndeclaredFact`), so drift between ``needs`` and the plan fails every run —
and this test finds it first: every remote task of the library is planned for a set of
argument cases (its own docstring examples included) under absent, present and other fact
values, with and without ``--diff``; no plan may read an undeclared fact.
"""

from __future__ import annotations

import base64
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from kboot.facts.base import ABSENT, Fact, FactError
from kboot.facts.files import file_stat
from kboot.playbook.parse import load_playbook
from kboot.playbook.units import PLAN_ERRORS, Expander
from kboot.playbook.yamlload import load_yaml_text
from kboot.tasks.args import bind
from kboot.tasks.base import Plan, TaskContext, TaskDef, UndeclaredFact
from kboot.tasks.registry import all_tasks

SHA = "a" * 64
OUTPUTS: dict[str, list[str]] = {  # by fact key prefix: absent, present, other
    "file": [ABSENT, f"regular file|644|root|root|5\n{SHA}  -", "directory|755|root|root|9\n-",
             "symbolic link|777|root|root|3\n/x"],
    "content": [ABSENT, base64.b64encode(b"a=1\nkernel.x = 1\n").decode()],
    "dir": [ABSENT, "a\nb"],
    "deb": ["", "curl\t8.0\tinstalled\nnginx\t1.0\tinstalled"],
    "debfile": ["", "Package: p\nVersion: 1"],
    "unit": ["LoadState=not-found\nActiveState=inactive\nUnitFileState=",
             "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\nNeedDaemonReload=no",
             "LoadState=loaded\nActiveState=failed\nUnitFileState=disabled"],
    "listening": ["", "tcp LISTEN 0 128 0.0.0.0:6443 0.0.0.0:*"],
    "sysctl": [ABSENT, "1", "0"],
    "kernel_modules": ["", "br_netfilter\noverlay"],
    "user": [ABSENT, "deploy:x:1000:1000:Deploy:/home/deploy:/bin/bash\ndeploy sudo"],
}
CASES: dict[str, list[dict[str, Any]]] = {  # branches the docstring examples may not reach
    "apt": [{"name": ["curl", "nginx=1.0"]}, {"name": ["curl"], "state": "absent"},
            {"deb": ["/tmp/p.deb"]}, {"name": ["curl"], "update_cache": True}],
    "command": [{"cmd": "true"}, {"cmd": "true", "creates": "/a", "removes": "/b"},
                {"argv": ["ls", "/"], "removes": "/b"}],
    "shell": [{"cmd": "true", "creates": "/a"}, {"cmd": "true", "removes": "/b"}],
    "copy": [{"dest": "/etc/a", "content": "x\n", "mode": "0600"},
             {"dest": "/etc/", "src": "app.conf"},
             {"dest": "/etc/a", "content": "x", "force": False}],
    "template": [{"src": "app.j2", "dest": "/etc/a", "owner": "root"}],
    "lineinfile": [{"path": "/etc/a", "line": "a=2", "regexp": "^a="},
                   {"path": "/etc/a", "regexp": "^a=", "state": "absent"},
                   {"path": "/etc/a", "line": "b=1", "create": True}],
    "file": [{"path": "/a", "state": s} for s in ("file", "absent", "directory", "touch")]
    + [{"path": "/a", "state": "link", "src": "/b"}, {"path": "/a", "mode": "0700"}],
    "stat": [{"path": "/a"}],
    "fetch": [{"src": "/a", "dest": "/tmp/x"}],
    "sysctl": [{"name": "kernel.x", "value": "1"}, {"name": "kernel.x", "state": "absent"},
               {"name": "kernel.x", "value": "2", "sysctl_set": True}],
    "modprobe": [{"name": "br_netfilter", "persistent": p} for p in ("present", "absent")]
    + [{"name": "overlay", "state": "absent"}],
    "systemd": [{"name": "kubelet", "state": "started", "enabled": True},
                {"name": "kubelet", "state": "restarted", "daemon_reload": True},
                {"name": "kubelet", "masked": True}, {"daemon_reload": True}],
    "user": [{"name": "deploy", "groups": ["sudo"], "append": True, "shell": "/bin/sh"},
             {"name": "deploy", "state": "absent", "remove": True}],
    "wait_for": [{"port": 6443}, {"port": 6443, "state": "stopped"}, {"path": "/a"},
                 {"path": "/a", "state": "absent"}],
}


def sample(fact: Fact[Any], scenario: int) -> Any:
    """``fact``'s value in a scenario (0 absent, 1 present, 2+ other): parsed from what its
    command would print, so values have exactly the shape the runner gives plans."""
    outputs = OUTPUTS[fact.key.split(":")[0]]
    return fact.value(outputs[min(scenario, len(outputs) - 1)])


def undeclared_reads(definition: TaskDef, args: Any, search: tuple[Path, ...]) -> list[str]:
    """The undeclared facts ``definition``'s plan reads for ``args``, over every scenario."""
    found = []
    for diff, scenario in itertools.product((False, True), range(4)):
        base = TaskContext("h1", diff=diff, search_paths=search, identity=("root", "root"))
        try:
            needs = definition.needs(args, base)
        except PLAN_ERRORS:
            continue
        facts = {f.key: sample(f, scenario) for f in needs}
        ctx = TaskContext("h1", facts, diff=diff, search_paths=search,
                          identity=("root", "root"))
        try:
            definition.plan(args, ctx)
        except UndeclaredFact as exc:
            found.append(f"{definition.name} {args} diff={diff} scenario={scenario}: {exc}")
        except PLAN_ERRORS:
            pass
    return found


def doc_examples(definition: TaskDef) -> list[Any]:
    """The bound arguments of the docstring's YAML examples that bind without variables."""
    expander = Expander("h1", False, False, False, ())
    found = []
    for block in definition.doc.split("```yaml")[1:]:
        tasks = [{k: v for k, v in t.items() if k != "notify"}  # no handlers here
                 for t in yaml.safe_load(block.split("```")[0])]
        text = yaml.safe_dump([{"hosts": "all", "tasks": tasks}])
        play = load_playbook(load_yaml_text(text, "doc"))
        for task in play.plays[0].tasks:
            for unit in expander.expand(task, {}):
                if unit.definition is definition and unit.error is None:
                    found.append(unit.args)
    return found


@pytest.fixture
def search(tmp_path: Path) -> tuple[Path, ...]:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app.conf").write_text("a=1\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.j2").write_text("a=1\n")
    return (tmp_path,)


REMOTE = [d for d in all_tasks() if not d.local]


@pytest.mark.parametrize("definition", REMOTE, ids=[d.name for d in REMOTE])
def test_every_task_plans_only_on_the_facts_it_declares(
        definition: TaskDef, search: tuple[Path, ...]) -> None:
    assert definition.name in CASES, f"add argument cases for {definition.name} to CASES"
    assert definition.args is not None
    cases = [bind(definition.args, c) for c in CASES[definition.name]]
    cases += doc_examples(definition)
    drift = [d for args in cases for d in undeclared_reads(definition, args, search)]
    assert not drift, "\n".join(drift)


def test_every_fact_kind_a_task_declares_has_sample_outputs(search: tuple[Path, ...]) -> None:
    for definition in REMOTE:
        assert definition.args is not None
        for case in CASES[definition.name]:
            ctx = TaskContext("h1", diff=True, search_paths=search)
            for fact in definition.needs(bind(definition.args, case), ctx):
                for scenario in range(4):
                    try:
                        sample(fact, scenario)
                    except (KeyError, FactError) as exc:
                        pytest.fail(f"{definition.name}: no sample for {fact.key}: {exc}")


def test_drift_is_found() -> None:
    """A task whose plan reads a fact its ``needs`` forgot is reported."""
    def plan(args: Any, ctx: TaskContext) -> Plan:
        return Plan(msg=str(ctx.fact(file_stat("/forgotten")).exists))

    drifting = TaskDef("drifting", plan, None, lambda a, c: [file_stat("/declared")])
    (report,) = undeclared_reads(drifting, {}, ())[:1]
    assert "file:/forgotten" in report and "drifting" in report
