"""Unit tests for the systemd_facts module with systemctl's output stubbed."""
from __future__ import annotations

from unittest import mock

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lmsops.stack.plugins.modules import systemd_facts

UNIT_FILES = "nginx.service enabled enabled\nlmsops-backup-db.timer enabled enabled\n"
UNITS = "nginx.service loaded active running A high performance web server\n"


def run_with(run_module, outputs, **args):
    with mock.patch.object(AnsibleModule, "get_bin_path", return_value="/usr/bin/systemctl"), \
            mock.patch.object(AnsibleModule, "run_command", side_effect=outputs) as called:
        result = run_module(systemd_facts.main, {"_ansible_check_mode": True, **args})
    return result, [c.args[0] for c in called.call_args_list]


def test_every_unit_without_patterns(run_module):
    result, argvs = run_with(run_module, [(0, UNIT_FILES, ""), (0, UNITS, "")])
    assert not result["changed"]
    assert set(result["ansible_facts"]["systemd_units"]) == {"nginx.service", "lmsops-backup-db.timer"}
    assert "systemd_units_scope" not in result["ansible_facts"]
    assert [a[1] for a in argvs] == ["list-unit-files", "list-units"]
    assert all(a[-1] == "--" for a in argvs)


def test_patterns_go_to_both_listings(run_module):
    result, argvs = run_with(run_module, [(0, UNIT_FILES, ""), (0, UNITS, "")],
                             patterns=["nginx", "lmsops-backup-*"])
    assert result["ansible_facts"]["systemd_units"]["nginx.service"] == {
        "unit_file_state": "enabled", "load_state": "loaded", "active_state": "active", "sub_state": "running"}
    assert result["ansible_facts"]["systemd_units_scope"] == ["nginx.service", "lmsops-backup-*"]
    for argv in argvs:
        assert argv[argv.index("--") + 1:] == ["nginx.service", "lmsops-backup-*"]


def test_no_match_is_an_empty_listing(run_module):
    # list-unit-files exits 1 when nothing matches the patterns.
    result, unused = run_with(run_module, [(1, "", ""), (0, "", "")], patterns=["nosuch-*"])
    assert result["ansible_facts"] == {"systemd_units": {}, "systemd_units_scope": ["nosuch-*"]}


def test_empty_patterns_read_nothing(run_module):
    result, argvs = run_with(run_module, [], patterns=[])
    assert result["ansible_facts"] == {"systemd_units": {}, "systemd_units_scope": []}
    assert argvs == []


@pytest.mark.parametrize(
    ("outputs", "patterns", "match"),
    [
        ([(1, "", "Failed to connect to bus")], ["nginx"], "Failed to connect to bus"),
        ([(1, "", "")], None, "list-unit-files failed"),  # rc 1 means "no match" only with patterns
        ([], ["two words"], "not valid: 'two words'"),
    ],
)
def test_failures(run_module, outputs, patterns, match):
    args = {} if patterns is None else {"patterns": patterns}
    result, unused = run_with(run_module, outputs, **args)
    assert result["failed"] and match in result["msg"]
