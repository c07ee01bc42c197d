"""Shared fixtures live in tests/fixtures/, one module per real part.

Property tests run under one Hypothesis profile: no per-example deadline and no "input generation
is slow" health check, because the suite runs on loaded 2-core machines (CI, several checkouts)
where wall time says nothing about the code; the properties themselves are unchanged.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("kboot", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile("kboot")

pytest_plugins = [
    "tests.fixtures.sshd",
    "tests.fixtures.lab",
    "tests.fixtures.etcd",
    "tests.fixtures.apiserver",
    "tests.fixtures.phases",
]
