"""The exec request line: shell wrapping, env exports, sudo with and without a password."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from kboot.transport.channel import SCRIPT_SHELL, Sudo, shell_line


def test_plain_command_runs_through_sh() -> None:
    line = shell_line("echo \"$X\" 'q'", env={"X": "a b'c"}, sudo=None)
    out = subprocess.run(line, shell=True, capture_output=True, text=True, check=True).stdout
    assert out == "a b'c q\n"


def test_sudo_with_password_reads_stdin_and_marks_ready() -> None:
    line = shell_line("id -u", env=None, sudo=Sudo("[P]", "[R]", password="pw"))
    argv = shlex.split(line)
    assert argv[:6] == ["sudo", "-S", "-p", "[P]", "-H", "--"]
    assert argv[6:8] == ["/bin/sh", "-c"]
    assert argv[8].startswith("printf '%s' '[R]' >&2; ")
    assert argv[8].endswith("id -u")


def test_sudo_without_password_never_prompts() -> None:
    argv = shlex.split(shell_line("true", env={"A": "1"}, sudo=Sudo("[P]", "[R]")))
    assert argv[:3] == ["sudo", "-n", "-H"]
    assert "export A=1; true" in argv[-1]


def test_bad_env_name_rejected() -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        shell_line("true", env={"A B": "1"}, sudo=None)


def test_password_not_in_repr() -> None:
    assert "pw" not in repr(Sudo("[P]", "[R]", password="pw"))


def test_without_stdin_the_command_reads_dev_null() -> None:
    line = shell_line("cat", env=None, sudo=None, stdin=False)
    out = subprocess.run(line, shell=True, capture_output=True, text=True, check=True,
                         input="must not be read").stdout
    assert out == ""
    sudo = shlex.split(shell_line("cat", env=None, sudo=Sudo("[P]", "[R]"), stdin=False))
    assert "exec </dev/null; cat" in sudo[-1]


def _script_pid(line: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``line`` as sshd does (the login shell's ``-c``) with a script on stdin: the pid of
    that login shell, and what the script printed (its own pid, then ``$A``)."""
    proc = subprocess.Popen(["bash", "-c", line], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env)
    out, _ = proc.communicate(b'echo "$$ $A"\n')
    return proc.pid, out.decode()


def test_script_shell_goes_unwrapped() -> None:
    assert shell_line(SCRIPT_SHELL, env=None, sudo=None) == "/bin/sh -s"
    pid, out = _script_pid(shell_line(SCRIPT_SHELL, env=None, sudo=None), env={"A": "x"})
    assert out == f"{pid} x\n"  # the login shell exec'd the script's shell: no process between


def test_script_shell_with_exports_is_exec_ed() -> None:
    line = shell_line(SCRIPT_SHELL, env={"A": "a b"}, sudo=None)
    assert line == "/bin/sh -c 'export A='\"'\"'a b'\"'\"'; exec /bin/sh -s'"
    pid, out = _script_pid(line)
    assert out == f"{pid} a b\n"


def test_script_shell_under_sudo_is_exec_ed() -> None:
    argv = shlex.split(shell_line(SCRIPT_SHELL, env=None, sudo=Sudo("[P]", "[R]")))
    assert argv[-1] == "printf '%s' '[R]' >&2; exec /bin/sh -s"
    argv = shlex.split(shell_line(SCRIPT_SHELL, env={"A": "1"}, sudo=Sudo("[P]", "[R]")))
    assert argv[-1].endswith("; export A=1; exec /bin/sh -s")


def test_script_shell_without_stdin_still_reads_dev_null() -> None:
    line = shell_line(SCRIPT_SHELL, env=None, sudo=None, stdin=False)
    assert line == "/bin/sh -c 'exec </dev/null; exec /bin/sh -s'"


def test_other_commands_keep_their_wrapper() -> None:
    assert shell_line("/bin/sh -s -x", env=None, sudo=None) == "/bin/sh -c '/bin/sh -s -x'"
