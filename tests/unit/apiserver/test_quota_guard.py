"""ResourceQuota admission without a store read when the quotas watch cache knows no quota in
the namespace: the create is written on condition that the namespace still has none, so a quota
the cache has not seen yet (just created, here or through another apiserver) is still charged."""

from __future__ import annotations

import asyncio

from kboot.controlplane.apiserver.resourcequota import QUOTAS
from tests.unit.apiserver.harness import async_test, running

NS = "/api/v1/namespaces/quoted"


@async_test
async def test_a_quota_the_cache_has_not_seen_is_enforced_on_the_next_create() -> None:
    async with running() as h:
        assert QUOTAS is not None
        await h.json("POST", "/api/v1/namespaces", {"metadata": {"name": "quoted"}}, expect=201)
        quotas = h.state.caches.peek(QUOTAS)
        await asyncio.wait_for(quotas.ready.wait(), 10)
        # freeze the quotas cache: listed (so it is trusted as a hint), never told of new ones
        task = h.state.caches.tasks[(QUOTAS.group, QUOTAS.plural)]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "before"}}, expect=201)
        await h.json("POST", f"{NS}/resourcequotas",
                     {"metadata": {"name": "q"}, "spec": {"hard": {"configmaps": "2"}}},
                     expect=201)
        assert not quotas.objects  # the hint still says "no quota here"
        await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "second"}}, expect=201)
        quota = await h.json("GET", f"{NS}/resourcequotas/q")
        assert quota["status"]["used"] == {"configmaps": "2"}
        refused = await h.json("POST", f"{NS}/configmaps", {"metadata": {"name": "third"}},
                               expect=403)
        assert "exceeded quota: q" in refused["message"], refused
        await h.json("GET", f"{NS}/configmaps/third", expect=404)
        # an existing name is still 409 (not a quota charge) on the guarded path
        await h.json("POST", "/api/v1/namespaces/default/configmaps",
                     {"metadata": {"name": "dup"}}, expect=201)
        await h.json("POST", "/api/v1/namespaces/default/configmaps",
                     {"metadata": {"name": "dup"}}, expect=409)
        quota = await h.json("GET", f"{NS}/resourcequotas/q")
        assert quota["status"]["used"] == {"configmaps": "2"}
