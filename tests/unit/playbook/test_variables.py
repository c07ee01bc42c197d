"""Variable precedence, resolution of templated definitions, and the magic variables."""

from __future__ import annotations

from pathlib import Path

from kboot.playbook.variables import resolve
from tests.unit.playbook.helpers import Harness


def test_resolve_orders_definitions_by_dependency() -> None:
    raw = {"bin": "{{ prefix }}/bin", "prefix": "{{ base }}/opt", "base": "/srv",
           "broken": "{{ nope }}", "ports": "{{ [1, 2] }}"}
    assert resolve(raw) == {"base": "/srv", "prefix": "/srv/opt", "bin": "/srv/opt/bin",
                            "ports": [1, 2]}


def test_precedence_and_magic_variables(tmp_path: Path) -> None:
    (tmp_path / "vars.yml").write_text("from_file: file\nboth: file\n")
    h = Harness(tmp_path, 2, host_vars={"inv": "inventory", "both": "inventory",
                                        "extra": "inventory"})
    h.run("""
- hosts: all
  gather_facts: false
  vars: {both: play, extra: play, set: play, tv: play}
  vars_files: [vars.yml]
  tasks:
    - set_fact: {set: fact}
    - name: show
      vars: {tv: task, set: task}
      debug:
        msg: "{{ inv }} {{ both }} {{ from_file }} {{ extra }} {{ set }} {{ tv }}
              {{ groups['nodes'] | join(',') }} {{ group_names }} {{ play_hosts | length }}
              {{ hostvars['h1']['inv'] }} {{ ansible_check_mode }}"
""", extra_vars={"extra": "cli"})
    (show,) = [e for e in h.results("h0") if e.task == "show"]
    assert show.msg.split() == ["inventory", "file", "file", "cli", "fact", "task", "h0,h1",
                                "['nodes']", "2", "inventory", "False"]


def test_hostvars_show_other_hosts_connection_facts_and_results(tmp_path: Path) -> None:
    h = Harness(tmp_path, 2)
    h.run("""
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - {shell: "echo from-{{ inventory_hostname }}", register: probe, changed_when: false}
    - name: peers
      debug:
        msg: "{{ hostvars['h0']['ansible_host'] }} {{ hostvars['h0']['probe']['stdout'] }}"
      when: inventory_hostname == 'h1'
""")
    (peers,) = [e for e in h.results("h1") if e.task == "peers"]
    assert peers.msg == "127.0.0.1 from-h0"
