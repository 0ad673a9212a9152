"""Unit tests for plugins/module_utils/_inventory.py (group addresses, CIDRs, ufw rule bookkeeping)."""

from __future__ import annotations

import pytest
from ansible_collections.lmsops.stack.plugins.module_utils._inventory import (
    canonical_cidr,
    group_addresses,
    group_hosts_by_address,
    is_cidr,
    parse_ufw_tuples,
    ufw_missing_rules,
    ufw_settings,
    ufw_stale_rules,
)


def facts(address):
    return {"ansible_facts": {"default_ipv4": {"address": address}}}


HOSTVARS = {
    "web1": facts("10.0.0.12"),
    "web2": facts("10.0.0.2"),
    "worker1": {"lmsops_private_address": "10.1.0.5", **facts("192.0.2.50")},
    "aio": facts("10.0.0.2"),
    "v6": {"lmsops_private_address": "FD00:0::0001"},
    "nofacts": {},
    "noroute": {"ansible_facts": {"default_ipv4": {}}},
    "garbage": {"lmsops_private_address": "db.internal"},
    "notstr": {"lmsops_private_address": 167772161},
    "empty_private": {"lmsops_private_address": "", **facts("10.0.0.99")},
}
GROUPS = {
    "all": sorted(HOSTVARS),
    "web": ["web1", "web2"],
    "workers": ["worker1"],
    "aio": ["aio"],
    "v6": ["v6"],
    "empty": [],
    "nofacts": ["nofacts"],
    "noroute": ["noroute"],
    "garbage": ["garbage"],
    "notstr": ["notstr"],
    "empty_private": ["empty_private"],
    "ghost": ["not-in-hostvars"],
}


@pytest.mark.parametrize(
    "from_groups, expected",
    [
        pytest.param(["web"], ["10.0.0.2", "10.0.0.12"], id="numeric-sort-not-lexical"),
        pytest.param(["web", "workers"], ["10.0.0.2", "10.0.0.12", "10.1.0.5"], id="two-groups"),
        pytest.param(["workers"], ["10.1.0.5"], id="private-address-wins-over-facts"),
        pytest.param(["web", "aio", "web"], ["10.0.0.2", "10.0.0.12"], id="duplicates-removed"),
        pytest.param(["v6", "web"], ["10.0.0.2", "10.0.0.12", "fd00::1"], id="ipv6-canonical-after-ipv4"),
        pytest.param(["empty"], [], id="empty-group"),
        pytest.param([], [], id="no-groups"),
        pytest.param(("web",), ["10.0.0.2", "10.0.0.12"], id="tuple-of-groups"),
        pytest.param(["empty_private"], ["10.0.0.99"], id="empty-private-address-falls-back"),
    ],
)
def test_group_addresses(from_groups, expected):
    assert group_addresses(HOSTVARS, GROUPS, from_groups) == expected


@pytest.mark.parametrize(
    "from_groups, error, match",
    [
        pytest.param(
            ["nope"], ValueError, r"group\(s\) nope do not exist; existing groups: aio, all,", id="missing-group"
        ),
        pytest.param(["web", "nope", "zzz"], ValueError, r"nope, zzz do not exist", id="missing-groups-all-named"),
        pytest.param(["nofacts"], ValueError, r"host 'nofacts'.*facts were not gathered", id="no-facts"),
        pytest.param(["noroute"], ValueError, r"host 'noroute'.*no default_ipv4 address", id="no-default-route"),
        pytest.param(
            ["garbage"], ValueError, r"lmsops_private_address of host 'garbage' is not an IP address", id="bad-private"
        ),
        pytest.param(
            ["notstr"], TypeError, r"lmsops_private_address of host 'notstr' must be a string", id="int-private"
        ),
        pytest.param(
            ["ghost"], ValueError, r"host 'not-in-hostvars' is in a group but has no hostvars", id="no-hostvars"
        ),
        pytest.param("web", TypeError, r"from_groups must be a list", id="string-not-list"),
        pytest.param(None, TypeError, r"from_groups must be a list", id="none"),
        pytest.param([["web"]], TypeError, r"group names must be strings", id="nested-list"),
    ],
)
def test_group_addresses_errors(from_groups, error, match):
    with pytest.raises(error, match=match):
        group_addresses(HOSTVARS, GROUPS, from_groups)


