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


SCOPED = {"packages": {"ufw": [{"version": "0.36.2"}]}, "packages_scope": ["ufw", "telnet"]}


@pytest.mark.parametrize(
    ("func", "names", "expected"),
    [
        # Read and absent: known absent. Not read: unknown, so the removal runs.
        (_packages.present, ["telnet", "rsh-client", "ufw"], ["rsh-client", "ufw"]),
        (_packages.present, ["telnet"], []),
        # For installing, a package outside the scope is missing either way.
        (_packages.missing, ["ufw", "telnet", "sudo"], ["telnet", "sudo"]),
    ],
)
def test_scoped_facts(func, names, expected):
    assert func(names, SCOPED) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["ufw", "telnet", "ufw"], {"packages": {"ufw": FACTS["packages"]["ufw"]}, "packages_scope": ["telnet", "ufw"]}),
        ([], {"packages": {}, "packages_scope": []}),
    ],
)
def test_restrict(names, expected):
    assert _packages.restrict(FACTS["packages"], names) == expected


@pytest.mark.parametrize(
    ("scope", "match"),
    [("ufw", "list of names"), ({"ufw": 1}, "list of names"), (3, "list of names")],
)
def test_bad_scope(scope, match):
    with pytest.raises(TypeError, match=match):
        _packages.present(["ufw"], {"packages": {}, "packages_scope": scope})


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


DPKG = (
    "ii \tufw\t0.36.2-1\tall\n"
    "ii \tlibc6\t2.36-9+deb12u9\tamd64\n"
    "ii \tlibc6\t2.36-9+deb12u9\ti386\n"
    "hi \tnginx\t1.22.1-9\tamd64\n"
    "rc \ttelnet\t0.17+2.4-2\tamd64\n"
    "iU \tbroken\t1.0\tamd64\n"
    "un \tghost\t\t\n"
    "\n"
)


def test_parse_dpkg_status():
    packages = _packages.parse_dpkg_status(DPKG)
    assert sorted(packages) == ["libc6", "nginx", "ufw"]
    assert packages["ufw"] == [{"name": "ufw", "version": "0.36.2-1", "arch": "all", "source": "apt"}]
    assert [p["arch"] for p in packages["libc6"]] == ["amd64", "i386"]
    # The parsed facts feed the filters as package_facts' do.
    assert _packages.missing(["ufw", "telnet", "nginx"], {"packages": packages}) == ["telnet"]


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (None, TypeError, "must be text"),
        ("ii ufw 0.36 all\n", ValueError, "line 1 has 1 fields"),
        ("ii \tufw\t0.36\n", ValueError, "line 1 has 3 fields"),
    ],
)
def test_parse_dpkg_status_bad_input(text, error, match):
    with pytest.raises(error, match=match):
        _packages.parse_dpkg_status(text)


def test_parse_dpkg_status_empty():
    assert _packages.parse_dpkg_status("") == {}
