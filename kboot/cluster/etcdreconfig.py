"""etcd membership changes — ``member add --learner``, ``member remove``, ``member promote``,
``move-leader`` — run with ``etcdctl`` on a member's host, and etcd's *not yet* refusals asked
again (tenacity) for a bounded time, with a progress line.

etcd 3.4 checks every reconfiguration against the cluster's health at that moment (the strict
reconfiguration check, on by default: ``mayAddMember``, ``mayRemoveMember`` and
``mayPromoteMember`` in etcdserver/server.go). Some of its refusals only mean "not yet":

- ``unhealthy cluster`` (ErrUnhealthy): removing a running voter needs a quorum of the voters
  left to have been connected to the serving member for at least 5 s (``HealthInterval``);
  adding a member needs every voter connected for 5 s. Both fail right after members restarted
  (a rolling restart, ``kboot up``'s etcd phase) or a learner was promoted;
- ``can only promote a learner member which is in sync with leader`` (ErrLearnerNotReady): the
  learner has less than 90 % of the leader's log yet;
- ``leader changed``, ``no leader``, ``request timed out…``, a refused connection or the client's
  own deadline: an election in progress, or the local member restarting.

Everything else fails at once: ``member not found``, ``Peer URLs already exists``, ``too many
learner members``, and ``re-configuration failed due to not enough started members``
(ErrNotEnoughStartedMembers: a voter that has never started — etcd keeps a member's name once
it is published, so waiting does not change that). kboot's own quorum check
(:func:`kboot.cluster.etcdmembers.removal_problem`) refuses before any of these run.

A request that timed out may still have been applied, so only requests that are safe to repeat
are repeated after one: a removal asked again that answers ``member not found`` is done, a
promotion that answers ``can only promote a learner member`` (already a voter) is done. An add
is asked again only on refusals etcd makes before it proposes anything.
"""

from __future__ import annotations

import logging
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from kboot.cluster.etcdmembers import Member, json_value, parse_members
from kboot.cluster.etcdsnap import etcdctl
from kboot.cluster.exec import HostOutput
from kboot.cluster.status import MARK, split_sections
from kboot.errors import ClusterError

log = logging.getLogger(__name__)

HostRun = Callable[[Mapping[str, str]], Mapping[str, HostOutput]]
"""Runs each host's shell command (as root), one round trip per host: ``{host: command}``."""
Progress = Callable[[str], None]  # one line per membership change or wait, for the CLI
Clock = Callable[[], float]
Sleep = Callable[[float], None]

ETCDCTL_TIMEOUT = "--command-timeout=5s"
RECONFIG_WAIT = 90.0  # seconds etcd may refuse a removal or an add as "not yet"
PROMOTE_WAIT = 180.0  # seconds a learner may take to catch up before its promotion gives up

UNHEALTHY = "unhealthy cluster"
NOT_IN_SYNC = "which is in sync with leader"
ELECTION = ("leader changed", "no leader", "connection refused")
TIMED_OUT = ("request timed out", "context deadline exceeded")  # may have been applied


def ctl(args: str) -> str:
    return f"{etcdctl()} {ETCDCTL_TIMEOUT} {args}"


@dataclass(frozen=True)
class Change:
    """One membership request and how to read etcd's answers to it."""

    args: str  # etcdctl's arguments
    what: str  # "removing member cp3", for messages
    waiting_for: str  # the progress line's "waiting for …" while etcd answers "not yet"
    again: tuple[str, ...]  # answers (substrings) meaning "not yet": asked again
    done: tuple[str, ...] = ()  # answers meaning it is done already
    done_when_repeated: tuple[str, ...] = ()  # … when an earlier attempt may have been applied
    seconds: float = RECONFIG_WAIT


def removal(member: Member) -> Change:
    return Change(f"member remove {member.hex_id}", f"removing member {member.label}",
                  f"every member to be connected ≥ 5 s before removing {member.label}",
                  again=(UNHEALTHY, *ELECTION, *TIMED_OUT),
                  done_when_repeated=("member not found",))


def learner_add(name: str, peer_url: str) -> Change:
    return Change(f"member add {shlex.quote(name)} --learner --peer-urls={peer_url}",
                  f"adding learner {name}",
                  f"every voting member to be connected ≥ 5 s before adding {name}",
                  again=(UNHEALTHY, *ELECTION))


