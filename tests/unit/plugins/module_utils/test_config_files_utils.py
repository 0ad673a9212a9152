"""Unit tests for plugins/module_utils/_config_files.py (KEY<sep>VALUE settings in config files)."""
from __future__ import annotations

import pytest

from ansible_collections.lmsops.stack.plugins.module_utils._config_files import check_settings, set_settings

LOGIN_DEFS = """\
# comment about PASS_MAX_DAYS
#PASS_MAX_DAYS 1
PASS_MAX_DAYS\t99999
PASS_MIN_DAYS\t0
  UMASK   022
UMASK 077
ENCRYPT_METHOD SHA512
"""


@pytest.mark.parametrize(
    ("text", "settings", "separator", "expected"),
    [
        pytest.param(
            LOGIN_DEFS, {"PASS_MAX_DAYS": 365, "UMASK": "027"}, " ",
            "# comment about PASS_MAX_DAYS\n#PASS_MAX_DAYS 1\nPASS_MAX_DAYS 365\nPASS_MIN_DAYS\t0\n"
            "UMASK 027\nENCRYPT_METHOD SHA512\n",
            id="replace-in-place-keep-comments-drop-duplicates",
        ),
        pytest.param(
            LOGIN_DEFS, {"SHA_CRYPT_MIN_ROUNDS": 65536}, " ",
            LOGIN_DEFS + "SHA_CRYPT_MIN_ROUNDS 65536\n",
            id="append-missing-key",
        ),
        pytest.param("PASS_MAX_DAYS_X 5\n", {"PASS_MAX_DAYS": 5}, " ", "PASS_MAX_DAYS_X 5\nPASS_MAX_DAYS 5\n",
                     id="prefix-of-another-key-is-not-it"),
        pytest.param('ENABLED="false"\n', {"ENABLED": '"true"'}, "=", 'ENABLED="true"\n', id="equals-separator"),
        pytest.param('ENABLED = "false"\n', {"ENABLED": '"true"'}, "=", 'ENABLED="true"\n', id="equals-with-spaces"),
        pytest.param("IPV6=no\n", {"IPV6": True}, "=", "IPV6=yes\n", id="bool-is-yes-no"),
        pytest.param("", {"A": 1, "B": 2}, "=", "A=1\nB=2\n", id="empty-file"),
        pytest.param("A=1", {}, "=", "A=1\n", id="no-settings-adds-final-newline"),
        pytest.param("", {}, "=", "", id="nothing-at-all"),
        pytest.param("KEY\n", {"KEY": "v"}, " ", "KEY v\n", id="bare-key-line"),
    ],
)
def test_set_settings(text, settings, separator, expected):
    assert set_settings(text, settings, separator) == expected


def test_set_settings_is_idempotent():
    once = set_settings(LOGIN_DEFS, {"PASS_MAX_DAYS": 365, "NEW": "x"})
    assert set_settings(once, {"PASS_MAX_DAYS": 365, "NEW": "x"}) == once


@pytest.mark.parametrize(
    ("settings", "separator", "match"),
    [
        pytest.param({"A": 1}, "", "separator must be", id="empty-separator"),
        pytest.param({"A": 1}, "\n", "separator must be", id="newline-separator"),
        pytest.param({"A": 1}, None, "separator must be", id="no-separator"),
        pytest.param(["A"], "=", "must be a dict", id="list-not-dict"),
        pytest.param({"": 1}, "=", "non-empty words", id="empty-key"),
        pytest.param({"A B": 1}, "=", "non-empty words", id="key-with-space"),
        pytest.param({"#A": 1}, "=", "non-empty words", id="commented-key"),
        pytest.param({"A=B": 1}, "=", "contains the separator", id="key-with-separator"),
        pytest.param({"A": "1\n2"}, "=", "single-line scalar", id="multi-line-value"),
        pytest.param({"A": None}, "=", "single-line scalar", id="null-value"),
        pytest.param({"A": [1]}, "=", "single-line scalar", id="list-value"),
    ],
)
def test_bad_settings(settings, separator, match):
    with pytest.raises(ValueError, match=match):
        check_settings(settings, separator)
