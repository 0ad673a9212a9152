"""Bad input is refused before any host changes: site.yml run for real with one bad value at a time."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BAD_INPUT = [
    # (extra vars, the variable the message must name, what the message must say is allowed)
    ({"firewall_ssh_allow_cidrs": ["10.0.0.0/33"]}, "firewall_ssh_allow_cidrs", "CIDR"),
    ({"ssh_max_auth_tries": "three"}, "ssh_max_auth_tries", "int"),
    ({"ssh_port": 70000}, "ssh_port", "65535"),
    ({"ssh_permit_root_login": "nope"}, "ssh_permit_root_login", "prohibit-password"),
    ({"fail2ban_ignoreip": ["127.0.0.1/8", "not-an-address"]}, "fail2ban_ignoreip", "not-an-address"),
    ({"common_unattended_reboot_time": "25:99"}, "common_unattended_reboot_time", "HH:MM"),
    ({"lmsops_memory_mb": "lots"}, "lmsops_memory_mb", "positive whole numbers"),
    # The fleet as a whole: the PHP and queue workers could open more connections than the database takes.
    ({"mysql_max_connections": 5}, "max_connections 5", "below the"),
]


def _site(extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    mol_inv = os.environ.get("MOLECULE_INVENTORY_FILE")
    if mol_inv:
        inventory = str(Path(mol_inv).parent)
        env["ANSIBLE_CONFIG"] = str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ansible.cfg")
    else:
        inventory = os.environ.get("LMSOPS_TEST_INVENTORY", str(ROOT / "inventories" / "lab" / "hosts.yml"))
        env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".collections"))
    exe = ROOT / ".venv" / "bin" / "ansible-playbook"
    return subprocess.run(
        [str(exe), "-i", inventory, str(ROOT / "playbooks" / "site.yml"), "-e", json.dumps(extra)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )


def _failures(report: dict) -> list[str]:
    """The messages of every failed task result, per host."""
    msgs = []
    for play in report["plays"]:
        for task in play["tasks"]:
            for res in task["hosts"].values():
                if not res.get("failed"):
                    continue
                items = [r for r in res.get("results", []) if r.get("failed")]
                msgs.extend(str(r.get("msg", "")) for r in items or [res])
    return msgs


@pytest.mark.parametrize(("extra", "variable", "allowed"), BAD_INPUT, ids=[b[1].split()[0] for b in BAD_INPUT])
def test_bad_input_fails_before_any_change(extra: dict, variable: str, allowed: str) -> None:
    res = _site(extra)
    assert res.returncode != 0, f"site.yml accepted {extra}:\n{res.stdout[-3000:]}"
    report = json.loads(res.stdout[res.stdout.index("{"):])
    msgs = _failures(report)
    assert msgs, "site.yml failed without a failed task"
    assert all(variable in m for m in msgs), f"a failure does not name {variable}: {msgs}"
    assert all(allowed in m for m in msgs), f"a failure does not say what is allowed ({allowed!r}): {msgs}"
    changed = {h: s["changed"] for h, s in report["stats"].items()}
    assert changed and not any(changed.values()), f"a host changed: {changed}"
