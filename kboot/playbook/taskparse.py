"""Parsing one task (or handler) mapping into a :class:`TaskSpec`, Ansible-compatibly.

Accepts short and ``ansible.builtin.`` module names, inline ``k=v`` and free-form arguments,
``args:``, and expands ``include_tasks``/``import_tasks`` statically. Anything kboot does not
support is rejected here, before running, naming the keyword and its file:line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kboot.errors import Location, PlaybookError
from kboot.playbook.model import TaskSpec
from kboot.playbook.yamlload import LineDict, line_of, load_yaml
from kboot.tasks.args import ArgError, check_names, parse_kv, split_free_form
from kboot.tasks.commands import FREE_FORM_KEYS
from kboot.tasks.registry import canonical_name, lookup
from kboot.templating import referenced_names

KEYWORDS = frozenset({
    "name", "when", "loop", "with_items", "with_list", "with_dict", "loop_control", "register",
    "notify", "listen", "tags", "become", "become_user", "become_method", "ignore_errors",
    "changed_when", "failed_when", "args", "vars", "environment", "check_mode", "no_log", "diff",
    "until", "retries", "delay",
})
UNSUPPORTED = frozenset({
    "delegate_to", "delegate_facts", "run_once", "rescue", "always", "async", "poll",
    "local_action", "with_fileglob", "with_nested", "with_subelements",
    "with_sequence", "with_together", "with_first_found", "with_lines", "include_role",
    "import_role", "include_vars", "throttle", "any_errors_fatal", "timeout", "connection",
    "remote_user", "become_flags", "debugger", "collections", "module_defaults", "port",
    "ignore_unreachable", "import_playbook", "vars_prompt",
})
INCLUDES = frozenset({"include_tasks", "import_tasks", "include", "ansible.builtin.include_tasks",
                      "ansible.builtin.import_tasks", "ansible.builtin.include"})
META_ACTIONS = frozenset({"flush_handlers", "noop", "end_host", "end_play"})


@dataclass(frozen=True)
class Inherited:
    """What an include passes down to the tasks it includes."""

    when: tuple[Any, ...] = ()
    tags: frozenset[str] = frozenset()
    vars: Mapping[str, Any] = field(default_factory=dict)
    become: bool | None = None
    depth: int = 0
    environment: Mapping[str, Any] = field(default_factory=dict)
    ignore_errors: bool = False


def as_list(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def as_tags(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(t.strip() for t in value.split(",") if t.strip())
    return frozenset(str(t) for t in as_list(value))


def as_bool(value: Any, what: str, loc: Location) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false", "on", "off"):
        return value.lower() in ("yes", "true", "on")
    raise PlaybookError(f"expected a boolean, got {value!r}", location=loc, field=what)


def _loc(source: str, node: Any, key: str | None = None) -> Location:
    return Location(source, line_of(node, key))


def _action_key(raw: LineDict, source: str) -> str:
    candidates = [k for k in raw if k not in KEYWORDS]
    for key in candidates:
        if key in UNSUPPORTED:
            raise PlaybookError(f"keyword {key!r} is not supported by kboot",
                                location=_loc(source, raw, key))
    if not candidates:
        raise PlaybookError("task has no action (expected a task name such as file, copy)",
                            location=_loc(source, raw))
    if len(candidates) > 1:
        unknown = [k for k in candidates if lookup(k) is None and k not in INCLUDES
                   and canonical_name(k) != "meta"]
        key = unknown[0] if unknown else candidates[1]
        message = (f"unknown task or keyword {key!r}" if unknown
                   else f"several actions in one task: {', '.join(candidates)}")
        raise PlaybookError(message, location=_loc(source, raw, key))
    return candidates[0]


def _normalise_args(action: str, value: Any, raw: LineDict, loc: Location) -> dict[str, Any]:
    definition = lookup(action)
    assert definition is not None
    args: dict[str, Any] = {}
    try:
        if isinstance(value, str):
            if definition.free_form:
                rest, options = split_free_form(value, FREE_FORM_KEYS)
                args = {definition.free_form: rest, **options}
            else:
                args = dict(parse_kv(value))
        elif isinstance(value, Mapping):
            args = dict(value)
        elif value is not None:
            raise ArgError(f"expected arguments as a mapping or k=v string, got {value!r}")
        extra = raw.get("args") or {}
        if not isinstance(extra, Mapping):
            raise ArgError("args: expected a mapping")
        args.update(extra)
        if definition.args is not None:
            check_names(definition.args, args)
    except ArgError as exc:
        raise PlaybookError(f"{definition.name}: {exc}", location=loc) from exc
    return args


def _loop(raw: LineDict, source: str) -> Any:
    if "loop" in raw:
        return raw["loop"]
    if "with_items" in raw or "with_list" in raw:
        value = raw.get("with_items", raw.get("with_list"))
        flatten = "with_items" in raw
        return {"__kboot_loop__": "items" if flatten else "list", "value": value}
    if "with_dict" in raw:
        return {"__kboot_loop__": "dict", "value": raw["with_dict"]}
    return None


def _refs(spec_values: list[Any], expressions: list[Any], action: str) -> frozenset[str]:
    definition = lookup(action)
    args = spec_values[0] if spec_values and isinstance(spec_values[0], Mapping) else {}
    if definition is not None:
        expressions = expressions + [args[f] for f in definition.raw_fields if f in args]
    names = frozenset().union(*(referenced_names(v) for v in spec_values))
    return names | frozenset().union(
        *(referenced_names(list(as_list(e)), expression=True) for e in expressions))


def parse_task(raw: Any, source: str, basedir: Path, inherited: Inherited) -> list[TaskSpec]:
    """Parse one task mapping; an include expands to the included tasks."""
    if not isinstance(raw, LineDict):
        raise PlaybookError("a task must be a mapping", location=Location(source, line_of(raw)))
    if "block" in raw:
        return _block(raw, source, basedir, inherited)
    action_key = _action_key(raw, source)
    loc = _loc(source, raw, action_key)
    if action_key in INCLUDES:
        return _include(raw, action_key, source, basedir, inherited)
    action = canonical_name(action_key)
    if action == "meta":
        if raw[action_key] not in META_ACTIONS:
            raise PlaybookError(f"meta: {raw[action_key]!r} is not supported", location=loc)
        args: dict[str, Any] = {"_raw": raw[action_key]}
    elif lookup(action_key) is None:
        raise PlaybookError(f"unknown task or keyword {action_key!r}", location=loc)
    else:
        definition = lookup(action_key)
        assert definition is not None
        action = definition.name
        args = _normalise_args(action_key, raw[action_key], raw, loc)
    return [_build(raw, action, args, loc, basedir, inherited)]


def _conditions(raw: LineDict, inherited: Inherited) -> dict[str, Any]:
    """``when`` (with the includes' conditions), ``changed_when``, ``failed_when``, ``until``."""
    def optional(key: str) -> tuple[Any, ...] | None:
        return as_list(raw[key]) if key in raw else None

    return {"when": inherited.when + as_list(raw.get("when")),
            "changed_when": optional("changed_when"), "failed_when": optional("failed_when"),
            "until": optional("until")}


def _loop_control(raw: LineDict, source: str) -> dict[str, Any]:
    control = raw.get("loop_control") or {}
    if not isinstance(control, Mapping):
        raise PlaybookError("expected a mapping", location=_loc(source, raw, "loop_control"),
                            field="loop_control")
    return {"loop": _loop(raw, source), "loop_var": str(control.get("loop_var", "item")),
            "index_var": control.get("index_var"), "label": control.get("label")}


def _flags(raw: LineDict, inherited: Inherited, loc: Location) -> dict[str, Any]:
    if raw.get("become_user") not in (None, "root"):
        raise PlaybookError("become_user other than root is not supported",
                            location=_loc(loc.file, raw, "become_user"))
    become = raw.get("become", inherited.become)
    check_mode = raw.get("check_mode")
    return {
        "become": None if become is None else as_bool(become, "become", loc),
        "ignore_errors": as_bool(raw.get("ignore_errors", inherited.ignore_errors),
                                 "ignore_errors", loc),
        "check_mode": None if check_mode is None else as_bool(check_mode, "check_mode", loc),
        "no_log": as_bool(raw.get("no_log", False), "no_log", loc),
        "retries": _number(raw, "retries", 3, loc),
        "delay": _number(raw, "delay", 5, loc),
    }


def _build(raw: LineDict, action: str, args: dict[str, Any], loc: Location, basedir: Path,
           inherited: Inherited) -> TaskSpec:
    conditions = _conditions(raw, inherited)
    looping = _loop_control(raw, loc.file)
    task_vars = {**inherited.vars, **(raw.get("vars") or {})}
    arg_refs = _refs([args, looping["loop"], task_vars, raw.get("environment"), raw.get("name")],
                     [list(c or ()) for c in conditions.values()], action)
    # a template file may read any variable: for batching, assume it reads everything
    refs = arg_refs | {"*"} if action == "template" else arg_refs
    return TaskSpec(
        name=str(raw.get("name") or action),
        action=action,
        args=args,
        location=Location(loc.file, raw.line),
        register=raw.get("register"),
        notify=tuple(str(n) for n in as_list(raw.get("notify"))),
        listen=tuple(str(n) for n in as_list(raw.get("listen"))),
        tags=inherited.tags | as_tags(raw.get("tags")),
        environment={**inherited.environment, **(raw.get("environment") or {})},
        vars=task_vars,
        named="name" in raw,
        refs=refs,
        arg_refs=arg_refs,
        basedir=basedir,
        **conditions,
        **looping,
        **_flags(raw, inherited, loc),
    )


BLOCK_KEYWORDS = frozenset({"block", "rescue", "always", "name", "when", "tags", "become",
                            "become_user", "vars", "environment", "ignore_errors"})


def _inherit(raw: LineDict, inherited: Inherited, loc: Location) -> Inherited:
    """What a block or an include passes down to its tasks."""
    become = raw.get("become", inherited.become)
    return Inherited(
        when=inherited.when + as_list(raw.get("when")),
        tags=inherited.tags | as_tags(raw.get("tags")),
        vars={**inherited.vars, **(raw.get("vars") or {})},
        become=None if become is None else as_bool(become, "become", loc),
        depth=inherited.depth + 1,
        environment={**inherited.environment, **(raw.get("environment") or {})},
        ignore_errors=inherited.ignore_errors or as_bool(raw.get("ignore_errors", False),
                                                         "ignore_errors", loc),
    )


def _block(raw: LineDict, source: str, basedir: Path, inherited: Inherited) -> list[TaskSpec]:
    """``block`` with optional ``rescue``/``always``. Its keywords pass down to its tasks; a
    block without rescue/always is just those tasks (so they batch with their neighbours)."""
    for key in raw:
        if key not in BLOCK_KEYWORDS:
            raise PlaybookError(f"keyword {key!r} is not supported on a block",
                                location=_loc(source, raw, key))
    loc = Location(source, raw.line)
    if raw.get("become_user") not in (None, "root"):
        raise PlaybookError("become_user other than root is not supported", location=loc)
    child = _inherit(raw, inherited, loc)
    sections: dict[str, tuple[TaskSpec, ...]] = {}
    for key in ("block", "rescue", "always"):
        items = raw.get(key) or []
        if not isinstance(items, list):
            raise PlaybookError(f"{key}: expected a list of tasks",
                                location=_loc(source, raw, key))
        tasks: list[TaskSpec] = []
        for item in items:
            tasks.extend(parse_task(item, source, basedir, child))
        sections[key] = tuple(tasks)
    if not sections["rescue"] and not sections["always"]:
        return list(sections["block"])
    return [TaskSpec(name=str(raw.get("name") or "block"), action="block", args=sections,
                     location=loc, tags=child.tags | {"always"}, named="name" in raw,
                     refs=frozenset({"*"}), arg_refs=frozenset({"*"}), basedir=basedir)]


def flatten(tasks: Sequence[TaskSpec]) -> list[TaskSpec]:
    """Every task, with those inside blocks."""
    out: list[TaskSpec] = []
    for task in tasks:
        if task.action == "block":
            for key in ("block", "rescue", "always"):
                out.extend(flatten(task.args[key]))
        else:
            out.append(task)
    return out


def _number(raw: LineDict, key: str, default: int, loc: Location) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise PlaybookError(f"expected a whole number, got {value!r}", location=loc, field=key)
    return int(value)


def _include(raw: LineDict, key: str, source: str, basedir: Path,
             inherited: Inherited) -> list[TaskSpec]:
    loc = _loc(source, raw, key)
    if inherited.depth > 20:
        raise PlaybookError("includes nested too deeply (a loop?)", location=loc)
    if "loop" in raw or "with_items" in raw:
        raise PlaybookError("looping over include_tasks is not supported", location=loc)
    value = raw[key]
    name = value.get("file") if isinstance(value, Mapping) else value
    if not isinstance(name, str) or "{{" in name:
        raise PlaybookError("include needs a plain file name", location=loc)
    path = (basedir / name) if not Path(name).is_absolute() else Path(name)
    data = load_yaml(path)
    if data is None:
        return []
    if not isinstance(data, list):
        raise PlaybookError("a task file must be a list of tasks", location=Location(str(path), 1))
    child = _inherit(raw, inherited, loc)
    tasks: list[TaskSpec] = []
    for item in data:
        tasks.extend(parse_task(item, str(path), path.parent, child))
    return tasks