@pytest.mark.parametrize(
    "from_groups, expected",
    [
        pytest.param(["web"], {"10.0.0.2": "web2", "10.0.0.12": "web1"}, id="by-address-numeric-order"),
        pytest.param(["workers"], {"10.1.0.5": "worker1"}, id="private-address-wins-over-facts"),
        pytest.param(["web", "aio"], {"10.0.0.2": "aio+web2", "10.0.0.12": "web1"}, id="shared-address-joins-names"),
        pytest.param(["aio", "web", "aio"], {"10.0.0.2": "aio+web2", "10.0.0.12": "web1"}, id="host-listed-twice"),
        pytest.param(["v6", "workers"], {"10.1.0.5": "worker1", "fd00::1": "v6"}, id="ipv6-canonical-after-ipv4"),
        pytest.param(["empty"], {}, id="empty-group"),
        pytest.param([], {}, id="no-groups"),
    ],
)
def test_group_hosts_by_address(from_groups, expected):
    result = group_hosts_by_address(HOSTVARS, GROUPS, from_groups)
    assert result == expected
    assert list(result) == list(expected), "addresses must come in numeric order"


@pytest.mark.parametrize(
    "from_groups, error, match",
    [
        pytest.param(["nope"], ValueError, r"group\(s\) nope do not exist", id="missing-group"),
        pytest.param("web", TypeError, r"must be a list of inventory group names", id="string-not-list"),
        pytest.param(["nofacts"], ValueError, r"host 'nofacts'.*facts were not gathered", id="no-address"),
        pytest.param(["garbage"], ValueError, r"not an IP address: 'db.internal'", id="bad-address"),
    ],
)
def test_group_hosts_by_address_errors(from_groups, error, match):
    with pytest.raises(error, match=match):
        group_hosts_by_address(HOSTVARS, GROUPS, from_groups)


def test_group_addresses_no_groups_at_all():
    with pytest.raises(ValueError, match=r"existing groups: \(none\)"):
        group_addresses({}, {}, ["web"])


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10.0.0.0/8", True),
        ("192.0.2.10", True),
        ("192.0.2.10/32", True),
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("2001:db8::/32", True),
        ("FD00::1", True),
        ("10.0.0.0/255.0.0.0", True),
        ("10.0.0.5/8", False),  # host bits set
        ("10.0.0.0/33", False),
        ("256.1.1.1", False),
        ("10.1", False),
        ("any", False),
        ("", False),
        (" 10.0.0.0/8", False),
        ("10.0.0.0/8 ", False),
        ("fe80::1%eth0", False),
        ("example.com", False),
        (None, False),
        (167772160, False),
        (["10.0.0.0/8"], False),
    ],
)
def test_is_cidr(value, expected):
    assert is_cidr(value) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/32", "10.1.2.3"),
        ("10.1.2.3", "10.1.2.3"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("FD00:0:0::0002", "fd00::2"),
        ("fd00::1/128", "fd00::1"),
        ("2001:DB8:0::/48", "2001:db8::/48"),
        ("10.0.0.0/255.255.0.0", "10.0.0.0/16"),
    ],
)
def test_canonical_cidr(value, expected):
    assert canonical_cidr(value) == expected


@pytest.mark.parametrize("value", ["10.0.0.5/8", "any", "", None])
def test_canonical_cidr_rejects(value):
    with pytest.raises(ValueError, match="is not a valid CIDR"):
        canonical_cidr(value)


def hexc(text):
    return text.encode("utf-8").hex()


