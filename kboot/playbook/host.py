"""Running one play on one host, batched: the heart of kboot's speed.

Tasks are cut into *segments* at points where a later task reads what an earlier one
registers. For a segment, the facts every task needs are gathered in ONE exec; then tasks are
planned in order, and the commands of the planned tasks go to the host in ONE exec (see
:mod:`kboot.playbook.script`). A batch ends early only when ``become`` differs, after a task
whose failure is decided by ``failed_when`` or retried by ``until``, or where a guard (below)
finds that a fact changed. A no-op re-run therefore costs one fact round trip per segment and
no change round trip at all.

Facts are not thrown away when a task may have changed them. A task that writes known bytes
*predicts* the stat and content the file will have; after an *opaque* command every cached fact
becomes *unverified*. Later tasks plan on predicted, touched and unverified facts like on fresh
ones, but their steps carry a *guard* that re-reads those facts on the host first; a guard that
fails stops the script there and prints the facts as they are now, so the re-plan needs no
extra gathering. A first run of a play thus costs one gathering plus one change round trip,
plus one more per guard that really found a difference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kboot.errors import TemplateError
from kboot.facts.base import Fact
from kboot.facts.batch import expectation, guard_condition
from kboot.facts.files import identity
from kboot.facts.system import ansible_facts, setup_facts
from kboot.playbook.events import HostFinished, HostStarted, TaskResult
from kboot.playbook.link import HostDown, HostLink, env_strings
from kboot.playbook.model import Play, TaskSpec
from kboot.playbook.results import (
    UnitResult,
    aggregate,
    apply_conditions,
    base_result,
    event,
    task_status,
    verdict,
)
from kboot.playbook.script import (
    Step,
    StepOutcome,
)
from kboot.playbook.state import HostState, RunState, base_vars
from kboot.playbook.units import PLAN_ERRORS, Expander, Unit
from kboot.playbook.variables import OMIT, fact_vars, layered, resolve
from kboot.tasks.base import Plan
from kboot.tasks.registry import lookup
from kboot.templating import render_value

log = logging.getLogger(__name__)
SETUP_KEYS = frozenset(f.key for f in setup_facts())
SHELL = "/bin/sh -s"


class HostPlay:
    def __init__(self, run: RunState, state: HostState, play: Play, play_hosts: Sequence[str],
                 batch: Sequence[str] | None = None) -> None:
        self.run = run
        self.state = state
        self.play = play
        self.play_hosts = list(play_hosts)
        self.batch = list(batch if batch is not None else play_hosts)
        self.link = HostLink(run, state, any_errors_fatal=play.any_errors_fatal)
        opts = run.options
        self.expander = Expander(state.name, play.become, opts.check, opts.diff,
                                 tuple(dict.fromkeys((play.basedir, *opts.search_paths))),
                                 run.sources)
        self._scope: dict[str, Any] | None = None
        self._handler = False
        self._ahead: list[TaskSpec] = []
        self._carry: list[tuple[Unit, UnitResult]] = []

    # -- variables ---------------------------------------------------------------------------
    def scope(self) -> dict[str, Any]:
        if self._scope is None:
            st, opts = self.state, self.run.options
            merged = layered(base_vars(st.host), fact_vars(st.setup) if st.setup else {},
                             self.play.vars, self.play.vars_files, st.runtime, opts.extra_vars)
            merged.update(self._magic())
            self._scope = resolve(merged)
        return self._scope

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
        return {**self.state.runtime, **self.run.options.extra_vars}

    def set_runtime(self, values: Mapping[str, Any]) -> None:
        self.state.runtime.update(values)
        self.state.version += 1
        self._scope = None

    # -- the play ----------------------------------------------------------------------------
    def execute(self) -> None:
        self.run.emit(HostStarted(self.state.name, self.play.name))
        try:
            if self.play.gather_facts:
                self.gather_setup()
            self.run_tasks(self.play.tasks)
            self.flush_handlers()
        except HostDown:
            pass
        self.run.emit(HostFinished(self.state.name, self.play.name))

    def gather_setup(self) -> None:
        """``gather_facts``, in the same exec as the prefetch of the play's task facts (tasks
        whose arguments need ``ansible_facts`` are simply not prefetched)."""
        facts: dict[str, Fact[Any]] = {f.key: f for f in setup_facts()}
        self._ahead = list(self.play.tasks)
        for key, fact in self.lookahead_facts().items():
            if key not in self.state.facts:
                facts.setdefault(key, fact)
        who = identity(self.play.become)
        if who.key not in self.state.facts:
            facts[who.key] = who
        values = self.link.gather(list(facts.values()), become=self.play.become)
        prefetched = {k: v for k, v in values.items() if k not in SETUP_KEYS}
        self.state.facts.update(prefetched)
        self.state.fact_specs.update({k: facts[k] for k in prefetched})
        self.state.setup = ansible_facts(values)
        self.state.version += 1
        self._scope = None
        self.state.count("ok")
        self.run.emit(TaskResult(self.state.name, "Gathering Facts", "setup", "ok",
                                 location=str(self.play.location)))

    def run_tasks(self, tasks: Sequence[TaskSpec]) -> None:
        i = 0
        self._ahead = list(tasks)
        while i < len(tasks):
            if self.run.abort.is_set():
                raise HostDown
            task = tasks[i]
            if task.action in ("meta", "block"):
                if task.action == "block":
                    self.run_block(task)
                else:
                    self.meta(task)
                i += 1
                continue
            segment = [task]
            produced = {task.register} if task.register else set()
            i += 1
            while i < len(tasks) and tasks[i].action not in ("meta", "block"):
                refs = tasks[i].refs
                if produced and ("*" in refs or refs & produced):
                    break
                segment.append(tasks[i])
                register = tasks[i].register
                if register:
                    produced.add(register)
                i += 1
            self._ahead = list(tasks[i:])
            self.run_segment(segment)

    def lookahead_facts(self) -> dict[str, Fact[Any]]:
        """Facts of the tasks after the current segment that do not depend on registered
        results: fetched with the current gathering so later segments need no round trip.
        Only a prefetch; each task still plans with facts valid at its turn."""
        registered = {t.register for t in self._ahead if t.register}
        found: dict[str, Fact[Any]] = {}
        scope = self.scope()
        for task in self._ahead:
            refs = task.arg_refs
            if task.action in ("meta", "block") or "*" in refs or refs & registered:
                continue
            definition = lookup(task.action)
            if definition is None or definition.local:
                continue
            for unit in self.expander.expand(task, scope):
                for fact in unit.facts:
                    found.setdefault(fact.key, fact)
        return found

    def run_block(self, block: TaskSpec) -> None:
        """``block``/``rescue``/``always``: a failure in the block runs ``rescue`` (the host is
        then no longer failed: the failure counts as rescued); ``always`` runs either way,
        unless the host became unreachable or the run is aborting."""
        try:
            try:
                self.run_tasks(block.args["block"])
            except HostDown:
                if not self.state.failed or self.state.unreachable or not block.args["rescue"]:
                    raise
                failure = self.state.rescue()
                self.set_runtime({"ansible_failed_task": {"name": failure.task},
                                  "ansible_failed_result": {"msg": failure.message,
                                                            "rc": failure.exit_code}})
                self.run_tasks(block.args["rescue"])
        finally:
            if not self.state.unreachable and not self.run.abort.is_set():
                failed = self.state.failed
                self.state.failed = False  # let always run, then restore the verdict
                try:
                    self.run_tasks(block.args["always"])
                finally:
                    self.state.failed = self.state.failed or failed

    def meta(self, task: TaskSpec) -> None:
        action = task.args.get("_raw")
        if action == "flush_handlers":
            self.flush_handlers()
        elif action in ("end_host", "end_play"):
            raise HostDown

    def flush_handlers(self) -> None:
        for _ in range(10):  # handlers may notify handlers
            notified = list(self.state.notified)
            if not notified:
                return
            self.state.notified.clear()
            chosen = [h for h in self.play.handlers
                      if h.name in notified or set(h.listen) & set(notified)]
            self._handler = True
            try:
                self.run_tasks(chosen)
            finally:
                self._handler = False

    # -- segments ----------------------------------------------------------------------------
    def run_segment(self, tasks: Sequence[TaskSpec]) -> None:
        units: list[Unit] = []
        for task in tasks:
            expanded = self.expander.expand(task, self.scope(), self.overrides())
            for unit in expanded:
                if unit.plan is not None and unit.plan.set_vars and unit.error is None:
                    self.set_runtime(unit.plan.set_vars)
            units.extend(expanded)
            if any(u.error is not None or (u.plan is not None and u.plan.failed)
                   for u in expanded):
                break
        k = 0
        while k < len(units):
            if self.run.abort.is_set():
                raise HostDown
            k += self.run_batch(units[k:])

    def run_batch(self, units: list[Unit]) -> int:
        """Gather missing facts, plan as many units as can share one exec, run them, record
        the results. Returns how many units were consumed."""
        self.ensure_facts(units)
        batch, become = self.plan_batch(units)
        assert batch, "a batch always takes its first unit (it is never guarded)"
        outcomes = self.link.execute(batch[0].name, self.steps(batch), bool(become))
        if batch[0].task.until is not None and not batch[0].check:
            outcomes = self.retry_until(batch[0], outcomes)
        for unit in batch:
            if unit.plan is not None and unit.plan.fetch and not unit.check:
                error = self.link.fetch(unit.name, unit.plan.fetch)
                if error:
                    unit.plan = Plan(failed=error)
        done = self.record(batch, outcomes)
        self.invalidate(batch[:done])
        if done < len(batch):  # a guard found a difference: doubt every fact, take the fresh
            self.doubt_all()
            stale = outcomes.get(done)
            if stale is not None and stale.fresh:
                self.learn(batch[done].facts, stale.fresh)
        return done

    def ensure_facts(self, units: Sequence[Unit]) -> None:
        wanted: dict[str, Fact[Any]] = {}
        become = False
        for unit in units:
            if unit.decided:
                continue
            for fact in unit.facts:
                if fact.key not in self.state.facts and fact.key not in wanted:
                    wanted[fact.key] = fact
                    become = become or unit.become
        if wanted:
            for key, fact in self.lookahead_facts().items():
                if key not in self.state.facts:
                    wanted.setdefault(key, fact)
            who = identity(become)  # whom files it creates will belong to (predictions)
            if who.key not in self.state.facts:
                wanted[who.key] = who
            self.state.facts.update(self.link.gather(list(wanted.values()), become=become))
            self.state.fact_specs.update(wanted)

    def plan_batch(self, units: Sequence[Unit]) -> tuple[list[Unit], bool | None]:
        """Plan units in order for one exec. A unit reading a fact that an earlier unit of the
        batch changes is planned on that unit's *prediction* of it (else on the fact as it
        was). Units planned on anything not known to hold (a prediction, a touched or
        unverified fact, any fact after an *opaque* command of this batch) are *guarded*: their
        step re-checks those facts on the host and, if one differs, stops the batch there and
        prints them fresh for the re-plan. A guarded unit whose plan fails is still sent (the
        failure stands only if its guard holds)."""
        batch: list[Unit] = []
        touched: list[str] = []
        opaque = False
        become: bool | None = None
        predicted: dict[str, tuple[Fact[Any], str]] = {}  # by earlier units of this batch
        for unit in units:
            if unit.task.until is not None and batch:  # retried units run in their own batch
                break
            if not unit.decided:
                changed = [f for f in unit.facts if any(f.stale_after(p) for p in touched)]
                overlay = {f.key: predicted[f.key] for f in changed if f.key in predicted}
                self.plan(unit, overlay)
                doubtful = opaque or bool(changed) or any(
                    f.key in self.state.unverified for f in unit.facts)
                unit.guarded = doubtful and bool(unit.facts)
                if unit.guarded:
                    unit.expected = tuple(
                        (f, expectation(overlay[f.key][1]) if f.key in overlay
                         else self.state.fact_digests[f.key]) for f in unit.facts)
                if unit.executes or unit.guarded:
                    if become is not None and unit.become != become:
                        unit.guarded, unit.expected = False, ()
                        break
                    become = unit.become
                if unit.executes:
                    plan = unit.plan
                    assert plan is not None
                    touched.extend(plan.touches)
                    opaque = opaque or _opaque(unit)
                    for path in plan.touches:
                        for key in [k for k, (f, _) in predicted.items() if f.stale_after(path)]:
                            del predicted[key]
                    predicted.update({f.key: (f, out) for f, out in plan.predicts})
            batch.append(unit)
            if _failed(unit):
                break
            if unit.executes and unit.task.failed_when is not None and unit.last_of_task:
                break
            if unit.task.until is not None:
                break
        return batch, become

    def plan(self, unit: Unit, overlay: Mapping[str, tuple[Fact[Any], str]] | None = None
             ) -> None:
        assert unit.definition is not None
        facts: Mapping[str, Any] = self.state.facts
        if overlay:
            facts = {**facts, **{k: f.value(out) for k, (f, out) in overlay.items()}}
        who = self.state.facts.get(identity(unit.become).key)
        ctx = self.expander.context(unit, facts, who)
        try:
            unit.plan = unit.definition.plan(unit.args, ctx)
        except PLAN_ERRORS as exc:
            unit.error = str(exc)
            unit.plan = None
        except KeyError as exc:  # a task read a fact it did not declare: a kboot bug
            log.exception("task %s", unit.task.action)
            unit.error = f"internal error: {exc}"

    def retry_until(self, unit: Unit, outcomes: dict[int, StepOutcome]) -> dict[int, StepOutcome]:
        """``until``/``retries``/``delay``: run the unit again (re-planned on fresh facts) until
        its condition holds. Only this unit is in its batch, so nothing else is repeated."""
        task = unit.task
        assert task.until is not None
        for attempt in range(1, task.retries + 1):
            result = apply_conditions(unit, base_result(unit, outcomes.get(0)))
            try:
                if verdict(task.until, unit, result.value):
                    break
            except TemplateError:
                pass
            if attempt == task.retries or self.run.abort.is_set():
                break
            time.sleep(task.delay)
            self.invalidate_all()
            self.ensure_facts([unit])
            self.plan(unit)
            if _failed(unit):
                break
            outcomes = self.link.execute(unit.name, self.steps([unit]), unit.become)
        return outcomes

    def steps(self, batch: Sequence[Unit]) -> list[Step]:
        steps: list[Step] = []
        running = [i for i, u in enumerate(batch) if u.executes or u.guarded]
        for index in running:
            unit = batch[index]
            plan = unit.plan  # None: a guarded unit that failed to plan (it fails if it holds)
            later_same_task = any(batch[j].task is unit.task for j in running if j > index)
            env = {**self.play.environment, **unit.task.environment}
            guard = guard_condition(list(unit.expected)) if unit.guarded else ""
            commands = plan.commands if plan is not None and unit.executes else ()
            steps.append(Step(index, commands,
                              env_strings(render_value(env, unit.variables) if env else {}),
                              may_fail=unit.task.ignore_errors or unit.task.failed_when is not None,
                              group_end=not later_same_task, guard=guard,
                              isolate=(plan is not None and plan.opaque) or bool(env),
                              refresh=tuple(unit.facts) if unit.guarded else ()))
        return steps

    # -- results -----------------------------------------------------------------------------
    def record(self, batch: Sequence[Unit], outcomes: Mapping[int, StepOutcome]) -> int:
        """Record results in order; returns how many units are done (a stale guard stops it:
        that unit and the rest are planned again with fresh facts)."""
        pending, self._carry = self._carry, []
        for index, unit in enumerate(batch):
            outcome = outcomes.get(index)
            if outcome is not None and outcome.stale:
                self._carry = pending  # earlier loop items of this task ran: keep their results
                return index
            result = apply_conditions(unit, base_result(unit, outcome))
            pending.append((unit, result))
            if unit.last_of_task:
                for done_unit, done in pending:
                    self.run.emit(event(done_unit, done, self.state.name, handler=self._handler))
                self.finish_task(pending)
                pending = []
        self._carry = pending  # a task whose loop items continue in the next batch
        return len(batch)

    def finish_task(self, pending: list[tuple[Unit, UnitResult]]) -> None:
        unit = pending[-1][0]
        task = unit.task
        results = [r for _, r in pending]
        status = task_status(results)
        if any(u.looped for u, _ in pending):
            value = aggregate(results, [u.item for u, _ in pending])
        else:
            value = results[0].value
        if task.register:
            self.set_runtime({task.register: value})
        if status == "changed":
            for name in task.notify:
                if name not in self.state.notified:
                    self.state.notified.append(name)
        self.state.count(status)
        if any(r.ignored for r in results):
            self.state.count("ignored")
        if status == "failed":
            bad = next(r for r in results if r.status == "failed" and not r.ignored)
            output = str(bad.value.get("stderr") or bad.value.get("stdout") or "")
            if task.no_log:
                bad.msg, bad.command, output = "(output hidden by no_log)", "(hidden)", ""
            self.link.fail(unit.name, message=bad.msg, command=bad.command,
                           exit_code=bad.exit_code, location=str(task.location),
                           output=output, counted=True)
            raise HostDown

    def invalidate_all(self) -> None:
        for key in [k for k in self.state.facts if k not in SETUP_KEYS]:
            del self.state.facts[key]
        self.state.unverified.clear()

    def doubt_all(self) -> None:
        """Keep every cached fact, but re-check it on the host before relying on it."""
        self.state.unverified.update(k for k in self.state.facts
                                     if k not in SETUP_KEYS and not k.startswith("identity:"))

    def remember(self, fact: Fact[Any], output: str, *, verified: bool) -> None:
        """Cache ``fact`` as its command printed (or will print) ``output``."""
        st = self.state
        st.facts[fact.key] = fact.value(output)
        st.fact_specs[fact.key] = fact
        st.fact_digests[fact.key] = expectation(output)
        if verified:
            st.unverified.discard(fact.key)
        else:
            st.unverified.add(fact.key)

    def learn(self, facts: Sequence[Fact[Any]], outputs: Mapping[str, str]) -> None:
        """Facts as a failed guard just read them on the host: fresh."""
        for fact in facts:
            if fact.key in outputs:
                self.remember(fact, outputs[fact.key], verified=True)

    def invalidate(self, batch: Sequence[Unit]) -> None:
        """After ``batch`` ran: facts its commands touched are dropped, or replaced by what the
        command predicted (unverified); after an opaque command every fact is doubted."""
        st = self.state
        ran = [u for u in batch if u.executes and u.plan is not None]
        for unit in ran:
            assert unit.plan is not None
            for path in unit.plan.touches:
                for key in maybe_stale(path, st.facts, st.fact_specs):
                    spec = st.fact_specs.get(key)
                    if key in st.facts and spec is not None and spec.stale_after(path):
                        del st.facts[key]
                        st.unverified.discard(key)
            for fact, output in unit.plan.predicts:
                self.remember(fact, output, verified=False)
        if any(_opaque(u) for u in ran):
            self.doubt_all()


def maybe_stale(touched: str, facts: Iterable[str], specs: Mapping[str, Fact[Any]]) -> list[str]:
    """The cached facts (keys) that ``touched`` may make stale, for :meth:`Fact.stale_after` to
    decide: for a plain path only the facts of that path or of its directory's listing, and
    those derived from trees (``depends``) — not every cached fact for every touched path."""
    if touched.endswith("/**"):
        return list(facts)
    base = touched.rstrip("/") or "/"
    parent = base.rpartition("/")[0] or "/"
    out = []
    for key in facts:
        spec = specs.get(key)
        if spec is None:
            continue
        path = spec.path.rstrip("/") or "/" if spec.path is not None else None
        if spec.depends or path in (base, parent):
            out.append(key)
    return out


def _failed(unit: Unit) -> bool:
    return unit.error is not None or (unit.plan is not None and unit.plan.failed is not None)


def _opaque(unit: Unit) -> bool:
    """Whether the unit's commands may change anything. ``changed_when: false`` declares a
    command read-only, so it does not invalidate facts (Ansible users write it for probes)."""
    plan = unit.plan
    read_only = unit.task.changed_when is not None and all(
        c is False or (isinstance(c, str) and c.strip().lower() == "false")
        for c in unit.task.changed_when)
    return plan is not None and plan.opaque and not read_only
