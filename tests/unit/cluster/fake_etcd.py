"""A fake etcd cluster behind a :data:`kboot.cluster.etcdreconfig.HostRun`: answers the gather
and health commands with canned ``etcdctl`` JSON and acts on ``member add/remove/promote`` and
``move-leader`` as etcd would, recording every command by host. ``refusals`` makes it answer a
verb with etcd's errors first, as etcdctl prints them (and optionally apply the change anyway,
as a request that timed out after it was proposed)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kboot.cluster.exec import HostOutput
from kboot.cluster.status import MARK


@dataclass
class FakeMember:
    id: int
    name: str
    ip: str
    learner: bool = False
    healthy: bool = True


@dataclass(frozen=True)
class Refusal:
    error: str  # etcd's words, e.g. "etcdserver: unhealthy cluster"
    applied: bool = False  # the change happened anyway (the client timed out)
    when: str = ""  # only for commands that contain this (e.g. one member's name)


WARNING = ('{"level":"warn","ts":"2026-12-07T15:15:16.422Z","caller":"clientv3/retry_interceptor'
           '.go:62","msg":"retrying of unary invoker failed","attempt":0}')


class EtcdRefused(Exception):
    pass


def failed(host: str, error: str) -> HostOutput:
    """What etcdctl prints (stderr redirected) when etcd refuses."""
    return HostOutput(host, 1, f"{WARNING}\nError: {error}\n", "", "failed")


@dataclass
class FakeEtcd:
    members: list[FakeMember]
    data: dict[str, bool]  # host -> its data directory holds a member
    leader: int = 0
    unreachable: set[str] = field(default_factory=set)
    log: list[tuple[str, str]] = field(default_factory=list)  # (host, what)
    next_id: int = 0xA0
    refusals: dict[str, list[Refusal]] = field(default_factory=dict)  # verb -> answered first

    def member_list(self) -> str:
        return json.dumps({"header": {"cluster_id": 1}, "members": [
            {"ID": m.id, "name": m.name, "peerURLs": [f"https://{m.ip}:2380"],
             "clientURLs": [f"https://{m.ip}:2379"] if m.name else [],
             **({"isLearner": True} if m.learner else {})} for m in self.members]})

    def endpoint_status(self) -> str:
        return json.dumps([{"Endpoint": f"https://{m.ip}:2379", "Status": {
            "header": {"member_id": m.id}, "leader": self.leader}}
            for m in self.members if m.healthy and m.name])

    def answers(self, host: str) -> bool:
        return any(m.name == host and m.healthy for m in self.members)

    def _gather(self, host: str) -> str:
        out = f"{MARK}data\n{'yes' if self.data.get(host) else 'no'}\n"
        if self.answers(host):
            out += f"{MARK}members\n{self.member_list()}\n{MARK}endpoints\n"
            out += self.endpoint_status() + "\n"
        else:
            out += f"{MARK}members\nError: context deadline exceeded\n{MARK}endpoints\n"
        return out

    def health(self) -> str:
        return json.dumps([{"endpoint": f"https://{m.ip}:2379", "health": m.healthy,
                            "took": "1ms", **({} if m.healthy else {
                                "error": "context deadline exceeded"})}
                           for m in self.members if m.name])

    def _refused(self, host: str, command: str) -> HostOutput | None:
        verb = re.search(r"member (add|remove|promote)|(move-leader)", command)
        queue = self.refusals.get(next(v for v in verb.groups() if v), []) if verb else []
        refusal = next((r for r in queue if r.when in command), None)
        if refusal is None:
            return None
        queue.remove(refusal)
        self.log.append((host, f"refused: {refusal.error}"))
        if refusal.applied:
            self._act(host, command)
        return failed(host, refusal.error)

    def _act(self, host: str, command: str) -> str:
        if m := re.search(r"member add (\S+) --learner --peer-urls=https://([\d.]+):2380",
                          command):
            self.next_id += 1
            self.members.append(FakeMember(self.next_id, "", m.group(2), learner=True,
                                           healthy=False))
            self.log.append((host, f"add {m.group(1)}"))
            started = ",".join(f"{x.name}=https://{x.ip}:2380" for x in self.members if x.name)
            return (f"Member {self.next_id:x} added to cluster 1\n\n"
                    f'ETCD_NAME="{m.group(1)}"\n'
                    f'ETCD_INITIAL_CLUSTER="{started},{m.group(1)}=https://{m.group(2)}:2380"\n'
                    'ETCD_INITIAL_CLUSTER_STATE="existing"\n')
        if m := re.search(r"member remove ([0-9a-f]+)", command):
            if not any(x.id == int(m.group(1), 16) for x in self.members):
                raise EtcdRefused("etcdserver: member not found")
            self.members = [x for x in self.members if x.id != int(m.group(1), 16)]
            self.log.append((host, f"remove {m.group(1)}"))
            return f"Member {m.group(1)} removed\n"
        if m := re.search(r"member promote ([0-9a-f]+)", command):
            for x in self.members:
                if x.id == int(m.group(1), 16):
                    x.learner = False
            self.log.append((host, f"promote {m.group(1)}"))
            return "promoted\n"
        if m := re.search(r"move-leader ([0-9a-f]+)", command):
            self.leader = int(m.group(1), 16)
            self.log.append((host, f"move-leader {m.group(1)}"))
            return "Leadership transferred\n"
        raise AssertionError(f"unexpected command on {host}: {command}")

    def started(self, host: str, ip: str) -> None:
        """The join playbook ran on ``host``: its learner now has a name and answers."""
        for x in self.members:
            if x.ip == ip:
                x.name, x.healthy = host, True
        self.data[host] = True

    def __call__(self, commands: Mapping[str, str]) -> dict[str, HostOutput]:
        out = {}
        for host, command in commands.items():
            if host in self.unreachable:
                out[host] = HostOutput(host, None, "", "", "unreachable", "no route")
            elif f"{MARK}data" in command:
                self.log.append((host, "gather"))
                out[host] = HostOutput(host, 0, self._gather(host), "", "ok")
            elif "endpoint health" in command:
                self.log.append((host, "health"))
                out[host] = HostOutput(host, 0, f"{MARK}members\n{self.member_list()}\n"
                                       f"{MARK}health\n{self.health()}\n", "", "ok")
            elif (refused := self._refused(host, command)) is not None:
                out[host] = refused
            else:
                try:
                    out[host] = HostOutput(host, 0, self._act(host, command), "", "ok")
                except EtcdRefused as e:
                    out[host] = failed(host, str(e))
        return out