def promotion(member_hex: str, name: str) -> Change:
    return Change(f"member promote {member_hex}", f"promoting learner {name}",
                  f"learner {name} to catch up with the leader",
                  again=(NOT_IN_SYNC, UNHEALTHY, *ELECTION, *TIMED_OUT),
                  done=("can only promote a learner member",), seconds=PROMOTE_WAIT)


def leader_move(to: Member) -> Change:
    """``move-leader`` must be sent to the current leader: run it on the leading member's host."""
    return Change(f"move-leader {to.hex_id}", f"moving leadership to {to.label}",
                  f"etcd to elect a leader before moving leadership to {to.label}",
                  again=("no leader", "connection refused"))


class NotYet(Exception):
    """etcd refused a change with an answer that means "not yet"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def etcd_said(out: HostOutput | None) -> str:
    """etcd's own words: etcdctl's last ``Error:`` line, else the output's last line."""
    if out is None:
        return "no answer"
    text = (out.stderr + "\n" + out.stdout).strip() or out.message
    errors = re.findall(r"^Error:\s*(.+)$", text, re.M)
    return errors[-1].strip() if errors else (text.splitlines() or ["no answer"])[-1][-500:]


def _attempt(run: HostRun, host: str, change: Change, attempt: list[int]) -> str:
    attempt[0] += 1
    out = run({host: ctl(change.args) + " 2>&1"}).get(host)
    if out is not None and out.ok:
        return out.stdout
    said = etcd_said(out)
    if any(p in said for p in change.again):
        raise NotYet(said)
    if any(p in said for p in change.done) or (
            attempt[0] > 1 and any(p in said for p in change.done_when_repeated)):
        log.info("etcd: %s on %s: done already (%s)", change.what, host, said)
        return ""
    raise ClusterError(f"etcd: {change.what} on {host} failed: {said}")


def reconfigure(run: HostRun, host: str, change: Change, *, progress: Progress = lambda _: None,
                clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> str:
    """Run ``change`` through the member on ``host``: its output once etcd accepts it ("" when
    it was done already); "not yet" answers are asked again for up to ``change.seconds`` (one
    progress line per new reason), then a ClusterError naming the members that do not answer."""
    started, attempt, said = clock(), [0], [""]

    def tell(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = exc.reason if isinstance(exc, NotYet) else ""
        if reason != said[0]:
            said[0] = reason
            progress(f"etcd: waiting for {change.waiting_for} (etcd said: {reason}; up to "
                     f"{change.seconds:g}s)")

    policy = Retrying(stop=lambda _: clock() - started >= change.seconds,
                      wait=wait_exponential(multiplier=0.5, max=3),
                      retry=retry_if_exception_type(NotYet), before_sleep=tell, sleep=sleep,
                      reraise=True)
    try:
        return policy(_attempt, run, host, change, attempt)
    except NotYet as e:
        raise ClusterError(
            f"etcd: {change.what} on {host} still refused after {clock() - started:.0f}s "
            f"({attempt[0]} attempts): {e.reason}; {unhealthy_members(run, host)}") from None


def health_command() -> str:
    return (f"echo '{MARK}members'; {ctl('member list -w json')} 2>&1;"
            f" echo '{MARK}health'; {ctl('endpoint health --cluster -w json')} 2>&1; exit 0")


def unhealthy_members(run: HostRun, host: str) -> str:
    """Which members ``host``'s etcd cannot reach now, as a sentence for an error message."""
    out = run({host: health_command()}).get(host)
    sections = split_sections(out.stdout if out is not None else "")
    members = parse_members(sections.get("members", "")) or ()
    health = json_value(sections.get("health", ""), list)
    if not isinstance(health, list):
        return f"{host}'s etcd did not report its members' health"
    names = {u: m.label for m in members for u in m.client_urls}
    bad = [f"{names.get(str(h.get('endpoint')), h.get('endpoint'))} ({h.get('error') or 'down'})"
           for h in health if isinstance(h, dict) and not h.get("health")]
    if bad:
        return "members not healthy now: " + ", ".join(bad)
    return ("every member answers now (etcd counts a member only once it has been connected "
            "for 5 s): try again")
