"""One host's variables during a play: inventory, gathered facts, play vars, registered
results and extra vars layered as Ansible does, plus the magic variables; resolved once and
kept until something changes them (``register``, ``set_fact``, ``gather_facts``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kboot.playbook.model import Play
from kboot.playbook.state import HostState, RunState, base_vars
from kboot.playbook.variables import OMIT, fact_vars, layered, resolve


class HostScope:
    def __init__(self, run: RunState, state: HostState, play: Play, play_hosts: Sequence[str],
                 batch: Sequence[str]) -> None:
        self.run = run
        self.state = state
        self.play = play
        self.play_hosts = list(play_hosts)
        self.batch = list(batch)
        self._resolved: dict[str, Any] | None = None

    def variables(self) -> dict[str, Any]:
        """The host's variables as tasks see them (before a task's own ``vars``)."""
        if self._resolved is None:
            st, opts = self.state, self.run.options
            merged = layered(base_vars(st.host), fact_vars(st.setup) if st.setup else {},
                             self.play.vars, self.play.vars_files, st.runtime, opts.extra_vars)
            merged.update(self._magic())
            self._resolved = resolve(merged)
        return self._resolved

    def _magic(self) -> dict[str, Any]:
        st = self.state
        return {
            "inventory_hostname": st.name,
            "inventory_hostname_short": st.name.split(".")[0],
            "group_names": [g for g in st.host.groups if g != "all"],
            "groups": self.run.groups,
            "hostvars": self.run.hostvars,
            "play_hosts": self.batch,
            "ansible_play_batch": self.batch,
            "ansible_play_hosts": [h for h in self.play_hosts if self.run.hosts[h].alive],
            "ansible_play_hosts_all": self.play_hosts,
            "ansible_check_mode": self.run.options.check,
            "ansible_diff_mode": self.run.options.diff,
            "ansible_facts": st.setup,
            "playbook_dir": str(self.play.basedir),
            "omit": OMIT,
        }

    def overrides(self) -> dict[str, Any]:
        """Variables that outrank a task's own ``vars``: registered, set_fact, extra vars."""
        return {**self.state.runtime, **self.run.options.extra_vars}

    def set_runtime(self, values: Mapping[str, Any]) -> None:
        self.state.runtime.update(values)
        self.changed()

    def changed(self) -> None:
        """The host's runtime variables or gathered facts changed: resolve again."""
        self.state.version += 1
        self._resolved = None
