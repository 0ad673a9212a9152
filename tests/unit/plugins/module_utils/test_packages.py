from __future__ import annotations

import pytest

from ansible_collections.lmsops.stack.plugins.module_utils import _packages

FACTS = {"packages": {"ufw": [{"version": "0.36.2"}], "sudo": [{"version": "1.9.13"}]}}


@pytest.mark.parametrize(
    ("wanted", "facts", "expected"),
    [
        (["ufw", "sudo"], FACTS, []),
        (["ufw", "fail2ban"], FACTS, ["fail2ban"]),
        ([], FACTS, []),
        (["ufw", "fail2ban"], {}, ["ufw", "fail2ban"]),  # no package facts: everything is missing
        (["ufw=0.36*"], FACTS, ["ufw=0.36*"]),  # a pin is for apt to judge
        (["ufw/bookworm-backports"], FACTS, ["ufw/bookworm-backports"]),
        (("ufw", "telnet"), FACTS, ["telnet"]),  # tuples are lists too
    ],
)
def test_missing(wanted, facts, expected):
    assert _packages.missing(wanted, facts) == expected


@pytest.mark.parametrize(
    ("unwanted", "facts", "expected"),
    [
        (["telnet", "rsh-client"], FACTS, []),
        (["telnet", "sudo"], FACTS, ["sudo"]),
        (["telnet"], {}, ["telnet"]),
        ([], {}, []),
    ],
)
def test_present(unwanted, facts, expected):
    assert _packages.present(unwanted, facts) == expected


@pytest.mark.parametrize(
    ("wanted", "facts", "error", "match"),
    [
        ("ufw", FACTS, TypeError, "list of package names"),
        (None, FACTS, TypeError, "list of package names"),
        (["ufw", ""], FACTS, ValueError, "non-empty strings"),
        (["ufw", 3], FACTS, ValueError, "non-empty strings"),
        (["ufw"], None, TypeError, "ansible_facts"),
        (["ufw"], {"packages": ["ufw"]}, TypeError, "must be a mapping"),
    ],
)
@pytest.mark.parametrize("func", [_packages.missing, _packages.present])
def test_bad_input(func, wanted, facts, error, match):
    with pytest.raises(error, match=match):
        func(wanted, facts)