USER_RULES = "\n".join(
    [
        "*filter",
        ":ufw-user-input - [0:0]",
        "### RULES ###",
        "",
        "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexc("lmsops:ssh"),
        "-A ufw-user-input -p tcp --dport 22 -j ACCEPT",
        "### tuple ### allow tcp 3306 0.0.0.0/0 any 10.89.1.3 in comment=" + hexc("lmsops:mysql"),
        "### tuple ### allow tcp 3306 0.0.0.0/0 any 10.89.1.9 in comment=" + hexc("lmsops:mysql"),
        "### tuple ### allow tcp 3306 0.0.0.0/0 any 10.89.1.10 in comment=" + hexc("lmsops:mysqlx"),
        "### tuple ### allow tcp 3306 0.0.0.0/0 any 10.89.1.11 in",
        "### tuple ### limit udp 53 0.0.0.0/0 any 10.0.0.0/8 in comment=" + hexc("lmsops:rule dns"),
        "### tuple ### allow any 80 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexc("lmsops:rule"),
        "### tuple ### allow tcp 25 0.0.0.0/0 any 10.0.0.1 out comment=" + hexc("lmsops:rule"),
        "### tuple ### allow tcp 8080 10.0.0.1 any 0.0.0.0/0 in comment=" + hexc("lmsops:rule"),
        "### tuple ### allow tcp 2222 0.0.0.0/0 22 10.0.0.2 in comment=" + hexc("lmsops:rule"),
        "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0 comment=" + hexc("lmsops:ssh"),
        "### tuple ### route:allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=" + hexc("lmsops:ssh"),
        "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in comment=" + hexc("lmsops:ssh"),
        "### tuple ### allow tcp 9 0.0.0.0/0 any 0.0.0.0/0 in comment=zz",
        "### tuple ### broken",
        "### tuple ### allow tcp 22 ::/0 any ::/0 in comment=" + hexc("lmsops:ssh"),
        "### tuple ### allow tcp 3306 ::/0 any fd00::5 in comment=" + hexc("lmsops:mysql"),
        "### tuple ### allow any 80 ::/0 any ::/0 in comment=" + hexc("lmsops:rule"),
    ]
)


def test_parse_ufw_tuples_fields():
    rules = parse_ufw_tuples(USER_RULES)
    assert rules[0] == {
        "rule": "allow",
        "proto": "tcp",
        "port": "22",
        "to": "0.0.0.0/0",
        "from_port": "any",
        "from": "0.0.0.0/0",
        "direction": "in",
        "comment": "lmsops:ssh",
    }
    assert [r["comment"] for r in rules if r["from"] == "10.89.1.11"] == [""]
    assert [r["comment"] for r in rules if r["port"] == "9"] == [""]  # undecodable hex
    assert sorted(r["direction"] for r in rules if r["port"] == "22") == ["in", "in", "in_eth0"]
    assert len(rules) == 15  # route, application and broken lines skipped


@pytest.mark.parametrize("text", ["", "\n\n", "### tuple ###", "-A ufw-user-input -j ACCEPT"])
def test_parse_ufw_tuples_empty(text):
    assert parse_ufw_tuples(text) == []


def test_parse_ufw_tuples_rejects_non_text():
    with pytest.raises(TypeError, match="must be text"):
        parse_ufw_tuples(None)


def ssh(src="any", rule="allow"):
    return {"rule": rule, "from": src, "port": 22, "proto": "tcp", "comment": "lmsops:ssh"}


def mysql(src):
    return {"rule": "allow", "from": src, "port": 3306, "proto": "tcp"}


def keys(stale):
    return sorted((s["rule"], s["proto"], s["port"], s["from"], s["comment"]) for s in stale)


