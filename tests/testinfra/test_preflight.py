"""Bad input is refused before any host changes: site.yml run for real with one bad value at a time."""
from __future__ import annotations

import json

import pytest

BAD_INPUT = [
    # (extra vars, the variable the message must name, what the message must say is allowed)
    ({"firewall_ssh_allow_cidrs": ["10.0.0.0/33"]}, "firewall_ssh_allow_cidrs", "CIDR"),
    ({"ssh_max_auth_tries": "three"}, "ssh_max_auth_tries", "int"),
    ({"ssh_port": 70000}, "ssh_port", "65535"),
    ({"ssh_permit_root_login": "nope"}, "ssh_permit_root_login", "prohibit-password"),
    ({"fail2ban_ignoreip": ["127.0.0.1/8", "not-an-address"]}, "fail2ban_ignoreip", "not-an-address"),
    ({"common_unattended_reboot_time": "25:99"}, "common_unattended_reboot_time", "HH:MM"),
    ({"lmsops_memory_mb": "lots"}, "lmsops_memory_mb", "positive whole numbers"),
    ({"syslog_forward_selector": "*.info;mail.infoo"}, "syslog_forward_selector", "priorities"),
    # Two exposures by one name would own each other's ufw rules.
    (
        {"firewall_expose": [{"name": "dup", "port": 8001, "from_cidrs": ["10.0.0.0/8"]},
                             {"name": "dup", "port": 8002, "from_cidrs": ["10.0.0.0/8"]}]},
        "firewall_expose",
        "repeated: dup",
    ),
    # The fleet as a whole: the PHP and queue workers could open more connections than the database takes.
    ({"mysql_max_connections": 5}, "max_connections 5", "below the"),
]


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
def test_bad_input_fails_before_any_change(lab, extra: dict, variable: str, allowed: str) -> None:
    res = lab.playbook("playbooks/site.yml", "-e", json.dumps(extra), callback="ansible.posix.json")
    assert res.returncode != 0, f"site.yml accepted {extra}:\n{res.stdout[-3000:]}"
    report = json.loads(res.stdout[res.stdout.index("{"):])
    msgs = _failures(report)
    assert msgs, "site.yml failed without a failed task"
    assert all(variable in m for m in msgs), f"a failure does not name {variable}: {msgs}"
    assert all(allowed in m for m in msgs), f"a failure does not say what is allowed ({allowed!r}): {msgs}"
    changed = {h: s["changed"] for h, s in report["stats"].items()}
    assert changed and not any(changed.values()), f"a host changed: {changed}"
