"""The scheduler: pending pods in a backoff queue, filter and score plugins over an in-memory
snapshot of nodes and assigned pods, and assume-then-bind through ``pods/binding``."""
