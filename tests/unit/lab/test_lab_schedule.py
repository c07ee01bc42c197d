"""The session's lab schedule (tests/fixtures/lab.py): tests without shared labs first, lab
modules grouped by shape with RUNS_FIRST/RUNS_LAST_ON_ITS_LAB honoured, each lab taken down
after the last test of its last module, and undeclared shapes refused."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.fixtures.lab import SHAPES, LabSchedule, Shape, order_for_labs

# three shapes in use, in the order their groups run
ONE, TWO, HA = SHAPES[-3:]


def module(name: str, *shapes: Shape, **flags: bool) -> Any:
    return SimpleNamespace(__file__=name, LABS=shapes, **flags)


def items(*spec: tuple[Any, int]) -> list[Any]:
    """``count`` test items per module, in collection order."""
    return [SimpleNamespace(nodeid=f"{mod.__file__}::t{i}", module=mod)
            for mod, count in spec for i in range(count)]


def files(ordered: list[Any]) -> list[str]:
    return list(dict.fromkeys(item.module.__file__ for item in ordered))


def test_non_lab_tests_first_then_lab_groups_in_shape_order() -> None:
    collected = items((module("e2e/a.py", HA), 1), (module("e2e/b.py", TWO), 2),
                      (module("e2e/c.py", ONE), 1), (module("e2e/d.py", TWO), 1),
                      (module("integration/x.py"), 2), (module("unit/y.py"), 1))
    assert files(order_for_labs(collected)) == [
        "integration/x.py", "unit/y.py", "e2e/c.py", "e2e/b.py", "e2e/d.py", "e2e/a.py"]


def test_runs_first_and_runs_last_within_their_group() -> None:
    collected = items((module("e2e/a.py", ONE), 1),
                      (module("e2e/b.py", ONE, RUNS_LAST_ON_ITS_LAB=True), 1),
                      (module("e2e/c.py", ONE), 1),
                      (module("e2e/d.py", ONE, RUNS_FIRST_ON_ITS_LAB=True), 1),
                      (module("e2e/e.py", TWO, RUNS_FIRST_ON_ITS_LAB=True), 1))
    assert files(order_for_labs(collected)) == [
        "e2e/d.py", "e2e/a.py", "e2e/c.py", "e2e/b.py", "e2e/e.py"]


def test_each_lab_goes_down_after_the_last_test_of_its_last_module() -> None:
    schedule = LabSchedule()
    ordered = order_for_labs(items((module("e2e/a.py", ONE), 2), (module("e2e/b.py", ONE, TWO), 2),
                                   (module("e2e/c.py", TWO), 1), (module("unit/y.py"), 1)))
    schedule.plan(ordered)
    assert schedule.down_after == {"e2e/b.py::t1": [ONE], "e2e/c.py::t0": [TWO]}


def test_a_shape_not_in_use_or_not_declared_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pytest.UsageError, match=r"LABS names .* not in SHAPES"):
        order_for_labs(items((module("e2e/a.py", Shape(9, 9)), 1)))
    schedule = LabSchedule()
    schedule.plan(items((module("e2e/a.py", ONE), 1), (module("e2e/b.py"), 1)))
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "e2e/a.py::t0 (setup)")
    schedule.check_declared(ONE)
    asked = rf"e2e/a\.py asks for lab_factory\({TWO.control_planes}, {TWO.workers}, "
    with pytest.raises(pytest.UsageError, match=asked):
        schedule.check_declared(TWO)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "e2e/b.py::t0 (setup)")
    with pytest.raises(pytest.UsageError, match="its LABS does not declare"):
        schedule.check_declared(ONE)


@pytest.mark.parametrize(("keep", "downs"), [(False, ["lab"]), (True, [])])
def test_keep_labs_leaves_a_lab_up_at_its_turn(monkeypatch: pytest.MonkeyPatch, keep: bool,
                                               downs: list[str]) -> None:
    from tests.fixtures import lab as fixture
    monkeypatch.setattr(fixture, "KEEP_LABS", keep)
    seen: list[str] = []
    schedule = LabSchedule()
    schedule.running["lab"] = SimpleNamespace(down=lambda: seen.append("lab"))  # type: ignore[assignment]
    schedule.take_down("lab", "tests/e2e/test_x.py")
    assert seen == downs and "lab" not in schedule.running
    assert [name for name, *_ in schedule.log] == downs
