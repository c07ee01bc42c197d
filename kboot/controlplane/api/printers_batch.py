"""Table printers for CronJob and PriorityClass, with upstream's columns
(``kubectl get cronjob``: schedule, time zone, suspend, active, last schedule)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kboot.controlplane.api.printers_base import (
    AGE,
    NAME,
    Obj,
    Printer,
    age,
    column,
    containers_and_images,
    selector_text,
    since,
    sub,
)


def _cronjob_cells(cj: Obj, now: datetime) -> list[Any]:
    active = sub(cj, "status", "active")
    last = sub(cj, "status", "lastScheduleTime")
    return [str(sub(cj, "spec", "schedule") or ""), str(sub(cj, "spec", "timeZone") or "<none>"),
            "True" if sub(cj, "spec", "suspend") else "False",
            len(active) if isinstance(active, list) else 0,
            since(last, now) if last else "<none>", age(cj, now),
            *containers_and_images(sub(cj, "spec", "jobTemplate", "spec", "template", "spec")),
            selector_text(sub(cj, "spec", "jobTemplate", "spec", "selector"))]


CRONJOB = Printer(
    (NAME, column("Schedule", description="The schedule in Cron format."),
     column("Timezone", description="The time zone name for the given schedule."),
     column("Suspend", "boolean", "Whether subsequent executions are suspended."),
     column("Active", "integer", "Number of currently running jobs."),
     column("Last Schedule", description="When the job was last successfully scheduled."), AGE,
     column("Containers", priority=1, description="Names of each container in the template."),
     column("Images", priority=1, description="Images referenced by each container in the "
                                              "template."),
     column("Selector", priority=1, description="Label selector for pods.")),
    _cronjob_cells,
)

PRIORITY_CLASS = Printer(
    (NAME, column("Value", "integer", "The value of this priority class."),
     column("Global-Default", "boolean", "Whether this priority class is the default "
                                         "priority."), AGE,
     column("PreemptionPolicy", description="The policy for preempting pods with lower "
                                            "priority.")),
    lambda pc, now: [pc.get("value", 0), bool(pc.get("globalDefault")), age(pc, now),
                     pc.get("preemptionPolicy") or "PreemptLowerPriority"],
)

BATCH_PRINTERS: dict[str, Printer] = {"CronJob": CRONJOB, "PriorityClass": PRIORITY_CLASS}
