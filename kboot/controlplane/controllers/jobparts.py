"""Pure pieces of the Job controller: Indexed completion mode and the pod failure policy.

Indexed Jobs (``completionMode: Indexed``) run one successful pod per index 0..completions-1.
Each pod carries its index as the ``batch.kubernetes.io/job-completion-index`` annotation and
label, in ``JOB_COMPLETION_INDEX`` (from that annotation, as upstream), and as its hostname
``<job>-<index>`` (so a headless Service named by ``subdomain`` gives each index a DNS name);
``status.completedIndexes`` lists the succeeded indexes as ranges (``0-2,5``).

``podFailurePolicy`` rules are matched against each failed pod in order, the first match
deciding: ``FailJob`` fails the Job at once (reason ``PodFailurePolicy``), ``Ignore`` does not
count the failure against ``backoffLimit``, ``Count`` counts it as usual.
"""

from __future__ import annotations

import copy
from typing import Any

from kboot.controlplane.api.shapes import Obj

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
INDEX_ENV = "JOB_COMPLETION_INDEX"


def index_of(pod: Obj) -> int | None:
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(INDEX_KEY, (md.get("labels") or {}).get(INDEX_KEY))
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def indexed_template(template: Obj, job_name: str, index: int) -> Obj:
    """The Job's pod template for one completion index."""
    tmpl = copy.deepcopy(template)
    md = tmpl.setdefault("metadata", {})
    md.setdefault("annotations", {})[INDEX_KEY] = str(index)
    md.setdefault("labels", {})[INDEX_KEY] = str(index)
    spec = tmpl.setdefault("spec", {})
    spec["hostname"] = f"{job_name}-{index}"
    env = {"name": INDEX_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        container["env"] = [*(e for e in container.get("env") or []
                              if e.get("name") != INDEX_ENV), env]
    return tmpl


def ranges(indexes: set[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``"0-2,5"`` (upstream's ``completedIndexes`` format)."""
    out: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def missing_indexes(completions: int, succeeded: set[int], active: list[Obj]) -> list[int]:
    """Indexes with neither a success nor an active pod, lowest first."""
    running = {index_of(p) for p in active}
    return [i for i in range(completions) if i not in succeeded and i not in running]


# ------------------------------------------------------------------------ pod failure policy


def _exit_codes_match(rule: Obj, pod: Obj) -> tuple[bool, str, int]:
    codes = rule.get("onExitCodes")
    if not codes:
        return False, "", 0
    values = set(codes.get("values") or [])
    name = codes.get("containerName")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if name and status.get("name") != name:
            continue
        code = ((status.get("state") or {}).get("terminated") or {}).get("exitCode")
        if code is None or code == 0:
            continue
        hit = code in values if codes.get("operator", "In") == "In" else code not in values
        if hit:
            return True, str(status.get("name", "")), int(code)
    return False, "", 0


def _conditions_match(rule: Obj, pod: Obj) -> bool:
    patterns = rule.get("onPodConditions") or []
    conds = {(c.get("type"), c.get("status"))
             for c in (pod.get("status") or {}).get("conditions") or []}
    return any((p.get("type"), p.get("status", "True")) in conds for p in patterns)


def failure_action(policy: Any, pod: Obj) -> tuple[str, str]:
    """(action, message) of the first rule matching a failed pod; ("Count", "") if none."""
    rules = (policy or {}).get("rules") or [] if isinstance(policy, dict) else []
    md = pod.get("metadata") or {}
    for i, rule in enumerate(rules):
        action = str(rule.get("action", "Count"))
        hit, container, code = _exit_codes_match(rule, pod)
        if hit:
            return action, (f"Container {container} for pod {md.get('namespace')}/"
                            f"{md.get('name')} failed with exit code {code} matching {action} "
                            f"rule at index {i}")
        if _conditions_match(rule, pod):
            return action, (f"Pod {md.get('namespace')}/{md.get('name')} has condition "
                            f"matching {action} rule at index {i}")
    return "Count", ""
