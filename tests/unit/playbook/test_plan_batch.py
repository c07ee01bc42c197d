"""``plan_batch`` as a pure function: units and the fact cache in, a frozen plan out — nothing
it is given changes, the same input gives the same plan, and predictions, guards and the
batch's end are in the value the host then executes."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import yaml

from kboot.facts.batch import expectation
from kboot.facts.files import file_stat, identity
from kboot.playbook.batching import Overlay, plan_batch, steps
from kboot.playbook.factcache import FactCache
from kboot.playbook.parse import load_playbook
from kboot.playbook.units import Expander, Planned, Unit
from kboot.playbook.yamlload import load_yaml_text

ROOT_DIR = "directory|755|root|root|4096\n-"


def units(tasks: list[dict[str, Any]]) -> list[Unit]:
    text = yaml.safe_dump([{"hosts": "all", "tasks": tasks}])
    play = load_playbook(load_yaml_text(text, "pb.yml")).plays[0]
    expander = Expander("h1", False, False, False, ())
    return [u for t in play.tasks for u in expander.expand(t, {})]


def cache_for(batch: list[Unit]) -> FactCache:
    """Every fact the units need, absent, plus the identity (as the runner gathers them)."""
    cache = FactCache()
    facts = [f for u in batch for f in u.facts] + [identity(False)]
    facts = list({f.key: f for f in facts}.values())
    outputs = {f.key: "ABSENT" for f in facts}
    outputs[identity(False).key] = "root\nroot\n"
    cache.gathered(facts, outputs)
    return cache


def planner(cache: FactCache) -> Any:
    expander = Expander("h1", False, False, False, ())

    def plan(unit: Unit, overlay: Overlay) -> Planned:
        assert unit.definition is not None
        facts = cache.values(f.key for f in unit.facts)
        facts.update({k: f.value(out) for k, (f, out) in overlay.items()})
        ctx = expander.context(unit, facts, cache.value(identity(False).key))
        return Planned(unit, unit.definition.plan(unit.args, ctx))

    return plan


TASKS: list[dict[str, Any]] = [
    {"name": "write", "copy": {"dest": "/srv/a", "content": "x", "mode": "0600"}},
    {"name": "again", "file": {"path": "/srv/a", "mode": "0600"}},
    {"name": "other", "file": {"path": "/srv/b", "state": "directory"}},
    {"name": "retried", "command": "true", "until": "true"},
    {"name": "after", "command": "true"},
]


def test_planning_changes_neither_units_nor_cache_and_repeats_exactly() -> None:
    batch = units(TASKS)
    cache = cache_for(batch)
    before_units, before_cache = copy.deepcopy(batch), copy.deepcopy(cache)
    first = plan_batch(batch, cache, planner(cache))
    assert batch == before_units
    assert cache == before_cache
    assert plan_batch(batch, cache, planner(cache)) == first
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.units[0].guarded = True  # type: ignore[misc]


def test_a_later_unit_plans_on_the_earlier_ones_prediction_under_a_guard() -> None:
    batch = units(TASKS)
    cache = cache_for(batch)
    plan = plan_batch(batch, cache, planner(cache))
    write, again, other = plan.units[:3]
    assert write.executes and not write.guarded  # planned on gathered, verified facts
    assert again.guarded and again.plan is not None and not again.plan.commands  # predicted ok
    ((fact, expected),) = again.expected
    predicted = dict(write.plan.predicts if write.plan else ())[fact]
    assert fact == file_stat("/srv/a") and expected == expectation(predicted)
    assert not other.guarded  # /srv/b was not touched by the batch
    assert [s.index for s in steps(plan.units, {})] == [0, 1, 2]


def test_a_retried_unit_runs_in_a_batch_of_its_own() -> None:
    batch = units(TASKS)
    cache = cache_for(batch)
    plan = plan_batch(batch, cache, planner(cache))
    assert [p.unit.name for p in plan.units] == ["write", "again", "other"]
    alone = plan_batch(batch[3:], cache, planner(cache))
    assert [p.unit.name for p in alone.units] == ["retried"]


def test_a_unit_with_another_become_starts_the_next_batch() -> None:
    batch = units([TASKS[0], {"name": "root", "file": {"path": "/srv/c", "state": "directory"},
                              "become": True}])
    cache = cache_for(batch)
    plan = plan_batch(batch, cache, planner(cache))
    assert [p.unit.name for p in plan.units] == ["write"] and plan.become is False


def test_unverified_facts_guard_the_units_planned_on_them() -> None:
    batch = units([TASKS[2]])
    cache = cache_for(batch)
    cache.remember(file_stat("/srv/b"), ROOT_DIR, verified=False)
    (planned,) = plan_batch(batch, cache, planner(cache)).units
    assert planned.guarded and not planned.executes  # the directory is there: only a guard
    assert planned.expected == ((file_stat("/srv/b"), expectation(ROOT_DIR)),)
