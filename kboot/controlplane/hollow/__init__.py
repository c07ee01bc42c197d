"""Simulated kubelets (like kwok/kubemark): many Nodes in one process, no containers.

See :mod:`.cluster` for what a hollow node does and :mod:`.pods` for how pods behave."""
