"""Each role's preflight checks its input in one assert (docs/DEVELOPING.md).

site.yml runs every role's preflight on every host; every task and loop item there costs every host a
worker, so the checks are one list asserted once (lmsops.stack.failed_checks), not a task per check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "preflight.yml").is_file())
# capacity sizes every host, then checks the fleet with those sizes: its asserts sit between the
# set_facts that compute what the next one checks.
SEVERAL = {"capacity": 3}


def _tasks(role: str, name: str) -> list[dict]:
    """The tasks of tasks/<name>, with those of the files it includes or imports (set_vars.yml aside)."""
    with (ROOT / "roles" / role / "tasks" / name).open(encoding="utf-8") as handle:
        tasks = yaml.safe_load(handle) or []
    out = []
    for task in tasks:
        out.append(task)
        for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks"):
            if key in task and task[key] != "set_vars.yml":
                out.extend(_tasks(role, task[key]))
    return out


@pytest.mark.parametrize("role", ROLES)
def test_one_assert_without_loops(role):
    tasks = _tasks(role, "preflight.yml")
    asserts = [t for t in tasks if "ansible.builtin.assert" in t]
    assert len(asserts) == SEVERAL.get(role, 1), (
        f"roles/{role}: tasks/preflight.yml runs {len(asserts)} asserts; put the checks in one list for "
        "lmsops.stack.failed_checks (docs/DEVELOPING.md)")
    looped = [t.get("name") for t in tasks if any(k in t for k in ("loop", "with_items")) and "ansible.builtin.set_fact" not in t]
    assert not looped, f"roles/{role}: looped preflight tasks {looped}; check every item in one template instead"


def test_site_checks_the_exposures_in_one_assert():
    assert len([t for t in _tasks("firewall", "preflight_expose.yml") if "ansible.builtin.assert" in t]) == 1
