"""Rendering jinja2 templates and templated values: one Environment, StrictUndefined.

A leaf package (it imports no other kboot package) so tasks, the playbook runner and cluster
operations share exactly one set of filters and one undefined-variable policy. Rendered text is
never evaluated again: a value that renders to ``"{{ x }}"`` stays that literal string.
"""

from __future__ import annotations

from kboot.templating.render import (
    Templar,
    evaluate,
    is_template,
    referenced_names,
    render_file,
    render_string,
    render_value,
)

__all__ = [
    "Templar",
    "evaluate",
    "is_template",
    "referenced_names",
    "render_file",
    "render_string",
    "render_value",
]
