"""Passwords come from environment variables or one prompt per question, and never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from kboot.errors import ConfigError
from kboot.inventory import load_inventory, resolve_secrets

INV = """
connection: {user: deploy, become_password_prompt: true}
hosts:
  a: {password_env: KBOOT_T_PW}
  b: {}
  c: {user: other}
  d: {user: root, become_password_prompt: false}
"""


def test_env_and_prompt_once_per_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    (tmp_path / "i.yaml").write_text(INV)
    inv = load_inventory(tmp_path / "i.yaml")
    monkeypatch.setenv("KBOOT_T_PW", "ssh-secret")
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return f"answer-{len(asked)}"

    secrets = resolve_secrets(inv, prompt=prompt)
    assert asked == ["sudo password for deploy: ", "sudo password for other: "]
    assert secrets["a"].password == "ssh-secret"
    assert secrets["a"].become_password == secrets["b"].become_password == "answer-1"
    assert secrets["c"].become_password == "answer-2"
    assert secrets["d"].password is None and secrets["d"].become_password is None
    shown = repr(secrets) + repr(secrets["a"]) + repr(dict(secrets))
    assert "ssh-secret" not in shown and "answer-1" not in shown
    assert "***" in repr(secrets["a"])


def test_missing_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "i.yaml").write_text("hosts:\n  a: {password_env: KBOOT_T_UNSET}\n")
    monkeypatch.delenv("KBOOT_T_UNSET", raising=False)
    with pytest.raises(ConfigError, match="KBOOT_T_UNSET is not set"):
        resolve_secrets(load_inventory(tmp_path / "i.yaml"), prompt=lambda q: "")
