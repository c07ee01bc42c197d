"""docs/tasks.md is generated from the tasks' docstrings and signatures; it must be current."""

from __future__ import annotations

from pathlib import Path

from kboot.tasks.docgen import render
from kboot.tasks.registry import all_tasks

DOC = Path(__file__).resolve().parents[3] / "docs" / "tasks.md"


def test_committed_task_reference_is_current() -> None:
    assert DOC.read_text() == render(), "run: python -m kboot.tasks.docgen > docs/tasks.md"


def test_every_task_documents_a_yaml_example() -> None:
    for definition in all_tasks():
        assert "```yaml" in definition.doc, definition.name
        assert f"`{definition.name}`" in render()
