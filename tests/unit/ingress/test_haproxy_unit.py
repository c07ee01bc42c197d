"""Reading haproxy's master CLI ``show proc`` (format of haproxy 2.6, as Debian 12 ships it)."""

from __future__ import annotations

from kboot.controlplane.ingress.haproxy import MasterState, parse_show_proc

SHOW_PROC = """\
#<PID>          <type>          <reloads>       <uptime>        <version>
20708           master          3 [failed: 1]   0d00h00m01s     2.6.12-1+deb12u4
# workers
20719           worker          0               0d00h00m00s     2.6.12-1+deb12u4
# old workers
20711           worker          1               0d00h00m01s     2.6.12-1+deb12u4
# programs

"""


def test_master_line_gives_reloads_failures_and_workers() -> None:
    assert parse_show_proc(SHOW_PROC) == MasterState(reloads=3, failed=1, workers=2)


def test_no_master_line_is_none() -> None:
    assert parse_show_proc("Unknown command.\n") is None
    assert parse_show_proc("") is None
