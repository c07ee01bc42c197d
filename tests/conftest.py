"""Shared fixtures live in tests/fixtures/, one module per real part."""

pytest_plugins = [
    "tests.fixtures.sshd",
    "tests.fixtures.lab",
    "tests.fixtures.etcd",
    "tests.fixtures.apiserver",
    "tests.fixtures.phases",
]
