"""Unit tests for the filters in plugins/filter/group_addresses.py (thin wrappers)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lmsops.stack.plugins.filter.group_addresses import FilterModule

FILTERS = FilterModule().filters()

HOSTVARS = {
    "web1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.12"}}},
    "db1": {"lmsops_private_address": "10.0.0.3"},
    "cache1": {},
}
GROUPS = {"all": ["web1", "db1", "cache1"], "web": ["web1"], "db": ["db1"], "cache": ["cache1"]}


def test_registers_filters():
    assert set(FILTERS) == {
        "group_addresses", "group_hosts_by_address", "is_cidr", "ufw_stale_rules", "ufw_missing_rules", "ufw_settings",
    }


@pytest.mark.parametrize(
    "from_groups, expected",
    [
        (["web", "db"], ["10.0.0.3", "10.0.0.12"]),
        (["db"], ["10.0.0.3"]),
        ([], []),
    ],
)
def test_group_addresses(from_groups, expected):
    assert FILTERS["group_addresses"](HOSTVARS, GROUPS, from_groups) == expected


@pytest.mark.parametrize(
    "from_groups, match",
    [
        (["monitoring"], r"inventory group\(s\) monitoring do not exist; existing groups: all, cache, db, web"),
        (["cache"], r"host 'cache1'.*facts were not gathered.*set lmsops_private_address"),
        ("web", r"from_groups must be a list of inventory group names, got str 'web'"),
    ],
)
def test_group_addresses_raises_filter_error(from_groups, match):
    with pytest.raises(AnsibleFilterError, match=match):
        FILTERS["group_addresses"](HOSTVARS, GROUPS, from_groups)


def test_group_hosts_by_address():
    assert FILTERS["group_hosts_by_address"](HOSTVARS, GROUPS, ["web", "db"]) == {"10.0.0.3": "db1", "10.0.0.12": "web1"}


def test_group_hosts_by_address_raises_filter_error():
    with pytest.raises(AnsibleFilterError, match=r"host 'cache1'.*facts were not gathered"):
        FILTERS["group_hosts_by_address"](HOSTVARS, GROUPS, ["cache"])


@pytest.mark.parametrize(
    "value, expected",
    [("10.0.0.0/8", True), ("::/0", True), ("10.0.0.1/8", False), ("any", False), (None, False)],
)
def test_is_cidr(value, expected):
    assert FILTERS["is_cidr"](value) is expected


def test_ufw_stale_rules():
    text = "### tuple ### allow tcp 3306 0.0.0.0/0 any 10.0.0.9 in comment=" + b"lmsops:mysql".hex()
    stale = FILTERS["ufw_stale_rules"](text, [], ["lmsops:mysql"])
    assert stale == [
        {
            "rule": "allow",
            "from": "10.0.0.9",
            "port": "3306",
            "proto": "tcp",
            "from_port": None,
            "comment": "lmsops:mysql",
        }
    ]


@pytest.mark.parametrize(
    "text, wanted, owners, match",
    [
        ("", [], [], "owners must name at least one comment"),
        (None, [], ["lmsops:x"], "must be text"),
        ("", [{"rule": "allow", "from": "bad", "port": 1, "proto": "tcp"}], ["lmsops:x"], "not a valid CIDR"),
    ],
)
def test_ufw_stale_rules_raises_filter_error(text, wanted, owners, match):
    with pytest.raises(AnsibleFilterError, match=match):
        FILTERS["ufw_stale_rules"](text, wanted, owners)
