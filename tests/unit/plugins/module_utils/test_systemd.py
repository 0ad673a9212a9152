"""Unit tests for plugins/module_utils/_systemd.py (unit facts and which wanted states differ)."""
from __future__ import annotations

import pytest

from ansible_collections.lmsops.stack.plugins.module_utils._systemd import parse_units, unit_patterns, units_to_change

UNIT_FILES = """\
auditd.service                         masked   enabled
chrony.service                         enabled  enabled
sshd.service                           alias    -
ssh.service                            enabled  enabled
ssh.socket                             disabled enabled
sysstat.service                        disabled enabled
lmsops-reboot-if-required.timer        enabled  enabled
rescue-ssh.target                      static   -
"""
UNITS = """\
auditd.service                       masked    inactive dead      auditd.service
chrony.service                       loaded    inactive dead      chrony, an NTP client/server
ssh.service                          loaded    active   running   OpenBSD Secure Shell server
sysstat.service                      loaded    failed   failed    Resets System Activity Logs
lmsops-reboot-if-required.timer      loaded    active   waiting   Maintenance window for reboots
run-user-0.mount                     loaded    active   mounted   /run/user/0
"""
FACTS = {"systemd_units": parse_units(UNIT_FILES, UNITS)}


def test_parse_units():
    units = FACTS["systemd_units"]
    assert units["ssh.service"] == {"unit_file_state": "enabled", "load_state": "loaded",
                                    "active_state": "active", "sub_state": "running"}
    assert units["sshd.service"]["active_state"] is None  # an alias is only in the unit files
    assert units["run-user-0.mount"]["unit_file_state"] is None  # a runtime unit has no unit file
    assert parse_units("", "") == {}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        pytest.param({"name": "ssh", "enabled": True, "state": "started"}, False, id="converged-short-name"),
        pytest.param({"name": "ssh.service", "enabled": True, "state": "started"}, False, id="converged"),
        pytest.param({"name": "chrony.service", "enabled": True, "masked": False}, False, id="enabled-no-state"),
        pytest.param({"name": "chrony.service", "enabled": True, "state": "started"}, True, id="not-running"),
        pytest.param({"name": "sysstat.service", "enabled": True, "state": None}, True, id="disabled"),
        pytest.param({"name": "sysstat.service", "state": "started"}, True, id="failed-is-not-started"),
        pytest.param({"name": "sysstat.service", "state": "stopped"}, False, id="failed-is-stopped"),
        pytest.param({"name": "auditd.service", "masked": True}, False, id="masked"),
        pytest.param({"name": "auditd.service", "masked": False, "enabled": True}, True, id="unmask"),
        pytest.param({"name": "ssh.socket", "enabled": False, "state": "stopped"}, False, id="socket-off"),
        pytest.param({"name": "ssh.socket", "enabled": True}, True, id="socket-enable"),
        pytest.param({"name": "ssh.service", "enabled": False}, True, id="disable-enabled"),
        pytest.param({"name": "sshd.service", "enabled": True}, False, id="alias-counts-as-enabled"),
        pytest.param({"name": "rescue-ssh.target", "enabled": True}, False, id="static-counts-as-enabled"),
        pytest.param({"name": "lmsops-reboot-if-required.timer", "enabled": True, "state": "started"}, False,
                     id="timer"),
        pytest.param({"name": "lmsops-reboot-if-required.timer", "enabled": False, "state": "stopped"}, True,
                     id="timer-off"),
        pytest.param({"name": "nginx.service", "enabled": True}, True, id="unknown-unit"),
        pytest.param({"name": "nginx.service", "state": "stopped"}, True, id="unknown-unit-stopped-still-runs"),
        pytest.param({"name": "ssh.service"}, False, id="nothing-wanted"),
    ],
)
def test_units_to_change(wanted, expected):
    assert units_to_change([wanted], FACTS) == ([wanted] if expected else [])


def test_no_facts_means_everything():
    wanted = [{"name": "ssh", "enabled": True}, {"name": "fail2ban", "state": "started"}]
    assert units_to_change(wanted, {}) == wanted
    assert units_to_change([], FACTS) == []


@pytest.mark.parametrize(
    ("wanted", "facts", "error", "match"),
    [
        ("ssh", FACTS, TypeError, "list of wanted unit states"),
        ({"name": "ssh"}, FACTS, TypeError, "list of wanted unit states"),
        ([{"name": "ssh"}], None, TypeError, "ansible_facts"),
        ([{"name": "ssh"}], {"systemd_units": []}, TypeError, "must be a mapping"),
        (["ssh"], FACTS, ValueError, "must be a dict with a name"),
        ([{"enabled": True}], FACTS, ValueError, "must be a dict with a name"),
        ([{"name": ""}], FACTS, ValueError, "non-empty strings"),
        ([{"name": "a b"}], FACTS, ValueError, "without spaces"),
        ([{"name": "ssh", "enabled": "yes"}], FACTS, ValueError, "enabled must be true, false or null"),
        ([{"name": "ssh", "masked": 1}], FACTS, ValueError, "masked must be"),
        ([{"name": "ssh", "state": "restarted"}], FACTS, ValueError, "state must be started, stopped"),
    ],
)
def test_bad_input(wanted, facts, error, match):
    with pytest.raises(error, match=match):
        units_to_change(wanted, facts)


@pytest.mark.parametrize("bad", [None, 3])
def test_parse_units_not_text(bad):
    with pytest.raises(TypeError, match="must be text"):
        parse_units(bad, "")


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["nginx", "ssh.socket", "lmsops-backup-*", "php*-fpm.service", "nginx.service"],
         ["nginx.service", "ssh.socket", "lmsops-backup-*", "php*-fpm.service"]),
        (["getty@tty[12]"], ["getty@tty[12]"]),
        ((), []),
    ],
)
def test_unit_patterns(patterns, expected):
    assert unit_patterns(patterns) == expected


@pytest.mark.parametrize(
    ("patterns", "match"),
    [
        ("nginx", "must be a list"),
        (None, "must be a list"),
        (["nginx", "two words"], "not valid: 'two words'"),
        (["--all"], "not valid: '--all'"),
        ([""], "not valid"),
        ([3], "not valid: 3"),
    ],
)
def test_unit_patterns_bad(patterns, match):
    with pytest.raises(ValueError, match=match):
        unit_patterns(patterns)
