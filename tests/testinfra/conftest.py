"""Integration tests against the hosts of a Molecule scenario or of the lab.

Which hosts: the Molecule scenario's inventory (MOLECULE_INVENTORY_FILE, set by `molecule verify`),
else LMSOPS_TEST_INVENTORY, else the lab inventory. Every check runs as root on the host the way an
operator reaches it: over SSH as the inventory's admin user (its key, one multiplexed connection per
host) and sudo. That costs a few hundredths of a second per command, where a `podman exec` costs a few
tenths. LMSOPS_TEST_TRANSPORT=podman runs the checks through `podman exec` instead (for a host whose
SSH is broken). Traffic between hosts goes over the lab network for real.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path

import pytest
import testinfra
import testinfra.backend
from testinfra.backend.ssh import SshBackend

ROOT = Path(__file__).resolve().parents[2]


TRANSPORTS = ("ssh", "podman")
# Written by the remote shell to stderr after the command, with the command's exit status.
_STATUS_MARK = b"__lmsops_exit_status="


class StatusSshBackend(SshBackend):
    """testinfra's ssh backend, told apart from the command it runs: ssh itself exits 255 when it cannot
    connect, and so does an `ssh` the command runs on the host (the tests run some that must fail).
    The remote shell appends the command's exit status to stderr, so the command may exit with any
    status and a missing status means the connection failed."""

    NAME = "lmsops-ssh"

    def run(self, command: str, *args: str, **kwargs) -> testinfra.backend.base.CommandResult:
        cmd = self.get_command(command, *args)
        out = self.run_ssh(f"{cmd}; echo {_STATUS_MARK.decode()}$? >&2")
        stderr, mark, status = out.stderr_bytes.rpartition(_STATUS_MARK)
        if not mark or not status.strip().isdigit():
            raise RuntimeError(f"no exit status from {self.host.name} (the connection failed?): {out}")
        return self.result(int(status.strip()), self.encode(cmd), out.stdout_bytes, stderr)


testinfra.backend.BACKENDS[StatusSshBackend.NAME] = f"{__name__}.{StatusSshBackend.__name__}"


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
        self.transport = os.environ.get("LMSOPS_TEST_TRANSPORT", "ssh")
        if self.transport not in TRANSPORTS:
            raise pytest.UsageError(f"LMSOPS_TEST_TRANSPORT must be one of {', '.join(TRANSPORTS)}, "
                                    f"not {self.transport!r}")

    @cached_property
    def ssh_config(self) -> str:
        """An ssh_config for the hosts under test, as the inventory reaches them (address, port, admin
        user, key), with one persistent connection per host; in a private directory removed at exit."""
        directory = tempfile.mkdtemp(prefix="lmsops-ssh-")
        default_key = Path(os.environ.get("LMSOPS_LAB_DIR", ROOT / ".lab")) / "ssh" / "id_ed25519"
        lines = ["Host *", "  UserKnownHostsFile /dev/null", "  StrictHostKeyChecking no", "  LogLevel ERROR",
                 "  BatchMode yes", "  IdentitiesOnly yes", "  ServerAliveInterval 30",
                 "  ControlMaster auto", "  ControlPersist 120", f"  ControlPath {directory}/%C"]
        for name in self.names:
            user = self.literal(name, "ansible_user") or self.literal(name, "ansible_ssh_user")
            if not user:
                raise pytest.UsageError(f"{name}: no ansible_user in the inventory; the tests log in as it")
            key = (self.literal(name, "ansible_ssh_private_key_file")
                   or self.literal(name, "ansible_private_key_file") or default_key)
            port = self.literal(name, "ansible_port") or self.literal(name, "ansible_ssh_port") or 22
            lines += [f"Host {name}", f"  HostName {self.address(name)}", f"  Port {port}",
                      f"  User {user}", f"  IdentityFile {key}"]
        path = Path(directory) / "ssh_config"
        path.write_text("\n".join(lines) + "\n")

        def close() -> None:
            for name in self.names:
                subprocess.run(["ssh", "-F", str(path), "-O", "exit", name], capture_output=True, check=False)
            shutil.rmtree(directory, ignore_errors=True)

        atexit.register(close)
        return str(path)

    def host_spec(self, name: str) -> str:
        """The testinfra host spec of an inventory host in this transport."""
        return f"{StatusSshBackend.NAME}://{name}" if self.transport == "ssh" else f"podman://{name}"

    def pipe(self, name: str, argv: list[str], input: str | bytes, timeout: int = 60) -> subprocess.CompletedProcess:
        """Run argv as root on the host with `input` on its stdin (for what must not be in a command line,
        such as passwords, or is too long for one); text in and out when `input` is a str."""
        if self.transport == "ssh":
            cmd = ["ssh", "-F", self.ssh_config, name, "sudo -- " + shlex.join(argv)]
        else:
            cmd = ["podman", "exec", "-i", name, *argv]
        return subprocess.run(cmd, input=input, capture_output=True, text=isinstance(input, str),
                              timeout=timeout, check=False)

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
            kwargs = {"ssh_config": self.ssh_config, "sudo": True} if self.transport == "ssh" else {}
            self._hosts[name] = testinfra.get_host(self.host_spec(name), **kwargs)
        return self._hosts[name]

    def name_of(self, host: testinfra.host.Host) -> str:
        """The inventory name of a testinfra host (the ssh_config alias, or the container's name, is the
        inventory name)."""
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
    # One `host` per inventory host, reached as Lab.get_host reaches it, whatever --connection Molecule passed.
    if getattr(config.option, "hosts", None) is None and hasattr(config.option, "connection"):
        lab = _lab()
        config.option.hosts = ",".join(lab.host_spec(n) for n in lab.names)
        if lab.transport == "ssh":
            config.option.ssh_config = lab.ssh_config
            config.option.sudo = True


@pytest.fixture(scope="session")
def lab() -> Lab:
    return _lab()


@pytest.fixture()
def groups(host, lab: Lab) -> list[str]:
    """The inventory groups of the host under test."""
    return lab.groups_of(lab.name_of(host))
