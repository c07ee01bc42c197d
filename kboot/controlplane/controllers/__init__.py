"""The controller-manager: one level-triggered reconciler per kind over shared informers.

Each controller registers informer handlers that only enqueue keys, and a
``reconcile(key) -> Result`` that reads current state from the caches, converges it through
the API, and lets errors percolate to the workqueue (which retries with backoff).
"""