@pytest.mark.parametrize(
    "wanted, owners, expected",
    [
        pytest.param([mysql("10.89.1.3"), mysql("10.89.1.9"), mysql("fd00::5")], ["lmsops:mysql"], [], id="all-wanted"),
        pytest.param(
            [mysql("10.89.1.3")],
            ["lmsops:mysql"],
            [
                ("allow", "tcp", "3306", "10.89.1.9", "lmsops:mysql"),
                ("allow", "tcp", "3306", "fd00::5", "lmsops:mysql"),
            ],
            id="host-left-group",
        ),
        pytest.param(
            [mysql("10.89.1.3/32"), mysql("10.89.1.9"), mysql("FD00:0::5")], "lmsops:mysql", [], id="canonical-forms"
        ),
        pytest.param(
            [],
            ["lmsops:mysql"],
            [
                ("allow", "tcp", "3306", "10.89.1.3", "lmsops:mysql"),
                ("allow", "tcp", "3306", "10.89.1.9", "lmsops:mysql"),
                ("allow", "tcp", "3306", "fd00::5", "lmsops:mysql"),
            ],
            id="withdrawn-exposure",
        ),
        pytest.param(
            [
                {"rule": "allow", "from": "10.89.1.3", "port": "3306", "proto": "udp"},
                mysql("10.89.1.9"),
                mysql("fd00::5"),
            ],
            ["lmsops:mysql"],
            [("allow", "tcp", "3306", "10.89.1.3", "lmsops:mysql")],
            id="proto-changed",
        ),
        pytest.param([ssh()], ["lmsops:ssh"], [], id="any-matches-both-families"),
        pytest.param(
            [ssh("0.0.0.0/0")], ["lmsops:ssh"], [("allow", "tcp", "22", "::/0", "lmsops:ssh")], id="ipv6-dropped"
        ),
        pytest.param(
            [ssh("any", rule="limit")],
            ["lmsops:ssh"],
            [("allow", "tcp", "22", "0.0.0.0/0", "lmsops:ssh"), ("allow", "tcp", "22", "::/0", "lmsops:ssh")],
            id="allow-became-limit",
        ),
        pytest.param(
            [
                {"rule": "limit", "from": "10.0.0.0/8", "port": 53, "proto": "udp"},
                {"rule": "allow", "from": "any", "port": 80, "proto": "any"},
            ],
            ["lmsops:rule"],
            [("allow", "tcp", "2222", "10.0.0.2", "lmsops:rule")],  # has a source port: not wanted
            id="owner-prefix-with-space",
        ),
        pytest.param(
            [],
            ["lmsops:rule"],
            [
                ("allow", "any", "80", "0.0.0.0/0", "lmsops:rule"),
                ("allow", "any", "80", "::/0", "lmsops:rule"),
                ("allow", "tcp", "2222", "10.0.0.2", "lmsops:rule"),
                ("limit", "udp", "53", "10.0.0.0/8", "lmsops:rule dns"),
            ],
            id="skips-outgoing-and-destination-rules",
        ),
        pytest.param([], ["lmsops:nothing"], [], id="nothing-owned"),
        pytest.param([], ["lmsops:mysq"], [], id="owner-is-not-a-bare-prefix"),
    ],
)
def test_ufw_stale_rules(wanted, owners, expected):
    assert keys(ufw_stale_rules(USER_RULES, wanted, owners)) == sorted(expected)


def test_ufw_stale_rules_delete_args():
    stale = ufw_stale_rules(USER_RULES, [], ["lmsops:rule"])
    by_port = {s["port"]: s for s in stale}
    assert by_port["2222"]["from_port"] == "22"
    assert by_port["53"]["from_port"] is None


@pytest.mark.parametrize(
    "wanted, owners, match",
    [
        pytest.param([mysql("10.0.0.5/8")], ["lmsops:mysql"], "is not a valid CIDR", id="bad-source"),
        pytest.param(
            [{"from": "any", "port": 1}], ["lmsops:mysql"], "wanted rule #0 must be a dict", id="missing-keys"
        ),
        pytest.param(["allow 22"], ["lmsops:mysql"], "wanted rule #0 must be a dict", id="not-a-dict"),
        pytest.param([], [], "owners must name at least one comment", id="no-owner"),
        pytest.param([], [""], "owners must name at least one comment", id="empty-owner"),
    ],
)
def test_ufw_stale_rules_errors(wanted, owners, match):
    with pytest.raises(ValueError, match=match):
        ufw_stale_rules(USER_RULES, wanted, owners)


def W(port, source, comment, rule="allow", proto="tcp"):
    return {"rule": rule, "from": source, "port": port, "proto": proto, "comment": comment}


