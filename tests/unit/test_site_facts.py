"""site.yml gathers only the facts the roles read, and reads only the packages and units they look at.

Every task of a run copies each host's facts once, so site.yml's first play narrows them: the
setup module's filter, and the names and unit patterns each role hands over from its checks. These
tests fail when a role starts reading a fact the filter drops, or looks at units without handing
over their patterns (its service task would then run on every converge).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
# Set by the modules site.yml runs after the setup module (dpkg_facts, systemd_facts).
READ_BY_MODULES = {"packages", "packages_scope", "systemd_units", "systemd_units_scope"}
FACT_REF = re.compile(r"""ansible_facts(?:\[\s*['"](\w+)['"]\s*\]|\.(\w+))""")
PY_FACT_REF = re.compile(r"""facts\.get\(\s*['"](\w+)['"]|facts\[\s*['"](\w+)['"]\s*\]""")


def _first_play() -> dict:
    with (ROOT / "playbooks" / "site.yml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)[0]


def _gathered() -> set[str]:
    names = _first_play()["vars"]["__lmsops_facts"]
    return {n[len("ansible_"):] if n != "ansible_local" else n for n in names}


def _role_files(role: str):
    for sub in ("tasks", "handlers", "templates", "vars", "defaults"):
        yield from sorted((ROOT / "roles" / role / sub).glob("**/*.*"))


def _facts_read(paths) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        pattern = PY_FACT_REF if path.suffix == ".py" else FACT_REF
        for match in pattern.finditer(text):
            found.setdefault(next(g for g in match.groups() if g), set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_gathering_is_filtered():
    setup = [t for t in _first_play()["tasks"] if "ansible.builtin.setup" in t]
    assert len(setup) == 1 and setup[0]["ansible.builtin.setup"]["filter"] == "{{ __lmsops_facts }}"
    assert _first_play()["gather_facts"] is False


@pytest.mark.parametrize("role", ROLES)
def test_role_reads_only_gathered_facts(role):
    read = _facts_read(_role_files(role))
    assert read, f"roles/{role}: no fact read found; the pattern of this test no longer matches the roles"
    missing = {fact: files for fact, files in read.items() if fact not in _gathered() | READ_BY_MODULES}
    assert not missing, (f"roles/{role} reads facts site.yml's setup filter drops: {missing}; add them to "
                         "__lmsops_facts in playbooks/site.yml")


def test_plugins_read_only_gathered_facts():
    paths = sorted((ROOT / "plugins" / "filter").glob("*.py")) + sorted((ROOT / "plugins" / "module_utils").glob("*.py"))
    read = _facts_read(paths)
    missing = {fact: files for fact, files in read.items() if fact not in _gathered() | READ_BY_MODULES}
    assert not missing, f"filters read facts site.yml's setup filter drops: {missing}"


def test_pattern_finds_references():
    """The patterns this file relies on find what they should (so the tests above can fail)."""
    assert FACT_REF.findall("{{ ansible_facts['memtotal_mb'] }} {{ ansible_facts.fqdn }}") == [("memtotal_mb", ""), ("", "fqdn")]
    assert PY_FACT_REF.findall('facts.get("default_ipv4") or facts["distribution"]') == [("default_ipv4", ""), ("", "distribution")]


UNIT_USE = re.compile(r"units_to_change|\['systemd_units'\]")


@pytest.mark.parametrize("role", ROLES)
def test_roles_that_look_at_units_hand_over_their_patterns(role):
    uses = [str(p.relative_to(ROOT)) for p in _role_files(role) if UNIT_USE.search(p.read_text(encoding="utf-8"))]
    if not uses:
        pytest.skip(f"roles/{role} does not look at systemd units")
    preflight = (ROOT / "roles" / role / "tasks" / "preflight.yml").read_text(encoding="utf-8")
    handed = re.search(rf'^    __{role}_unit_patterns: "{{{{ __{role}_unit_patterns }}}}"$', preflight, re.M)
    assert handed, f"roles/{role} looks at units ({', '.join(uses)}) but its preflight does not hand over __{role}_unit_patterns"
    with (ROOT / "roles" / role / "vars" / "main.yml").open(encoding="utf-8") as handle:
        declared = yaml.safe_load(handle).get(f"__{role}_unit_patterns")
    assert declared, f"roles/{role}/vars/main.yml declares no __{role}_unit_patterns"
