"""playbooks/health.yml on the converged hosts: a summary table, exit 0 when healthy, and a non-zero
exit naming the host and the check when a service is down (Redis stopped on a cache host)."""
from __future__ import annotations

import json

import pytest


def _health(lab) -> tuple[int, list[str], list[str]]:
    """Exit code, the summary table's lines and the failure messages of one health.yml run."""
    res = lab.playbook("playbooks/health.yml", callback="ansible.posix.json")
    report = json.loads(res.stdout[res.stdout.index("{"):])
    table, failures = [], []
    for play in report["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                if task["task"]["name"] == "Print the health of the fleet":
                    table = result.get("msg", [])
                if result.get("failed"):
                    failures.append(str(result.get("msg", "")))
    return res.returncode, table, failures


def test_healthy_fleet_prints_the_summary_and_passes(lab):
    rc, table, failures = _health(lab)
    assert rc == 0, f"health.yml failed on a healthy fleet: {failures}\n" + "\n".join(table)
    assert table[0].split("|")[0].strip() == "host" and "threshold" in table[0]
    hosts_in_table = {line.split("|")[0].strip() for line in table[2:] if "|" in line}
    assert set(lab.names) <= hosts_in_table


@pytest.mark.parametrize("unit", ["redis-server"])
def test_stopped_redis_makes_it_fail_naming_host_and_check(lab, unit):
    caches = lab.hosts_in("cache")
    if not caches:
        pytest.skip("no cache host in this inventory")
    name = caches[0]
    host = lab.get_host(name)
    host.run(f"systemctl stop {unit}")
    try:
        rc, table, failures = _health(lab)
    finally:
        host.run(f"systemctl start {unit}")
    assert rc != 0, "health.yml passed with Redis stopped"
    message = " ".join(failures)
    assert name in message, message
    assert "redis" in message.lower(), message
    assert any(name in line and "critical" in line for line in table), table
    assert host.service(unit).is_running
