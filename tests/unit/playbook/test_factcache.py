"""The fact cache as data: what it keeps after gathering, predictions, touched paths, opaque
commands and failed guards — values, digests and verified state changing together."""

from __future__ import annotations

import pytest

from kboot.facts.base import FactError
from kboot.facts.batch import expectation
from kboot.facts.files import (
    ABSENT_FILE,
    file_content,
    file_stat,
    identity,
    predicted_content,
    predicted_stat,
)
from kboot.playbook.factcache import FactCache

CONF, OTHER = file_stat("/etc/app/app.conf"), file_stat("/etc/other")
CONTENT = file_content("/etc/app/app.conf")
WHO = identity(False)
HELLO = predicted_stat(5, "ab" * 32, mode=0o644, owner="root", group="root")


def gathered() -> FactCache:
    cache = FactCache()
    cache.gathered([CONF, OTHER, CONTENT, WHO],
                   {CONF.key: "ABSENT", OTHER.key: HELLO, CONTENT.key: "ABSENT",
                    WHO.key: "deploy\ndeploy\n"})
    return cache


def test_gathered_facts_are_cached_verified_with_their_digest() -> None:
    cache = gathered()
    assert cache.value(CONF.key) == ABSENT_FILE
    assert cache.value(WHO.key) == ("deploy", "deploy")
    assert cache.digest(OTHER.key) == expectation(HELLO)
    assert cache.verified(CONF.key) and not cache.doubtful([CONF, OTHER])
    assert cache.values([CONF.key, "file:/nowhere"]) == {CONF.key: ABSENT_FILE}


def test_only_the_named_keys_are_cached_but_every_value_is_returned() -> None:
    cache = FactCache()
    values = cache.gathered([CONF, OTHER], {CONF.key: "ABSENT", OTHER.key: "ABSENT"},
                            cache={OTHER.key})
    assert set(values) == {CONF.key, OTHER.key}
    assert CONF.key not in cache and OTHER.key in cache


def test_an_unparsable_output_caches_nothing() -> None:
    cache = FactCache()
    with pytest.raises(FactError):
        cache.gathered([WHO, CONF], {WHO.key: "deploy\ndeploy\n", CONF.key: "garbage"})
    assert len(cache) == 0


def test_missing_lists_uncached_facts_once_in_order() -> None:
    cache = gathered()
    later = file_stat("/etc/later")
    assert cache.missing([later, CONF, later, CONTENT]) == [later]


def test_a_prediction_is_unverified_until_a_guard_reads_the_fact() -> None:
    cache = gathered()
    cache.remember(CONTENT, predicted_content(b"x=1\n"), verified=False)
    assert cache.value(CONTENT.key) == b"x=1\n"
    assert cache.doubtful([CONTENT]) and not cache.verified(CONTENT.key)
    assert cache.digest(CONTENT.key) == expectation(predicted_content(b"x=1\n"))
    cache.learn([CONTENT, CONF], {CONTENT.key: predicted_content(b"x=2\n")})
    assert cache.value(CONTENT.key) == b"x=2\n" and cache.verified(CONTENT.key)
    assert cache.value(CONF.key) == ABSENT_FILE  # not printed by the guard: unchanged


def test_a_touched_path_drops_exactly_its_stale_facts() -> None:
    cache = gathered()
    cache.remember(CONTENT, predicted_content(b"x"), verified=False)
    cache.touched("/etc/app/app.conf")
    assert CONF.key not in cache and CONTENT.key not in cache
    assert OTHER.key in cache and WHO.key in cache
    assert not cache.doubtful([CONTENT])  # dropped, not left doubted
    cache.touched("/etc/**")
    assert OTHER.key not in cache and WHO.key in cache


def test_doubting_keeps_values_but_not_their_trust_except_identities() -> None:
    cache = gathered()
    cache.doubt_all()
    assert cache.value(CONF.key) == ABSENT_FILE and not cache.verified(CONF.key)
    assert cache.doubtful([OTHER]) and cache.verified(WHO.key)


def test_forgetting_drops_every_fact_and_doubt() -> None:
    cache = gathered()
    cache.doubt_all()
    cache.forget_all()
    assert len(cache) == 0 and cache.missing([CONF]) == [CONF] and not cache.doubtful([CONF])
