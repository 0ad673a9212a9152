"""Integration tests against the hosts of a Molecule scenario or of the lab.

Which hosts: the Molecule scenario's inventory (MOLECULE_INVENTORY_FILE, set by `molecule verify`),
else LMSOPS_TEST_INVENTORY, else the lab inventory. Every check runs as root inside the host through
podman (`podman exec`), the fast path; traffic between hosts goes over the lab network for real.
"""
from __future__ import annotations

import json
import os
import re
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
        if not ephemeral:  # Molecule's inventory names the key; the lab's is in its directory
            lab_dir = Path(os.environ.get("LMSOPS_LAB_DIR", ROOT / ".lab"))
            env.setdefault("ANSIBLE_PRIVATE_KEY_FILE", str(lab_dir / "ssh" / "id_ed25519"))
        if callback:
            env["ANSIBLE_STDOUT_CALLBACK"] = callback
        exe = ROOT / ".venv" / "bin" / "ansible-playbook"
        return subprocess.run(
            [str(exe), "-i", self.source, str(ROOT / playbook), *args],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout,
        )

    def template(self, hosts: list[str], expression: str) -> dict[str, object]:
        """Each host's value of a Jinja expression, templated by Ansible with the inventory (so
        lookups such as the lab's generated passwords resolve); a JSON value is decoded."""
        if not hosts:
            return {}
        exe = ROOT / ".venv" / "bin" / "ansible"
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
        env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".collections"))
        proc = subprocess.run(
            [str(exe) if exe.exists() else "ansible", "-i", self.source, ",".join(hosts),
             "-m", "ansible.builtin.debug", "-a", f"msg={expression}"],
            capture_output=True, text=True, env=env, check=False,
        )
        assert proc.returncode == 0, f"cannot template {expression!r} with ansible:\n" + proc.stderr[-2000:]
        values: dict[str, object] = {}
        for match in re.finditer(r"^(\S+) \| SUCCESS => (\{.*?^\})", proc.stdout, re.MULTILINE | re.DOTALL):
            msg = json.loads(match.group(2))["msg"]
            values[match.group(1)] = json.loads(msg) if isinstance(msg, str) else msg
        return values

    def capacity_plan(self, name: str, extra_groups: tuple[str, ...] = ()) -> dict:
        """lmsops.stack.host_capacity for an inventory host, as the capacity role computes it: RAM and
        CPUs from lmsops_memory_mb/lmsops_cpus, else read on the host as the hardware facts are;
        settings from capacity_settings, else lmsops_capacity_settings."""
        from ansible_collections.lmsops.stack.plugins.module_utils import _capacity

        hv = self.hostvars[name]
        ram, cpus = hv.get("lmsops_memory_mb"), hv.get("lmsops_cpus")
        if ram is None:  # ansible's memtotal_mb
            ram = int(self.get_host(name).check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
        if cpus is None:  # ansible's processor_vcpus
            cpus = int(self.get_host(name).check_output("grep -c ^processor /proc/cpuinfo"))
        settings = hv.get("capacity_settings") or hv.get("lmsops_capacity_settings") or {}
        groups = sorted(set(self.groups_of(name)) | set(extra_groups))
        return _capacity.host_capacity(int(ram), int(cpus), groups, settings)

    @cached_property
    def names(self) -> list[str]:
        return sorted(self.hostvars)

    @staticmethod
    def recap(stdout: str) -> dict[str, dict[str, int]]:
        """The PLAY RECAP counters per host of a playbook's output."""
        recap = {}
        for match in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout, re.M):
            recap[match.group(1)] = {"ok": int(match.group(2)), "changed": int(match.group(3)),
                                     "unreachable": int(match.group(4)), "failed": int(match.group(5))}
        return recap

    def hosts_in(self, group: str) -> list[str]:
        return self._groups.get(group, [])

    def hosts_or_skip(self, *groups: str) -> list[str]:
        """The hosts of any of these groups (sorted); the test is skipped when there are none."""
        hosts = sorted({h for g in groups for h in self.hosts_in(g)})
        if not hosts:
            pytest.skip(f"no {' or '.join(groups)} host in this inventory")
        return hosts

    def assert_service_up(self, name: str, unit: str) -> None:
        """The unit runs on the host and is enabled, so it comes back after a reboot."""
        service = self.get_host(name).service(unit)
        assert service.is_running, f"{unit} is not running on {name}"
        assert service.is_enabled, f"{unit} would not come back after a reboot of {name}"

    def literal(self, name: str, var: str, default=None):
        """An inventory value of the host when it is a plain value (not a Jinja expression), else default."""
        value = self.hostvars[name].get(var, default)
        if isinstance(value, str) and "{{" in value:
            return default
        return value

    def groups_of(self, name: str) -> list[str]:
        return sorted(g for g, members in self._groups.items() if name in members)

    def address(self, name: str) -> str:
        return self.hostvars[name].get("ansible_host", name)

    def private_address(self, name: str) -> str:
        """The host's private address as the roles read it: lmsops_private_address, else its inventory address."""
        return self.literal(name, "lmsops_private_address") or self.address(name)

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
