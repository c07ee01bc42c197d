"""How every control-plane process starts and ends: exit codes and expected errors."""

from __future__ import annotations

import argparse
import logging

import pytest

from kboot.controlplane.client.component import (
    add_common_flags,
    log_level,
    parse_duration,
    run_process,
)
from kboot.controlplane.kubelet.tlsbootstrap import BootstrapError


def test_the_result_of_main_is_the_exit_code() -> None:
    async def three() -> int:
        return 3

    async def nothing() -> None:
        return None

    assert run_process("t", "INFO", three) == 3
    assert run_process("t", "INFO", nothing) == 0


def test_an_expected_error_is_one_log_line_and_exit_1(caplog: pytest.LogCaptureFixture) -> None:
    async def denied() -> None:
        raise BootstrapError("certificate signing request denied")

    with caplog.at_level(logging.ERROR):
        assert run_process("kboot-kubelet", "INFO", denied) == 1
    assert "kboot-kubelet: certificate signing request denied" in caplog.text


def test_a_bug_keeps_its_traceback() -> None:
    async def bug() -> None:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        run_process("t", "INFO", bug)


@pytest.mark.parametrize(("argv", "expected"), [
    ([], "INFO"), (["--v", "DEBUG"], "DEBUG"), (["--log-level", "warning"], "warning"),
    (["-v"], "DEBUG"), (["--verbose"], "DEBUG"),
])
def test_log_flags(argv: list[str], expected: str) -> None:
    parser = argparse.ArgumentParser()
    add_common_flags(parser, leader_elect=False, verbose=True)
    assert log_level(parser.parse_args(["--kubeconfig", "k", *argv])) == expected


def test_durations() -> None:
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("500ms") == 0.5
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("5 minutes")
