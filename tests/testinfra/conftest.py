"""Integration tests against the hosts of a Molecule scenario or of the lab.

Which hosts: the Molecule scenario's inventory (MOLECULE_INVENTORY_FILE, set by `molecule verify`),
else LMSOPS_TEST_INVENTORY, else the lab inventory. Every check runs as root inside the host through
podman (`podman exec`), the fast path; traffic between hosts goes over the lab network for real.
"""
from __future__ import annotations

import json
import os
import subprocess
from functools import cached_property
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[2]


def _inventory_source() -> str:
    mol = os.environ.get("MOLECULE_INVENTORY_FILE")
    if mol:
        return str(Path(mol).parent)  # the directory: generated hosts plus linked group_vars
    return os.environ.get("LMSOPS_TEST_INVENTORY", str(ROOT / "inventories" / "lab" / "hosts.yml"))


class Lab:
    """The hosts under test, their groups and their addresses, read from the inventory once."""

    def __init__(self, source: str) -> None:
        self.source = source
        env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
        exe = ROOT / ".venv" / "bin" / "ansible-inventory"
        out = subprocess.run(
            [str(exe) if exe.exists() else "ansible-inventory", "-i", source, "--list"],
            check=True, capture_output=True, text=True, env=env,
        ).stdout
        data = json.loads(out)
        self.hostvars: dict[str, dict] = data["_meta"]["hostvars"]
        self._groups: dict[str, list[str]] = {}
        for group, body in data.items():
            if group in ("_meta", "all") or not isinstance(body, dict):
                continue
            self._groups[group] = sorted(body.get("hosts", []))
        self._hosts: dict[str, testinfra.host.Host] = {}

    def playbook(self, playbook: str, *args: str, callback: str | None = None,
                 timeout: int = 900) -> subprocess.CompletedProcess:
        """Run a playbook of this repository against the hosts under test, with the configuration
        they were converged with (Molecule's generated ansible.cfg, else the repository's)."""
        env = dict(os.environ, ANSIBLE_NOCOLOR="1")
        ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
        env["ANSIBLE_CONFIG"] = str(Path(ephemeral) / "ansible.cfg") if ephemeral else str(ROOT / "ansible.cfg")
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".collections"))
        if callback:
            env["ANSIBLE_STDOUT_CALLBACK"] = callback
        exe = ROOT / ".venv" / "bin" / "ansible-playbook"
        return subprocess.run(
            [str(exe), "-i", self.source, str(ROOT / playbook), *args],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout,
        )

    @cached_property
    def names(self) -> list[str]:
        return sorted(self.hostvars)

    def hosts_in(self, group: str) -> list[str]:
        return self._groups.get(group, [])

    def groups_of(self, name: str) -> list[str]:
        return sorted(g for g, members in self._groups.items() if name in members)

    def address(self, name: str) -> str:
        return self.hostvars[name].get("ansible_host", name)

    def get_host(self, name: str) -> testinfra.host.Host:
        if name not in self._hosts:
            self._hosts[name] = testinfra.get_host(f"podman://{name}")
        return self._hosts[name]

    def name_of(self, host: testinfra.host.Host) -> str:
        """The inventory name of a testinfra host (the container name is the inventory name)."""
        return host.backend.get_hostname()

    def outside(self, *groups: str) -> list[str]:
        """Hosts in none of the given groups."""
        return [n for n in self.names if not set(self.groups_of(n)) & set(groups)]


_LAB: Lab | None = None


def _lab() -> Lab:
    global _LAB
    if _LAB is None:
        _LAB = Lab(_inventory_source())
    return _LAB


def pytest_configure(config: pytest.Config) -> None:
    # One `host` per inventory host, reached through podman whatever --connection Molecule passed.
    if getattr(config.option, "hosts", None) is None and hasattr(config.option, "connection"):
        config.option.hosts = ",".join(f"podman://{n}" for n in _lab().names)


@pytest.fixture(scope="session")
def lab() -> Lab:
    return _lab()


@pytest.fixture()
def groups(host, lab: Lab) -> list[str]:
    """The inventory groups of the host under test."""
    return lab.groups_of(lab.name_of(host))
