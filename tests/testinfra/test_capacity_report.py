"""playbooks/capacity_report.yml on the hosts under test: a Markdown report with every host's sizes,
the database connection budget, no consistency problems and the growth plan."""
from __future__ import annotations

import re


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
