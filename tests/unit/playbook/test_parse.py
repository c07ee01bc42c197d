"""Loading playbooks: Ansible forms accepted, everything unsupported rejected with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kboot.errors import PlaybookError
from kboot.playbook import load_playbook


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "site.yml"
    path.write_text(textwrap.dedent(text).lstrip())
    return load_playbook(path)


def test_ansible_forms_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "more.yml").write_text("- {name: included, debug: {msg: hi}}\n")
    (tmp_path / "vars.yml").write_text("from_file: 1\n")
    book = _load(tmp_path, """
        - hosts: "control_plane:&etcd"
          become: yes
          vars_files: [vars.yml]
          tasks:
            - ansible.builtin.file: path=/etc/kboot state=directory mode=0755
            - name: free form with options
              ansible.builtin.command: make install chdir=/src creates=/usr/bin/x
            - shell: echo hi
              args: {chdir: /tmp}
            - apt: {pkg: [curl]}
            - include_tasks: more.yml
              tags: [inc]
              when: x is defined
        """)
    play = book.plays[0]  # type: ignore[attr-defined]
    assert play.become is True and play.vars_files == {"from_file": 1}
    tasks = play.tasks
    assert tasks[0].action == "file"
    assert tasks[0].args == {"path": "/etc/kboot", "state": "directory", "mode": "0755"}
    assert tasks[1].args == {"cmd": "make install", "chdir": "/src", "creates": "/usr/bin/x"}
    assert tasks[2].args == {"cmd": "echo hi", "chdir": "/tmp"}
    assert tasks[4].name == "included" and tasks[4].tags == {"inc"}
    assert tasks[4].when == ("x is defined",)
    assert str(tasks[1].location).endswith("site.yml:6")


@pytest.mark.parametrize(("text", "message", "line"), [
    ("- hosts: all\n  tasks:\n    - name: x\n      delegate_to: localhost\n      debug: {}\n",
     "keyword 'delegate_to' is not supported", 4),
    ("- hosts: all\n  tasks:\n    - name: x\n      frobnicate: {a: 1}\n",
     "unknown task or keyword 'frobnicate'", 4),
    ("- hosts: all\n  tasks:\n    - copy: {dest: /x, content: y, bogus: 1}\n",
     "copy: unknown argument 'bogus'", 3),
    ("- hosts: all\n  tasks:\n    - file: {state: directory}\n",
     "missing required argument 'path'", 3),
    ("- hosts: all\n  tasks:\n    - systemd: {name: x, state: begun}\n",
     "state: expected one of", 3),
    ("- hosts: all\n  roles: [common]\n", "play keyword 'roles' is not supported", 2),
    ("- hosts: all\n  tasks:\n    - {debug: {msg: x}, notify: nope}\n",
     "no handler named 'nope'", 3),
    ("- hosts: all\n  tasks:\n    - block:\n        - debug: {}\n      delegate_to: x\n",
     "keyword 'delegate_to' is not supported on a block", 5),
    ("- hosts: all\n  tasks:\n    - debug: {}\n      rescue: []\n",
     "keyword 'rescue' is not supported", 4),
    ("- hosts: all\n  tasks: [\n", "invalid YAML", 3),
    ("- name: no hosts\n  tasks: []\n", "hosts", 1),
])
def test_rejections_name_the_keyword_and_line(tmp_path: Path, text: str, message: str,
                                              line: int) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert message in str(info.value)
    assert f"bad.yml:{line}" in str(info.value)
