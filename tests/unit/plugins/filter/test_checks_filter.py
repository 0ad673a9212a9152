from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lmsops.stack.plugins.filter.checks import FilterModule

failed_checks = FilterModule().filters()["failed_checks"]


class _Explodes(dict):
    """A check whose message must not be read: reading it fails the test."""

    def __getitem__(self, key):
        if key == "msg":
            raise AssertionError("the message of a passing check was rendered")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ([], []),
        ([{"var": "a", "ok": True, "msg": "x"}], []),
        ([{"var": "a", "ok": False, "msg": "must be >= 1"}], ["a: must be >= 1"]),
        # Order is kept and every failure is reported, not only the first.
        (
            [
                {"var": "b", "ok": False, "msg": "first"},
                {"var": "c", "ok": True, "msg": "fine"},
                {"var": "a", "ok": False, "msg": "second"},
            ],
            ["b: first", "a: second"],
        ),
        # What a template can render to: strings and numbers read as `| bool` would.
        ([{"var": "s", "ok": "True", "msg": "m"}, {"var": "t", "ok": " false ", "msg": "m"}], ["t: m"]),
        ([{"var": "n", "ok": 0, "msg": "zero"}, {"var": "o", "ok": 1, "msg": "one"}], ["n: zero"]),
        ([{"var": "e", "ok": "", "msg": "empty"}], ["e: empty"]),
        # A missing message still names the variable.
        ([{"var": "v", "ok": False}], ["v: is not valid"]),
    ],
)
def test_failed_checks(checks, expected):
    assert failed_checks(checks) == expected


def test_a_passing_check_message_is_never_read():
    assert failed_checks([_Explodes(var="a", ok=True, msg="unused")]) == []


@pytest.mark.parametrize(
    ("checks", "match"),
    [
        ("not a list", "expects a list"),
        ({"var": "a", "ok": True}, "expects a list"),
        ([["var", "ok"]], "check 0 is not a dict"),
        ([{"var": "a", "ok": True}, {"ok": False, "msg": "no var"}], "check 1 is not a dict"),
        ([{"var": "a", "msg": "no ok"}], "check 0 is not a dict"),
        # A check that renders to something else is a defect of the check, named by its variable.
        ([{"var": "port", "ok": "maybe", "msg": "m"}], "the check of port gave 'maybe'"),
        ([{"var": "port", "ok": None, "msg": "m"}], "the check of port gave None"),
        ([{"var": "port", "ok": [1], "msg": "m"}], "the check of port gave"),
    ],
)
def test_bad_input_is_a_filter_error(checks, match):
    with pytest.raises(AnsibleFilterError, match=match):
        failed_checks(checks)
