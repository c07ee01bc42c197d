"""The one jinja2 Environment and the ways kboot renders with it.

``render_value`` renders a YAML value recursively. A string that is exactly one ``{{ expr }}``
yields the expression's native value (a list stays a list), as Ansible users expect; any other
string renders to text. Compiled templates are cached by source text because the same task
arguments are rendered for every host.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import StrictUndefined

from kboot.errors import TemplateError
from kboot.templating.filters import FILTERS, TESTS

_SINGLE_EXPR = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}).)*)\}\}$", re.DOTALL)


def _make_env(search_paths: Sequence[str] = ()) -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
        loader=jinja2.FileSystemLoader(list(search_paths)) if search_paths else None,
    )
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    return env


_ENV = _make_env()


@lru_cache(maxsize=64)
def _file_env(search_paths: tuple[str, ...]) -> jinja2.Environment:
    """One environment per search path list, so compiled template files are cached (jinja2
    re-reads a file only when its mtime changes)."""
    return _make_env(search_paths)
_lock = threading.Lock()


def is_template(text: str) -> bool:
    """Whether ``text`` contains jinja2 syntax (plain strings skip rendering altogether)."""
    return "{{" in text or "{%" in text or "{#" in text


_CACHE_LIMIT = 4096
_templates: dict[str, jinja2.Template] = {}
_expressions: dict[str, Any] = {}


def _compile(source: str) -> jinja2.Template:
    """Compile once per process: host threads that miss together wait for the first compile
    instead of each compiling the same string (an ``lru_cache`` around a lock did that)."""
    found = _templates.get(source)
    if found is None:
        with _lock:
            found = _templates.get(source)
            if found is None:
                found = _ENV.from_string(source)
                if len(_templates) < _CACHE_LIMIT:
                    _templates[source] = found
    return found


def _compile_expr(expr: str) -> Any:
    found = _expressions.get(expr)
    if found is None:
        with _lock:
            found = _expressions.get(expr)
            if found is None:
                found = _ENV.compile_expression(expr, undefined_to_none=False)
                if len(_expressions) < _CACHE_LIMIT:
                    _expressions[expr] = found
    return found


def _fail(exc: Exception, what: str) -> TemplateError:
    message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
    return TemplateError(f"{message} (in {what!r})")


def render_string(text: str, variables: Mapping[str, Any]) -> str:
    """Render ``text`` as a template to a string."""
    if not is_template(text):
        return text
    try:
        return _compile(text).render(variables)
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _fail(exc, text) from exc


def evaluate(expr: str | bool, variables: Mapping[str, Any]) -> Any:
    """Evaluate a bare jinja2 expression (``when``, ``changed_when``, ``that``)."""
    if isinstance(expr, bool):
        return expr
    text = expr.strip()
    match = _SINGLE_EXPR.match(text)
    if match:
        text = match.group("expr").strip()
    try:
        value = _compile_expr(text)(**variables)
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _fail(exc, expr) from exc
    if isinstance(value, jinja2.Undefined):
        raise TemplateError(f"{text!r} is undefined")
    return value


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render every string inside ``value`` (dicts and lists recursively)."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        match = _SINGLE_EXPR.match(value.strip())
        if match and "{{" not in match.group("expr"):
            return evaluate(match.group("expr"), variables)
        return render_string(value, variables)
    if isinstance(value, Mapping):
        return {k: render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, variables) for v in value]
    return value


def render_file(path: str | Path, variables: Mapping[str, Any], *,
                search_paths: Sequence[str] = ()) -> str:
    """Render a template file; ``include``/``import`` resolve next to it and in
    ``search_paths``."""
    path = Path(path)
    env = _file_env((str(path.parent), *search_paths))
    try:
        return env.get_template(path.name).render(variables)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template not found: {exc.name} (from {path})") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{path}:{exc.lineno}: {exc.message}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise TemplateError(f"{path}: {exc}") from exc


def referenced_names(value: Any, *, expression: bool = False) -> frozenset[str]:
    """Variable names a template (or, with ``expression``, a bare expression) reads; ``{"*"}``
    when it cannot be parsed, meaning "assume it reads anything"."""
    if isinstance(value, bool) or value is None:
        return frozenset()
    if isinstance(value, Mapping):
        return frozenset().union(*(referenced_names(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return frozenset().union(*(referenced_names(v, expression=expression) for v in value))
    if not isinstance(value, str):
        return frozenset()
    text = value
    if expression and not _SINGLE_EXPR.match(text.strip()):
        text = "{{ " + text + " }}"
    if not is_template(text):
        return frozenset()
    try:
        with _lock:
            parsed = _ENV.parse(text)
    except jinja2.TemplateSyntaxError:
        return frozenset({"*"})
    return frozenset(jinja2.meta.find_undeclared_variables(parsed))


class Templar:
    """Renders against a fixed set of variables; what tasks receive to render their inputs."""

    def __init__(self, variables: Mapping[str, Any], *, search_paths: Sequence[str] = ()) -> None:
        self.variables = variables
        self.search_paths = tuple(search_paths)

    def string(self, text: str) -> str:
        return render_string(text, self.variables)

    def value(self, value: Any) -> Any:
        return render_value(value, self.variables)

    def truth(self, expr: str | bool) -> bool:
        return bool(evaluate(expr, self.variables))

    def file(self, path: str | Path) -> str:
        return render_file(path, self.variables, search_paths=self.search_paths)
