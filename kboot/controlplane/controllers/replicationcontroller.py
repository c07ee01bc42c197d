"""ReplicationController: the ReplicaSet controller on ``replicationcontrollers``.

Upstream runs the very same code for both (its ReplicationManager wraps the ReplicaSet
controller); the selector difference does not reach the controller, which finds its pods by
owner reference, and the status has the same fields.
"""

from __future__ import annotations

from kboot.controlplane.controllers.replicaset import ReplicaSetController


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    plural = "replicationcontrollers"
    owner_kind = "ReplicationController"
