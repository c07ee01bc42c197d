"""Passwords, resolved at run time and held only in memory: the inventory stores environment
variable *names* and prompt flags, never passwords. ``repr`` masks them; nothing logs them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from kboot.errors import ConfigError
from kboot.inventory.model import Host, Inventory


@dataclass(frozen=True)
class HostSecrets:
    """A host's SSH and become (sudo) passwords; ``None`` when not configured."""

    password: str | None = field(default=None, repr=False)
    become_password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        def shown(v: str | None) -> str:
            return "None" if v is None else "'***'"

        return f"HostSecrets(password={shown(self.password)}, " \
               f"become_password={shown(self.become_password)})"


class Secrets(Mapping[str, HostSecrets]):
    """host name → :class:`HostSecrets` (hosts without any password map to empty secrets)."""

    def __init__(self, by_host: Mapping[str, HostSecrets]) -> None:
        self._by_host = dict(by_host)

    def __getitem__(self, host: str) -> HostSecrets:
        return self._by_host[host]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_host)

    def __len__(self) -> int:
        return len(self._by_host)

    def __repr__(self) -> str:
        return f"Secrets(<{len(self)} hosts, masked>)"


def _one(host: Host, env_name: str | None, prompt_flag: bool, question: str,
         prompt: Callable[[str], str], asked: dict[str, str]) -> str | None:
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise ConfigError(f"environment variable {env_name} is not set",
                              field=f"hosts.{host.name}")
        return value
    if prompt_flag:
        if question not in asked:
            asked[question] = prompt(question)
        return asked[question]
    return None


def resolve_secrets(inventory: Inventory, *, prompt: Callable[[str], str]) -> Secrets:
    """Read every host's passwords from the environment, or ask ``prompt`` once per distinct
    question (one question per user, e.g. ``"SSH password for deploy: "``)."""
    asked: dict[str, str] = {}
    found: dict[str, HostSecrets] = {}
    for name, host in inventory.hosts.items():
        c = host.connection
        found[name] = HostSecrets(
            password=_one(host, c.password_env, c.password_prompt,
                          f"SSH password for {c.user}: ", prompt, asked),
            become_password=_one(host, c.become_password_env, c.become_password_prompt,
                                 f"sudo password for {c.user}: ", prompt, asked),
        )
    return Secrets(found)
