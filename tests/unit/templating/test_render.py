"""Templating: one environment, StrictUndefined, native single expressions, Ansible filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kboot.errors import TemplateError
from kboot.templating import (
    evaluate,
    referenced_names,
    render_file,
    render_string,
    render_value,
)

VARS: dict[str, Any] = {"name": "cp1", "ports": [2379, 2380], "cfg": {"a": 1}, "empty": "",
                        "flag": "yes", "text": "aGk=", "n": 3}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ ports }}", [2379, 2380]),  # a single expression keeps its type
    ("{{ n }}", 3),
    ("{{ n + 1 }}", 4),
    ("port {{ ports[0] }}", "port 2379"),
    ("{{ missing | default('x') }}", "x"),
    ("{{ empty | default('x', true) }}", "x"),
    ("{{ cfg | to_json }}", '{"a": 1}'),
    ("{{ cfg | to_yaml }}", "a: 1\n"),
    ("{{ 'hi' | b64encode }}", "aGk="),
    ("{{ text | b64decode }}", "hi"),
    ("{{ ports | join(',') }}", "2379,2380"),
    ("{{ flag | bool }}", True),
    ("{{ 'a-b' | regex_replace('-', '_') }}", "a_b"),
    ("{{ cfg | combine({'b': 2}) }}", {"a": 1, "b": 2}),
    ("{{ cfg | dict2items }}", [{"key": "a", "value": 1}]),
    ("{{ '/etc/kboot/x.conf' | basename }}", "x.conf"),
    ("{{ true | ternary('on', 'off') }}", "on"),
    ("{{ '1.32.0' is version('1.31', '>=') }}", True),
    ("plain", "plain"),
])
def test_render_value(template: str, expected: Any) -> None:
    assert render_value(template, VARS) == expected


def test_rendered_text_is_never_evaluated_again() -> None:
    assert render_value("{{ x }}", {"x": "{{ name }}", "name": "no"}) == "{{ name }}"


def test_nested_structures_render() -> None:
    assert render_value({"a": ["{{ name }}", 1]}, VARS) == {"a": ["cp1", 1]}


def test_undefined_is_an_error_naming_the_variable() -> None:
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        render_string("x {{ nope }}", VARS)


def test_evaluate_expressions() -> None:
    assert evaluate("ports | length == 2 and name == 'cp1'", VARS) is True
    assert evaluate("{{ n > 5 }}", VARS) is False
    assert evaluate(True, VARS) is True
    with pytest.raises(TemplateError):
        evaluate("undefined_thing", VARS)


def test_render_file_with_include(tmp_path: Path) -> None:
    (tmp_path / "part.j2").write_text("part {{ name }}\n")
    (tmp_path / "main.j2").write_text("{% include 'part.j2' %}end\n")
    assert render_file(tmp_path / "main.j2", VARS) == "part cp1\nend\n"
    (tmp_path / "bad.j2").write_text("{{ nope }}")
    with pytest.raises(TemplateError, match=r"bad\.j2"):
        render_file(tmp_path / "bad.j2", VARS)


def test_referenced_names() -> None:
    assert referenced_names("{{ a.b }} {{ c | default(d) }}") == {"a", "c", "d"}
    assert referenced_names("x is defined and y", expression=True) == {"x", "y"}
    assert referenced_names(["{{ item }}", {"k": "{{ z }}"}]) == {"item", "z"}
    assert referenced_names("{{ broken") == {"*"}
    assert referenced_names("plain") == frozenset()


def test_set_and_lookup_filters() -> None:
    hostvars = {"a": {"ip": "10.0.0.1"}, "b": {"ip": "10.0.0.2"}}
    assert render_value("{{ ['a', 'b'] | map('extract', hv, 'ip') | join(',') }}",
                        {"hv": hostvars}) == "10.0.0.1,10.0.0.2"
    assert render_value("{{ [1, 2] | union([2, 3]) }}", {}) == [1, 2, 3]
    assert render_value("{{ [1, 2] | difference([2]) }}", {}) == [1]
    assert render_value("{{ [1, 2] | intersect([2, 3]) }}", {}) == [2]
    assert render_value("{{ 'a1b22' | regex_findall('[0-9]+') }}", {}) == ["1", "22"]


def test_threads_missing_the_cache_together_compile_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from kboot.templating import render as module
    calls: list[str] = []
    real = module._ENV.from_string
    arrived = threading.Condition()
    count = [0]

    class CountingLock:
        """The cache lock, counting the threads that have reached it."""

        def __enter__(self) -> None:
            with arrived:
                count[0] += 1
                arrived.notify_all()
            real_lock.acquire()

        def __exit__(self, *exc: object) -> None:
            real_lock.release()

    real_lock = threading.Lock()

    def slow(source: str) -> object:
        calls.append(source)
        with arrived:  # compile only once every thread waits for the lock (generous bound)
            assert arrived.wait_for(lambda: count[0] == 8, timeout=30), count[0]
        return real(source)
    monkeypatch.setattr(module._ENV, "from_string", slow)
    monkeypatch.setattr(module, "_lock", CountingLock())
    source = "{{ x }}-compiled-once-" + str(time.time())
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(module.render_string(source, {"x": 1})))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [source] and len(out) == 8 and set(out) == {out[0]}
