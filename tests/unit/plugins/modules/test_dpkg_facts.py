"""Unit tests for the dpkg_facts module with dpkg-query's output stubbed."""
from __future__ import annotations

from unittest import mock

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lmsops.stack.plugins.modules import dpkg_facts


def run_with(run_module, rc, out, err="", **args):
    with mock.patch.object(AnsibleModule, "get_bin_path", return_value="/usr/bin/dpkg-query"), \
            mock.patch.object(AnsibleModule, "run_command", return_value=(rc, out, err)) as called:
        result = run_module(dpkg_facts.main, {"_ansible_check_mode": True, **args})
    return result, called


def test_facts_in_package_facts_shape(run_module):
    result, called = run_with(run_module, 0, "ii \tufw\t0.36.2-1\tall\nrc \ttelnet\t0.17\tamd64\n")
    assert not result["changed"]
    assert result["ansible_facts"]["packages"] == {
        "ufw": [{"name": "ufw", "version": "0.36.2-1", "arch": "all", "source": "apt"}]
    }
    argv = called.call_args.args[0]
    assert argv[:3] == ["/usr/bin/dpkg-query", "-W", "-f"] and "${db:Status-Abbrev}" in argv[3]


def test_dpkg_query_failure(run_module):
    result, unused_call = run_with(run_module, 2, "", "dpkg-query: error: database is locked")
    assert result["failed"] and "database is locked" in result["msg"]


def test_unreadable_output(run_module):
    result, unused_call = run_with(run_module, 0, "garbage without tabs\n")
    assert result["failed"] and "cannot read the dpkg-query output" in result["msg"]


def test_names_read_only_those(run_module):
    result, unused_call = run_with(run_module, 0, "ii \tufw\t0.36.2-1\tall\nii \tsudo\t1.9\tamd64\n",
                                   names=["ufw", "telnet"])
    assert result["ansible_facts"] == {
        "packages": {"ufw": [{"name": "ufw", "version": "0.36.2-1", "arch": "all", "source": "apt"}]},
        "packages_scope": ["telnet", "ufw"],
    }


def test_without_names_no_scope(run_module):
    result, unused_call = run_with(run_module, 0, "ii \tufw\t0.36.2-1\tall\n")
    assert "packages_scope" not in result["ansible_facts"]
