"""playbooks/capacity_report.yml on the hosts under test: a Markdown report with every host's sizes,
the database connection budget, no consistency problems and the growth plan."""
from __future__ import annotations

import re

import pytest


def test_capacity_report(lab, tmp_path):
    path = tmp_path / "capacity.md"
    res = lab.playbook("playbooks/capacity_report.yml", "-e", f"capacity_report_path={path}")
    assert res.returncode == 0, res.stdout[-3000:]
    report = path.read_text()
    for name in lab.names:
        assert re.search(rf"^\| {re.escape(name)} \|", report, re.M), f"{name} missing from the report"
    assert "## Growth plan" in report and "| year 5 | 2250 |" in report
    assert "None: every host fits its services" in report
    if lab.hosts_in("db"):
        assert "**`max_connections`**" in report


def test_every_host_budget_fits_its_ram(lab):
    """What the roles were sized with: each host's parts never sum past its RAM minus the OS reserve
    (an all-in-one host splits its RAM between every service)."""
    sized = [n for n in lab.names if "lmsops_memory_mb" in lab.hostvars[n] and "lmsops_cpus" in lab.hostvars[n]]
    if not sized:
        pytest.skip("no host of this inventory declares lmsops_memory_mb and lmsops_cpus")
    for name in sized:
        ram = int(lab.hostvars[name]["lmsops_memory_mb"])
        plan = lab.capacity_plan(name)
        b = plan["budget"]
        parts = (b["other_mb"], b["workers_mb"], b["php_fpm_mb"], b["mysql_mb"], b["redis_mb"])
        assert all(p >= 0 for p in parts), (name, b)
        assert sum(parts) <= ram - b["reserve_mb"], (name, b)
        assert sum(parts) + b["free_mb"] == b["usable_mb"] == ram - b["reserve_mb"], (name, b)