@pytest.mark.parametrize(
    "wanted, expected_ports",
    [
        pytest.param([W(22, "any", "lmsops:ssh")], [], id="any-held-in-both-families"),
        pytest.param([W(3306, "10.89.1.3", "lmsops:mysql")], [], id="single-address-held"),
        pytest.param([W(3306, "10.89.1.3/32", "lmsops:mysql")], [], id="slash-32-is-the-address"),
        pytest.param([W(3306, "FD00::5", "lmsops:mysql")], [], id="ipv6-canonical"),
        pytest.param([W(3306, "10.89.1.4", "lmsops:mysql")], [3306], id="new-source"),
        pytest.param([W(3306, "10.89.1.9", "lmsops:other")], [3306], id="other-comment-is-rewritten"),
        pytest.param([W(3306, "10.89.1.11", "")], [], id="no-comment-held-without-one"),
        pytest.param([W(53, "10.0.0.0/8", "lmsops:rule dns", rule="limit", proto="udp")], [], id="limit-udp"),
        pytest.param([W(53, "10.0.0.0/8", "lmsops:rule dns", rule="allow", proto="udp")], [53], id="action-differs"),
        pytest.param([W(53, "10.0.0.0/8", "lmsops:rule dns", rule="limit", proto="tcp")], [53], id="proto-differs"),
        pytest.param([W(25, "10.0.0.1", "lmsops:rule")], [25], id="outgoing-rule-does-not-count"),
        pytest.param([W(8080, "any", "lmsops:rule")], [8080], id="rule-to-one-destination-does-not-count"),
        pytest.param([W(2222, "10.0.0.2", "lmsops:rule")], [2222], id="rule-from-a-source-port-does-not-count"),
        pytest.param([W(9, "any", "zz")], [9], id="undecodable-comment-is-empty"),
        pytest.param(
            [W(80, "any", "lmsops:rule", proto="any"), W(443, "any", "lmsops:rule"), W(22, "any", "lmsops:ssh")],
            [443],
            id="order-kept-only-missing",
        ),
        pytest.param([], [], id="nothing-wanted"),
    ],
)
def test_ufw_missing_rules(wanted, expected_ports):
    assert [r["port"] for r in ufw_missing_rules(USER_RULES, wanted)] == expected_ports


def test_ufw_missing_rules_empty_file_and_copies():
    wanted = [W(22, "any", "lmsops:ssh")]
    missing = ufw_missing_rules("", wanted)
    assert missing == wanted and missing[0] is not wanted[0]


@pytest.mark.parametrize(
    "wanted, match",
    [
        pytest.param([{"rule": "allow", "port": 22}], "wanted rule #0", id="no-proto"),
        pytest.param(["allow 22"], "wanted rule #0", id="not-a-dict"),
        pytest.param([W(22, "10.0.0.300", "x")], "not a valid CIDR", id="bad-source"),
    ],
)
def test_ufw_missing_rules_errors(wanted, match):
    with pytest.raises(ValueError, match=match):
        ufw_missing_rules(USER_RULES, wanted)


UFW_FILES = """\
# /etc/default/ufw
IPV6=yes
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
DEFAULT_FORWARD_POLICY="REJECT"
DEFAULT_APPLICATION_POLICY="SKIP"
# /etc/ufw/ufw.conf
ENABLED=yes
LOGLEVEL=low
Status: active
"""


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            UFW_FILES,
            {"installed": True, "active": True, "enabled_at_boot": True, "ipv6": True, "logging": "low",
             "defaults": {"incoming": "deny", "outgoing": "allow", "routed": "reject"}},
            id="debian-converged",
        ),
        pytest.param(
            "IPV6=no\nENABLED=no\nLOGLEVEL=off\nDEFAULT_INPUT_POLICY=ACCEPT\nStatus: inactive\n",
            {"installed": True, "active": False, "enabled_at_boot": False, "ipv6": False, "logging": "off",
             "defaults": {"incoming": "allow", "outgoing": None, "routed": None}},
            id="fresh-and-unquoted",
        ),
        pytest.param(
            "",
            {"installed": False, "active": False, "enabled_at_boot": False, "ipv6": None, "logging": None,
             "defaults": {"incoming": None, "outgoing": None, "routed": None}},
            id="not-installed",
        ),
        pytest.param(
            "#ENABLED=yes\nDEFAULT_INPUT_POLICY=\"BOGUS\"\nLOGLEVEL=\nnoise line\n",
            {"installed": True, "active": False, "enabled_at_boot": False, "ipv6": None, "logging": None,
             "defaults": {"incoming": None, "outgoing": None, "routed": None}},
            id="comments-unknown-policy-empty-level",
        ),
    ],
)
def test_ufw_settings(text, expected):
    assert ufw_settings(text) == expected


def test_ufw_settings_not_text():
    with pytest.raises(TypeError, match="must be text"):
        ufw_settings(None)
